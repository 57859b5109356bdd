"""Sandbox Slack: chat.update, chat.delete and chat.getPermalink (existing messages)."""

from __future__ import annotations

from typing import Any

from worker.sandbox.slack.blocks import normalise_blocks
from worker.sandbox.slack.content import (
    UPDATE_TEXT_MAX,
    Content,
    check_whole_message,
    read_content,
)
from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.methods.call import Call
from worker.sandbox.slack.pings import message_pings
from worker.sandbox.slack.render import View
from worker.sandbox.slack.state import Channel, Message, format_ts


def update(call: Call) -> dict[str, Any]:
    """Current semantics (docs.slack.dev): `text` without `blocks` removes the blocks."""
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_inactive")
    message = call.message(channel, "ts")
    if message.user != call.caller.user_id:
        raise SlackError("cant_update_message")
    content = read_content(call.params)
    if content.text is not None and len(content.text) > UPDATE_TEXT_MAX:
        raise SlackError("msg_too_long")
    check_whole_message(content, call.state.blocks_text_max, call.state.refusals)
    previous = call.make_event.message_json(channel, message)
    _apply(call, message, content)
    call.emit(call.make_event.changed(channel, message, previous))
    rendered = call.renderer.message(channel, message, View.UPDATED)
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": rendered}


def _apply(call: Call, message: Message, content: Content) -> None:
    given = (content.text, content.blocks, content.attachments, content.metadata)
    if all(value is None for value in given):
        raise SlackError("no_text")
    text = message.text if content.text is None else content.text
    blocks = message.blocks
    if content.blocks is not None:
        blocks = normalise_blocks(content.blocks, f"{message.ts}:{call.now_s}") or None
    elif content.text is not None:
        blocks = None
    attachments = message.attachments if content.attachments is None else content.attachments
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    if content.text is not None and content.blocks is None:
        # Text edits show "(edited)"; block edits do not.
        message.edited = {"user": call.caller.user_id, "ts": format_ts(int(call.now_s * 1e6))}
    message.text, message.blocks, message.attachments = text, blocks, attachments or None
    if content.metadata is not None:
        # `metadata: {}` removes it (chat.update's `metadata` argument, docs.slack.dev).
        message.metadata = content.metadata or None
    found = message_pings(text, blocks, attachments, parse_names=content.parse_names)
    added = found - set(message.pings)
    message.edit_pings = sorted(added.union(message.edit_pings))


def delete(call: Call) -> dict[str, Any]:
    channel = call.channel()
    message = call.message(channel, "ts")
    if message.user != call.caller.user_id or channel.is_archived:
        raise SlackError("cant_delete_message")
    previous = call.make_event.message_json(channel, message)
    _remove(channel, message)
    call.emit(call.make_event.deleted(channel, previous))
    return {"channel": channel.id, "ts": message.ts}


def _remove(channel: Channel, message: Message) -> None:
    if channel.replies_of(message.ts) and not message.is_reply:
        # A parent with replies leaves a stub so the thread stays readable.
        message.tombstone = True
        message.blocks = message.attachments = message.metadata = None
    else:
        del channel.messages[message.ts]
    if message.ts in channel.pins:
        channel.pins.remove(message.ts)
        channel.pin_info.pop(message.ts, None)
    parent = channel.messages.get(str(message.thread_ts)) if message.is_reply else None
    if parent is not None and parent.tombstone and not channel.replies_of(parent.ts):
        del channel.messages[parent.ts]


def get_permalink(call: Call) -> dict[str, Any]:
    channel = call.channel()
    message = call.message(channel, "message_ts")
    domain = call.directory.workspace.slack_team_domain
    link = f"https://{domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}
