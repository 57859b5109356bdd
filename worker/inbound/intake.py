"""Intake: where a handler's work goes.

A Slack event or click is about an incident's thread (a channel and the parent's ts). The
intake finds the incident among every database the process follows and records the work in
that database's outbox, then wakes its delivery lanes. Handlers never call Notion and
call Slack only for what Slack wants answered at once (a modal opened with a trigger id,
an ephemeral answer): everything else is an outbox action, carried out exactly once by
whichever replica holds that database's lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from worker.actions import Action
from worker.config import Settings
from worker.errors import ServiceError
from worker.record import IncidentRecord
from worker.slack import SlackGateway
from worker.store import Store

log = logging.getLogger("worker.inbound")


@dataclass(frozen=True)
class Desk:
    """One Incidents database as the handlers see it: its settings (its channel), its part
    of the state store, and how to wake its lanes."""

    settings: Settings
    store: Store
    wake: Callable[[], None]


@dataclass(frozen=True)
class Found:
    """An incident a Slack message or click belongs to, with its database's desk."""

    desk: Desk
    record: IncidentRecord

    @property
    def channel(self) -> str:
        return self.record.channel or self.desk.settings.slack_channel_id


class Intake:
    def __init__(
        self,
        settings: Settings,
        desks: Sequence[Desk],
        slack: SlackGateway,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.desks = tuple(desks)
        self.slack = slack
        self.clock = clock
        # Told each time Slack (re)connects, and once at the start: a catch-up pass for what
        # happened while nobody listened (reconciliation).
        self.on_connected: list[Callable[[], None]] = []
        self._teams: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- who we are ------------------------------------------------------------------------

    @property
    def team_id(self) -> str:
        identity = self.slack.identity
        return identity.team_id if identity is not None else ""

    @property
    def bot_user_id(self) -> str:
        identity = self.slack.identity
        return identity.user_id if identity is not None else ""

    # -- where things belong ---------------------------------------------------------------

    @property
    def channels(self) -> frozenset[str]:
        """The incidents channels: the only ones whose messages and clicks are considered."""
        return frozenset(desk.settings.slack_channel_id for desk in self.desks)

    def incident_at(self, channel: str, thread_ts: str | None) -> Found | None:
        """The incident whose thread (in `channel`) this is, or None: not a thread the worker
        owns (another message of the channel, or a thread of an incident it never posted)."""
        if not thread_ts:
            return None
        for desk in self.desks:
            record = desk.store.record_by_thread(thread_ts)
            if record is None:
                continue
            found = Found(desk, record)
            if found.channel == channel:
                return found
        return None

    def incident(self, page_id: str) -> Found | None:
        """The incident of a Notion row (a button carries its page id)."""
        for desk in self.desks:
            record = desk.store.get_record(page_id)
            if record is not None:
                return Found(desk, record)
        return None

    def record(self, found: Found, actions: Sequence[Action]) -> None:
        """Record work for the incident (exactly once per action key), then wake the lanes.
        Call it before acknowledging: work recorded survives a crash; work acknowledged
        but not recorded would be lost (Slack does not send it again)."""
        found.desk.store.add_actions(actions, self.clock())
        found.desk.wake()

    # -- people ----------------------------------------------------------------------------

    def is_guest(self, user_id: str, team_id: str | None = None) -> bool:
        """Whether the person belongs to another workspace (Slack Connect). `team_id` is what
        the payload says of them, when it says anything; else `users.info` is asked (once
        per person). A lookup that fails counts as one of ours: refusing a colleague
        because Slack hiccuped is worse than letting a click through."""
        ours = self.team_id
        if team_id:
            return bool(ours) and team_id != ours
        with self._lock:
            known = self._teams.get(user_id)
        if known is None:
            try:
                data = self.slack.call(
                    "users.info", lambda: self.slack.client.users_info(user=user_id)
                )
            except ServiceError as exc:
                log.warning("could not look up Slack user %s: %s", user_id, exc)
                return False
            user = data.get("user")
            known = str(user.get("team_id", "")) if isinstance(user, dict) else ""
            with self._lock:
                self._teams[user_id] = known
        return bool(ours) and bool(known) and known != ours

    def connected(self) -> None:
        for hook in self.on_connected:
            try:
                hook()
            except Exception:  # a catch-up that fails must not stop the transport
                log.exception("catching up after Slack connected failed")
