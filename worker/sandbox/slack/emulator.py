"""Sandbox Slack: the emulator's public face (the ASGI app, state dump/load, test helpers).

`SlackEmulator(workspace).app` speaks the Slack Web API under `/api/<method>` for the real
slack-sdk; the methods below let tests look inside (messages, threads, pings) and change
the world (archive a channel, hide one, drop a scope, tighten rate limits).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from starlette.applications import Starlette

from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.slack.admin import admin_routes
from worker.sandbox.slack.blocks import MESSAGE_BLOCKS_TEXT_MAX
from worker.sandbox.slack.delivery import Inbound, InboundOptions
from worker.sandbox.slack.directory import Directory
from worker.sandbox.slack.dispatch import Dispatcher
from worker.sandbox.slack.inbound_admin import inbound_routes
from worker.sandbox.slack.interactions import Interactions
from worker.sandbox.slack.limits import DEFAULT_POST_RATE, RateLimiter
from worker.sandbox.slack.render import Renderer, View
from worker.sandbox.slack.routes import RequestIds, api_routes
from worker.sandbox.slack.socket_mode import socket_routes
from worker.sandbox.slack.state import Channel, Message, SlackState, stable_id
from worker.sandbox.workspace import Workspace

STATE_VERSION = 1


class SlackEmulator:
    """An in-memory Slack workspace: #incidents (the bot is not a member yet) and #general."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        post_rate: RateLimit | None = None,
        clock: Callable[[], float] = time.time,
        tier_limits: bool = True,
        inbound: InboundOptions | None = None,
    ) -> None:
        self.workspace = workspace
        self.clock = clock
        # uvicorn serves the app from another thread than the tests' helpers run in.
        self._lock = threading.RLock()
        created_s = int(clock())
        self._directory = Directory(workspace, created_s)
        self._state = SlackState(workspace, created_s)
        self._limiter = RateLimiter(
            post_rate or DEFAULT_POST_RATE, tier_limits=tier_limits, clock=clock
        )
        self._renderer = Renderer(self._directory, workspace.slack_team_id)
        self.inbound = Inbound(workspace, inbound, clock)
        dispatcher = Dispatcher(
            self._state,
            self._directory,
            self._renderer,
            self._limiter,
            self._lock,
            clock,
            publish=self.inbound.publish,
        )
        self._interactions = Interactions(self._state, self._directory, self._renderer, clock)
        # Where the emulator is served (the response_url of interactions); Sandbox sets it.
        self.base_url = "http://127.0.0.1"
        self._responses: list[dict[str, Any]] = []
        request_ids = RequestIds(f"{workspace.seed}:{workspace.slack_team_id}")
        self.app = Starlette(
            routes=[
                *api_routes(dispatcher, request_ids),
                *admin_routes(self),
                *inbound_routes(self),
                *socket_routes(self.inbound, self._redeem_ticket),
            ]
        )

    # -- configuration -------------------------------------------------------------------

    @property
    def post_rate(self) -> RateLimit:
        return self._limiter.post_rate

    @property
    def general_channel_id(self) -> str:
        return self._state.general_id

    @property
    def bot_scopes(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._state.bot_scopes)

    def set_bot_scopes(self, scopes: Iterable[str]) -> None:
        """Replace the bot token's scopes (a method without its scope → `missing_scope`)."""
        with self._lock:
            self._state.bot_scopes = set(scopes)

    def set_rate_limits(
        self, *, post_rate: RateLimit | None = None, tier_limits: bool | None = None
    ) -> None:
        """`RateLimit(0, 0)` switches the per-channel posting limit off."""
        self._limiter.configure(post_rate=post_rate, tier_limits=tier_limits)

    def set_blocks_text_limit(self, chars: int | None = None) -> None:
        """Refuse messages whose blocks hold more than `chars` characters of text in all
        (`msg_blocks_too_long`); None restores the limit real Slack was measured at."""
        with self._lock:
            self._state.blocks_text_max = MESSAGE_BLOCKS_TEXT_MAX if chars is None else chars

    def refuse_content(self, containing: str, error: str | None) -> None:
        """Refuse every chat.postMessage and chat.update whose text or blocks contain
        `containing` with `error` (a code those methods answer), as Slack refuses content
        for reasons a client cannot foresee; `error=None` stops it."""
        with self._lock:
            if error is None:
                self._state.refusals.pop(containing, None)
            else:
                self._state.refusals[containing] = error

    # -- channels --------------------------------------------------------------------------

    def archive_channel(self, channel_id: str) -> None:
        with self._lock:
            self._channel(channel_id).is_archived = True

    def unarchive_channel(self, channel_id: str) -> None:
        with self._lock:
            self._channel(channel_id).is_archived = False

    def create_channel(
        self,
        name: str,
        *,
        is_private: bool = True,
        members: Iterable[str] | None = None,
        bot_is_member: bool = False,
    ) -> str:
        """A new channel; by default private, with the people and without the bot."""
        with self._lock:
            if any(c.name == name for c in self._state.channels.values()):
                raise ValueError(f"a channel called {name!r} exists (name_taken)")
            people = list(members) if members is not None else self._directory.people_ids
            if bot_is_member:
                people.append(self.workspace.slack_bot_user_id)
            channel = Channel(
                id=stable_id("C", f"{name}:{self.workspace.seed}"),
                name=name,
                created=int(self.clock()),
                creator=people[0] if people else self.workspace.slack_bot_user_id,
                is_private=is_private,
                members=people,
            )
            self._state.channels[channel.id] = channel
            return channel.id

    def create_private_channel(self, name: str) -> str:
        """A private channel the bot cannot see: every method answers `channel_not_found`."""
        return self.create_channel(name, is_private=True)

    def add_member(self, channel_id: str, user_id: str) -> None:
        with self._lock:
            channel = self._channel(channel_id)
            if user_id not in channel.members:
                channel.members.append(user_id)

    def members(self, channel_id: str) -> list[str]:
        with self._lock:
            return list(self._channel(channel_id).members)

    # -- messages ----------------------------------------------------------------------------

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """What a reader of the channel sees (top-level and broadcasts), oldest first."""
        with self._lock:
            channel = self._channel(channel_id)
            return copy.deepcopy(
                [
                    self._renderer.message(channel, m, View.HISTORY)
                    for m in channel.messages.values()
                    if m.in_history
                ]
            )

    def thread(self, channel_id: str, ts: str) -> list[dict[str, Any]]:
        """The parent, then its replies oldest first; `[parent]` when it has none."""
        with self._lock:
            channel = self._channel(channel_id)
            parent = channel.messages.get(ts)
            if parent is None or parent.orphan:
                raise KeyError(f"no message {ts} in {channel_id}")
            thread = [parent, *channel.replies_of(parent.ts)]
            return copy.deepcopy([self._renderer.message(channel, m, View.REPLIES) for m in thread])

    def all_messages(self) -> list[dict[str, Any]]:
        """Every stored message (replies, stubs and unthreaded replies too), with its channel."""
        with self._lock:
            return copy.deepcopy(
                [
                    self._full(channel, message)
                    for channel in self._state.channels.values()
                    for message in channel.messages.values()
                ]
            )

    def orphan_replies(self) -> list[dict[str, Any]]:
        """Replies posted with a thread_ts that matched no message (they reach no thread)."""
        return [m for m in self.all_messages() if m.get("unthreaded")]

    def ephemeral_messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._state.ephemeral)

    def pings(self, channel_id: str, ts: str) -> set[str]:
        """Whom the message notified when it was posted: `!channel`, `!here`, `!everyone`,
        `!subteam^S…`, `@U…` (a later edit does not change them)."""
        with self._lock:
            return set(self._message(channel_id, ts).pings)

    def edit_pings(self, channel_id: str, ts: str) -> set[str]:
        """Mentions that edits of the message added, apart from the post's own pings."""
        with self._lock:
            return set(self._message(channel_id, ts).edit_pings)

    def all_pings(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "channel": c.id,
                    "ts": m.ts,
                    "pings": list(m.pings),
                    "edit_pings": list(m.edit_pings),
                }
                for c in self._state.channels.values()
                for m in c.messages.values()
            ]

    def attach_file(self, channel_id: str, ts: str, name: str) -> dict[str, Any]:
        """Add a file object to a message, as if it had been shared with it (the sandbox
        has no uploads; the object has the keys the conversations.history sample's `files`
        entries most need)."""
        with self._lock:
            message = self._message(channel_id, ts)
            file_id = stable_id("F", f"{channel_id}:{ts}:{name}:{len(message.files)}")
            domain = self.workspace.slack_team_domain
            file = {
                "id": file_id,
                "created": int(self.clock()),
                "timestamp": int(self.clock()),
                "name": name,
                "title": name,
                "mimetype": "application/octet-stream",
                "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
                "user": message.user,
                "size": 1024,
                "url_private": f"https://files.slack.com/files-pri/{self.workspace.slack_team_id}-{file_id}/{name}",
                "permalink": f"https://{domain}.slack.com/files/{message.user}/{file_id}/{name}",
            }
            message.files.append(file)
            return copy.deepcopy(file)

    # -- inbound: deliveries ------------------------------------------------------------------

    def set_events_url(self, url: str | None) -> None:
        """Where events, interactions and commands are POSTed when no socket is open."""
        self.inbound.set_events_url(url)

    def disconnect_sockets(self, reason: str = "refresh_requested") -> int:
        return self.inbound.disconnect_sockets(reason)

    def socket_count(self) -> int:
        return self.inbound.connection_count()

    def deliveries(self) -> list[dict[str, Any]]:
        return self.inbound.deliveries()

    def responses(self) -> list[dict[str, Any]]:
        """What the app POSTed to response_urls, oldest first."""
        with self._lock:
            return copy.deepcopy(self._responses)

    def record_response(self, channel_id: str, ts: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._responses.append({"channel": channel_id, "ts": ts, "body": body})

    # -- inbound: what a person does in a Slack client ------------------------------------------
    # Each waits for the app's ack (or the ack timeout) and answers
    # {"ok", "acked", "response", "trigger_id"}; call them from any thread but uvicorn's.

    def click(
        self,
        user: str,
        action_id: str,
        *,
        channel: str | None = None,
        ts: str | None = None,
        view_id: str | None = None,
    ) -> dict[str, Any]:
        """Click a button (any element with that action_id) in a message or an open view."""
        with self._lock:
            if view_id is not None:
                payload = self._interactions.click_view(user, view_id, action_id)
            elif channel is not None and ts is not None:
                payload = self._interactions.click_message(
                    user, channel, ts, action_id, self.base_url
                )
            else:
                raise ValueError("click needs channel and ts, or view_id")
        return self._send("interactive", payload)

    def submit(
        self, user: str, view_id: str, values: dict[str, dict[str, str]] | None = None
    ) -> dict[str, Any]:
        """Submit an open modal with `{block_id: {action_id: text}}`."""
        with self._lock:
            payload = self._interactions.submit(user, view_id, values or {})
        result = self._send("interactive", payload)
        with self._lock:
            self._interactions.after_submission(view_id, result["acked"], result["response"])
        return result

    def shortcut(
        self,
        user: str,
        callback_id: str,
        *,
        channel: str | None = None,
        message_ts: str | None = None,
    ) -> dict[str, Any]:
        """A global shortcut, or a message shortcut given `channel` and `message_ts`."""
        with self._lock:
            payload = self._interactions.shortcut(
                user, callback_id, channel, message_ts, self.base_url
            )
        return self._send("interactive", payload)

    def command(self, user: str, command: str, text: str, channel: str) -> dict[str, Any]:
        with self._lock:
            payload = self._interactions.command(user, command, text, channel, self.base_url)
        return self._send("slash_commands", payload)

    def views(self, user: str) -> list[dict[str, Any]]:
        """The modals open for that person, the root first."""
        with self._lock:
            return copy.deepcopy(self._interactions.views_of(user))

    def _send(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        envelope = self.inbound.deliver_now(kind, payload)
        return {
            "ok": True,
            "acked": envelope.acked,
            "response": copy.deepcopy(envelope.response),
            "trigger_id": payload.get("trigger_id"),
            "envelope_id": envelope.envelope_id,
        }

    def _redeem_ticket(self, ticket: str) -> bool:
        """A Socket Mode ticket from apps.connections.open: valid once, for a short while."""
        with self._lock:
            expires = self._state.tickets.pop(ticket, None)
            return expires is not None and self.clock() <= expires

    def close(self) -> None:
        """Stop the delivery threads and close the sockets."""
        self.inbound.close()

    # -- persistence -------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(
                {
                    "version": STATE_VERSION,
                    "created_s": self._directory.created_s,
                    **self._state.dump(),
                }
            )

    def load(self, data: dict[str, Any]) -> None:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported Slack sandbox state version {data.get('version')!r}")
        with self._lock:
            self._state.load(copy.deepcopy(data))
            self._directory.created_s = int(data["created_s"])

    # -- internals ---------------------------------------------------------------------------

    def _channel(self, channel_id: str) -> Channel:
        channel = self._state.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"no channel {channel_id}")
        return channel

    def _message(self, channel_id: str, ts: str) -> Message:
        message = self._channel(channel_id).messages.get(ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel_id}")
        return message

    def _full(self, channel: Channel, message: Message) -> dict[str, Any]:
        body = {"channel": channel.id, **self._renderer.message(channel, message, View.REPLIES)}
        if message.orphan:
            body["unthreaded"] = True
        return body
