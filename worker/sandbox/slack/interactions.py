"""Sandbox Slack: what only a Slack client can do — click, submit a modal, run a shortcut or
a slash command — as the payloads Slack sends the app, and what the app's ack does to views.

Payload keys follow the SDK and Bolt test fixtures (reference/slack/inbound.md §5, §6):
`block_actions` with `container`, `message`, `response_url`, `trigger_id`, `user.team_id`,
`team.id`; `view_submission` with `view.state.values[block_id][action_id]`; global
`shortcut` and `message_action`; slash commands as flat string fields. Each acts as one
person (by Slack user id) who must be able to see what they act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.sandbox.slack.directory import Directory
from worker.sandbox.slack.render import Renderer, View
from worker.sandbox.slack.state import Channel, Message, SlackState, stable_id
from worker.sandbox.slack.views import (
    OpenView,
    close_view,
    find_view,
    issue_trigger,
    new_hash,
    new_view_id,
    stack_of,
    view_json,
)


class InteractionError(ValueError):
    """What a person cannot do (the sandbox endpoint answers 400 with it)."""


@dataclass(frozen=True)
class Interactions:
    state: SlackState
    directory: Directory
    renderer: Renderer
    clock: Callable[[], float]

    # -- who -------------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.directory.users.get(user_id)
        if user is None or user.is_bot:
            raise InteractionError(f"no person with Slack id {user_id!r}")
        return {
            "id": user.id,
            "username": user.handle,
            "name": user.handle,
            "team_id": self.directory.team_of(user.id),
        }

    def _common(self, user_id: str, now_s: float) -> dict[str, Any]:
        ws = self.state.workspace
        return {
            "user": self._user(user_id),
            "api_app_id": ws.slack_app_id,
            "token": _verification_token(self.state),
            "trigger_id": issue_trigger(self.state, user_id, now_s),
            "team": {"id": ws.slack_team_id, "domain": ws.slack_team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _visible_channel(self, user_id: str, channel_id: str) -> Channel:
        channel = self.state.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"no channel {channel_id}")
        if user_id not in channel.members:
            raise InteractionError(f"{user_id} is not a member of {channel_id}")
        return channel

    def _message(self, channel: Channel, ts: str) -> Message:
        message = channel.find(ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel.id}")
        return message

    # -- payloads --------------------------------------------------------------------------

    def click_message(
        self, user_id: str, channel_id: str, ts: str, action_id: str, base_url: str
    ) -> dict[str, Any]:
        now_s = self.clock()
        channel = self._visible_channel(user_id, channel_id)
        message = self._message(channel, ts)
        action = _action(message.blocks or [], action_id, f"message {ts}", now_s)
        rendered = self.renderer.message(channel, message, View.HISTORY)
        return {
            "type": "block_actions",
            **self._common(user_id, now_s),
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": channel.id,
                "is_ephemeral": False,
            },
            "channel": {"id": channel.id, "name": channel.name},
            "message": rendered,
            "state": {"values": {}},
            "response_url": _response_url(base_url, channel.id, message.ts),
            "actions": [action],
        }

    def click_view(self, user_id: str, view_id: str, action_id: str) -> dict[str, Any]:
        now_s = self.clock()
        view = self._own_view(user_id, view_id)
        action = _action(view.definition.get("blocks", []), action_id, f"view {view_id}", now_s)
        return {
            "type": "block_actions",
            **self._common(user_id, now_s),
            "container": {"type": "view", "view_id": view.id},
            "view": view_json(self.state, view),
            "actions": [action],
        }

    def submit(
        self, user_id: str, view_id: str, values: dict[str, dict[str, str]]
    ) -> dict[str, Any]:
        now_s = self.clock()
        view = self._own_view(user_id, view_id)
        view.values = _state_values(view.definition.get("blocks", []), values)
        return {
            "type": "view_submission",
            **self._common(user_id, now_s),
            "view": view_json(self.state, view),
            "response_urls": [],
        }

    def shortcut(
        self,
        user_id: str,
        callback_id: str,
        channel_id: str | None,
        message_ts: str | None,
        base_url: str,
    ) -> dict[str, Any]:
        now_s = self.clock()
        common = self._common(user_id, now_s)
        action_ts = f"{now_s:.6f}"
        if channel_id is None or message_ts is None:
            return {
                "type": "shortcut",
                **common,
                "callback_id": callback_id,
                "action_ts": action_ts,
            }
        channel = self._visible_channel(user_id, channel_id)
        message = self._message(channel, message_ts)
        return {
            "type": "message_action",
            **common,
            "callback_id": callback_id,
            "action_ts": action_ts,
            "channel": {"id": channel.id, "name": channel.name},
            "message_ts": message.ts,
            "message": self.renderer.message(channel, message, View.HISTORY),
            "response_url": _response_url(base_url, channel.id, message.ts),
        }

    def command(
        self, user_id: str, command: str, text: str, channel_id: str, base_url: str
    ) -> dict[str, Any]:
        now_s = self.clock()
        if not command.startswith("/"):
            raise InteractionError(f"a slash command starts with '/', got {command!r}")
        channel = self._visible_channel(user_id, channel_id)
        ws = self.state.workspace
        user = self._user(user_id)
        return {
            "token": _verification_token(self.state),
            "team_id": ws.slack_team_id,
            "team_domain": ws.slack_team_domain,
            "channel_id": channel.id,
            "channel_name": channel.name,
            "user_id": user["id"],
            "user_name": user["name"],
            "command": command,
            "text": text,
            "api_app_id": ws.slack_app_id,
            "is_enterprise_install": "false",
            "response_url": _response_url(base_url, channel.id, "command"),
            "trigger_id": issue_trigger(self.state, user_id, now_s),
        }

    # -- views --------------------------------------------------------------------------------

    def _own_view(self, user_id: str, view_id: str) -> OpenView:
        self._user(user_id)
        view = self.state.views.get(view_id)
        if view is None or view.user != user_id:
            raise KeyError(f"no view {view_id} open for {user_id}")
        return view

    def views_of(self, user_id: str) -> list[dict[str, Any]]:
        return [view_json(self.state, v) for v in stack_of(self.state, user_id)]

    def after_submission(self, view_id: str, acked: bool, response: Any) -> None:
        """What the app's ack to a view_submission does (BOLT ack.py `response_action`):
        a plain ack closes the view, `errors` keeps it, `update`/`push` replace or stack,
        `clear` closes them all. No ack: the view stays (the person sees an error)."""
        view = self.state.views.get(view_id)
        if view is None or not acked:
            return
        action = response.get("response_action") if isinstance(response, dict) else None
        if action is None:
            close_view(self.state, view)
        elif action == "update" and isinstance(response.get("view"), dict):
            view.definition, view.hash, view.values = response["view"], new_hash(self.clock()), {}
        elif action == "push" and isinstance(response.get("view"), dict):
            pushed_id = new_view_id(self.state)
            self.state.views[pushed_id] = OpenView(
                pushed_id,
                view.user,
                response["view"],
                new_hash(self.clock()),
                root_view_id=view.root_view_id,
                previous_view_id=view.id,
            )
        elif action == "clear":
            for open_view in stack_of(self.state, view.user):
                self.state.views.pop(open_view.id, None)

    def find_view(self, view_id: str) -> OpenView:
        return find_view(self.state, view_id)


def _verification_token(state: SlackState) -> str:
    """The legacy verification token payloads carry (the same the delivery hub uses)."""
    return stable_id("", f"verification:{state.workspace.seed}")


def _response_url(base_url: str, channel_id: str, ts: str) -> str:
    return f"{base_url.rstrip('/')}/_sandbox/respond/{channel_id}/{ts}"


def _elements(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every interactive element with the id of its block."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        candidates = list(block.get("elements", [])) if block.get("type") == "actions" else []
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        found += [(block_id, e) for e in candidates if isinstance(e, dict) and "action_id" in e]
    return found


def _action(
    blocks: list[dict[str, Any]], action_id: str, where: str, now_s: float
) -> dict[str, Any]:
    for block_id, element in _elements(blocks):
        if element["action_id"] != action_id:
            continue
        action: dict[str, Any] = {
            "type": element.get("type", "button"),
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{now_s:.6f}",
        }
        for key in ("text", "value", "style"):
            if key in element:
                action[key] = element[key]
        return action
    known = sorted(e["action_id"] for _, e in _elements(blocks))
    raise InteractionError(f"no element with action_id {action_id!r} in {where} (has {known})")


def _state_values(
    blocks: list[dict[str, Any]], given: dict[str, dict[str, str]]
) -> dict[str, dict[str, Any]]:
    """`view.state.values` as Slack shapes it per input type; required inputs must be
    filled (the client refuses to submit otherwise)."""
    inputs = {
        str(b.get("block_id")): b for b in blocks if b.get("type") == "input" and "element" in b
    }
    for block_id in given:
        if block_id not in inputs:
            raise InteractionError(
                f"no input block {block_id!r} in the view (has {sorted(inputs)})"
            )
    values: dict[str, dict[str, Any]] = {}
    for block_id, block in inputs.items():
        element = block["element"]
        action_id = str(element.get("action_id"))
        text = given.get(block_id, {}).get(action_id)
        if text is None and given.get(block_id):
            raise InteractionError(f"input {block_id!r} has action_id {action_id!r}")
        if not text and not block.get("optional", False):
            raise InteractionError(f"input {block_id!r} is required")
        values[block_id] = {action_id: _value(element, text)}
    return values


def _value(element: dict[str, Any], text: str | None) -> dict[str, Any]:
    kind = element.get("type", "plain_text_input")
    if kind in ("static_select", "radio_buttons"):
        option = next((o for o in element.get("options", []) if o.get("value") == text), None)
        return {"type": kind, "selected_option": option}
    if kind == "users_select":
        return {"type": kind, "selected_user": text}
    if kind == "channels_select":
        return {"type": kind, "selected_channel": text}
    return {"type": kind, "value": text or None}
