"""Health: whether this process's polls are recent enough, and if not, why (for /healthz).

Plain data and the time passed in: the runtime reports each poll, the web app asks `check(now)`.
With several Incidents databases each has its own `Health`, and `DatabasesHealth` answers
for them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from worker.errors import WorkerError

if TYPE_CHECKING:
    from worker.config import Settings

HEALTH_SLACK_S = 30.0  # on top of 3 poll intervals: one slow poll must not flip /healthz


def default_max_age_s(poll_interval_s: float) -> float:
    return 3 * poll_interval_s + HEALTH_SLACK_S


@dataclass(frozen=True)
class HealthCheck:
    ok: bool
    reason: str
    body: dict[str, Any]


@dataclass(frozen=True)
class _PollState:
    last_success: datetime | None = None
    role: Literal["leader", "standby"] | None = None
    running_since: datetime | None = None
    failing_since: datetime | None = None
    last_error: str | None = None
    stopping: bool = False
    # A poll that found Notion asking it to wait (its rate limit), and the wait it asked for.
    last_waited: datetime | None = None
    waiting_until: datetime | None = None
    waiting_reason: str | None = None
    # Standing by (several databases): who holds the database's lease, or why this
    # replica leaves it to the others.
    held_by: str | None = None


class Health:
    """Whether polls are happening: healthy while the last successful one is recent.

    A poll counts as successful when it finished (even with unreadable rows or failed
    actions: those are in the metrics and the logs, and a restart would not mend them) or
    when it found that another replica holds the lease (this one is a healthy standby).
    A poll that left its read for later because Notion asked the worker to wait (its rate
    limit: a minute, or longer for the workspace's) shows the worker alive too; the answer
    says what it waits for, and until when.
    """

    def __init__(
        self,
        poll_interval_s: float,
        max_age_s: float | None = None,
        *,
        secrets: Iterable[str] = (),
    ) -> None:
        self.poll_interval_s = poll_interval_s
        self.max_age_s = max_age_s if max_age_s is not None else default_max_age_s(poll_interval_s)
        self._secrets = tuple(s for s in secrets if s and len(s) >= 8)
        self._lock = threading.Lock()
        self._state = _PollState()

    @classmethod
    def for_settings(cls, settings: Settings) -> Health:
        return cls(
            settings.poll_interval_s,
            settings.health_max_age_s,
            secrets=(
                settings.notion_token.reveal(),
                settings.slack_bot_token.reveal(),
                settings.database_url.reveal(),
            ),
        )

    @property
    def last_success(self) -> datetime | None:
        return self._state.last_success

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    def poll_started(self, now: datetime) -> None:
        self._update(running_since=now)

    def poll_succeeded(
        self,
        now: datetime,
        *,
        leader: bool = True,
        notion_wait: tuple[datetime, str] | None = None,
        held_by: str | None = None,
    ) -> None:
        """Rows read; `notion_wait` (until, why) when Notion asked to wait meanwhile;
        `held_by`: a standby's word on who acts instead."""
        until, why = notion_wait if notion_wait is not None else (None, None)
        self._update(
            last_success=now,
            role="leader" if leader else "standby",
            running_since=None,
            failing_since=None,
            last_error=None,
            waiting_until=until,
            waiting_reason=why,
            held_by=None if leader else held_by,
        )

    def poll_waited(self, now: datetime, until: datetime, reason: str) -> None:
        """The poll left its read until `until`: Notion asked to wait (not a failure)."""
        self._update(
            last_waited=now,
            role="leader",
            running_since=None,
            waiting_until=until,
            waiting_reason=reason,
        )

    def poll_failed(self, now: datetime, error: BaseException) -> None:
        with self._lock:
            since = self._state.failing_since or now
            self._state = replace(
                self._state,
                running_since=None,
                failing_since=since,
                last_error=self._summary(error),
                waiting_until=None,
                waiting_reason=None,
            )

    def stop(self) -> None:
        self._update(stopping=True)

    def check(self, now: datetime) -> HealthCheck:
        state = self._state  # frozen: one consistent view without holding the lock
        problem = self._problem(state, now)
        body: dict[str, Any] = {
            "status": "ok" if problem is None else "unavailable",
            "role": state.role,
            "last_successful_poll": _iso(state.last_success),
            "max_age_s": round(self.max_age_s, 1),
        }
        if state.last_success is not None:
            body["age_s"] = round((now - state.last_success).total_seconds(), 1)
        if state.role == "standby" and state.held_by is not None:
            body["held_by"] = state.held_by
        if state.failing_since is not None:
            body["failing_since"] = _iso(state.failing_since)
            body["last_error"] = state.last_error
        if state.waiting_until is not None and now < state.waiting_until:
            body["waiting_for_notion"] = {
                "until": _iso(state.waiting_until),
                "reason": state.waiting_reason,
                "note": "Notion asked the worker to wait (its rate limit): nothing is sent to "
                "Notion until then; Slack work goes on",
            }
        if problem is not None:
            body["reason"] = problem
        return HealthCheck(problem is None, problem or "ok", body)

    def _problem(self, state: _PollState, now: datetime) -> str | None:
        if state.stopping:
            return "the worker is stopping"
        alive, what = _last_sign_of_life(state)
        if alive is None:
            return _no_poll_yet(state)
        age_s = (now - alive).total_seconds()
        if age_s <= self.max_age_s:
            return None
        reason = (
            f"the last {what} was {age_s:.0f} s ago ({_iso(alive)}), "
            f"more than {self.max_age_s:.0f} s"
        )
        if state.failing_since is not None:
            return f"{reason}; polls failing since {_iso(state.failing_since)}: {state.last_error}"
        if state.running_since is not None:
            return f"{reason}; a poll has been running since {_iso(state.running_since)}"
        return reason

    def _summary(self, error: BaseException) -> str:
        text = str(error) if isinstance(error, WorkerError) else f"{type(error).__name__}: {error}"
        line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        for secret in self._secrets:
            line = line.replace(secret, "***")
        return line if len(line) <= 300 else line[:299] + "…"


class HealthSource(Protocol):
    """What /healthz asks: a `Health`, or `DatabasesHealth` for several databases."""

    def check(self, now: datetime) -> HealthCheck: ...

    def stop(self) -> None: ...


class DatabasesHealth:
    """/healthz of a worker following several databases: each database's polls as its own
    `Health` says (one another replica holds shows as standby, with who holds it).

    200 while at least one database is healthy: then the loop works, and a restart would not
    mend one database's trouble (access lost, a deleted database) but only interrupt the
    others, so the answer says "degraded" and which database, why. 503 when none is (the
    loop is stuck, or every database fails) or the worker is stopping."""

    def __init__(self, databases: Callable[[], Sequence[tuple[str, Health]]]) -> None:
        self.databases = databases

    def check(self, now: datetime) -> HealthCheck:
        checks = {name: health.check(now) for name, health in self.databases()}
        failing = {name: check for name, check in checks.items() if not check.ok}
        ok = len(failing) < len(checks)  # stopping, every database says so
        status = "unavailable" if not ok else "degraded" if failing else "ok"
        body: dict[str, Any] = {
            "status": status,
            "databases": {name: check.body for name, check in checks.items()},
        }
        reason = "; ".join(f"{name}: {check.reason}" for name, check in failing.items())
        if reason:
            body["reason"] = reason
        return HealthCheck(ok, reason or "ok", body)

    def stop(self) -> None:
        for _name, health in self.databases():
            health.stop()


def _last_sign_of_life(state: _PollState) -> tuple[datetime | None, str]:
    """The latest poll that shows the loop at work: a successful one, or a later one that
    waited for Notion as it asked."""
    waited = state.last_waited
    if waited is not None and (state.last_success is None or waited > state.last_success):
        return waited, "poll (it waited for Notion's rate limit)"
    return state.last_success, "successful poll"


def _no_poll_yet(state: _PollState) -> str:
    if state.failing_since is not None:
        return (
            f"no successful poll yet: polls failing since "
            f"{_iso(state.failing_since)}: {state.last_error}"
        )
    if state.running_since is not None:
        return f"no poll has finished yet (the first started at {_iso(state.running_since)})"
    return "no poll has run yet"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else None
