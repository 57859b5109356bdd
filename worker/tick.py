"""Tick: one poll in order — read changed rows, diff and plan them, record, carry out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from worker.config import Settings
from worker.diff import diff
from worker.effects import DeliveryReport, Effects
from worker.errors import RowError, RowGoneError, ServiceError
from worker.messages import human_duration
from worker.nag import NagPolicy, Nudge, due_nudges, remember, state_from_record
from worker.notion import NotionGateway
from worker.page_effects import postmortem_status
from worker.plan import Action, nudge_action, plan_row, timeline_entry
from worker.record import IncidentRecord
from worker.snapshot import Incident, Person
from worker.store import Store

log = logging.getLogger("worker.tick")

CURSOR_KEY = "poll_cursor"


def _since(cursor_text: str | None, overlap_s: float) -> datetime | None:
    """Where a poll starts reading: the minute the previous poll started in, minus the
    overlap (Notion rounds edit times down to the minute; clocks and indexes lag)."""
    if cursor_text is None:
        return None
    cursor = datetime.fromisoformat(cursor_text)
    return cursor.replace(second=0, microsecond=0) - timedelta(seconds=overlap_s)


@dataclass
class PollReport:
    rows: int = 0
    changed: int = 0
    row_errors: int = 0
    notion_requests: int = 0
    duration_s: float = 0.0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def ok(self) -> bool:
        return self.row_errors == 0 and self.delivery.failed == 0

    def summary(self) -> str:
        d = self.delivery
        return (
            f"poll: {self.rows} rows read, {self.changed} changed, {d.done} actions done, "
            f"{d.retried} to retry, {d.failed} failed, {self.row_errors} unreadable rows, "
            f"{self.notion_requests} Notion requests, {self.duration_s:.2f}s"
        )


@dataclass
class NagReport:
    queued: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


class Worker:
    """Composes the gateways, the store and the pure core into a poll."""

    def __init__(
        self,
        settings: Settings,
        notion: NotionGateway,
        store: Store,
        effects: Effects,
        *,
        bot_user_id: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.notion = notion
        self.store = store
        self.effects = effects
        self.bot_user_id = bot_user_id
        self.should_stop = should_stop
        self._logged_problems: set[str] = set()
        effects.before_write = self._refresh
        # Called with (now, the row problems this poll met) once the rows are read, before
        # the actions are carried out: the schema watch (a notice goes out in the same pass).
        self.after_rows: Callable[[datetime, frozenset[str]], None] | None = None

    def poll(self, now: datetime) -> PollReport:
        """Read rows edited since the last poll, record what to do, then do it."""
        started = time.monotonic()
        before = self.notion.pacer.requests if self.notion.pacer else 0
        report = PollReport()
        cursor_text = self.store.get_meta(CURSOR_KEY)
        first_run = cursor_text is None
        since = _since(cursor_text, self.settings.poll_overlap_s)
        self.notion.server_clock.latest = None
        queried_at: datetime | None = None
        row_problems: set[str] = set()
        for row in self.notion.changed_rows(since):
            queried_at = queried_at or self.notion.server_clock.latest
            report.rows += 1
            if isinstance(row, RowError):
                report.row_errors += 1
                log.error("skipping an unreadable row: %s", row)
                continue
            row_problems.update(row.problems)
            if self._ingest(row, now=now, first_run=first_run):
                report.changed += 1
        # Next time, read what was edited from this poll's query on, by Notion's clock (which
        # stamps edits with the minute they happened in; `_since` allows for that).
        queried_at = queried_at or self.notion.server_clock.latest or now
        self.store.set_meta(CURSOR_KEY, queried_at.isoformat())
        self._declare_waiting(now)
        if self.after_rows is not None:
            self.after_rows(now, frozenset(row_problems))
        report.delivery = self.effects.run_due(now, pages_budget_s=self.settings.poll_interval_s)
        report.notion_requests = (self.notion.pacer.requests if self.notion.pacer else 0) - before
        report.duration_s = time.monotonic() - started
        return report

    def nag_pass(self, now: datetime) -> NagReport:
        """Queue the reminders due now (keyed, so never twice), then deliver them."""
        report = NagReport()
        policy = NagPolicy.from_settings(self.settings)
        for record, memory in self.store.records_with_memory("announced"):
            if record.snapshot.in_trash or not record.thread_ts:
                continue
            state = state_from_record(record, memory)
            nudges = self._confirmed(due_nudges(state, policy, now), record)
            if not nudges:
                continue
            remembered = remember(state, nudges, now)
            first = not record.snapshot.status_update
            actions = [nudge_action(n, first_update=first) for n in nudges]
            actions += [self._nudge_entry(n, now) for n in nudges if record.timeline_page_id]
            self.store.save_nudges(record.page_id, actions, remembered, now.timestamp())
            report.queued += len(nudges)
        report.delivery = self.effects.run_due(now)
        return report

    def _declare_waiting(self, now: datetime) -> None:
        """Rows that waited for a title are announced once DECLARE_GRACE is over, even if
        nobody touches them again (time passing alone is not an edit Notion reports)."""
        for record in self.store.records("waiting"):
            plan = plan_row(
                record, record.snapshot, self.settings, actor=None, now=now, first_run=False
            )
            if plan.actions:
                self.store.save_plan(plan, now.timestamp())

    def _ingest(self, incident: Incident, *, now: datetime, first_run: bool) -> bool:
        """Plan one row; returns True when it was new or changed."""
        record = self.store.get_record(incident.page_id)
        self._log_problems(incident)
        if record is not None and record.snapshot == incident:
            return False  # seen again in the overlap window: nothing to do, nothing to write
        actor = self._actor(record, incident)
        plan = plan_row(record, incident, self.settings, actor=actor, now=now, first_run=first_run)
        self.store.save_plan(plan, now.timestamp())
        return True

    def _confirmed(self, nudges: list[Nudge], record: IncidentRecord) -> list[Nudge]:
        """Postmortem reminders only where the postmortem lives in a Postmortems database
        and its Status there is still a draft (read only when a reminder is otherwise due)."""
        if not any(n.kind == "postmortem_overdue" for n in nudges):
            return nudges
        keep = False
        if self.settings.postmortem_database_id is not None and record.postmortem_page_id:
            try:
                status, _owners = postmortem_status(self.notion.page(record.postmortem_page_id))
            except ServiceError as exc:
                log.warning("could not read the postmortem of %s: %s", record.page_id, exc)
                status = None
            keep = status in self.settings.postmortem_draft_statuses
        return [n for n in nudges if n.kind != "postmortem_overdue" or keep]

    def _nudge_entry(self, nudge: Nudge, now: datetime) -> Action:
        words = self.effects.render.words
        locale = self.settings.locale
        text = words.phrase(
            f"timeline_{nudge.kind}",
            overdue=human_duration(nudge.overdue_by_s, locale),
            silence=human_duration((now - nudge.last_update_at).total_seconds(), locale),
        )
        return timeline_entry(nudge.page_id, f"nudge:{nudge.key}", now, text, None, kind="nudge")

    def _refresh(self, page_id: str, now_s: float) -> None:
        """Read one row again and take in any change people made since the last poll."""
        try:
            incident = self.notion.retrieve_incident(page_id)
        except RowError as exc:
            log.warning("could not re-read %s before writing to it: %s", page_id, exc)
            return
        self._ingest(incident, now=datetime.fromtimestamp(now_s, UTC), first_run=False)
        if incident.in_trash:
            raise RowGoneError(page_id)

    def _actor(self, record: IncidentRecord | None, incident: Incident) -> Person | None:
        """Who made the change, as Notion reports it (only looked up when it will be shown)."""
        if record is None or record.phase != "announced":
            return None
        if not diff(record.snapshot, incident, self.settings):
            return None
        editor = incident.last_edited_by
        if editor is None or editor == self.bot_user_id:
            return None  # our own write landed last: we cannot tell who changed it
        try:
            return self.notion.user(editor)
        except ServiceError as exc:
            log.warning("could not look up who edited %s: %s", incident.page_id, exc)
            return Person(id=editor)

    def _log_problems(self, incident: Incident) -> None:
        """A row that cannot be read whole: each distinct problem is logged once, not per row
        or poll. Its cause is the database (a property renamed, deleted or retyped), so what
        to do about it is said once in the log and the channel by the schema watch — not in
        every open incident's thread."""
        fresh = [p for p in incident.problems if p not in self._logged_problems]
        if fresh:
            log.warning("incident %s (%s): %s", incident.page_id, incident.title, "; ".join(fresh))
            self._logged_problems.update(fresh)
