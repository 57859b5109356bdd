"""Buttons: clicks on the worker's reminders and parent message, and the Post update modal.

- Post update (reminder, parent) → a modal with one multi-line field → on submit, *Status
  update* is written in Notion in the submitter's name (a Notion-lane action), and the
  thread's status-update reply credits them.
- Snooze 30 min / 1 h (overdue reminder) → the reminders and their escalation wait; the
  thread says who snoozed for how long.
- I'll take command (no-commander reminder) → *Commander* := the clicker (their Slack email
  → the Notion person, looked up when the write is carried out).

Each click is judged against the incident as the worker knows it now (`worker.clicks`):
on a stale message (the incident resolved, the reminder answered) nothing changes, and the
clicker alone is told why. The work is recorded (outbox, nag memory) before the handler
returns, which is when Slack hears the acknowledgement (`app.build_app`); keys come from
Slack's ids (the view, the action's time and the user), so a redelivery changes nothing
twice. People of another workspace (Slack Connect) never get here: the app's filter answers
them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App

from worker.actions import Action, PostNudge
from worker.buttons_blocks import (
    POST_UPDATE,
    SNOOZE,
    TAKE_COMMAND,
    UPDATE_BLOCK,
    UPDATE_VIEW,
    ButtonValue,
    UpdateOrigin,
    post_update_view,
    submitted_text,
)
from worker.clicks import (
    Clicker,
    Refusal,
    Snooze,
    open_refusal,
    snooze_click,
    status_update,
    take_command,
)
from worker.errors import ServiceError
from worker.inbound.intake import Found, Intake
from worker.messages import Wording, button_labels, escape, link, people_text
from worker.slack_fit import SECTION_MAX, cut

log = logging.getLogger("worker.inbound.buttons")

_SNOOZE_ACTION = re.compile(rf"^{re.escape(SNOOZE)}\.\d+$")
# The longest snooze a button may ask for (a value made by hand is not trusted further).
_SNOOZE_MAX_MIN = 24 * 60
# A modal's error under its field: plain text, short.
_ERROR_MAX = 500


@dataclass(frozen=True)
class Click:
    """A button clicked on one of the worker's messages, as `block_actions` says."""

    clicker: Clicker
    channel: str
    action_id: str
    value: ButtonValue | None
    click_id: str  # the action's time and the user: the same on a redelivery
    trigger_id: str


def parse_click(body: Mapping[str, Any]) -> Click | None:
    """A `block_actions` body → the click (None: not one of ours, or malformed)."""
    user = body.get("user") or {}
    actions = body.get("actions") or []
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if not isinstance(user, Mapping) or not actions or not isinstance(channel, str):
        return None
    action = actions[0]
    user_id = str(user.get("id") or "")
    if not isinstance(action, Mapping) or not user_id:
        return None
    return Click(
        clicker=_clicker(user),
        channel=channel,
        action_id=str(action.get("action_id") or ""),
        value=ButtonValue.decode(action.get("value")),
        click_id=f"{action.get('action_ts') or ''}:{user_id}",
        trigger_id=str(body.get("trigger_id") or ""),
    )


def _clicker(user: Mapping[str, Any]) -> Clicker:
    name = user.get("name") or user.get("username") or ""
    return Clicker(
        user_id=str(user.get("id") or ""), team_id=str(user.get("team_id") or ""), name=str(name)
    )


