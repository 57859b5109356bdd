"""Inbound (notes): thread messages sent to the timeline — by a pin, a 📌, the "Add to timeline"
shortcut, or (TIMELINE_CAPTURE=all) by being written at all.

Every event about a message of an incident's thread becomes a change of that message's facts
(worker/thread_notes.py) and, when the change can change the timeline, an action — both
written in one transaction before the event is acknowledged. The action's key comes from
Slack's event id (a shortcut: its action_ts and user), so a redelivered event plans nothing
twice; and the action reads the facts when it runs, so events arriving late or out of order
still leave the entry as the facts say.

What happened while nobody listened (the worker down, Socket Mode reconnecting) is read back
when Slack (re)connects: each open incident's thread, as conversations.replies shows it now,
goes through the same facts, so a message pinned meanwhile reaches the timeline and one
already there is not added again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import reduce
from typing import Any, Final

from slack_bolt import App

from worker.actions import Action
from worker.errors import ServiceError
from worker.inbound.app import event_channel
from worker.inbound.intake import Desk, Found, Intake
from worker.note_reads import message_events, read_action, slack_ts, sync_action
from worker.thread_notes import (
    Deleted,
    NoteEvent,
    Pinned,
    Reacted,
    Shortcut,
    ThreadNote,
    apply,
    posted,
    reaction_name,
    worth_planning,
)

log = logging.getLogger("worker.inbound.notes")

CALLBACK_ID: Final = "incident.add_to_timeline"
NOT_IN_A_THREAD: Final = (
    "“Add to timeline” works on replies in an incident's thread: this message is not one."
)
ADDED: Final = "Sent to the incident's timeline."
# Message subtypes that are no one's words (joins, topic changes…): never notes.
_WORDS: Final = frozenset({None, "thread_broadcast", "file_share", "me_message", "bot_message"})

Ack = Callable[..., None]


def register(app: App, intake: Intake) -> None:
    notes = Notes(intake)
    app.event("message")(notes.on_message)
    app.event("reaction_added")(notes.on_reaction)
    app.event("reaction_removed")(notes.on_reaction)
    app.event("pin_added")(notes.on_pin)
    app.event("pin_removed")(notes.on_pin)
    app.message_shortcut(CALLBACK_ID)(notes.on_shortcut)
    intake.on_connected.append(notes.catch_up_soon)


class Notes:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        # One catch-up at a time; a connection made during one asks for another after it
        # (the one under way may have read some threads before that connection's gap).
        self._catch_up_lock = threading.Lock()
        self._catching_up = False
        self._again = False

    # -- events ----------------------------------------------------------------------------

    def on_message(self, body: dict[str, Any], event: dict[str, Any], ack: Ack) -> None:
        subtype = event.get("subtype")
        channel = event_channel(event) or ""
        if subtype == "message_changed":
            message = event.get("message") or {}
            found = self._thread(channel, message)
            if found is not None:
                self._change(found, channel, message, [posted(message)], _cause(body))
        elif subtype == "message_deleted":
            message = {**(event.get("previous_message") or {}), "ts": event.get("deleted_ts")}
            found = self._thread(channel, message)
            if found is not None:
                self._change(found, channel, message, [Deleted()], _cause(body))
        elif subtype in _WORDS:
            found = self._thread(channel, event)
            if found is not None:
                self._change(found, channel, event, [posted(event)], _cause(body))
        ack()

    def on_reaction(self, body: dict[str, Any], event: dict[str, Any], ack: Ack) -> None:
        item = event.get("item") or {}
        user = event.get("user")
        wanted = reaction_name(str(event.get("reaction"))) == self.intake.settings.timeline_emoji
        if wanted and item.get("type") == "message" and isinstance(user, str):
            channel = str(item.get("channel") or "")
            ts = str(item.get("ts") or "")
            found = self._locate(channel, ts)
            if found is not None:
                on = event.get("type") == "reaction_added"
                reacted = Reacted(user, on=on, at=str(event.get("event_ts") or ""))
                self._change(found[0], channel, found[1], [reacted], _cause(body))
        ack()

    def on_pin(self, body: dict[str, Any], event: dict[str, Any], ack: Ack) -> None:
        item = event.get("item") or {}
        raw = item.get("message")
        message: dict[str, Any] = raw if isinstance(raw, dict) else {}
        channel = event_channel(event) or str(event.get("channel_id") or "")
        ts = str(message.get("ts") or item.get("ts") or "")
        if item.get("type") == "message" and ts:
            found = self._locate(channel, ts, message)
            if found is not None:
                pin = Pinned(on=event.get("type") == "pin_added", at=str(event.get("event_ts")))
                known: list[NoteEvent] = [posted(message)] if message.get("text") else []
                self._change(found[0], channel, found[1], [*known, pin], _cause(body))
        ack()

    def on_shortcut(self, body: dict[str, Any], ack: Ack) -> None:
        channel = str((body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        user = str((body.get("user") or {}).get("id") or "")
        found = self._thread(channel, message)
        if found is None:
            ack()
            self._tell(channel, user, NOT_IN_A_THREAD, message.get("thread_ts"))
            return
        cause = f"shortcut:{body.get('action_ts')}:{user}"
        self._change(found, channel, message, [posted(message), Shortcut(user)], cause)
        ack()
        self._tell(channel, user, ADDED, message.get("thread_ts"))

    # -- where a message belongs -------------------------------------------------------------

    def _thread(self, channel: str, message: dict[str, Any]) -> Found | None:
        """The incident whose thread `message` is a reply in (the parent is the worker's own
        message, and a top-level message is in no incident's thread)."""
        thread_ts, ts = message.get("thread_ts"), message.get("ts")
        if not isinstance(thread_ts, str) or not isinstance(ts, str) or thread_ts == ts:
            return None
        return self.intake.incident_at(channel, thread_ts)

    def _locate(
        self, channel: str, ts: str, message: dict[str, Any] | None = None
    ) -> tuple[Found, dict[str, Any]] | None:
        """The incident of the message `ts` and the message as far as known: from what the
        event carries, else the facts already held, else Slack (which thread it is in)."""
        known = dict(message or {})
        if not known.get("thread_ts"):
            note = self._note(channel, ts)
            thread_ts = note.thread_ts if note is not None else self._ask_thread(channel, ts)
            known = {**known, "ts": ts, "thread_ts": thread_ts}
        found = self._thread(channel, known)
        return (found, known) if found is not None else None

    def _note(self, channel: str, ts: str) -> ThreadNote | None:
        for desk in self.intake.desks:
            note = desk.store.note(channel, ts)
            if note is not None:
                return note
        return None

    def _ask_thread(self, channel: str, ts: str) -> str | None:
        """Slack, for a message the worker has never heard of (a reaction arriving before
        the message's own event). Failing that, the catch-up after a reconnect finds it."""
        try:
            return self.intake.slack.thread_of(channel, ts)
        except ServiceError as exc:
            log.warning("could not tell which thread message %s is in: %s", ts, exc)
            return None

    # -- recording -------------------------------------------------------------------------

    def _change(
        self,
        found: Found,
        channel: str,
        message: dict[str, Any],
        events: Sequence[NoteEvent],
        cause: str,
        *,
        look_first: bool = False,
    ) -> ThreadNote:
        """Apply `events` to the message's facts and record the action the change calls for,
        in one transaction; then wake the database's lanes."""
        start = ThreadNote(
            page_id=found.record.page_id,
            channel=channel,
            ts=str(message["ts"]),
            thread_ts=str(message["thread_ts"]),
        )
        capture = found.desk.settings.timeline_capture

        def plan(before: ThreadNote | None, after: ThreadNote) -> list[Action]:
            if not worth_planning(before, after, capture):
                return []
            if after.complete:
                return [sync_action(after, cause, look_first=look_first)]
            return [read_action(after, cause, look_first=look_first)]

        after = found.desk.store.change_note(
            start, lambda note: reduce(apply, events, note), plan, self.intake.clock()
        )
        found.desk.wake()
        return after

    def _tell(self, channel: str, user: str, text: str, thread_ts: object) -> None:
        """An answer only the person who used the shortcut sees (a failure is only logged:
        the work is recorded either way)."""
        if not channel or not user:
            return
        thread = thread_ts if isinstance(thread_ts, str) else None
        try:
            self.intake.slack.call(
                "chat.postEphemeral",
                lambda: self.intake.slack.client.chat_postEphemeral(
                    channel=channel, user=user, text=text, thread_ts=thread
                ),
            )
        except ServiceError as exc:
            log.info("could not answer %s's shortcut: %s", user, exc)

    # -- catching up -----------------------------------------------------------------------

    def catch_up_soon(self) -> None:
        """After (re)connecting: read back the open incidents' threads, in a thread of its own
        (the connection goes on delivering events meanwhile); one pass at a time."""
        threading.Thread(target=self.catch_up, name="notes-catch-up", daemon=True).start()

    def catch_up(self) -> int:
        """Every open incident's thread as Slack shows it now → the facts (and the work the
        differences call for). Returns how many messages were looked at."""
        with self._catch_up_lock:
            if self._catching_up:
                self._again = True
                return 0
            self._catching_up = True
        seen = 0
        try:
            while True:
                with self._catch_up_lock:
                    self._again = False
                seen = sum(self._catch_up_desk(desk) for desk in self.intake.desks)
                with self._catch_up_lock:
                    if not self._again:
                        return seen
        finally:
            with self._catch_up_lock:
                self._catching_up = False

    def _catch_up_desk(self, desk: Desk) -> int:
        seen = 0
        resolved = set(desk.settings.resolved_statuses)
        # (Adopting: announced before the worker lost its memory, its thread being read back.)
        records = [*desk.store.records("announced"), *desk.store.records("adopting")]
        for record in records:
            snapshot = record.snapshot
            if not record.thread_ts or snapshot.in_trash or snapshot.status in resolved:
                continue
            found = Found(desk, record)
            # What the read shows is as of when it started (a little before, for the clocks
            # of Slack and the worker): a pin, a reply or an edit that comes in while it
            # runs is newer than the read, and the read does not undo it.
            read_at = self.intake.clock() - timedelta(seconds=READ_MARGIN_S)
            try:
                messages = self.intake.slack.thread_history(found.channel, record.thread_ts)
            except ServiceError as exc:
                log.warning("could not read incident %s's thread: %s", record.page_id, exc)
                continue
            seen += self._catch_up_thread(found, messages, read_at)
        return seen

    def _catch_up_thread(
        self, found: Found, messages: list[dict[str, Any]], read_at: datetime
    ) -> int:
        cause = f"catch-up:{slack_ts(read_at)}"
        emoji = found.desk.settings.timeline_emoji
        channel, thread_ts = found.channel, found.record.thread_ts
        there = set()
        for message in messages:
            ts = message.get("ts")
            if not isinstance(ts, str) or ts == thread_ts:
                continue
            there.add(ts)
            reply = {**self._without_guests(message), "thread_ts": thread_ts}
            events = message_events(reply, channel, emoji, read_at)
            self._change(found, channel, reply, events, cause, look_first=True)
        for note in found.desk.store.notes_for(found.record.page_id):
            # Missing from the read: deleted, unless posted after the read began.
            if note.ts not in there and not note.deleted and _before(note.ts, read_at):
                gone = {"ts": note.ts, "thread_ts": note.thread_ts}
                self._change(found, channel, gone, [Deleted()], cause)
        return len(there)

    def _without_guests(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message with its reactions by people of another workspace left out: live,
        their 📌 is refused (app.py); read back, it must not count either."""
        reactions = message.get("reactions")
        if not isinstance(reactions, list):
            return message
        kept = []
        for reaction in reactions:
            if not isinstance(reaction, dict):
                continue
            users = [
                u
                for u in reaction.get("users") or ()
                if isinstance(u, str) and not self.intake.is_guest(u)
            ]
            if users:
                kept.append({**reaction, "users": users, "count": len(users)})
        return {**message, "reactions": kept}


# A catch-up's read counts as made this long before it began (clocks differ a little).
READ_MARGIN_S = 2.0


def _before(ts: str, moment: datetime) -> bool:
    try:
        return float(ts) < moment.timestamp()
    except ValueError:
        return True


def _cause(body: dict[str, Any]) -> str:
    """What makes an event's work unique: Slack's event id (the same on a redelivery)."""
    event = body.get("event") or {}
    return str(body.get("event_id") or f"{event.get('type')}:{event.get('event_ts')}")
