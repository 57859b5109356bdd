"""Sandbox Slack: reactions.add and pins.add (marks on existing messages)."""

from __future__ import annotations

import re
from typing import Any

from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.methods.call import Call

# An emoji name without colons, optionally with a skin tone ("thumbsup::skin-tone-2").
_EMOJI_NAME = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?")


def add_reaction(call: Call) -> dict[str, Any]:
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_archived")
    name = call.params.required("name")
    if not _EMOJI_NAME.fullmatch(name):
        raise SlackError("invalid_name")
    message = call.message(channel, "timestamp")
    reaction = next((r for r in message.reactions if r["name"] == name), None)
    if reaction is None:
        reaction = {"name": name, "users": [], "count": 0}
        message.reactions.append(reaction)
    if call.caller.user_id in reaction["users"]:
        raise SlackError("already_reacted")
    reaction["users"].append(call.caller.user_id)
    reaction["count"] = len(reaction["users"])
    return {}


def add_pin(call: Call) -> dict[str, Any]:
    channel = call.channel()
    call.member_of(channel)
    message = call.message(channel, "timestamp")
    if message.ts in channel.pins:
        raise SlackError("already_pinned")
    channel.pins.append(message.ts)
    return {}
