"""Composition: settings → state store, gateways, effects and the worker.

Gateways and the state store are built here, and by the CLI for its one-shot commands
(`check`, `render`, `migrate`); every other module is handed what it uses.

A `Runtime` is one Incidents database's worker: its view of the state store, its lease,
worker, effects and schema watch, its /healthz. What a process has once whatever the number
of databases — the store, one Notion and one Slack gateway (one pace each), the wording, the
metrics registry, who the worker is — is `Shared`. worker/runtimes.py composes one Runtime
per database when there are several.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.exc import SQLAlchemyError

from worker.config import IncidentDatabase, Settings
from worker.effects import BeforeWrite, Effects
from worker.errors import ServiceError, WorkerError
from worker.health import Health
from worker.lanes import Lanes
from worker.lease import Lease, fenced, lease_name
from worker.messages import Wording
from worker.metrics import Metrics
from worker.notion import NotionGateway
from worker.provision import SetupResult, setup_incidents
from worker.replicas import Replicas
from worker.reports import DeliveryReport, NagReport, PollReport
from worker.scheduler import Job, Loop, utc_now
from worker.schema_watch import SchemaWatch
from worker.slack import SlackGateway
from worker.store import Store, describe_open_error
from worker.tick import Worker, background_slice_s

log = logging.getLogger("worker.runtime")

# Two polls report the same wait for Notion when its end differs by less than this (`until`
# is read from two clocks, so it wobbles by a little).
_SAME_WAIT = timedelta(seconds=2)


def _open_store(settings: Settings) -> Store:
    raw_url = settings.database_url.reveal()
    try:
        # Per database its loop's thread and its two delivery lanes; besides, /metrics and
        # the replicas' heartbeat may use the store at once.
        return Store.open(raw_url, connections=2 + 3 * len(settings.incident_databases))
    except (SQLAlchemyError, OSError) as exc:
        detail = describe_open_error(exc, raw_url)
        hint = (
            " If the SQLite file is damaged, move it aside: the worker rebuilds its state "
            "from Notion (each row's Slack thread link) without announcing anything twice."
            if settings.is_sqlite
            else ""
        )
        raise WorkerError(f"DATABASE_URL: cannot open the state store ({detail}).{hint}") from exc


def _wording(settings: Settings) -> Wording:
    try:
        return Wording.load(settings.templates_dir, settings.locale)
    except (OSError, ValueError) as exc:
        where = settings.templates_dir / settings.locale / "slack.toml"
        raise WorkerError(
            f"TEMPLATES_DIR: cannot read {where} ({exc}); copy the bundled templates folder "
            "and point TEMPLATES_DIR at the copy"
        ) from exc


def set_up(
    settings: Settings,
    parent_page_id: str,
    *,
    title: str = "Incidents",
    force: bool = False,
    with_postmortems: bool = False,
) -> SetupResult:
    """`setup` (and the demo's first step): the databases under the parent page, through a
    Notion gateway of its own, closed after."""
    notion = NotionGateway.build(settings)
    try:
        return setup_incidents(
            notion,
            settings,
            parent_page_id,
            title=title,
            force=force,
            with_postmortems=with_postmortems,
        )
    finally:
        notion.close()


def _no_wake() -> None:
    """No lanes to wake: the loop does not run (`once`, tests): a pass carries the work out."""


@dataclass
class Identity:
    """Who the worker is in Notion: learnt when the runtime starts (`notion.me()`), asked by
    what tells the worker's own edits from people's."""

    notion_user_id: str | None = None


@dataclass
class Shared:
    """What every database's runtime in one process shares: the state store (each database
    sees its own part), the gateways, so that all databases together keep to one Notion
    and one Slack pace per app, the wording, the metrics registry and the worker's
    identity."""

    settings: Settings
    store: Store
    notion: NotionGateway
    slack: SlackGateway
    words: Wording
    metrics: Metrics
    identity: Identity

    @classmethod
    def build(cls, settings: Settings) -> Shared:
        store = _open_store(settings)
        metrics = Metrics(per_database=settings.several_databases)
        notion = NotionGateway.build(
            settings, on_response=metrics.notion_response, on_retry=partial(metrics.retry, "notion")
        )
        slack = SlackGateway.build(
            settings, on_response=metrics.slack_response, on_retry=partial(metrics.retry, "slack")
        )
        return cls(settings, store, notion, slack, _wording(settings), metrics, Identity())

    def close(self) -> None:
        self.notion.close()
        self.store.close()


@dataclass
class Runtime:
    settings: Settings
    store: Store
    notion: NotionGateway
    slack: SlackGateway
    worker: Worker
    stop_requested: Callable[[], bool]
    lease: Lease
    metrics: Metrics
    health: Health
    identity: Identity
    # Whether this replica last said it stands by (said once, and again when that changes).
    _said_standby: bool = field(default=False, init=False)
    # How the start sleeps before trying again (None: time.sleep, waking up when asked to
    # stop); a test passes its fake clock's.
    sleep: Callable[[float], None] | None = None
    # The clock the loop reads once per job (and the start, and a pass's later slices).
    clock: Callable[[], datetime] = utc_now
    # The end of the last wait for Notion a poll summary told about (told once, not per poll).
    _said_wait: datetime | None = field(default=None, init=False)
    # The database's name, said in logs, /healthz and /metrics, when the worker follows
    # several (None: it follows one, and says nothing more than before there could be more).
    name: str | None = None
    # How this replica shares the databases with others (None: one database, one lease).
    replicas: Replicas | None = None
    watch: SchemaWatch | None = None
    # What this runtime shares with the other databases' (closed by `close` if it owns it).
    shared: Shared | None = None
    owns_shared: bool = True
    # Wakes the delivery lanes when something outside the loop recorded work (inbound Slack);
    # a no-op until the loop runs (`run --once`: the pass carries it out).
    # (A factory: a plain default would be a class attribute, called as a method.)
    wake: Callable[[], None] = field(default_factory=lambda: _no_wake, init=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> Runtime:
        """The worker of the settings' (first) Incidents database, owning what it shares."""
        return cls.alone(Shared.build(settings), should_stop=should_stop, sleep=sleep, clock=clock)

    @classmethod
    def alone(
        cls,
        shared: Shared,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> Runtime:
        """The worker of the only (or first) database, owning `shared`."""
        runtime = cls.of_database(
            shared,
            shared.settings.incident_databases[0],
            first=True,
            should_stop=should_stop,
            sleep=sleep,
            clock=clock,
        )
        shared.metrics.watch_state(runtime.store, runtime.settings)
        runtime.owns_shared = True
        return runtime

    @classmethod
    def of_database(
        cls,
        shared: Shared,
        database: IncidentDatabase,
        *,
        first: bool,
        holder: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> Runtime:
        """One database's worker on what the process shares (`first`: the first configured
        database, which keeps the lease name and meta keys of a worker that knew one)."""
        settings = shared.settings.for_database(database)
        store = shared.store.for_database(database.id, first=first)
        notion = shared.notion.for_database(settings)
        slack, words, identity = shared.slack, shared.words, shared.identity
        metrics = shared.metrics
        name = None
        if shared.settings.several_databases:
            name = database.id  # until its title is read (`named`)
            metrics = shared.metrics.for_database(name, zero=False)
        lease = Lease(
            store,
            ttl_s=settings.lease_s,
            holder=holder,
            name=lease_name(database.id, first=first),
            clock=clock,
            settle_s=max(settings.notion_timeout_s, settings.slack_timeout_s) + 1.0,
        )

        # The worker builds its effects, handing them how to read a row again before a write.
        def effects(before_write: BeforeWrite) -> Effects:
            return Effects(
                store,
                notion,
                slack,
                settings,
                words,
                before_write=before_write,
                may_act=lease.keep,
                settled=lease.settled,
                guard=lambda now: fenced(f, now) if (f := lease.fence()) else None,
                bot_user_id=lambda: identity.notion_user_id,
                should_stop=should_stop,
            )

        watch = SchemaWatch(settings, notion, store, interval_s=settings.schema_check_interval_s)
        worker = Worker(
            settings,
            notion,
            store,
            effects,
            bot_user_id=lambda: identity.notion_user_id,
            after_rows=watch.after_rows,
            should_stop=should_stop,
        )
        # Given up while the outbox is being carried out: the next holder waits it out.
        lease.busy = worker.effects.acting
        health = Health.for_settings(settings)
        return cls(
            settings,
            store,
            notion,
            slack,
            worker,
            should_stop,
            lease,
            metrics,
            health,
            identity,
            sleep=sleep,
            clock=clock,
            name=name,
            watch=watch,
            shared=shared,
            owns_shared=False,
        )

    def named(self, name: str) -> None:
        """The database's name once its title is known (several databases): in the logs,
        its schema notices, /healthz and its /metrics series."""
        self.name = name
        if self.watch is not None:
            self.watch.database_name = name
        if self.shared is not None:
            self.metrics = self.shared.metrics.for_database(name)

    def start(self, retries_s: tuple[float, ...] = (1.0, 3.0, 10.0, 20.0)) -> None:
        """Who we are on both sides, and the channel ready for reading our own posts back.
        A failure that may pass by itself is tried again a few times first; a wait a
        service asks for (its rate limit) is waited out, however long, without counting."""
        retries = iter(retries_s)
        while True:
            try:
                self._start()
            except ServiceError as exc:
                wait_s = (
                    max(1.0, exc.retry_after_s or 0.0) if exc.asked_to_wait else next(retries, None)
                )
                if not exc.retryable or wait_s is None or self.stop_requested():
                    raise
                log.warning("starting: %s; trying again in %.0fs", exc, wait_s)
                now = self.clock()
                wait = self.notion.waiting(now)
                if wait is not None:
                    # Not unhealthy: a restart would not make Notion's wait any shorter.
                    self.health.poll_waited(now, wait.until, wait.reason)
                self._pause(wait_s)
            else:
                return

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when asked to stop (SIGTERM during startup)."""
        if self.sleep is not None:
            self.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stop_requested():
            time.sleep(0.1)

    def _start(self) -> None:
        self.identity.notion_user_id = self.notion.me().id
        self.notion.data_source_id()
        # Rows from before several databases were told apart: the first database's for good.
        self.store.claim_unmarked()
        self.slack.auth()
        try:
            self.slack.join(self.settings.slack_channel_id)
        except ServiceError as exc:
            # Private channels can't be joined; the app must be invited instead.
            if exc.code != "method_not_supported_for_channel_type":
                raise

    def lead(self, now: datetime) -> bool:
        """Whether this replica may act now (it holds, or just took, the lease). Its role is
        logged when it starts and whenever it changes, never on every pass."""
        was_leader = self.lease.token is not None
        replicas = self.replicas
        leader = replicas.lead(self.lease, now) if replicas else self.lease.acquire(now)
        if leader and not was_leader:
            log.info(
                "leading%s as %s (fencing token %s)",
                self._of(),
                self.lease.holder,
                self.lease.token,
            )
        elif not leader and (was_leader or not self._said_standby):
            self._say_standby(was_leader)
        self._said_standby = not leader
        return leader

    def _of(self) -> str:
        """What follows a word about one of several databases (" <name>"); "" with one."""
        return f" {self.name}" if self.name is not None else ""

    def _about(self) -> str:
        """What a line about one of several databases starts with ("<name>: "); "" with one."""
        return f"{self.name}: " if self.name is not None else ""

    def _say_standby(self, was_leader: bool) -> None:
        level = logging.WARNING if was_leader else logging.INFO
        lost = " lost the lease:" if was_leader else ""
        why = self.replicas.why_not(self.lease) if self.replicas else None
        if why is not None:  # its own choice: the replicas share the databases
            log.log(level, "%s%s standing by for%s: %s", self.lease.holder, lost, self._of(), why)
            return
        holder = self.lease.current_holder()
        log.log(
            level,
            "%s%s standing by%s; another worker holds the lease (%s) and acts",
            self.lease.holder,
            lost,
            f" for{self._of()}" if self.name is not None else "",
            holder[0] if holder else "unknown",
        )

    def _held_by(self, now: datetime) -> str | None:
        """A standby database's word on who acts on it, for /healthz (several databases):
        the replica holding its lease, or why this one leaves it to the others."""
        if self.name is None:
            return None
        holder = self.lease.current_holder()
        if holder is not None and holder[0] and holder[2] > now.timestamp() * 1000:
            return holder[0]
        return self.replicas.why_not(self.lease) if self.replicas else None

    def poll(self, now: datetime, *, deliver: bool = True) -> PollReport | None:
        """One poll, if this replica leads; None when another replica does. Either way
        /healthz and /metrics learn how it went. Without `deliver` the poll only records
        what to do (on the scheduler, the delivery lanes do it)."""
        self.health.poll_started(now)
        try:
            report = self._poll(now, deliver=deliver)
        except Exception as exc:
            self.metrics.poll_failed()
            self.health.poll_failed(now, exc)
            raise
        self.metrics.observe_poll(report, now)
        wait = report.notion_wait if report is not None else None
        if report is not None and report.read_deferred and wait is not None:
            self.health.poll_waited(now, wait.until, wait.reason)
        else:
            notion_wait = (wait.until, wait.reason) if wait is not None else None
            held_by = self._held_by(now) if report is None else None
            self.health.poll_succeeded(
                now, leader=report is not None, notion_wait=notion_wait, held_by=held_by
            )
        return report

    def _poll(self, now: datetime, *, deliver: bool) -> PollReport | None:
        if not self.lead(now):
            return None
        report = self.worker.poll(now, deliver=deliver)
        level = logging.INFO if report.ok else logging.WARNING
        wait = report.notion_wait
        said = self._said_wait
        if wait is not None and said is not None and abs(wait.until - said) < _SAME_WAIT:
            level = logging.DEBUG if report.ok else level  # the same wait, told already
        self._said_wait = wait.until if wait is not None else None
        log.log(level, "%s%s", self._about(), report.summary())
        return report

    def nag(self, now: datetime, *, deliver: bool = True) -> NagReport | None:
        """Queue the reminders due now; with `deliver`, send a first slice of them too (on
        the scheduler the poll job sends them, between polls)."""
        try:
            report = self._nag(now, deliver=deliver)
        except Exception:
            self.metrics.nag_failed()
            raise
        self.metrics.observe_nag(report)
        return report

    def _nag(self, now: datetime, *, deliver: bool) -> NagReport | None:
        if not self.lead(now):
            return None
        report = self.worker.nag_pass(now, deliver=deliver)
        if report.queued:
            log.info(
                "%snudges: %d queued, %d delivered",
                self._about(),
                report.queued,
                report.delivery.done,
            )
        return report

    def deliver(self, now: datetime, budget_s: float | None = None) -> DeliveryReport | None:
        """Urgent work, then background work for `budget_s` (a slice by default); None when
        this replica does not hold the lease."""
        if not self.lease.keep():
            return None
        report = self.worker.deliver(now, budget_s)
        self.metrics.observe_delivery(report)
        return report

    def between_polls(self, delivery: DeliveryReport | None, *, until_s: float) -> None:
        """Without the lanes (`run --once`): background work a pass left over (reminders,
        pages, catch-up after a lost state) goes out a slice at a time until `until_s`
        (monotonic)."""
        slice_s = background_slice_s(self.settings)
        while delivery is not None and delivery.deferred and not self.stop_requested():
            left_s = until_s - time.monotonic()
            if left_s <= 0:
                return
            delivery = self.deliver(self.clock(), min(left_s, slice_s))

    def catch_up(self, now: datetime, *, until_s: float) -> None:
        """Threads to read back after a lost state, a slice at a time until `until_s`
        (monotonic), when the next poll is due: the poll never waits for them."""
        slice_s = background_slice_s(self.settings)
        while not self.stop_requested() and self.lease.keep():
            left_s = until_s - time.monotonic()
            if left_s <= 0 or not self.worker.adopt_pending(now, budget_s=min(left_s, slice_s)):
                return
            now = self.clock()

    def lanes(self) -> Lanes:
        """The outbox carried out in two threads, Slack's and Notion's, each at its pace."""
        return Lanes(
            self.worker.effects,
            clock=self.clock,
            may_act=self.lease.keep,
            may_send=self.lease.valid,
            on_report=self.metrics.observe_delivery,
        )

    def loop(self) -> Loop:
        """The poll and the nudge pass on the scheduler's thread, the outbox in the delivery
        lanes. The poll records what changed and wakes the lanes, which carry out what people
        just changed first, then announcements, then background work (reminders, pages,
        catch-up); the nudge pass only queues reminders. So an edit is announced at the next
        poll, however many reminders, pages or catch-up updates are waiting."""
        lanes = self.lanes()
        self.wake = lanes.wake

        def poll_job(now: datetime) -> None:
            started = time.monotonic()
            report = self.poll(now, deliver=False)
            if report is not None:
                lanes.wake()
                self.catch_up(now, until_s=started + self.settings.poll_interval_s)
                lanes.wake()

        def nag_job(now: datetime) -> None:
            if self.nag(now, deliver=False) is not None:
                lanes.wake()

        return Loop(
            [
                Job(f"poll{self._of()}", self.settings.poll_interval_s, poll_job),
                Job(f"nag{self._of()}", self.settings.nag_interval_s, nag_job),
            ],
            clock=self.clock,
            alongside=lanes,
        )

    def close(self) -> None:
        self.lease.release()  # an action still in flight after the stop: waited out
        if self.owns_shared and self.shared is not None:
            self.shared.close()
