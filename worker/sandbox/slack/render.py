"""Sandbox Slack: stored messages and channels as the JSON objects each method answers with.

Key sets follow the java-slack-sdk json-logs samples (reference/slack/slack-fixtures): for
example chat.update's `message` carries no `ts`, replies carry `parent_user_id`, and a
broadcast reply in history carries its parent as `root`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from worker.sandbox.slack.directory import Directory, Identity
from worker.sandbox.slack.state import Channel, Message

TOMBSTONE_TEXT = "This message was deleted."
NEVER_READ = "0000000000.000000"  # `last_read` of a member who has read nothing
LOCALE = "en-US"


class View(Enum):
    HISTORY = "history"  # conversations.history
    REPLIES = "replies"  # conversations.replies
    POSTED = "posted"  # chat.postMessage's `message`
    UPDATED = "updated"  # chat.update's `message` (no ts, no thread fields)


@dataclass(frozen=True)
class Renderer:
    directory: Directory
    team_id: str

    def message(
        self, channel: Channel, message: Message, view: View, *, with_metadata: bool = True
    ) -> dict[str, Any]:
        body = self._base(message)
        if view is not View.UPDATED:
            body["ts"] = message.ts
            body |= self._thread_fields(channel, message, view)
        if message.edited is not None:
            body["edited"] = dict(message.edited)
        if message.reactions and view in (View.HISTORY, View.REPLIES):
            body["reactions"] = [dict(r, users=list(r["users"])) for r in message.reactions]
        if message.ts in channel.pins and view in (View.HISTORY, View.REPLIES):
            # As pins.list and the conversations.* samples show a pinned message.
            body["pinned_to"] = [channel.id]
        if message.files:
            body["files"] = [dict(f) for f in message.files]
        if message.metadata is not None and with_metadata:
            body["metadata"] = message.metadata
        return body

    def _base(self, message: Message) -> dict[str, Any]:
        if message.tombstone:
            return {
                "type": "message",
                "subtype": "tombstone",
                "text": TOMBSTONE_TEXT,
                "user": "USLACKBOT",
            }
        body: dict[str, Any] = {"user": message.user, "type": "message"}
        if message.from_bot:
            ws = self.directory.workspace
            body |= {"bot_id": ws.slack_bot_id, "app_id": ws.slack_app_id}
        body |= {"text": message.text, "team": self.team_id}
        if message.from_bot:
            body["bot_profile"] = self.directory.bot_profile()
        if message.blocks:
            body["blocks"] = message.blocks
        if message.attachments:
            body["attachments"] = message.attachments
        return body

    def _thread_fields(self, channel: Channel, message: Message, view: View) -> dict[str, Any]:
        if message.orphan:
            return {"thread_ts": message.thread_ts}
        if message.is_reply:
            fields: dict[str, Any] = {"thread_ts": message.thread_ts}
            if message.broadcast:
                fields["subtype"] = "thread_broadcast"
            if view is not View.HISTORY or not message.broadcast:
                fields["parent_user_id"] = message.parent_user_id
            parent = channel.messages.get(str(message.thread_ts))
            if message.broadcast and view is not View.REPLIES and parent is not None:
                fields["root"] = self._root(channel, parent)
            return fields
        replies = channel.replies_of(message.ts)
        if not replies:
            return {}
        return {"thread_ts": message.ts, **_summary(replies), "subscribed": False}

    def _root(self, channel: Channel, parent: Message) -> dict[str, Any]:
        """The parent as a broadcast reply shows it (`root`)."""
        root: dict[str, Any] = {"type": "message", "text": parent.text, "ts": parent.ts}
        if parent.from_bot:
            root["bot_id"] = self.directory.workspace.slack_bot_id
        replies = channel.replies_of(parent.ts)
        return {**root, "thread_ts": parent.ts, **_summary(replies), "subscribed": False}

    def channel(
        self,
        channel: Channel,
        caller: Identity,
        *,
        with_num_members: bool = False,
        with_locale: bool = False,
    ) -> dict[str, Any]:
        """A conversation object (conversations.info, .join, .list)."""
        is_member = caller.user_id in channel.members
        guest = self.directory.workspace.slack_guest
        # A channel a guest of another team belongs to is a Slack Connect channel.
        shared = guest is not None and guest.slack_id in channel.members
        body: dict[str, Any] = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "created": channel.created,
            "is_archived": channel.is_archived,
            "is_general": channel.is_general,
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": shared,
            "is_org_shared": False,
            "is_ext_shared": shared,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "pending_connected_team_ids": [],
            "context_team_id": self.team_id,
            "updated": channel.created * 1000,
            "creator": channel.creator,
            "shared_team_ids": [self.team_id],
            "is_member": is_member,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }
        if is_member:
            body["last_read"] = NEVER_READ
        if with_locale:
            body["locale"] = LOCALE
        if with_num_members:
            body["num_members"] = len(channel.members)
        return body


def _summary(replies: list[Message]) -> dict[str, Any]:
    users = list(dict.fromkeys(r.user for r in replies))
    return {
        "reply_count": len(replies),
        "reply_users_count": len(users),
        "latest_reply": replies[-1].ts,
        "reply_users": users,
    }
