"""Sandbox Slack: conversations.history, .replies, .info, .join and .list."""

from __future__ import annotations

from typing import Any

from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.methods.call import Call
from worker.sandbox.slack.pagination import Page, paginate
from worker.sandbox.slack.render import View
from worker.sandbox.slack.state import Channel, Message, ts_micros

HISTORY_LIMIT = (100, 999)  # (default, maximum)
REPLIES_LIMIT = (1000, 1000)
LIST_LIMIT = (100, 1000)
CHANNEL_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})


def history(call: Call) -> dict[str, Any]:
    """Top-level messages and broadcast replies, newest first."""
    channel = call.channel()
    call.member_of(channel)
    window = _Window.from_call(call)
    messages = [m for m in channel.messages.values() if m.in_history and window.holds(m)]
    messages.sort(key=_ts_key, reverse=True)
    page = paginate(
        messages,
        _ts_key,
        "next_ts",
        call.params.text("cursor"),
        _limit(call, HISTORY_LIMIT),
        descending=True,
    )
    return {
        "messages": _render(call, channel, page, View.HISTORY),
        "has_more": page.has_more,
        "pin_count": len(channel.pins),
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": page.next_cursor},
    }


def replies(call: Call) -> dict[str, Any]:
    """The parent first, then its replies oldest first (also when `ts` names a reply)."""
    channel = call.channel()
    call.member_of(channel)
    target = channel.messages.get(call.params.required("ts"))
    if target is None or target.orphan:
        raise SlackError("thread_not_found")
    parent = channel.messages.get(str(target.thread_ts), target) if target.is_reply else target
    window = _Window.from_call(call)
    thread = [parent, *(m for m in channel.replies_of(parent.ts) if window.holds(m))]
    page = paginate(
        thread,
        _ts_key,
        "next_ts",
        call.params.text("cursor"),
        _limit(call, REPLIES_LIMIT),
        descending=False,
    )
    return {
        "messages": _render(call, channel, page, View.REPLIES),
        "has_more": page.has_more,
        "response_metadata": {"next_cursor": page.next_cursor},
    }


def info(call: Call) -> dict[str, Any]:
    channel = call.channel()
    rendered = call.renderer.channel(
        channel,
        call.caller,
        with_num_members=call.params.flag("include_num_members"),
        with_locale=call.params.flag("include_locale"),
    )
    # conversations.info answers carry is_read_only (java sample, 2020 example); join's don't.
    return {"channel": {**rendered, "is_read_only": False}}


def join(call: Call) -> dict[str, Any]:
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_archived")
    body: dict[str, Any] = {}
    if call.caller.user_id in channel.members:
        body = {
            "warning": "already_in_channel",
            "response_metadata": {"warnings": ["already_in_channel"]},
        }
    elif channel.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    else:
        channel.members.append(call.caller.user_id)
    rendered = call.renderer.channel(channel, call.caller)
    return {"channel": rendered, **body}


def list_channels(call: Call) -> dict[str, Any]:
    types = {t.strip() for t in (call.params.text("types") or "public_channel").split(",")}
    if not types <= CHANNEL_TYPES:
        raise SlackError("invalid_types")
    if call.params.integer("limit", 0) < 0:
        raise SlackError("invalid_limit")
    skip_archived = call.params.flag("exclude_archived")
    channels = [
        c
        for c in call.state.channels.values()
        if c.visible_to(call.caller)
        and ("private_channel" if c.is_private else "public_channel") in types
        and not (skip_archived and c.is_archived)
    ]
    page = paginate(
        channels, lambda c: c.id, "team", call.params.text("cursor"), _limit(call, LIST_LIMIT)
    )
    return {
        "channels": [
            call.renderer.channel(c, call.caller, with_num_members=True) for c in page.items
        ],
        "response_metadata": {"next_cursor": page.next_cursor},
    }


def _render(call: Call, channel: Channel, page: Page[Message], view: View) -> list[dict[str, Any]]:
    with_metadata = call.params.flag("include_all_metadata")
    return [
        call.renderer.message(channel, m, view, with_metadata=with_metadata) for m in page.items
    ]


def _ts_key(message: Message) -> str:
    return message.ts.replace(".", "")


def _limit(call: Call, bounds: tuple[int, int]) -> int:
    default, maximum = bounds
    limit = call.params.integer("limit", default)
    return default if limit <= 0 else min(limit, maximum)


class _Window:
    """`oldest`/`latest`/`inclusive`: which timestamps a read covers."""

    def __init__(self, oldest_us: int, latest_us: int | None, inclusive: bool) -> None:
        self.oldest_us = oldest_us
        self.latest_us = latest_us
        self.inclusive = inclusive

    @classmethod
    def from_call(cls, call: Call) -> _Window:
        oldest = _ts_arg(call, "oldest", "invalid_ts_oldest")
        latest = _ts_arg(call, "latest", "invalid_ts_latest")
        return cls(oldest or 0, latest, call.params.flag("inclusive"))

    def holds(self, message: Message) -> bool:
        micros = ts_micros(message.ts) or 0
        if self.inclusive:
            return micros >= self.oldest_us and (self.latest_us is None or micros <= self.latest_us)
        return micros > self.oldest_us and (self.latest_us is None or micros < self.latest_us)


def _ts_arg(call: Call, name: str, error: str) -> int | None:
    if not call.params.has(name):
        return None
    micros = ts_micros(call.params.text(name))
    if micros is None:
        raise SlackError(error)
    return micros
