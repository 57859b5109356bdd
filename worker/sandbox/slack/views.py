"""Sandbox Slack: modals (views) and the trigger ids that open them.

A trigger id comes with each interaction and lets the app open or push one view for that
person within 3 seconds (BOLT docs/english/concepts/opening-modals.md). Views live in a
stack per person (views.push: at most 3, slack-method-catalog/views.push.json). The view
object follows the views.open example of the 2020 OpenAPI document.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.state import SlackState

TRIGGER_TTL_S = 3.0
STACK_MAX = 3
_COUNTER = itertools.count(1)


@dataclass
class Trigger:
    user: str
    issued_s: float
    used: bool = False


@dataclass
class OpenView:
    """A view someone sees: its definition as the app gave it, and what Slack adds."""

    id: str
    user: str
    definition: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    values: dict[str, dict[str, Any]] = field(default_factory=dict)


def issue_trigger(state: SlackState, user: str, now_s: float) -> str:
    """A new trigger id in Slack's `digits.digits.hex` form."""
    n = next(_COUNTER)
    digest = hashlib.sha256(f"{state.workspace.seed}:{n}:{user}".encode()).hexdigest()[:32]
    trigger_id = f"{int(now_s * 1000)}{n:04d}.{int(state.workspace.seed) + 10**9}.{digest}"
    for stale in [t for t, v in state.triggers.items() if now_s - v.issued_s > 60 * TRIGGER_TTL_S]:
        # Long expired: forgotten, so that a long run does not accumulate them.
        del state.triggers[stale]
    state.triggers[trigger_id] = Trigger(user, now_s)
    return trigger_id


def redeem_trigger(state: SlackState, trigger_id: str, now_s: float) -> str:
    """The person a trigger is for; used once, within 3 seconds."""
    trigger = state.triggers.get(trigger_id)
    if trigger is None:
        raise SlackError("invalid_trigger_id")
    if trigger.used:
        raise SlackError("exchanged_trigger_id")
    if now_s - trigger.issued_s > TRIGGER_TTL_S:
        raise SlackError("expired_trigger_id")
    trigger.used = True
    return trigger.user


def new_view_id(state: SlackState) -> str:
    n = next(_COUNTER)
    digest = hashlib.sha256(f"view:{state.workspace.seed}:{n}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "V" + "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def new_hash(now_s: float) -> str:
    return f"{int(now_s)}.{next(_COUNTER):08d}"


def stack_of(state: SlackState, user: str) -> list[OpenView]:
    """The person's open views, the root first and the one on top last."""
    views = [v for v in state.views.values() if v.user == user]
    by_id = {v.id: v for v in views}
    roots = [v for v in views if v.previous_view_id is None]
    stack: list[OpenView] = []
    for root in roots:
        stack.append(root)
        current = root
        while True:
            child = next((v for v in by_id.values() if v.previous_view_id == current.id), None)
            if child is None:
                break
            stack.append(child)
            current = child
    return stack


def find_view(state: SlackState, view_id: str = "", external_id: str = "") -> OpenView:
    for view in state.views.values():
        if view_id and view.id == view_id:
            return view
        if external_id and view.definition.get("external_id") == external_id:
            return view
    raise SlackError("not_found")


def close_view(state: SlackState, view: OpenView) -> None:
    """Closing a view closes those pushed above it too."""
    for above in stack_of(state, view.user):
        if above.previous_view_id == view.id:
            close_view(state, above)
    state.views.pop(view.id, None)


def view_json(state: SlackState, view: OpenView) -> dict[str, Any]:
    ws = state.workspace
    d = view.definition
    body: dict[str, Any] = {
        "id": view.id,
        "team_id": ws.slack_team_id,
        "type": d.get("type", "modal"),
        "blocks": d.get("blocks", []),
        "private_metadata": d.get("private_metadata", ""),
        "callback_id": d.get("callback_id", ""),
        "state": {"values": view.values},
        "hash": view.hash,
        "title": d.get("title"),
        "clear_on_close": bool(d.get("clear_on_close", False)),
        "notify_on_close": bool(d.get("notify_on_close", False)),
        "close": d.get("close"),
        "submit": d.get("submit"),
        "previous_view_id": view.previous_view_id,
        "root_view_id": view.root_view_id,
        "app_id": ws.slack_app_id,
        "external_id": d.get("external_id", ""),
        "app_installed_team_id": ws.slack_team_id,
        "bot_id": ws.slack_bot_id,
    }
    return body