class Buttons:
    """The handlers, with what they share: the intake and the wording."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        settings = intake.settings
        self.words = Wording.load(settings.templates_dir, settings.locale)
        self.labels = button_labels(self.words, settings.locale)

    # -- Post update -------------------------------------------------------------------

    def post_update(self, body: Mapping[str, Any]) -> None:
        """Open the modal (the trigger id is valid for 3 s: before anything else)."""
        click = parse_click(body)
        found = self._found(click)
        if click is None or found is None:
            self._tell(click, None, "unknown")
            return
        refusal = open_refusal(found.record, found.desk.settings)
        thread_ts = found.record.thread_ts
        if refusal is not None or thread_ts is None:
            self._tell(click, found, refusal or "unknown")
            return
        origin = UpdateOrigin(found.record.page_id, found.channel, thread_ts)
        view = post_update_view(origin, self.labels, about=self._about(found))
        try:
            self.intake.slack.open_view(click.trigger_id, view)
        except ServiceError as exc:
            log.warning("could not open the Post update modal: %s", exc)

    def _about(self, found: Found) -> str:
        """The modal's heading: the incident's title, and its latest status update."""
        incident = found.record.snapshot
        title = incident.title or self.words.label("untitled")
        text = f"*{escape(title)}*"
        if incident.status_update.strip():
            latest = escape(incident.status_update.strip()).replace("\n", "\n&gt; ")
            text += f"\n{escape(self.words.label('latest_update'))}:\n&gt; {latest}"
        return cut(text, SECTION_MAX)

    def submitted(self, ack: Ack, body: Mapping[str, Any]) -> None:
        """The modal submitted: record the write, then close it; or say under the field
        why nothing is posted (empty, the incident resolved meanwhile)."""
        view = body.get("view") or {}
        origin = UpdateOrigin.decode(view.get("private_metadata"))
        found = self.intake.incident(origin.page_id) if origin is not None else None
        user = body.get("user") or {}
        clicker = self._known(_clicker(user if isinstance(user, Mapping) else {}))
        result: Action | Refusal = "unknown"
        if found is not None:
            result = status_update(
                found.record,
                found.desk.settings,
                view_id=str(view.get("id") or ""),
                text=submitted_text(view) or "",
                by=clicker.credit(),
                now=self.intake.clock(),
            )
        if isinstance(result, Action) and found is not None:
            self.intake.record(found, [result])
            ack()
            return
        refusal: Refusal = result if isinstance(result, str) else "unknown"
        error = cut(self._refusal_text(refusal, found, plain=True), _ERROR_MAX)
        ack(response_action="errors", errors={UPDATE_BLOCK: error})

    # -- Snooze ------------------------------------------------------------------------

    def snooze(self, body: Mapping[str, Any]) -> None:
        click = parse_click(body)
        found = self._found(click)
        value = click.value if click is not None else None
        if click is None or found is None or value is None:
            self._tell(click, None, "unknown")
            return
        minutes = min(max(value.minutes, 1), _SNOOZE_MAX_MIN)
        store = found.desk.store
        reminder = store.action(value.reminder) if value.reminder else None
        silence = None
        if reminder is not None and isinstance(reminder.payload, PostNudge):
            silence = reminder.payload.last_update_at
        now = self.intake.clock()
        result = snooze_click(
            found.record,
            store.nag_memory(found.record.page_id),
            found.desk.settings,
            reminder_silence=silence,
            minutes=minutes,
            by=click.clicker.credit(),
            click_id=click.click_id,
            now=now,
        )
        if not isinstance(result, Snooze):
            self._tell(click, found, result)
            return
        store.save_snooze(found.record.page_id, result.memory, [result.note], now)
        found.desk.wake()

    # -- I'll take command -------------------------------------------------------------

    def take_command(self, body: Mapping[str, Any]) -> None:
        click = parse_click(body)
        found = self._found(click)
        if click is None or found is None:
            self._tell(click, None, "unknown")
            return
        # Their email (users:read.email), to find them in Notion; a failure here is not
        # acknowledged, so Slack sends the click again.
        clicker = self._known(click.clicker, strict=True)
        result = take_command(
            found.record,
            found.desk.settings,
            clicker=clicker,
            click_id=click.click_id,
            now=self.intake.clock(),
        )
        if isinstance(result, Action):
            self.intake.record(found, [result])
            return
        self._tell(click, found, result)

    # -- shared --------------------------------------------------------------------------

    def _known(self, clicker: Clicker, *, strict: bool = False) -> Clicker:
        """The clicker with their full name and email, as users.info tells (`strict`: a
        failure is raised; otherwise they stay as the payload named them)."""
        try:
            user = self.intake.slack.slack_user(clicker.user_id)
        except ServiceError as exc:
            if strict:
                raise
            log.info("could not look up Slack user %s: %s", clicker.user_id, exc)
            return clicker
        return Clicker(
            user_id=clicker.user_id,
            team_id=clicker.team_id or user.team_id,
            name=user.name or clicker.name,
            email=user.email,
        )

    def _found(self, click: Click | None) -> Found | None:
        """The incident a click is about: the page its button names, in the channel it was
        clicked in (None: not one the worker follows there)."""
        if click is None or click.value is None:
            return None
        found = self.intake.incident(click.value.page_id)
        if found is None or found.channel != click.channel:
            return None
        return found

    def _tell(self, click: Click | None, found: Found | None, refusal: Refusal) -> None:
        """Why nothing changed, to the clicker alone (best effort: it changes nothing)."""
        if click is None:
            return
        text = self._refusal_text(refusal, found, plain=False)
        thread_ts = found.record.thread_ts if found is not None else None
        log.info("a click on %s changed nothing: %s", click.action_id, refusal)
        try:
            self.intake.slack.ephemeral(
                click.channel, click.clicker.user_id, text, thread_ts=thread_ts
            )
        except ServiceError as exc:
            log.warning("could not tell %s why nothing changed: %s", click.clicker.user_id, exc)

    def _refusal_text(self, refusal: Refusal, found: Found | None, *, plain: bool) -> str:
        """The words for a refusal (`plain`: for a modal's error, where mrkdwn does not
        show: no link, no mention)."""
        settings = found.desk.settings if found is not None else self.intake.settings
        incident = found.record.snapshot if found is not None else None
        row = "Notion"
        if incident is not None and incident.url and not plain:
            row = link(incident.url, "Notion")
        commander = ""
        if incident is not None:
            mention = (
                (lambda p: escape(p.name or "someone")) if plain else self.intake.slack.mention
            )
            commander = people_text(incident.commander, mention, "")
        text = self.words.phrase(
            f"click_{refusal}",
            row=row,
            field=escape(settings.properties["commander"]),
            commander=commander,
            email="",
        )
        return text.replace("*", "") if plain else text


def register(app: App, intake: Intake) -> None:
    """The buttons' handlers on `app`. Each returns once its work is recorded: Slack hears
    the acknowledgement then (the app answers after the handler)."""
    buttons = Buttons(intake)

    def post_update(ack: Ack, body: dict[str, Any]) -> None:
        try:
            buttons.post_update(body)
        finally:
            ack()

    def snooze(ack: Ack, body: dict[str, Any]) -> None:
        buttons.snooze(body)  # a store failure raises: no acknowledgement, Slack resends
        ack()

    def take(ack: Ack, body: dict[str, Any]) -> None:
        buttons.take_command(body)
        ack()

    def submitted(ack: Ack, body: dict[str, Any]) -> None:
        buttons.submitted(ack, body)

    app.action(POST_UPDATE)(post_update)
    app.action(_SNOOZE_ACTION)(snooze)
    app.action(TAKE_COMMAND)(take)
    app.view(UPDATE_VIEW)(submitted)
