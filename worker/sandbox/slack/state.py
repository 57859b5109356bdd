"""Sandbox Slack: the stored workspace (channels, messages, scopes) and how it is looked up."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from worker.sandbox.slack.blocks import MESSAGE_BLOCKS_TEXT_MAX
from worker.sandbox.slack.directory import BOT_DEFAULT_SCOPES, PERSON_SCOPES, Identity
from worker.sandbox.slack.errors import SlackError
from worker.sandbox.workspace import Workspace

if TYPE_CHECKING:
    from worker.sandbox.slack.views import OpenView, Trigger

_MICROS = 1_000_000


@dataclass
class Message:
    """One stored message; replies point at their parent through `thread_ts`."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    from_bot: bool = False
    thread_ts: str | None = None
    parent_user_id: str | None = None
    broadcast: bool = False
    metadata: dict[str, Any] | None = None
    edited: dict[str, str] | None = None
    reactions: list[dict[str, Any]] = field(default_factory=list)
    # File objects a test attached (`SlackEmulator.attach_file`); the sandbox has no upload.
    files: list[dict[str, Any]] = field(default_factory=list)
    # Who was notified when the message was posted: an edit never takes a ping back.
    pings: list[str] = field(default_factory=list)
    # Mentions that edits added (whether Slack notifies for them is not documented).
    edit_pings: list[str] = field(default_factory=list)
    # A reply whose thread_ts matched no message: Slack says ok, nobody ever sees it.
    orphan: bool = False
    # A deleted parent that still has replies (Slack keeps a "This message was deleted." stub).
    tombstone: bool = False

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def in_history(self) -> bool:
        """Top-level messages and broadcast replies appear in conversations.history."""
        return not self.orphan and (not self.is_reply or self.broadcast)


@dataclass
class Channel:
    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_general: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""
    pins: list[str] = field(default_factory=list)
    # ts -> [who pinned it, when (epoch s)], for pins.list and the pin events.
    pin_info: dict[str, list[Any]] = field(default_factory=dict)
    last_ts_us: int = 0
    messages: dict[str, Message] = field(default_factory=dict)

    def visible_to(self, caller: Identity) -> bool:
        return not self.is_private or caller.user_id in self.members

    def replies_of(self, parent_ts: str) -> list[Message]:
        """The live replies of a thread, oldest first."""
        return [
            m
            for m in self.messages.values()
            if m.thread_ts == parent_ts and m.ts != parent_ts and not m.orphan
        ]

    def find(self, ts: str) -> Message | None:
        """A message anyone can address by ts (not an unthreaded orphan, not a stub)."""
        message = self.messages.get(ts)
        if message is None or message.orphan or message.tombstone:
            return None
        return message


def format_ts(micros: int) -> str:
    return f"{micros // _MICROS:010d}.{micros % _MICROS:06d}"


def ts_micros(value: str) -> int | None:
    """A Slack timestamp ("1712345678.000200", "0", "1712345678") in microseconds."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:
        return None
    return int(number * _MICROS)


def stable_id(prefix: str, seed: str) -> str:
    """A Slack-looking id derived from `seed`, so a workspace is the same on every start."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(alphabet[b % len(alphabet)] for b in digest[:10])


class SlackState:
    """Everything a Slack workspace remembers; guarded by the emulator's lock."""

    def __init__(self, workspace: Workspace, created_s: int) -> None:
        self.workspace = workspace
        self.channels: dict[str, Channel] = {}
        self.bot_scopes: set[str] = set(BOT_DEFAULT_SCOPES)
        self.ephemeral: list[dict[str, Any]] = []
        # What Slack refuses of a whole message; tests tighten or add to it (not saved).
        self.blocks_text_max = MESSAGE_BLOCKS_TEXT_MAX
        self.refusals: dict[str, str] = {}
        people = [p.slack_id for p in workspace.people]
        creator = people[0] if people else workspace.slack_bot_user_id
        self.general_id = stable_id("C", f"general:{workspace.seed}")
        for channel in (
            Channel(workspace.slack_channel_id, workspace.slack_channel_name, created_s, creator),
            Channel(self.general_id, "general", created_s, creator, is_general=True),
        ):
            channel.members = list(people)
            self.channels[channel.id] = channel
        if workspace.slack_guest is not None:
            # #incidents is shared with the guest's company (Slack Connect).
            self.channels[workspace.slack_channel_id].members.append(workspace.slack_guest.slack_id)
        # Inbound: open views, the trigger ids interactions handed out, Socket Mode tickets
        # (none of it is saved: a restart closes every modal and socket, as on real Slack).
        self.views: dict[str, OpenView] = {}
        self.triggers: dict[str, Trigger] = {}
        self.tickets: dict[str, float] = {}

    def scopes_of(self, caller: Identity) -> set[str]:
        if caller.is_app:
            # What an app-level token holds (the scope's name is UNSOURCED: third-party text).
            return {"connections:write"}
        return set(self.bot_scopes) if caller.is_bot else set(PERSON_SCOPES)

    def guest_ids(self) -> set[str]:
        guest = self.workspace.slack_guest
        return {guest.slack_id} if guest is not None else set()

    def is_ext_shared(self, channel: Channel) -> bool:
        """A channel with a member of another team is a Slack Connect channel."""
        return bool(self.guest_ids().intersection(channel.members))

    def channel_for(self, caller: Identity, ref: str, *, by_name: bool = False) -> Channel:
        """A channel by id (or, `by_name`, by `#name` or `name`) that the caller can see,
        else `channel_not_found`."""
        channel = self.channels.get(ref)
        if channel is None and by_name:
            name = ref.lstrip("#")
            channel = next((c for c in self.channels.values() if c.name == name), None)
        if channel is None or not channel.visible_to(caller):
            raise SlackError("channel_not_found")
        return channel

    def channel_id_for(self, ref: str) -> str:
        """The id a channel reference points at (for per-channel rate limits)."""
        if ref in self.channels:
            return ref
        name = ref.lstrip("#")
        return next((c.id for c in self.channels.values() if c.name == name), ref)

    def next_ts(self, channel: Channel, now_s: float) -> str:
        """Unique and increasing per channel, in Slack's `\\d{10}\\.\\d{6}` form."""
        micros = max(int(now_s * _MICROS), channel.last_ts_us + 1)
        channel.last_ts_us = micros
        return format_ts(micros)

    def dump(self) -> dict[str, Any]:
        return {
            "channels": [
                {**asdict(c), "messages": [asdict(m) for m in c.messages.values()]}
                for c in self.channels.values()
            ],
            "bot_scopes": sorted(self.bot_scopes),
            "ephemeral": list(self.ephemeral),
        }

    def load(self, data: dict[str, Any]) -> None:
        channels: dict[str, Channel] = {}
        for raw in data["channels"]:
            fields = dict(raw)
            messages = {m["ts"]: Message(**m) for m in fields.pop("messages")}
            channel = Channel(**fields)
            channel.messages = messages
            channels[channel.id] = channel
        self.channels = channels
        self.bot_scopes = set(data["bot_scopes"])
        self.ephemeral = list(data.get("ephemeral", []))
