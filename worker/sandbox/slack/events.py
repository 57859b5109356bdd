"""Sandbox Slack: the Events API events a Web API call causes (the inner `event` objects).

Shapes follow the java-slack-sdk json-logs event samples (reference/slack/slack-fixtures,
`events/*Payload.json`): `message` (with `thread_ts`/`parent_user_id` on replies, `bot_id`
and `bot_profile` on the app's posts), `message_changed` (`message` + `previous_message`),
`message_deleted` (`deleted_ts` + `previous_message`), `reaction_added`, `pin_added`.
No sample exists for `reaction_removed` or `pin_removed`: they mirror their `*_added`
counterparts (UNSOURCED, reference/slack/inbound.md §4).

Only channels the bot is a member of produce events (the app subscribes to
message.channels / message.groups, reaction_* and pin_*; a bot sees no other channel).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from worker.sandbox.slack.render import Renderer, View
from worker.sandbox.slack.state import Channel, Message, SlackState, format_ts


@dataclass(frozen=True)
class Event:
    """One inner event and what its envelope needs to know about where it happened."""

    body: dict[str, Any]
    ext_shared: bool


def event_ts(now_s: float) -> str:
    return format_ts(int(now_s * 1_000_000))


class EventMaker:
    """Builds the events of one call; `None` when the bot would not hear of it."""

    def __init__(self, state: SlackState, renderer: Renderer, now_s: float) -> None:
        self.state, self.renderer, self.now_s = state, renderer, now_s

    def _heard(self, channel: Channel) -> bool:
        return self.state.workspace.slack_bot_user_id in channel.members

    def _event(self, channel: Channel, body: dict[str, Any]) -> Event | None:
        if not self._heard(channel):
            return None
        return Event(body, self.state.is_ext_shared(channel))

    def _channel_type(self, channel: Channel) -> str:
        return "group" if channel.is_private else "channel"

    def message_json(self, channel: Channel, message: Message) -> dict[str, Any]:
        """The message as events carry it: as read back, plus the guest's team fields."""
        body = self.renderer.message(channel, message, View.REPLIES)
        guest = self.state.workspace.slack_guest
        if guest is not None and message.user == guest.slack_id:
            # A Slack Connect author's own team (MessageRepliedPayload / MessageChangedPayload
            # samples carry `user_team` and `source_team`).
            body |= {
                "team": guest.team_id,
                "user_team": guest.team_id,
                "source_team": guest.team_id,
            }
        if message.from_bot:
            # The event samples' bot messages carry bot_id and bot_profile, no app_id.
            body.pop("app_id", None)
        elif not message.tombstone:
            # Messages people type carry a client id (a UUID, stable per message here).
            body["client_msg_id"] = str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"{channel.id}/{message.ts}")
            )
        return body

    def posted(self, channel: Channel, message: Message) -> Event | None:
        if message.orphan:
            return None
        body = self.message_json(channel, message)
        body |= {
            "channel": channel.id,
            "event_ts": message.ts,
            "channel_type": self._channel_type(channel),
        }
        return self._event(channel, body)

    def changed(self, channel: Channel, message: Message, previous: dict[str, Any]) -> Event | None:
        now = event_ts(self.now_s)
        body = {
            "type": "message",
            "subtype": "message_changed",
            "message": self.message_json(channel, message),
            "previous_message": previous,
            "channel": channel.id,
            "hidden": True,
            "ts": now,
            "event_ts": now,
            "channel_type": self._channel_type(channel),
        }
        return self._event(channel, body)

    def deleted(self, channel: Channel, previous: dict[str, Any]) -> Event | None:
        now = event_ts(self.now_s)
        body = {
            "type": "message",
            "subtype": "message_deleted",
            "previous_message": previous,
            "channel": channel.id,
            "hidden": True,
            "deleted_ts": previous["ts"],
            "ts": now,
            "event_ts": now,
            "channel_type": self._channel_type(channel),
        }
        return self._event(channel, body)

    def reaction(
        self, kind: str, user: str, channel: Channel, message: Message, name: str
    ) -> Event | None:
        body = {
            "type": kind,
            "user": user,
            "item": {"type": "message", "channel": channel.id, "ts": message.ts},
            "reaction": name,
            "item_user": message.user,
            "event_ts": event_ts(self.now_s),
        }
        return self._event(channel, body)

    def pin(
        self, kind: str, user: str, channel: Channel, message: Message, created_s: int
    ) -> Event | None:
        item_message = self.message_json(channel, message)
        # The pin_added sample's message has no client_msg_id.
        item_message.pop("client_msg_id", None)
        item_message["permalink"] = self.permalink(channel, message)
        if message.ts in channel.pins:
            item_message["pinned_to"] = [channel.id]
        body = {
            "type": kind,
            "user": user,
            "channel_id": channel.id,
            "item": {
                "type": "message",
                "created": created_s,
                "created_by": user,
                "channel": channel.id,
                "message": item_message,
            },
            "item_user": message.user,
            "pin_count": len(channel.pins),
            "pinned_info": {"channel": channel.id, "pinned_by": user, "pinned_ts": created_s},
            "event_ts": event_ts(self.now_s),
        }
        if kind == "pin_removed":
            # `has_pins` on pin_removed: UNSOURCED (no sample); it says whether pins remain.
            body["has_pins"] = bool(channel.pins)
        return self._event(channel, body)

    def permalink(self, channel: Channel, message: Message) -> str:
        domain = self.state.workspace.slack_team_domain
        return f"https://{domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
