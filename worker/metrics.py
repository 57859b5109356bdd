"""Metrics: what the worker counts for Prometheus (no I/O but a read of the state store
when /metrics is scraped).

Each runtime has its own `CollectorRegistry`, so tests and two runtimes in one process never
share counters. The runtime calls `observe_poll` / `observe_nag` after each pass, and hands
`notion_response`, `slack_response` and `retry` to the gateways as their callbacks (they
never import this module); the outbox and the open incidents are counted from the store at
scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Metric,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from worker import __version__

if TYPE_CHECKING:
    from worker.config import Settings
    from worker.reports import DeliveryReport, NagReport, PollReport
    from worker.store import Store

log = logging.getLogger("worker.metrics")

Service = Literal["notion", "slack"]
OUTBOX_STATES = ("pending", "sending", "done", "failed", "paused")
# Polls range from one idle query (tens of ms) to a catch-up of many posts (minutes).
POLL_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_NO_STATUS = "none"  # the label of a request that got no HTTP answer (timeout, connection)


class Metrics:
    """The worker's counters, in a registry of their own; each method is one observation."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "incident_worker_polls_total",
            "Polls by outcome: ok; partial (finished with unreadable rows or failed actions); "
            "waiting (Notion asked to wait: rows are read after the wait, the rest was done); "
            "failed (raised before finishing).",
            ["outcome"],
            registry=r,
        )
        self.poll_duration = Histogram(
            "incident_worker_poll_duration_seconds",
            "Time of a finished poll: reading changed rows, planning and carrying out actions.",
            buckets=POLL_BUCKETS_S,
            registry=r,
        )
        self.last_success = Gauge(
            "incident_worker_last_successful_poll_timestamp_seconds",
            "Unix time at which the last successful poll started (0: none yet).",
            registry=r,
        )
        self.leader = Gauge(
            "incident_worker_leader",
            "1 when this replica held the lease on its last pass, 0 when another one did.",
            registry=r,
        )
        self.rows = Counter(
            "incident_worker_rows_total",
            "Incidents rows read by polls, by result: unchanged, changed, unreadable.",
            ["result"],
            registry=r,
        )
        self.actions = Counter(
            "incident_worker_actions_total",
            "Outbox actions carried out by polls and nag passes, by result: done, retried "
            "(rescheduled), failed (given up), reconciled (found already done).",
            ["result"],
            registry=r,
        )
        self.nag_passes = Counter(
            "incident_worker_nag_passes_total",
            "Nag passes by outcome: ok, failed (raised before finishing).",
            ["outcome"],
            registry=r,
        )
        self.nudges = Counter(
            "incident_worker_nudges_total",
            "Nudges to commanders queued for posting (each is posted once, normally at once).",
            registry=r,
        )
        self.notion_requests = Counter(
            "incident_worker_notion_requests_total",
            "HTTP requests to the Notion API, by status (none: no answer).",
            ["status"],
            registry=r,
        )
        self.notion_errors = Counter(
            "incident_worker_notion_errors_total",
            "Notion API requests that failed, by status and Notion error code.",
            ["status", "code"],
            registry=r,
        )
        self.slack_requests = Counter(
            "incident_worker_slack_requests_total",
            "Slack Web API calls, by method.",
            ["method"],
            registry=r,
        )
        self.slack_errors = Counter(
            "incident_worker_slack_errors_total",
            "Slack Web API calls that failed, by method and Slack error code.",
            ["method", "error"],
            registry=r,
        )
        self.retries = Counter(
            "incident_worker_retries_total",
            "Requests repeated in place after a transient failure (rate limit, 5xx, timeout).",
            ["service"],
            registry=r,
        )
        build = Gauge(
            "incident_worker_build_info", "The running version (always 1).", ["version"], registry=r
        )
        build.labels(__version__).set(1)
        self._zero_known_series()
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

    def _zero_known_series(self) -> None:
        """Every known label value shows up as 0 from the start, so rates and alerts work."""
        for outcome in ("ok", "partial", "waiting", "failed"):
            self.polls.labels(outcome)
        for result in ("unchanged", "changed", "unreadable"):
            self.rows.labels(result)
        for result in ("done", "retried", "failed", "reconciled"):
            self.actions.labels(result)
        for outcome in ("ok", "failed"):
            self.nag_passes.labels(outcome)
        for service in ("notion", "slack"):
            self.retries.labels(service)

    def watch_state(self, store: Store, settings: Settings) -> None:
        """Count the outbox and the open incidents from `store` whenever metrics are read."""
        self.registry.register(StateCollector(store, settings))

    # --- passes (called by the runtime) -----------------------------------------------------

    def observe_poll(self, report: PollReport | None, now: datetime) -> None:
        """A finished poll (None: another replica holds the lease, nothing was polled)."""
        if report is None:
            self.leader.set(0)
            return
        self.leader.set(1)
        if report.read_deferred:
            self.polls.labels("waiting").inc()
        else:
            self.polls.labels("ok" if report.ok else "partial").inc()
            self.last_success.set(now.timestamp())
        self.poll_duration.observe(report.duration_s)
        readable = report.rows - report.row_errors
        self.rows.labels("changed").inc(report.changed)
        self.rows.labels("unchanged").inc(max(0, readable - report.changed))
        self.rows.labels("unreadable").inc(report.row_errors)
        self._delivered(report.delivery)

    def poll_failed(self) -> None:
        self.polls.labels("failed").inc()

    def observe_nag(self, report: NagReport | None) -> None:
        if report is None:
            return
        self.nag_passes.labels("ok").inc()
        self.nudges.inc(report.queued)
        self._delivered(report.delivery)

    def nag_failed(self) -> None:
        self.nag_passes.labels("failed").inc()

    def observe_delivery(self, delivery: DeliveryReport) -> None:
        """A slice of background work carried out between polls."""
        self._delivered(delivery)

    def _delivered(self, delivery: DeliveryReport) -> None:
        self.actions.labels("done").inc(delivery.done)
        self.actions.labels("retried").inc(delivery.retried)
        self.actions.labels("failed").inc(delivery.failed)
        self.actions.labels("reconciled").inc(delivery.reconciled)

    # --- requests (the gateways' callbacks) --------------------------------------------------

    def notion_response(self, status: int | None, code: str | None = None) -> None:
        """One Notion HTTP answer (`status` None: none came: `code` says why, e.g. timeout)."""
        status_label = str(status) if status is not None else _NO_STATUS
        self.notion_requests.labels(status_label).inc()
        if status is None or status >= 400:
            self.notion_errors.labels(status_label, code or f"http_{status}").inc()

    def slack_response(self, method: str, status: int | None, error: str | None) -> None:
        """One Slack Web API call: `error` is Slack's error code (None when `ok`), `status`
        the HTTP status (None when no answer came)."""
        self.slack_requests.labels(method).inc()
        if error is None and status is not None and status >= 400:
            error = f"http_{status}"
        if error is not None:
            self.slack_errors.labels(method, error).inc()

    def retry(self, service: Service) -> None:
        self.retries.labels(service).inc()


class StateCollector:
    """Read at scrape time, so polls pay nothing for it: actions by outbox state and the
    incidents still open (neither resolved nor deleted), two counting queries whatever the
    history."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.resolved = frozenset(settings.resolved_statuses)

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        outbox, open_incidents, up = self._families()
        try:
            counts = self.store.outbox_counts()
            still_open = self.store.count_open(self.resolved)
        except SQLAlchemyError as exc:
            # A scrape must still answer: the store's trouble shows as up 0 and in the logs.
            log.warning("metrics: cannot read the state store: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        for state in OUTBOX_STATES:
            outbox.add_metric([state], counts.get(state, 0))
        open_incidents.add_metric([], still_open)
        up.add_metric([], 1)
        yield from (outbox, open_incidents, up)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "incident_worker_outbox_actions",
                "Actions in the outbox by state: pending, sending (outcome being reconciled), "
                "done, failed.",
                labels=["state"],
            ),
            GaugeMetricFamily(
                "incident_worker_open_incidents",
                "Incidents the worker knows that are neither resolved nor deleted.",
            ),
            GaugeMetricFamily(
                "incident_worker_state_store_up",
                "1 when the state store answered this scrape, 0 when it did not.",
            ),
        )
