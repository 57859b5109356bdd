"""Sandbox Slack: chat.postMessage and chat.postEphemeral (new messages, threads, broadcasts)."""

from __future__ import annotations

from typing import Any

from worker.sandbox.slack.blocks import normalise_blocks
from worker.sandbox.slack.content import (
    POST_TEXT_MAX,
    Content,
    check_whole_message,
    read_content,
)
from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.methods.call import Call
from worker.sandbox.slack.pings import message_pings
from worker.sandbox.slack.render import View
from worker.sandbox.slack.state import Channel, Message

TRUNCATED = (
    "[WARN] Your message was truncated but still posted. "
    "The `text` field accepts up to 40,000 characters."
)


def post_message(call: Call) -> dict[str, Any]:
    channel = _postable_channel(call)
    # chat.postMessage lists no invalid_attachments (slack-method-catalog).
    content = read_content(call.params, attachments_error="invalid_arguments", entities=True)
    if content.renders_nothing:
        raise SlackError("no_text")
    check_whole_message(content, call.state.blocks_text_max, call.state.refusals)
    text, body = _truncated(content)
    ts = call.state.next_ts(channel, call.now_s)
    message = Message(
        channel=channel.id,
        ts=ts,
        user=call.caller.user_id,
        text=text,
        blocks=_stored_blocks(content, ts),
        attachments=content.attachments,
        from_bot=call.caller.is_bot,
        metadata=content.metadata or None,
        pings=_pings(text, content),
    )
    _attach_to_thread(call, channel, message)
    channel.messages[ts] = message
    call.emit(call.make_event.posted(channel, message))
    rendered = call.renderer.message(channel, message, View.POSTED)
    return {"channel": channel.id, "ts": ts, "message": rendered, **body}


def _truncated(content: Content) -> tuple[str, dict[str, Any]]:
    """The text Slack posts, and the warnings it answers with: text cut at 40,000 characters
    (in the changelog's words: api.slack.com/changelog/2018-04-truncating-really-long-messages)
    and Work Object metadata it dropped."""
    text = content.text or ""
    body: dict[str, Any] = {}
    messages: list[str] = []
    if content.metadata_problems:
        body["warning"] = "invalid_metadata_format"
        messages += content.metadata_problems
    if len(text) > POST_TEXT_MAX:
        text = text[:POST_TEXT_MAX]
        messages.append(TRUNCATED)
        body["response_metadata"] = {"warnings": ["message_truncated"]}
    if messages:
        body["response_metadata"] = {"messages": messages, **body.get("response_metadata", {})}
    return text, body


def post_ephemeral(call: Call) -> dict[str, Any]:
    channel = _postable_channel(call)
    recipient = call.params.required("user")
    if recipient not in channel.members:
        raise SlackError("user_not_in_channel")
    content = read_content(call.params)
    if content.renders_nothing:
        raise SlackError("no_text")
    if len(content.text or "") > POST_TEXT_MAX:
        raise SlackError("msg_too_long")
    ts = call.state.next_ts(channel, call.now_s)
    call.state.ephemeral.append(
        {
            "channel": channel.id,
            "ts": ts,
            "user": recipient,
            "sender": call.caller.user_id,
            "text": content.text or "",
            "blocks": _stored_blocks(content, ts),
            "thread_ts": call.params.text("thread_ts") or None,
        }
    )
    return {"message_ts": ts}


def _postable_channel(call: Call) -> Channel:
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_archived")
    call.may_post_in(channel)
    return channel


def _stored_blocks(content: Content, ts: str) -> list[dict[str, Any]] | None:
    return normalise_blocks(content.blocks, ts) if content.blocks else None


def _pings(text: str, content: Content) -> list[str]:
    found = message_pings(
        text, content.blocks, content.attachments, parse_names=content.parse_names
    )
    return sorted(found)


def _attach_to_thread(call: Call, channel: Channel, message: Message) -> None:
    """Compare `thread_ts` as an exact string, as Slack does.

    An unknown thread_ts still answers ok (Slack does too) but the reply reaches no thread:
    it is kept as an orphan that no history shows, so tests can find the mistake.
    """
    requested = call.params.text("thread_ts")
    if not requested:
        return
    target = channel.messages.get(requested)
    if target is None or target.orphan:
        message.thread_ts, message.orphan = requested, True
        return
    parent = channel.messages.get(str(target.thread_ts), target) if target.is_reply else target
    message.thread_ts = parent.ts
    message.parent_user_id = parent.user
    message.broadcast = call.params.flag("reply_broadcast")
