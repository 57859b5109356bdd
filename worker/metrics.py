"""Metrics: what the worker counts for Prometheus (no I/O but a read of the state store
when /metrics is scraped).

Each runtime has its own `CollectorRegistry`, so tests and two runtimes in one process never
share counters. The runtime calls `observe_poll` / `observe_nag` after each pass, and hands
`notion_response`, `slack_response` and `retry` to the gateways as their callbacks (they
never import this module); the outbox and the open incidents are counted from the store at
scrape time.

With several Incidents databases, what concerns one database (polls, rows, actions, nudges,
the lease, the outbox and the open incidents) carries a `database` label: each database's
runtime reports through its own view (`for_database`) of the one registry. Requests and
retries are the app's, shared by every database, and carry none. With one database there
is no such label at all, as before there could be several.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypeVar

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
_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)
# Each database's state store view, by its name (None: the only database, no label).
StateStores = Callable[[], Sequence[tuple["str | None", "Store"]]]


class Metrics:
    """The worker's counters, in a registry of their own; each method is one observation."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        process_metrics: bool = True,
        per_database: bool = False,
    ) -> None:
        """`per_database`: several databases, each reporting through `for_database`."""
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.per_database = per_database
        # The `database` label of this view (set by `for_database`).
        self.database = ""
        db = ["database"] if per_database else []
        self.polls = Counter(
            "incident_worker_polls_total",
            "Polls by outcome: ok; partial (finished with unreadable rows or failed actions); "
            "waiting (Notion asked to wait: rows are read after the wait, the rest was done); "
            "failed (raised before finishing).",
            ["outcome", *db],
            registry=r,
        )
        self.poll_duration = Histogram(
            "incident_worker_poll_duration_seconds",
            "Time of a finished poll: reading changed rows, planning and carrying out actions.",
            db,
            buckets=POLL_BUCKETS_S,
            registry=r,
        )
        self.last_success = Gauge(
            "incident_worker_last_successful_poll_timestamp_seconds",
            "Unix time at which the last successful poll started (0: none yet).",
            db,
            registry=r,
        )
        self.leader = Gauge(
            "incident_worker_leader",
            "1 when this replica held the lease on its last pass, 0 when another one did.",
            db,
            registry=r,
        )
        self.rows = Counter(
            "incident_worker_rows_total",
            "Incidents rows read by polls, by result: unchanged, changed, unreadable.",
            ["result", *db],
            registry=r,
        )
        self.actions = Counter(
            "incident_worker_actions_total",
            "Outbox actions carried out by polls and nag passes, by result: done, retried "
            "(rescheduled), failed (given up), reconciled (found already done).",
            ["result", *db],
            registry=r,
        )
        self.nag_passes = Counter(
            "incident_worker_nag_passes_total",
            "Nag passes by outcome: ok, failed (raised before finishing).",
            ["outcome", *db],
            registry=r,
        )
        self.nudges = Counter(
            "incident_worker_nudges_total",
            "Nudges to commanders queued for posting (each is posted once, normally at once).",
            db,
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
        for service in ("notion", "slack"):
            self.retries.labels(service)
        if not per_database:
            self._zero_known_series()
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

    def for_database(self, name: str, *, zero: bool = True) -> Metrics:
        """The view one database's runtime reports through: the same registry, its series
        labelled `database=name` (only when the registry is per database); with `zero`,
        each of them shows at 0 from now on."""
        view = copy.copy(self)
        view.database = name
        if self.per_database and zero:
            view._zero_known_series()
        return view

    def _child(self, metric: _Metric, *values: str) -> _Metric:
        """The series of `metric` with these label values, and this view's database."""
        if self.per_database:
            return metric.labels(*values, self.database)
        return metric.labels(*values) if values else metric

    def _zero_known_series(self) -> None:
        """Every known label value shows up as 0 from the start, so rates and alerts work."""
        for outcome in ("ok", "partial", "waiting", "failed"):
            self._child(self.polls, outcome)
        for result in ("unchanged", "changed", "unreadable"):
            self._child(self.rows, result)
        for result in ("done", "retried", "failed", "reconciled"):
            self._child(self.actions, result)
        for outcome in ("ok", "failed"):
            self._child(self.nag_passes, outcome)
        if self.per_database:
            self._child(self.poll_duration)
            self._child(self.last_success)
            self._child(self.leader)
            self._child(self.nudges)

    def watch_state(self, store: Store, settings: Settings) -> None:
        """Count the outbox and the open incidents from `store` whenever metrics are read."""
        self.registry.register(StateCollector(lambda: [(None, store)], settings, False))

    def watch_states(self, stores: StateStores, settings: Settings) -> None:
        """The same for several databases: `stores` gives each one's name and store view."""
        self.registry.register(StateCollector(stores, settings, self.per_database))

    # --- passes (called by the runtime) -----------------------------------------------------

    def observe_poll(self, report: PollReport | None, now: datetime) -> None:
        """A finished poll (None: another replica holds the lease, nothing was polled)."""
        if report is None:
            self._child(self.leader).set(0)
            return
        self._child(self.leader).set(1)
        if report.read_deferred:
            self._child(self.polls, "waiting").inc()
        else:
            self._child(self.polls, "ok" if report.ok else "partial").inc()
            self._child(self.last_success).set(now.timestamp())
        self._child(self.poll_duration).observe(report.duration_s)
        readable = report.rows - report.row_errors
        self._child(self.rows, "changed").inc(report.changed)
        self._child(self.rows, "unchanged").inc(max(0, readable - report.changed))
        self._child(self.rows, "unreadable").inc(report.row_errors)
        self._delivered(report.delivery)

    def poll_failed(self) -> None:
        self._child(self.polls, "failed").inc()

    def observe_nag(self, report: NagReport | None) -> None:
        if report is None:
            return
        self._child(self.nag_passes, "ok").inc()
        self._child(self.nudges).inc(report.queued)
        self._delivered(report.delivery)

    def nag_failed(self) -> None:
        self._child(self.nag_passes, "failed").inc()

    def observe_delivery(self, delivery: DeliveryReport) -> None:
        """A slice of background work carried out between polls."""
        self._delivered(delivery)

    def _delivered(self, delivery: DeliveryReport) -> None:
        self._child(self.actions, "done").inc(delivery.done)
        self._child(self.actions, "retried").inc(delivery.retried)
        self._child(self.actions, "failed").inc(delivery.failed)
        self._child(self.actions, "reconciled").inc(delivery.reconciled)

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
    incidents still open (neither resolved nor deleted), two counting queries per database
    whatever the history."""

    def __init__(self, stores: StateStores, settings: Settings, per_database: bool) -> None:
        self.stores = stores
        self.resolved = frozenset(settings.resolved_statuses)
        self.per_database = per_database

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        outbox, open_incidents, up = self._families()
        try:
            counted = [
                (name, store.outbox_counts(), store.count_open(self.resolved))
                for name, store in self.stores()
            ]
        except SQLAlchemyError as exc:
            # A scrape must still answer: the store's trouble shows as up 0 and in the logs.
            log.warning("metrics: cannot read the state store: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        for name, counts, still_open in counted:
            database = [name or ""] if self.per_database else []
            for state in OUTBOX_STATES:
                outbox.add_metric([state, *database], counts.get(state, 0))
            open_incidents.add_metric(database, still_open)
        up.add_metric([], 1)
        yield from (outbox, open_incidents, up)

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        database = ["database"] if self.per_database else []
        return (
            GaugeMetricFamily(
                "incident_worker_outbox_actions",
                "Actions in the outbox by state: pending, sending (outcome being reconciled), "
                "done, failed.",
                labels=["state", *database],
            ),
            GaugeMetricFamily(
                "incident_worker_open_incidents",
                "Incidents the worker knows that are neither resolved nor deleted.",
                labels=database,
            ),
            GaugeMetricFamily(
                "incident_worker_state_store_up",
                "1 when the state store answered this scrape, 0 when it did not.",
            ),
        )
