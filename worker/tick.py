"""Tick: one poll in order — read changed rows, diff and plan them, record, carry out."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.actions import (
    Action,
    CreateTimeline,
    UpdateParent,
    ValueProblemReply,
    WriteFromSlack,
)
from worker.clicks import credited
from worker.config import Settings
from worker.diff import diff
from worker.effects import ROW_IN_TRASH, TIMELINE_IN_TRASH, BeforeWrite, Effects
from worker.errors import RowError, RowGoneError, ServiceError
from worker.messages import human_duration
from worker.nag import (
    NagMemory,
    NagPolicy,
    NagState,
    Nudge,
    due_nudges,
    is_resolved,
    next_due,
    remember,
    state_from_record,
)
from worker.notion import DataSourceSchema, NotionGateway
from worker.pages.effects import postmortem_status
from worker.plan import (
    Plan,
    declared_time,
    nudge_action,
    plan_row,
    thread_ts_from_permalink,
    timeline_entry,
)
from worker.properties import BY_KEY, OPTION_FIELDS, WORKER_WRITTEN
from worker.record import IncidentRecord
from worker.reports import DeliveryReport, NagReport, PollReport
from worker.snapshot import Incident, Person, carry_unreadable, with_unreadable
from worker.store import Store
from worker.thread_history import read_history

log = logging.getLogger("worker.tick")

CURSOR_KEY = "poll_cursor"
TRASH_CURSOR_KEY = "trash_cursor"
NAG_POLICY_KEY = "nag_policy"
# How long a schema read answers "was this option removed?" before it is read again.
_SCHEMA_TTL_S = 60.0
# Background work (reminders, pages, catch-up) is carried out in slices of at most this
# long (or a poll interval, if shorter), between polls: an edit made while hundreds of
# such actions are due waits for one slice at most, never for all of them.
BACKGROUND_SLICE_S = 2.0
# How often a nag pass looks for outbox rows to prune (the retention is days long).
PRUNE_EVERY = timedelta(hours=1)
Due = datetime | None  # when a reminder may next be due; None: not until the incident changes


def background_slice_s(settings: Settings) -> float:
    return min(settings.poll_interval_s, BACKGROUND_SLICE_S)


def _since(cursor_text: str | None, overlap_s: float) -> datetime | None:
    """Where a poll starts reading: the minute the previous poll started in, minus the
    overlap (Notion rounds edit times down to the minute; clocks and indexes lag)."""
    if cursor_text is None:
        return None
    cursor = datetime.fromisoformat(cursor_text)
    return cursor.replace(second=0, microsecond=0) - timedelta(seconds=overlap_s)


def waits_for_notion(exc: ServiceError) -> bool:
    """Notion asked the worker to wait (its rate limit): not a failure of anything."""
    return exc.service == "notion" and exc.asked_to_wait


class Worker:
    """Composes the gateways, the store and the pure core into a poll."""

    def __init__(
        self,
        settings: Settings,
        notion: NotionGateway,
        store: Store,
        effects: Callable[[BeforeWrite], Effects],
        *,
        bot_user_id: Callable[[], str | None] = lambda: None,
        after_rows: Callable[[datetime, frozenset[str]], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """`effects` builds the effects given how to read a row again before writing to it
        (this worker's `_refresh`); `bot_user_id` is the worker's own Notion user, known once
        the runtime has started. `after_rows` is called with (now, the row problems this
        poll met) once the rows are read, before the actions are carried out: the schema
        watch (a notice goes out in the same pass)."""
        self.settings = settings
        self.notion = notion
        self.store = store
        self.bot_user_id = bot_user_id
        self.after_rows = after_rows
        self.should_stop = should_stop
        self._logged_problems: set[str] = set()
        self._said_moved: set[str] = set()
        self._schema: tuple[float, DataSourceSchema] | None = None
        self._pruned_at: datetime | None = None
        self.effects = effects(self._refresh)

    def poll(self, now: datetime, *, deliver: bool = True) -> PollReport:
        """Read rows edited since the last poll, record what to do, then (with `deliver`)
        do it; on the scheduler the delivery lanes do it instead (worker/lanes.py). While
        Notion asks to wait, the read is left for after the wait (the cursor stays where it
        was, so nothing is missed) and the rest is done all the same."""
        started = time.monotonic()
        before = self.notion.pacer.requests if self.notion.pacer else 0
        report = PollReport()
        try:
            self._read_rows(now, report)
        except ServiceError as exc:
            if not waits_for_notion(exc):
                raise
            report.read_deferred = True
            self._declare_waiting(now)
        report.delivered = deliver
        if deliver:
            report.delivery = self.deliver(now)  # threads to read back after a lost state too
        report.notion_wait = self.notion.waiting(now)
        report.notion_requests = (self.notion.pacer.requests if self.notion.pacer else 0) - before
        report.duration_s = time.monotonic() - started
        return report

    def _read_rows(self, now: datetime, report: PollReport) -> None:
        cursor_text = self.store.get_meta(CURSOR_KEY)
        first_run = cursor_text is None
        since = _since(cursor_text, self.settings.poll_overlap_s)
        self.notion.server_clock.latest = None
        queried_at: datetime | None = None
        row_problems: set[str] = set()
        pages = self.notion.changed_row_pages(since)
        while True:
            asked = time.monotonic()  # the rows below were read after this moment
            rows = next(pages, None)
            if rows is None:
                break
            queried_at = queried_at or self.notion.server_clock.latest
            # The page's records in one read (a poll re-reading a thousand rows makes ten).
            known = self._records_of(rows)
            moved = self._moved_here(known)
            for row in rows:
                report.rows += 1
                if isinstance(row, RowError):
                    report.row_errors += 1
                    log.error("skipping an unreadable row: %s", row)
                    continue
                if row.page_id in moved:
                    continue
                row_problems.update(row.problems)
                if self._ingest(row, now=now, first_run=first_run, known=known, asked=asked):
                    report.changed += 1
        # Next time, read what was edited from this poll's query on, by Notion's clock (which
        # stamps edits with the minute they happened in; `_since` allows for that).
        queried_at = queried_at or self.notion.server_clock.latest or now
        self.store.set_meta(CURSOR_KEY, queried_at.isoformat())
        self._declare_waiting(now)
        if self.after_rows is not None:
            self.after_rows(now, frozenset(row_problems))

    def deliver(self, now: datetime, budget_s: float | None = None) -> DeliveryReport:
        """Carry out what is due: all the urgent work, then background work for `budget_s`
        (by default one slice) — threads still to read back after a lost state, then
        reminders, pages and catch-up. `deferred` says some was left."""
        budget = background_slice_s(self.settings) if budget_s is None else budget_s
        started = time.monotonic()
        adopting = self._adopt_pending(now, budget_s=budget)
        left_s = max(0.0, budget - (time.monotonic() - started))
        report = self.effects.run_due(now, background_budget_s=left_s)
        report.deferred |= adopting
        return report

    def adopt_pending(self, now: datetime, *, budget_s: float) -> bool:
        """Threads to read back after a lost state, for `budget_s` (at least one); True when
        some are left for later."""
        return self._adopt_pending(now, budget_s=budget_s)

    def nag_pass(self, now: datetime, *, deliver: bool = True) -> NagReport:
        """Queue the reminders due now (keyed, so never twice); with `deliver`, send a
        first slice of them (the rest goes out between polls)."""
        report = NagReport()
        self._notice_trash(now)
        self._resume_timelines()
        self._prune(now)
        policy = NagPolicy.from_settings(self.settings)
        # Only the incidents a reminder may be due for now (`_next_due`, as judged under
        # this very policy).
        self._judged_with(policy, self.settings.postmortem_database_id is not None)
        with self.store.lock:  # a lane's change to a record meanwhile must not be lost
            self._queue_nudges(policy, now, report)
        if deliver:
            report.delivery = self.deliver(now)
        return report

    def _queue_nudges(self, policy: NagPolicy, now: datetime, report: NagReport) -> None:
        later: dict[str, Due] = {}
        for record, memory in self.store.records_to_nag(now):
            state = state_from_record(record, memory)
            nudges, finished = self._confirmed(due_nudges(state, policy, now), record)
            if not nudges:
                # A finished postmortem owes nothing more: not read again (nor its page asked
                # for) until the incident changes.
                due = None if finished else self._next_due(state, policy, record)
                if due is None or due > now:
                    later[record.page_id] = due
                continue
            remembered = remember(state, nudges, now)
            first = not record.snapshot.status_update
            actions = [nudge_action(n, first_update=first) for n in nudges]
            actions += [self._nudge_entry(n, now) for n in nudges if record.timeline_page_id]
            due = self._next_due(replace(state, memory=remembered), policy, record)
            self.store.save_nudges(record.page_id, actions, remembered, now, next_due=due)
            report.queued += len(nudges)
        self.store.set_next_due(later)

    def _judged_with(self, policy: NagPolicy, postmortems: bool) -> None:
        """When reminders may next be due was judged under a policy: under another one (the
        settings changed), every incident is judged afresh."""
        digest = hashlib.sha256(repr((policy, postmortems)).encode()).hexdigest()[:16]
        if self.store.get_meta(NAG_POLICY_KEY) != digest:  # read each pass: replicas differ
            self.store.judge_all_again()
            self.store.set_meta(NAG_POLICY_KEY, digest)

    def _prune(self, now: datetime) -> None:
        """Done actions of resolved incidents go after OUTBOX_RETENTION, their keys stay
        (worker/store says why nothing is sent twice); looked for once in a while."""
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        before = now - timedelta(seconds=self.settings.outbox_retention_s)
        pruned = self.store.prune_outbox(before, self.settings.resolved_statuses)
        self._pruned_at = now
        if pruned:
            log.info("outbox: %d done actions older than %s pruned", pruned, before.isoformat())

    def _declare_waiting(self, now: datetime) -> None:
        """Rows that waited for a title are announced once DECLARE_GRACE is over, even if
        nobody touches them again (time passing alone is not an edit Notion reports)."""
        for record in self.store.records("waiting"):
            plan = plan_row(
                record, record.snapshot, self.settings, actor=None, now=now, first_run=False
            )
            if plan.actions:
                self.store.save_plan(plan, now)

    def _records_of(self, rows: list[Incident | RowError]) -> dict[str, IncidentRecord | None]:
        """The stored record of each readable row (None: a row not seen before)."""
        ids = [row.page_id for row in rows if not isinstance(row, RowError)]
        found = self.store.records_of(ids)
        return {page_id: found.get(page_id) for page_id in ids}

    def _moved_here(self, known: dict[str, IncidentRecord | None]) -> set[str]:
        """Rows new to this database whose incident another Incidents database's worker
        follows: moved here from there (Notion can move a page between databases). An
        incident stays with the database it began in, so the row is left alone here; said
        once per row."""
        moved = self.store.elsewhere([page for page, record in known.items() if record is None])
        for page_id in sorted(moved - self._said_moved):
            log.warning(
                "incident %s: its row was moved to this Incidents database (%s) from the one "
                "its incident began in; an incident stays where it began, so this row's "
                "changes are not mirrored. Move the row back, or duplicate it here to declare "
                "it anew in this database",
                page_id,
                self.settings.notion_database_id,
            )
        self._said_moved |= moved
        return moved

    def _ingest(
        self,
        incident: Incident,
        *,
        now: datetime,
        first_run: bool,
        known: dict[str, IncidentRecord | None] | None = None,
        asked: float | None = None,
    ) -> bool:
        """Plan one row; returns True when it was new or changed. `known`: records read
        ahead; each is used once (a row met twice in a page is read again the second time,
        after what the first one changed)."""
        if known is not None and incident.page_id in known:
            ahead = known.pop(incident.page_id)
            if ahead is not None and self._seen(ahead, incident, now) == ahead.snapshot:
                return False  # seen again in the overlap window: nothing to do or write
        # The delivery lanes change records too (a thread posted, a page made, a link
        # written): the record is read again, and written, under the store's lock.
        with self.store.lock:
            record = self.store.get_record(incident.page_id)
            if record is not None and asked is not None:
                incident = self._as_last_written(record, incident, asked)
            return self._ingest_locked(incident, record, now=now, first_run=first_run)

    def _as_last_written(
        self, record: IncidentRecord, incident: Incident, asked: float
    ) -> Incident:
        """A row read before the worker's own write to it landed (the Notion lane wrote
        while the poll went through its rows) shows the worker's properties as they were:
        they are taken as the worker last wrote them, not as people clearing them (a change
        people did make meanwhile shows at the next poll: the write makes the row newer)."""
        if not self.effects.wrote_since(incident.page_id, asked):
            return incident
        fields = {
            name: getattr(record.snapshot, name)
            for key in WORKER_WRITTEN
            if (name := BY_KEY[key].incident_field) is not None
        }
        return replace(incident, **fields)

    def _seen(self, record: IncidentRecord | None, incident: Incident, now: datetime) -> Incident:
        """The row as the worker takes it in: what cannot be read keeps its last known value;
        problems logged and said once."""
        if record is not None:
            incident = carry_unreadable(record.snapshot, self._options_removed(record, incident))
        self._log_problems(incident)
        self._report_value_problems(incident, record, now)
        return incident

    def _ingest_locked(
        self, incident: Incident, record: IncidentRecord | None, *, now: datetime, first_run: bool
    ) -> bool:
        incident = self._seen(record, incident, now)
        if record is not None and record.snapshot == incident:
            return False  # seen again in the overlap window: nothing to do, nothing to write
        if record is not None and record.phase == "adopting":
            # Changed by people while its thread waits to be read back (after a lost state):
            # read it now, so that their change is announced now, ahead of the catch-up.
            self._adopt(record, now)
            record = self.store.get_record(incident.page_id)
        actor = self._actor(record, incident)
        plan = plan_row(
            record,
            incident,
            self.settings,
            actor=actor,
            now=now,
            first_run=first_run,
            copied=record is None and self._is_copy(incident),
        )
        self.store.save_plan(plan, now)
        if record is not None and record.snapshot.in_trash and not incident.in_trash:
            resumed = self.store.resume(incident.page_id, ROW_IN_TRASH)
            log.info(
                "incident %s: restored from the trash; %d writes resume", record.page_id, resumed
            )
        return True

    def _is_copy(self, incident: Incident) -> bool:
        """The row carries the thread link of another incident the worker announced: Notion's
        Duplicate copied it. (One still being read back after a lost state is not counted:
        its thread's parent message says whose it is.)"""
        thread_ts = thread_ts_from_permalink(incident.slack_thread or "")
        if thread_ts is None:
            return False
        if incident.created_time > datetime.fromtimestamp(float(thread_ts), UTC):
            # Created after the thread was posted (Notion's time is rounded down, so this is
            # sure): the thread was not posted for this row, whatever its link says.
            return True
        owner = self.store.record_by_thread(thread_ts)
        return (
            owner is not None and owner.page_id != incident.page_id and owner.phase == "announced"
        )

    def _options_removed(self, record: IncidentRecord, incident: Incident) -> Incident:
        """A Status or Severity that went empty because its option was deleted from the
        database is not a change anyone made: the value is unreadable, not "→ —"."""
        for logical, attribute in OPTION_FIELDS.items():
            before, after = getattr(record.snapshot, attribute), getattr(incident, attribute)
            if not before or after or logical in incident.unreadable:
                continue
            options = self._options(logical)
            if options is not None and before not in options:
                name = self.settings.properties[logical]
                problem = (
                    f"The option “{before}” was removed from {name} in Notion, so this incident "
                    f"shows no {name}; the worker goes on with “{before}”. Choose another one"
                )
                incident = with_unreadable(incident, logical, problem)
        return incident

    def _options(self, logical: str) -> tuple[str, ...] | None:
        """The options the database offers now for a property (the schema read at most once
        a minute; None when it cannot be read)."""
        clock = time.monotonic()
        if self._schema is None or clock - self._schema[0] > _SCHEMA_TTL_S:
            try:
                self._schema = (clock, self.notion.schema())
            except ServiceError as exc:
                _warn_unless_waiting(exc, "could not read the database's properties: %s", exc)
                return None
        found = self._schema[1].properties.get(self.settings.properties[logical])
        return found[1] if found else None

    # --- after a lost state: threads read back ------------------------------------------

    def _adopt_pending(self, now: datetime, *, budget_s: float) -> bool:
        """Read threads back for `budget_s` (at least one): at Slack's 50 reads a minute, a
        thousand open incidents take twenty minutes, read between polls, never holding one
        up. True when some are left for later."""
        started = time.monotonic()
        for count, record in enumerate(self.store.records("adopting")):
            if self.should_stop():
                return False
            if count and time.monotonic() - started > budget_s:
                return True
            self._adopt(record, now)
        return False

    def _adopt(self, record: IncidentRecord, now: datetime) -> None:
        """Take an open incident back after a lost state from what its thread says: whose it
        is (a duplicate row carries another's link), when its last status update came and
        which reminders were sent — so nothing is announced twice or reminded too early."""
        thread_ts = record.thread_ts or ""  # adopting records have one
        failure: ServiceError | None = None
        try:
            messages = self.effects.slack.thread_history(self.effects.channel(record), thread_ts)
        except ServiceError as exc:
            if exc.retryable:
                log.warning("incident %s: its thread cannot be read yet: %s", record.page_id, exc)
                return
            failure = None if exc.code == "thread_not_found" else exc
            messages = []
        # Read (over the network) without the lock; taken in under it, if still to be.
        with self.store.lock:
            fresh = self.store.get_record(record.page_id)
            if fresh is None or fresh.phase != "adopting":
                return
            if failure is not None:
                self._adopt_blind(fresh, now, failure)
            else:
                self._adopt_thread(fresh, messages, now)

    def _adopt_thread(
        self, record: IncidentRecord, messages: list[dict[str, Any]], now: datetime
    ) -> None:
        history = read_history(record.page_id, messages, declared_at=declared_time(record, now))
        if not messages or history.owner != record.page_id:
            # The thread is gone, or it is not this incident's: another one's (the row is a
            # duplicate), or one the worker never posted (a link someone pasted).
            gone = not messages or history.owner is None
            snapshot = replace(record.snapshot, slack_thread=None) if gone else record.snapshot
            # A gone thread's incident may have its pages already: they are looked for first.
            plan = plan_row(
                None, snapshot, self.settings, actor=None, now=now, first_run=gone, copied=not gone
            )
            self.store.save_plan(
                replace(plan, record=replace(plan.record, first_seen_at=record.first_seen_at)),
                now,
            )
            return
        adopted = replace(record, phase="announced", last_update_at=history.last_update_at)
        self._save_adopted(adopted, history.memory, now)

    def _adopt_blind(self, record: IncidentRecord, now: datetime, exc: ServiceError) -> None:
        """The thread cannot be read for good (no access to its channel): the reminders start
        over from now, never earlier than the cadence allows."""
        log.warning(
            "incident %s: its thread cannot be read back (%s); reminders start over from now",
            record.page_id,
            exc,
        )
        self._save_adopted(replace(record, phase="announced", last_update_at=now), None, now)

    def _save_adopted(
        self, record: IncidentRecord, memory: NagMemory | None, now: datetime
    ) -> None:
        page = record.page_id
        # Catch-up: it goes after what people change meanwhile (`store.is_background`).
        update = Action(f"update_parent:{page}:{record.seq}", page, UpdateParent(), background=True)
        actions = [update]
        if record.timeline_page_id is None:
            # Its Timeline link was cleared meanwhile: found again by its title, or made.
            look = CreateTimeline(look_first=True)
            actions.append(Action(f"create_timeline:{page}", page, look))
        self.store.save_plan(Plan(record, tuple(actions)), now)
        if memory is not None:
            self.store.save_nudges(page, [], memory, now)
        seen = record.first_seen_at
        if seen is not None and (now - seen).total_seconds() > self.settings.poll_interval_s:
            # Read back late (Slack was down): take in what people changed meanwhile.
            self._refresh_quietly(page, now)

    def _refresh_quietly(self, page_id: str, now: datetime) -> None:
        try:
            self._refresh(page_id, now)
        except RowGoneError:
            return
        except ServiceError as exc:
            # Its next edit is seen by a poll anyway; nothing else waits on this read.
            _warn_unless_waiting(exc, "incident %s: could not read the row again: %s", page_id, exc)

    # --- the trash ------------------------------------------------------------------------

    def _notice_trash(self, now: datetime) -> None:
        """Rows moved to the trash since the last look (Notion's queries leave them out, so
        the poll never sees them go): each announced one is told in its thread. One query a
        nag pass, so an idle poll still costs one request."""
        cursor_text = self.store.get_meta(TRASH_CURSOR_KEY) or self.store.get_meta(CURSOR_KEY)
        if cursor_text is None:
            return  # nothing polled yet
        since = _since(cursor_text, self.settings.poll_overlap_s)
        self.notion.server_clock.latest = None
        queried_at: datetime | None = None
        try:
            for row in self.notion.changed_rows(since, in_trash=True):
                queried_at = queried_at or self.notion.server_clock.latest
                if isinstance(row, RowError):
                    continue
                record = self.store.get_record(row.page_id)
                if record is not None and record.phase in ("announced", "waiting"):
                    # A waiting (untitled) row in the trash is never announced.
                    self._ingest(row, now=now, first_run=False)
        except ServiceError as exc:
            _warn_unless_waiting(exc, "could not look for rows moved to the trash: %s", exc)
            return
        queried_at = queried_at or self.notion.server_clock.latest or now
        self.store.set_meta(TRASH_CURSOR_KEY, queried_at.isoformat())

    def _resume_timelines(self) -> None:
        """Timeline entries parked because the timeline page is in the trash go on once it
        is restored (one read per such incident and nag pass)."""
        for page_id in dict.fromkeys(a.page_id for a in self.store.paused(TIMELINE_IN_TRASH)):
            record = self.store.get_record(page_id)
            if record is None or record.timeline_page_id is None:
                continue
            try:
                trashed = self.effects.pages.in_trash(record.timeline_page_id)
            except ServiceError as exc:
                _warn_unless_waiting(
                    exc, "could not look at the timeline page of %s: %s", page_id, exc
                )
                continue
            if not trashed:
                resumed = self.store.resume(page_id, TIMELINE_IN_TRASH)
                log.info("incident %s: timeline page restored; %d entries resume", page_id, resumed)

    def _confirmed(self, nudges: list[Nudge], record: IncidentRecord) -> tuple[list[Nudge], bool]:
        """Postmortem reminders only where the postmortem lives in a Postmortems database
        and its Status there is still a draft (read only when a reminder is otherwise due);
        and whether it was read and found finished."""
        if not any(n.kind == "postmortem_overdue" for n in nudges):
            return nudges, False
        keep = False
        status: str | None = None
        if self._postmortem_reminders(record) and record.postmortem_page_id:
            try:
                status, _owners = postmortem_status(self.notion.page(record.postmortem_page_id))
            except ServiceError as exc:
                _warn_unless_waiting(
                    exc, "could not read the postmortem of %s: %s", record.page_id, exc
                )
                status = None
            keep = status in self.settings.postmortem_draft_statuses
        finished = status is not None and not keep
        return [n for n in nudges if n.kind != "postmortem_overdue" or keep], finished

    def _postmortem_reminders(self, record: IncidentRecord) -> bool:
        """Can this incident's postmortem be reminded of (`_confirmed`)?"""
        return self.settings.postmortem_database_id is not None and bool(record.postmortem_page_id)

    def _next_due(self, state: NagState, policy: NagPolicy, record: IncidentRecord) -> Due:
        """`next_due`, knowing what `_confirmed` keeps: a resolved incident can owe nothing
        but a postmortem reminder, so one without such a reminder is never read again (until
        it changes): a long history of resolved incidents costs the nudge pass nothing."""
        if is_resolved(state, policy) and not self._postmortem_reminders(record):
            return None
        return next_due(state, policy)

    def _nudge_entry(self, nudge: Nudge, now: datetime) -> Action:
        words = self.effects.render.words
        locale = self.settings.locale
        text = words.phrase(
            f"timeline_{nudge.kind}",
            overdue=human_duration(nudge.overdue_by_s, locale),
            silence=human_duration((now - nudge.last_update_at).total_seconds(), locale),
        )
        return timeline_entry(nudge.page_id, f"nudge:{nudge.key}", now, text, None, kind="nudge")

    def _refresh(self, page_id: str, now: datetime) -> None:
        """Read one row again and take in any change people made since the last poll."""
        try:
            incident = self.notion.retrieve_incident(page_id)
        except RowError as exc:
            log.warning("could not re-read %s before writing to it: %s", page_id, exc)
            return
        self._ingest(incident, now=now, first_run=False)
        if incident.in_trash:
            raise RowGoneError(page_id)

    def _actor(self, record: IncidentRecord | None, incident: Incident) -> Person | None:
        """Who made the change, as Notion reports it (only looked up when it will be shown)."""
        if record is None or record.phase != "announced":
            return None
        if not diff(record.snapshot, incident, self.settings):
            return None
        editor = incident.last_edited_by
        if editor is None or editor == self.bot_user_id():
            # Our own write landed last: a write someone asked for from Slack is theirs;
            # otherwise we cannot tell who changed it.
            return self._credited(incident)
        try:
            return self.notion.user(editor)
        except ServiceError as exc:
            if waits_for_notion(exc):
                raise  # the row is read again after the wait, and its change credited then
            log.warning("could not look up who edited %s: %s", incident.page_id, exc)
            return Person(id=editor)

    def _credited(self, incident: Incident) -> Person | None:
        """Who asked for the worker's own edit from Slack (a status update, taking command),
        as its outbox action recorded them; None when it was none of those."""
        writes = [
            (item.payload, _made_commander(item.result))
            for item in self.store.actions_for(incident.page_id)
            if item.kind == "write_from_slack"
            and item.state != "failed"
            and isinstance(item.payload, WriteFromSlack)
        ]
        return credited(incident, writes) if writes else None

    def _report_value_problems(
        self, incident: Incident, record: IncidentRecord | None, now: datetime
    ) -> None:
        """A value the settings do not know ("Closed", "P2") or an option removed from the
        database: said once in the incident's thread (keyed by the words) and in the log."""
        if record is None or record.phase != "announced":
            return
        actions = []
        for problem in incident.value_problems:
            digest = hashlib.sha256(problem.encode()).hexdigest()[:12]
            key = f"reply:{incident.page_id}:value:{digest}"
            if not self.store.was_planned(key):
                log.warning("incident %s (%s): %s", incident.page_id, incident.title, problem)
                payload = ValueProblemReply(problem=problem)
                actions.append(Action(key, incident.page_id, payload))
        if actions:
            self.store.add_actions(actions, now)

    def _log_problems(self, incident: Incident) -> None:
        """A row that cannot be read whole: each distinct problem is logged once, not per row
        or poll. Its cause is the database (a property renamed, deleted or retyped), so what
        to do about it is said once in the log and the channel by the schema watch — not in
        every open incident's thread."""
        fresh = [p for p in incident.problems if p not in self._logged_problems]
        if fresh:
            log.warning("incident %s (%s): %s", incident.page_id, incident.title, "; ".join(fresh))
            self._logged_problems.update(fresh)


def _made_commander(result: dict[str, Any] | None) -> str | None:
    """The Notion person a take-command write made commander (its progress says so)."""
    commander = (result or {}).get("commander")
    return commander if isinstance(commander, str) else None


def _warn_unless_waiting(exc: ServiceError, message: str, *args: object) -> None:
    """A warning, except for a wait Notion asked for: the gateway said that once already."""
    log.log(logging.DEBUG if waits_for_notion(exc) else logging.WARNING, message, *args)
