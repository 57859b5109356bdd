"""Render: the buttons on the worker's messages and the modal they open, as Block Kit (pure).

People answer a reminder where they read it: Post update (a modal, then *Status update*
in Notion), Snooze, I'll take command. The blocks are valid by construction: every label is
cut to its element's limit (the wording files are the team's to edit), a button's value is
a small JSON object naming the incident (and the reminder) so a click can be judged against
what the worker knows now — a stale message is answered, never acted on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.config import Settings
from worker.slack_fit import SECTION_MAX, cut

POST_UPDATE = "incident.post_update"
# The snoozes are `incident.snooze.30` and `incident.snooze.60`: two buttons of one block
# cannot share an action id.
SNOOZE = "incident.snooze"
TAKE_COMMAND = "incident.take_command"
ACTION_IDS = (POST_UPDATE, SNOOZE, TAKE_COMMAND)
# The modal's callback id, and where its text is in `view.state.values`.
UPDATE_VIEW = "incident.post_update"
UPDATE_BLOCK = "update"
UPDATE_INPUT = "text"
SNOOZE_MINUTES = (30, 60)

# Block Kit limits (docs.slack.dev; slack-sdk's models check the same).
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
VIEW_TITLE_MAX = 24  # also the submit and close buttons
PRIVATE_METADATA_MAX = 3000
INPUT_LABEL_MAX = 2000
PLACEHOLDER_MAX = 150
# What people may type as a status update: the most plain_text_input takes.
UPDATE_TEXT_MAX = 3000


def buttons_enabled(settings: Settings) -> bool:
    """Buttons only where a click reaches the worker: inbound Slack is configured (Socket
    Mode's app token, or the signing secret of HTTP events). Without it, none: a button
    nobody answers is worse than none."""
    return settings.inbound is not None


@dataclass(frozen=True)
class ButtonValue:
    """What a button carries: the incident's page, the reminder it answers (its outbox key),
    and for a snooze how long."""

    page_id: str
    reminder: str = ""
    minutes: int = 0

    def encode(self) -> str:
        data: dict[str, Any] = {"page": self.page_id}
        if self.reminder:
            data["reminder"] = self.reminder
        if self.minutes:
            data["minutes"] = self.minutes
        text = json.dumps(data, separators=(",", ":"))
        if len(text) > BUTTON_VALUE_MAX:
            raise ValueError(f"a button value longer than {BUTTON_VALUE_MAX} characters")
        return text

    @classmethod
    def decode(cls, text: object) -> ButtonValue | None:
        """The value of a click; None for anything this version did not put on a button."""
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("page"), str):
            return None
        reminder, minutes = data.get("reminder", ""), data.get("minutes", 0)
        if not isinstance(reminder, str) or not isinstance(minutes, int) or minutes < 0:
            return None
        return cls(page_id=data["page"], reminder=reminder, minutes=minutes)


@dataclass(frozen=True)
class UpdateOrigin:
    """Where a Post update modal was opened from (its `private_metadata`): the incident, and
    its thread, so the submission finds both again."""

    page_id: str
    channel: str
    thread_ts: str

    def encode(self) -> str:
        data = {"page": self.page_id, "channel": self.channel, "thread_ts": self.thread_ts}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: object) -> UpdateOrigin | None:
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        values = [data.get(key) for key in ("page", "channel", "thread_ts")]
        if not all(isinstance(value, str) and value for value in values):
            return None
        return cls(page_id=data["page"], channel=data["channel"], thread_ts=data["thread_ts"])


def _plain(text: str, limit: int, fallback: str) -> dict[str, Any]:
    """A plain_text object of 1..limit characters (an empty label becomes `fallback`)."""
    shown = cut(text.strip(), limit) or cut(fallback, limit)
    return {"type": "plain_text", "text": shown, "emoji": True}


def button(
    label: str, action_id: str, value: ButtonValue, *, primary: bool = False
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label, BUTTON_TEXT_MAX, action_id),
        "value": value.encode(),
    }
    if primary:
        element["style"] = "primary"
    return element


def actions_block(buttons: list[dict[str, Any]], block_id: str) -> dict[str, Any]:
    """One row of buttons (their action ids differ: Slack requires it within a block)."""
    return {"type": "actions", "block_id": block_id, "elements": buttons}


@dataclass(frozen=True)
class ButtonLabels:
    """The words on the buttons and the modal (templates/<locale>/slack.toml, [buttons])."""

    post_update: str = "Post update"
    snooze: Mapping[int, str] | None = None  # minutes → label
    take_command: str = "I'll take command"
    modal_title: str = "Status update"
    modal_submit: str = "Post"
    modal_close: str = "Cancel"
    modal_label: str = "What is the status now?"
    modal_placeholder: str = "Impact, what is being done, when the next update comes"

    def snooze_label(self, minutes: int) -> str:
        if self.snooze and minutes in self.snooze:
            return self.snooze[minutes]
        return f"Snooze {minutes} min"


def overdue_buttons(page_id: str, reminder: str, labels: ButtonLabels) -> dict[str, Any]:
    """Post update, Snooze 30 min, Snooze 1 h: under an overdue-update reminder (and its
    escalation)."""
    update = ButtonValue(page_id, reminder)
    buttons = [button(labels.post_update, POST_UPDATE, update, primary=True)]
    buttons += [
        # Action ids are unique within a block: each snooze length has its own.
        button(labels.snooze_label(m), f"{SNOOZE}.{m}", ButtonValue(page_id, reminder, m))
        for m in SNOOZE_MINUTES
    ]
    return actions_block(buttons, "incident.reminder")


def command_buttons(page_id: str, reminder: str, labels: ButtonLabels) -> dict[str, Any]:
    """I'll take command: under a reminder that the incident has no commander."""
    value = ButtonValue(page_id, reminder)
    return actions_block(
        [button(labels.take_command, TAKE_COMMAND, value, primary=True)], "incident.reminder"
    )


def parent_buttons(page_id: str, labels: ButtonLabels) -> dict[str, Any]:
    """Post update: on the thread's parent message, while the incident is open."""
    value = ButtonValue(page_id)
    return actions_block([button(labels.post_update, POST_UPDATE, value)], "incident.parent")


def is_snooze(action_id: str) -> bool:
    return action_id.startswith(SNOOZE + ".")


def post_update_view(
    origin: UpdateOrigin, labels: ButtonLabels, *, about: str = ""
) -> dict[str, Any]:
    """The Post update modal: one multi-line field, required; `about` (mrkdwn, already
    escaped: the incident's title and latest update) shown above it."""
    blocks: list[dict[str, Any]] = []
    if about.strip():
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(about, SECTION_MAX)}}
        )
    blocks.append(
        {
            "type": "input",
            "block_id": UPDATE_BLOCK,
            "label": _plain(labels.modal_label, INPUT_LABEL_MAX, "Status update"),
            "element": {
                "type": "plain_text_input",
                "action_id": UPDATE_INPUT,
                "multiline": True,
                "min_length": 1,
                "max_length": UPDATE_TEXT_MAX,
                "focus_on_load": True,
                "placeholder": _plain(labels.modal_placeholder, PLACEHOLDER_MAX, "…"),
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": UPDATE_VIEW,
        "private_metadata": origin.encode(),
        "title": _plain(labels.modal_title, VIEW_TITLE_MAX, "Status update"),
        "submit": _plain(labels.modal_submit, VIEW_TITLE_MAX, "Post"),
        "close": _plain(labels.modal_close, VIEW_TITLE_MAX, "Cancel"),
        "blocks": blocks,
    }


def submitted_text(view: Mapping[str, Any]) -> str | None:
    """The text typed in a submitted Post update modal (`view.state.values`), or None when
    the view is not one or carries no text."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    block = values.get(UPDATE_BLOCK) if isinstance(values, Mapping) else None
    field = block.get(UPDATE_INPUT) if isinstance(block, Mapping) else None
    text = field.get("value") if isinstance(field, Mapping) else None
    return text if isinstance(text, str) else None
