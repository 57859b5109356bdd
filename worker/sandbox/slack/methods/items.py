"""Sandbox Slack: reactions.* and pins.* (marks on existing messages), with their events."""

from __future__ import annotations

import re
from typing import Any

from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.methods.call import Call
from worker.sandbox.slack.render import View
from worker.sandbox.slack.state import Channel, Message

# An emoji name without colons, optionally with a skin tone ("thumbsup::skin-tone-2").
_EMOJI_NAME = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?")


def _reaction_target(call: Call) -> tuple[Channel, Message, str]:
    # Only messages carry reactions here (no files): one of the item forms is required.
    given = call.params.text("channel") and call.params.text("timestamp")
    if not given and call.method.name != "reactions.add":
        raise SlackError("no_item_specified")
    channel = call.channel()
    name = call.params.required("name")
    if not _EMOJI_NAME.fullmatch(name):
        raise SlackError("invalid_name")
    return channel, call.message(channel, "timestamp"), name


def add_reaction(call: Call) -> dict[str, Any]:
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_archived")
    _, message, name = _reaction_target(call)
    reaction = next((r for r in message.reactions if r["name"] == name), None)
    if reaction is None:
        reaction = {"name": name, "users": [], "count": 0}
        message.reactions.append(reaction)
    if call.caller.user_id in reaction["users"]:
        raise SlackError("already_reacted")
    reaction["users"].append(call.caller.user_id)
    reaction["count"] = len(reaction["users"])
    call.emit(
        call.make_event.reaction("reaction_added", call.caller.user_id, channel, message, name)
    )
    return {}


def remove_reaction(call: Call) -> dict[str, Any]:
    channel, message, name = _reaction_target(call)
    reaction = next((r for r in message.reactions if r["name"] == name), None)
    if reaction is None or call.caller.user_id not in reaction["users"]:
        raise SlackError("no_reaction")
    reaction["users"].remove(call.caller.user_id)
    reaction["count"] = len(reaction["users"])
    if not reaction["users"]:
        message.reactions.remove(reaction)
    event = call.make_event.reaction(
        "reaction_removed", call.caller.user_id, channel, message, name
    )
    call.emit(event)
    return {}


def get_reactions(call: Call) -> dict[str, Any]:
    """The message with its reactions (`type: message`, as the spec's answer is `type: file`
    for a file)."""
    if not call.params.text("channel") or not call.params.text("timestamp"):
        raise SlackError("no_item_specified")
    channel = call.channel()
    message = call.message(channel, "timestamp")
    rendered = call.renderer.message(channel, message, View.HISTORY)
    rendered["permalink"] = call.make_event.permalink(channel, message)
    return {"type": "message", "channel": channel.id, "message": rendered}


def add_pin(call: Call) -> dict[str, Any]:
    channel = call.channel()
    call.member_of(channel)
    message = call.message(channel, "timestamp")
    if message.ts in channel.pins:
        raise SlackError("already_pinned")
    channel.pins.append(message.ts)
    created = int(call.now_s)
    channel.pin_info[message.ts] = [call.caller.user_id, created]
    call.emit(call.make_event.pin("pin_added", call.caller.user_id, channel, message, created))
    return {}


def remove_pin(call: Call) -> dict[str, Any]:
    channel = call.channel()
    if not call.params.text("timestamp"):
        raise SlackError("no_item_specified")
    message = call.message(channel, "timestamp")
    if message.ts not in channel.pins:
        raise SlackError("not_pinned")
    channel.pins.remove(message.ts)
    _, created = channel.pin_info.pop(message.ts, [call.caller.user_id, int(call.now_s)])
    call.emit(call.make_event.pin("pin_removed", call.caller.user_id, channel, message, created))
    return {}


def list_pins(call: Call) -> dict[str, Any]:
    """Newest pin first (the spec's example lists the later `created` first)."""
    channel = call.channel()
    items = []
    for ts in reversed(channel.pins):
        message = channel.find(ts)
        if message is None:
            continue
        by, created = channel.pin_info.get(ts, [message.user, 0])
        rendered = call.renderer.message(channel, message, View.HISTORY)
        rendered["permalink"] = call.make_event.permalink(channel, message)
        items.append(
            {
                "type": "message",
                "channel": channel.id,
                "created": created,
                "created_by": by,
                "message": rendered,
            }
        )
    return {"items": items}
