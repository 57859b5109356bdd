"""Sandbox Slack: what a method handler receives (one call) and the checks handlers share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.sandbox.slack.directory import Directory, Identity
from worker.sandbox.slack.errors import SlackError, missing_scope
from worker.sandbox.slack.events import Event, EventMaker
from worker.sandbox.slack.params import Params
from worker.sandbox.slack.render import Renderer
from worker.sandbox.slack.state import Channel, Message, SlackState

Handler = Callable[["Call"], dict[str, Any]]


@dataclass(frozen=True)
class Method:
    """A Web API method: its handler, rate tier (None: special), accepted scopes, errors.

    `by_name`: the method also finds a channel by name (only the posting methods do; the
    others want its id). `private_scope`: the scope a private channel further needs (Slack
    answers `missing_scope` without it, even to a member)."""

    name: str
    handler: Handler
    tier: int | None
    bot_scopes: tuple[str, ...]
    user_scopes: tuple[str, ...]
    errors: frozenset[str]
    by_name: bool = False
    private_scope: str | None = None
    # Called with the app-level token (xapp-) only; any other token type is refused, and
    # the app-level token is refused by every other method.
    app_token: bool = False

    def accepted_scopes(self, caller: Identity) -> tuple[str, ...]:
        return self.bot_scopes if caller.is_bot else self.user_scopes


@dataclass(frozen=True)
class Call:
    """One authenticated call: who is calling, with which arguments, at what time."""

    state: SlackState
    directory: Directory
    renderer: Renderer
    caller: Identity
    params: Params
    now_s: float
    method: Method
    # Where the caller reached us (for the URLs a method answers with, e.g. Socket Mode's).
    base_url: str = "http://127.0.0.1/"
    # The Events API events the call caused, delivered once it has succeeded.
    events: list[Event] = field(default_factory=list)

    @property
    def make_event(self) -> EventMaker:
        return EventMaker(self.state, self.renderer, self.now_s)

    def emit(self, event: Event | None) -> None:
        if event is not None:
            self.events.append(event)

    @property
    def scopes(self) -> set[str]:
        return self.state.scopes_of(self.caller)

    def channel(self, name: str = "channel") -> Channel:
        """The channel the argument identifies, if the caller can see it (and may, with its
        scopes, for a private one)."""
        channel = self.state.channel_for(
            self.caller, self.params.required(name), by_name=self.method.by_name
        )
        needed = self.method.private_scope
        if channel.is_private and needed is not None and needed not in self.scopes:
            raise missing_scope((needed,), self.scopes)
        return channel

    def member_of(self, channel: Channel) -> None:
        """Reading history needs membership, even of a public channel."""
        if self.caller.user_id not in channel.members:
            raise SlackError("not_in_channel")

    def may_post_in(self, channel: Channel) -> None:
        """Members post; a bot with chat:write.public also posts in public channels."""
        if self.caller.user_id in channel.members:
            return
        if self.caller.is_bot and not channel.is_private and "chat:write.public" in self.scopes:
            return
        raise SlackError("not_in_channel")

    def message(self, channel: Channel, name: str) -> Message:
        message = channel.find(self.params.required(name))
        if message is None:
            raise SlackError("message_not_found")
        return message
