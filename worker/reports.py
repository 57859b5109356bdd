"""Reports: what a poll, a nag pass and a slice of delivery did, and a wait Notion asked for.

Plain values, in a module of their own: the sequence (`tick`, `effects`) and the Notion
gateway make them; `runtime`, `metrics`, `health` and the CLI read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class NotionWait:
    """Notion asked the worker to wait: nothing is sent to it until `until`."""

    until: datetime
    reason: str


@dataclass
class DeliveryReport:
    done: int = 0
    retried: int = 0
    failed: int = 0
    reconciled: int = 0
    # Actions left for later because Notion asked to wait (its rate limit), this pass.
    waiting: int = 0
    # Background work was left for the next pass (its time budget ran out).
    deferred: bool = False


@dataclass
class PollReport:
    rows: int = 0
    changed: int = 0
    row_errors: int = 0
    notion_requests: int = 0
    duration_s: float = 0.0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    # False on the scheduler: the poll only recorded what to do; the delivery lanes do it.
    delivered: bool = True
    # Notion asked to wait: the rows were not (all) read; they are once the wait is over.
    read_deferred: bool = False
    # Until when Notion asked to wait, at the end of the poll (None: it did not).
    notion_wait: NotionWait | None = None

    @property
    def ok(self) -> bool:
        return self.row_errors == 0 and self.delivery.failed == 0

    def summary(self) -> str:
        d = self.delivery
        actions = (
            f"{d.done} actions done, {d.retried} to retry, {d.failed} failed, "
            if self.delivered
            else ""
        )
        text = (
            f"poll: {self.rows} rows read, {self.changed} changed, {actions}"
            f"{self.row_errors} unreadable rows, "
            f"{self.notion_requests} Notion requests, {self.duration_s:.2f}s"
        )
        wait = self.notion_wait
        if wait is None:
            return text
        then = "rows are read then" if self.read_deferred else "Notion work resumes then"
        return (
            f"{text}; Notion asked to wait until {wait.until.isoformat(timespec='seconds')} "
            f"({wait.reason}): {then}; {d.waiting} actions wait for it, Slack work goes on"
        )


@dataclass
class NagReport:
    queued: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
