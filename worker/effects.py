"""Effects: carry out the outbox's recorded actions against Slack and Notion, exactly once.

An action is marked `sending` before a non-repeatable call (a Slack post) and `done`
after. If the worker dies or the call's outcome is unknown (timeout, dropped connection,
5xx), the next attempt first looks for the message by the action key stored in its
metadata, so nothing is posted twice and nothing is lost.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from worker.actions import (
    REPLY_TYPES,
    Action,
    ChangesReply,
    LinkThread,
    PageTrashedReply,
    Payload,
    PostNotice,
    PostNudge,
    PostParent,
    Reply,
    StatusUpdateReply,
    Unreadable,
    WriteFromSlack,
    WriteProps,
    expect,
)
from worker.clicks import stale_write
from worker.config import Settings
from worker.errors import (
    LostLeadershipError,
    NotReadyError,
    PageTrashedError,
    RowGoneError,
    ServiceError,
    TemplateError,
)
from worker.messages import (
    RenderContext,
    SlackMessage,
    Wording,
    escape,
    link,
    notice_message,
    nudge_message,
    parent_message,
    people_text,
    plain_message,
    refused_notice,
    reply_message,
)
from worker.nag import is_snoozed
from worker.note_reads import NoteReads
from worker.notion import NotionGateway, from_slack_values, property_values
from worker.outbox_order import (
    AHEAD_OF_NOTION,
    NOTION_KINDS,
    Service,
    ready,
    service,
    superseded_updates,
)
from worker.pages.effects import PageEffects
from worker.pages.limits import BlockTooLargeError
from worker.pages.writer import PageWriter
from worker.plan import next_due, problem_reply, refused_reply, thread_channel
from worker.properties import BY_KEY, FILLED_IF_EMPTY, WORKER_WRITTEN, IncidentProperty
from worker.record import IncidentRecord
from worker.reports import DeliveryReport
from worker.slack import SlackGateway
from worker.snapshot import Incident, Person
from worker.store import OutboxItem, Store, by_priority, lane
from worker.thread_notes import ThreadNote

log = logging.getLogger("worker.effects")

MAX_ATTEMPTS = 50
_RECONCILE_MARGIN_S = 120.0
# Failures a person fixes by setting something (a channel, a token, a scope, sharing): the
# action waits, patiently, however long that takes; it is never given up.
_SETTINGS_PROBLEMS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "is_inactive",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "unauthorized",
        "restricted_resource",
        "object_not_found",
    }
)
# Slack refuses the message itself, for good: the same content would be refused again, and
# nothing was posted (reference/slack/slack-method-catalog, chat.postMessage and chat.update).
# Such a message is sent again at once in plain form, or replaced by a notice: it never holds
# up the incident's later messages. Settings problems above are not among them.
_REFUSED_CONTENT = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_attachments",
        "attachment_payload_limit_exceeded",
        "block_mismatch",
        "invalid_arguments",
    }
)
# Actions that write to the incident's row or under it in Notion.
_ROW_WRITES = NOTION_KINDS
# Why actions are parked (store.pause): until the row, or the timeline page, is restored.
ROW_IN_TRASH = "paused: the row is in the trash"
TIMELINE_IN_TRASH = "paused: the timeline page is in the trash"


def backoff_s(attempts: int, *, permanent: bool) -> float:
    """Seconds before the next attempt: quick for blips, patient for configuration trouble."""
    if permanent:
        return float(min(3600, 60 * 2 ** min(attempts, 6)))
    return float(min(600, 2 ** min(attempts, 9)))


# Reads a row again (page_id, now) and takes in what people changed: the worker's refresh.
BeforeWrite = Callable[[str, datetime], None]
_Handler = Callable[[OutboxItem, IncidentRecord, datetime], dict[str, Any]]
_ChannelHandler = Callable[[OutboxItem, datetime], dict[str, Any]]


class Effects:
    def __init__(
        self,
        store: Store,
        notion: NotionGateway,
        slack: SlackGateway,
        settings: Settings,
        words: Wording,
        *,
        before_write: BeforeWrite | None = None,
        may_act: Callable[[], bool] = lambda: True,
        settled: Callable[[], bool] = lambda: True,
        guard: Callable[[datetime], Any] | None = None,
        bot_user_id: Callable[[], str | None] = lambda: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.notion = notion
        self.slack = slack
        self.settings = settings
        self.render = RenderContext(settings, words, slack.mention)
        self.should_stop = should_stop
        # Called with (page_id, now) just before the worker writes to a row, so that edits
        # people made since the last poll are seen (and credited to them) before our own
        # write makes Notion report the worker as the row's last editor.
        self.before_write = before_write
        # Replicas: whether this one may still act, and the condition a claim must meet.
        self.may_act = may_act
        # After taking over from a replica that may still be sending: its actions of unknown
        # outcome wait until its last requests are surely over (lease.settled).
        self.settled = settled
        self.guard = guard
        # `bot_user_id`: the worker's own Notion user (known once the runtime has started).
        self.writer = PageWriter(notion, bot_user_id)
        self.pages = PageEffects(
            store,
            notion,
            settings,
            words,
            self.writer,
            self._write_row,
            self._enqueue,
            self.thread_link,
            self.note_link,
        )
        self.note_reads = NoteReads(store, slack, settings)
        self._handlers: dict[str, _Handler] = {
            "post_parent": self._post_parent,
            "post_reply": self._post_reply,
            "update_parent": self._update_parent,
            "link_thread": self._link_thread,
            "write_props": self._write_props,
            "post_nudge": self._post_nudge,
            "write_from_slack": self._write_from_slack,
            "create_timeline": self.pages.create_timeline,
            "timeline_entry": self.pages.timeline_entry,
            "create_postmortem": self.pages.create_postmortem,
            "postmortem_note": self.pages.postmortem_note,
            "read_note": self.note_reads.read_note,
            "timeline_note": self.pages.timeline_note,
        }
        # Actions that belong to the channel, not to one incident (no record to look up).
        self._channel_handlers: dict[str, _ChannelHandler] = {
            "post_notice": self._post_notice,
        }
        self._reported: set[tuple[str, str]] = set()
        # Actions being carried out right now (by the lanes, or a pass): see `acting`.
        self._rounds = 0
        self._rounds_lock = threading.Lock()
        # When (monotonic) the worker last wrote to each row it wrote to in this process.
        self._written: dict[str, float] = {}

    def acting(self) -> bool:
        """Whether some thread is carrying out an action now (a request may be under way)."""
        return self._rounds > 0

    @contextmanager
    def _acting(self) -> Iterator[None]:
        with self._rounds_lock:
            self._rounds += 1
        try:
            yield
        finally:
            with self._rounds_lock:
                self._rounds -= 1

    def wrote_since(self, page_id: str, moment: float) -> bool:
        """Whether the worker wrote to the row after `moment` (monotonic)."""
        return self._written.get(page_id, -1.0) > moment

    def channel(self, record: IncidentRecord) -> str:
        """The channel the incident's thread lives in (new incidents: the setting's)."""
        return thread_channel(record, self.settings.slack_channel_id)

    def thread_link(self, record: IncidentRecord, now: datetime) -> str | None:
        """The permalink of the incident's thread (None while it has none), remembered."""
        if record.permalink is not None or record.thread_ts is None:
            return record.permalink
        permalink = self.slack.thread_link(self.channel(record), record.thread_ts)
        self.store.set_thread(record.page_id, record.thread_ts, permalink, now)
        return permalink

    def note_link(self, note: ThreadNote) -> str | None:
        """The permalink of a thread message (None when Slack cannot give one now: the entry
        goes without its link rather than wait)."""
        try:
            return self.slack.reply_link(note.channel, note.ts, note.thread_ts)
        except ServiceError as exc:
            log.info("no permalink for message %s: %s", note.ts, exc)
            return None

    def run_due(self, now: datetime, *, background_budget_s: float | None = None) -> DeliveryReport:
        """Carry out the due actions, urgent ones first; an incident that fails waits, the
        others go on.

        Urgent work (what people just changed) is all carried out. Background work
        (reminders, pages, catch-up: `store.is_background`) stops after
        `background_budget_s`, so that however much of it there is, the next poll — and the
        announcements it brings — never waits long; the rest is left for the next pass."""
        report = DeliveryReport()
        due = self.store.due_actions(now)
        urgent, background = by_priority(due)
        later_updates = superseded_updates(due)
        stalled: set[tuple[str, str]] = set()
        # Lanes whose next action waits for Notion's rate limit: only messages go ahead.
        waiting: set[tuple[str, str]] = set()
        budget = _Budget(background_budget_s, first=len(urgent))
        for position, item in enumerate([*urgent, *background]):
            if self.should_stop():
                break
            if not self.may_act():
                log.warning("another replica holds the lease now; this one stops acting")
                break
            if budget.spent(position):
                report.deferred = True
                break  # the rest next pass
            where = (item.page_id, lane(item.kind))
            if where in stalled:
                continue
            if item.outcome_unknown and not self.settled():
                stalled.add(where)  # the previous holder may still be carrying it out
                report.deferred = True
                continue
            if self._waits_for_notion(item, where in waiting):
                waiting.add(where)
                report.waiting += 1
                continue
            if item.kind == "update_parent" and item.id in later_updates:
                self.store.mark_done(item.id, {"superseded": True}, now)
                report.done += 1
                continue
            if not self._run_one(item, now, report):
                (waiting if self._waits_for_notion(item, False) else stalled).add(where)
        return report

    def run_ready(
        self,
        lane_service: Service,
        now: Callable[[], datetime],
        *,
        busy: Callable[[], Collection[int]] = frozenset,
        interrupted: Callable[[], bool] = lambda: False,
        running: Callable[[int | None], None] = lambda _id: None,
        pause: Callable[[float], bool] = lambda _s: False,
    ) -> DeliveryReport:
        """One round of a delivery lane (worker/lanes.py): the actions of `lane_service`
        whose turn it is (`outbox_order.ready`), best first, until they are done or
        `interrupted()` says new work came (then the caller asks again, so that what people
        just changed goes next). `busy()`: ids the other lane is carrying out; `running` is
        told which id this lane carries out (None when it is done with it); `pause(s)`
        waits up to `s` seconds for Slack's pace before a message, True when new work came
        meanwhile (then the round ends, and the caller asks again). `deferred` in
        the report: something of this lane was not done this round."""
        report = DeliveryReport()
        items = self.store.pending_actions()
        superseded = superseded_updates(items, now())
        queue = [i for i in ready(items, now(), busy=busy()) if service(i.kind) == lane_service]
        stalled: set[tuple[str, str]] = set()
        parked: set[str] = set()
        retried = 0
        while queue:
            if self.should_stop() or interrupted():
                report.deferred = True
                break
            if not self.may_act():
                log.warning("another replica holds the lease now; this one stops acting")
                report.deferred = True
                break
            item = queue.pop(self._next(queue))
            where = (item.page_id, lane(item.kind))
            if where in stalled or item.page_id in parked:
                continue
            if item.outcome_unknown and not self.settled():
                stalled.add(where)  # the previous holder may still be carrying it out
                report.deferred = True
                continue
            if self._wait_first(lane_service, item, pause):
                report.waiting += 1 + len(queue) if lane_service == "notion" else 0
                report.deferred = True
                break
            at = now()
            if item.id in superseded:
                self.store.mark_done(item.id, {"superseded": True}, at)
                report.done += 1
                continue
            running(item.id)
            try:
                if not self._run_one(item, at, report):
                    stalled.add(where)
            finally:
                running(None)
            if lane_service == "notion" and report.retried > retried:
                # Possibly parked (the row went to the trash): its incident's other writes in
                # this round's list may be parked too; they are looked at again next round.
                parked.add(item.page_id)
            retried = report.retried
        return report

    def _wait_first(
        self, lane_service: Service, item: OutboxItem, pause: Callable[[float], bool]
    ) -> bool:
        """Whether the round ends before `item`: Notion asked to wait (nothing of its lane
        goes before that is over), or new work came while a message waited for Slack's pace
        (what people just changed then takes the next message slot, not a reminder)."""
        if lane_service == "notion":
            return self.notion.hold.remaining_s() > 0
        return pause(self.slack.pace_wait_s(item.kind))

    def _next(self, queue: list[OutboxItem]) -> int:
        """Which of the lane's queue goes next: the first whose pace lets it go now (a
        parent update waiting for chat.update's pace does not hold up a post); else the
        first to be let go."""
        waits = [self.slack.pace_wait_s(item.kind) for item in queue]
        best = min(waits)
        return next(n for n, wait in enumerate(waits) if wait <= best + 0.05)

    def _waits_for_notion(self, item: OutboxItem, lane_waits: bool) -> bool:
        """Whether `item` is left for after Notion's wait: it writes to Notion and Notion
        asked to wait, or its lane waits and it may not go ahead of that."""
        if lane_waits and item.kind not in AHEAD_OF_NOTION:
            return True
        return item.kind in _ROW_WRITES and self.notion.hold.remaining_s() > 0

    def _bound(self, item: OutboxItem) -> Callable[[datetime], dict[str, Any]] | str:
        """The handler of `item`, given what it acts on; or why there is none (an action
        another version planned, an unknown kind or incident)."""
        if isinstance(item.payload, Unreadable):
            # Another version's action (a rollback): this one cannot carry it out, ever, and
            # it must not hold up the incident's later messages.
            log.warning("%s not carried out: %s", item.key, item.payload.error)
            return f"unreadable: {item.payload.error}"
        channel_handler = self._channel_handlers.get(item.kind)
        if channel_handler is not None:
            return lambda now: channel_handler(item, now)
        record = self.store.get_record(item.page_id)
        handler = self._handlers.get(item.kind)
        if record is None or handler is None:
            return f"unknown action {item.kind} or incident"
        return lambda now: handler(item, record, now)

    def _run_one(self, item: OutboxItem, now: datetime, report: DeliveryReport) -> bool:
        with self._acting():
            return self._carry_out(item, now, report)

    def _carry_out(self, item: OutboxItem, now: datetime, report: DeliveryReport) -> bool:
        handler = self._bound(item)
        if isinstance(handler, str):
            self.store.mark_failed(item.id, handler, now)
            report.failed += 1
            return True
        try:
            result = handler(now)
        except NotReadyError as exc:
            self.store.mark_retry(
                item.id, str(exc), now + timedelta(seconds=5.0), unknown=item.outcome_unknown
            )
            report.retried += 1
            return False
        except (RowGoneError, PageTrashedError) as exc:
            self._parked(item.page_id, exc, now, report)
            return True
        except LostLeadershipError:
            log.warning("%s not sent: another replica holds the lease now", item.key)
            return False
        except ServiceError as exc:
            self._failed(item, exc, now, report)
            return False
        except (TemplateError, BlockTooLargeError) as exc:
            self._broken_content(item, exc, now, report)
            return False
        except Exception as exc:
            # A bug or a surprise in one action must not stop the others: keep it, say so.
            log.exception("%s failed unexpectedly; it will be retried", item.key)
            wait_s = backoff_s(item.attempts + 1, permanent=True)
            error = f"{type(exc).__name__}: {exc}"
            self.store.mark_retry(
                item.id, error, now + timedelta(seconds=wait_s), unknown=self._claimed(item)
            )
            report.retried += 1
            return False
        if result.get("reconciled"):
            report.reconciled += 1
        self.store.mark_done(item.id, result, now)
        report.done += 1
        if item.attempts:
            log.info("%s done after %d failed attempts", item.key, item.attempts)
        return True

    def _claimed(self, item: OutboxItem) -> bool:
        """Was the action claimed (possibly sent) before things went wrong? Then its outcome
        is unknown and the next attempt must look for it first."""
        current = self.store.action(item.key)
        return item.outcome_unknown or (current is not None and current.state == "sending")

    def claim(self, item: OutboxItem, now: datetime) -> None:
        """Mark the action `sending` just before a call that must not be repeated; refused
        when this replica lost the lease in the meantime."""
        guard = None
        if self.guard is not None:
            guard = self.guard(now)
            if guard is None:  # fenced, but no lease held (given up, or never taken)
                raise LostLeadershipError(item.key)
        if not self.store.mark_sending(item.id, now, guard):
            raise LostLeadershipError(item.key)

    def _parked(
        self,
        page_id: str,
        exc: RowGoneError | PageTrashedError,
        now: datetime,
        report: DeliveryReport,
    ) -> None:
        """Someone moved the row or the timeline page to the trash: park, don't fail."""
        if isinstance(exc, RowGoneError):
            self._pause_row_writes(page_id, report)
        else:
            self._page_trashed(page_id, exc, now, report)

    def _pause_row_writes(self, page_id: str, report: DeliveryReport) -> None:
        """The row is in the trash: what is still to be written to or under it waits for it
        to be restored (then it is all done, in order); the thread goes on meanwhile."""
        paused = self.store.pause(page_id, _ROW_WRITES, ROW_IN_TRASH)
        report.retried += paused
        log.warning(
            "incident %s: its row is in the trash; %d write(s) to it wait until it is "
            "restored from Notion's trash",
            page_id,
            paused,
        )

    def _page_trashed(
        self, page_id: str, exc: PageTrashedError, now: datetime, report: DeliveryReport
    ) -> None:
        """Someone moved the timeline page to the trash: its entries wait for it to be
        restored (the postmortem does not: it takes the timeline from the worker's own
        record); the thread says so once, plainly."""
        paused = self.store.pause(page_id, frozenset({"timeline_entry"}), TIMELINE_IN_TRASH)
        report.retried += paused
        log.warning("incident %s: %s; %d entries wait for it", page_id, exc, paused)
        payload = PageTrashedReply(what=exc.what, page=exc.page_id)
        key = f"reply:{page_id}:trashed:{exc.what}:{exc.page_id}"
        self._enqueue([Action(key, page_id, payload)], now)

    def _failed(
        self, item: OutboxItem, exc: ServiceError, now: datetime, report: DeliveryReport
    ) -> None:
        attempts = item.attempts + 1
        unknown = item.outcome_unknown or exc.outcome_unknown
        if exc.service == "notion" and exc.asked_to_wait:
            # Due again at once, in its place: the gateway sends nothing before the wait
            # Notion asked for is over (and said so once), and its lane's messages go ahead.
            self.store.mark_retry(item.id, str(exc), now, unknown=unknown)
            report.waiting += 1
            log.debug("%s waits for Notion: %s", item.key, exc)
            return
        if item.kind in _ROW_WRITES and not exc.retryable and self._row_in_trash(item, now):
            self._pause_row_writes(item.page_id, report)
            return
        if attempts >= MAX_ATTEMPTS and not exc.retryable and exc.code not in _SETTINGS_PROBLEMS:
            log.error("giving up on %s after %d attempts: %s", item.key, attempts, exc)
            self.store.mark_failed(item.id, str(exc), now)
            report.failed += 1
            return
        wait_s = max(exc.retry_after_s or 0.0, backoff_s(attempts, permanent=not exc.retryable))
        self.store.mark_retry(item.id, str(exc), now + timedelta(seconds=wait_s), unknown=unknown)
        report.retried += 1
        # Reported once per incident and cause; the repeats go to the debug log.
        first_time = (item.page_id, exc.code) not in self._reported
        self._reported.add((item.page_id, exc.code))
        level = logging.DEBUG
        if first_time:
            level = logging.WARNING if exc.retryable else logging.ERROR
        log.log(level, "%s will be retried in %.0fs: %s", item.key, wait_s, exc)
        if first_time and not exc.retryable and exc.service == "notion":
            # Slack works, Notion refuses: say so in the incident's thread, once.
            self._enqueue([problem_reply(item.page_id, item.kind, str(exc))], now)

    def _row_in_trash(self, item: OutboxItem, now: datetime) -> bool:
        """After a Notion write failed for good: is it because the row went to the trash?"""
        if self.before_write is None:
            return False
        try:
            self.before_write(item.page_id, now)
        except RowGoneError:
            return True
        except ServiceError:
            return False
        return False

    def _broken_content(
        self, item: OutboxItem, exc: Exception, now: datetime, report: DeliveryReport
    ) -> None:
        """A template or page content problem: nothing was sent. Say so once in the thread,
        then keep retrying patiently (fixing the template is enough)."""
        error = str(exc)
        self.store.add_actions([problem_reply(item.page_id, item.kind, error)], now)
        wait_s = backoff_s(item.attempts + 1, permanent=True)
        self.store.mark_retry(
            item.id, error, now + timedelta(seconds=wait_s), unknown=item.outcome_unknown
        )
        report.retried += 1
        log.error("%s: %s (retrying in %.0fs)", item.key, error, wait_s)

    def _write_row(self, page_id: str, values: dict[str, str | None], now: datetime) -> None:
        """Write worker-owned properties, after taking in what people changed meanwhile."""
        if self.before_write is not None:
            self.before_write(page_id, now)
        values = self._unless_set(page_id, values)
        if values:
            self._patch_row(page_id, values, now)

    def _unless_set(self, page_id: str, values: dict[str, str | None]) -> dict[str, str | None]:
        """Without the times people filled in themselves since the write was planned: the
        worker fills Declared, Mitigated and Resolved at only where they are empty."""
        record = self.store.get_record(page_id)
        if record is None:
            return values
        kept = {
            key: value
            for key, value in values.items()
            if key not in FILLED_IF_EMPTY or getattr(record.snapshot, _field(key)) is None
        }
        if kept.get("next_update_due") is not None and record.phase == "announced":
            # As due now: a status update may have come since the write was planned (the
            # delivery lanes write a declaration's dates with its timeline page, which may
            # come after the update's own write).
            due = next_due(record, self.settings)
            if due is not None:
                kept["next_update_due"] = due.isoformat()
        return kept

    def _patch_row(self, page_id: str, values: dict[str, str | None], now: datetime) -> None:
        """One write of worker-owned properties; a poll reading the row meanwhile knows the
        row it read may not show it yet (`wrote_since`)."""
        self._written[page_id] = math.inf  # under way: any read now may predate it
        try:
            self.notion.update_properties(page_id, property_values(self.settings, values))
            self._remember_written(page_id, values, now)
        finally:
            self._written[page_id] = time.monotonic()

    def _remember_written(self, page_id: str, values: dict[str, str | None], now: datetime) -> None:
        """What the worker just wrote on the row is part of what it knows of the row: the
        parent message shows it at once, and the next poll does not take it for an edit."""
        with self.store.lock:  # the poll may be writing the whole record meanwhile
            record = self.store.get_record(page_id)
            if record is None:
                return
            snapshot = with_written(record.snapshot, values)
            if snapshot != record.snapshot:
                self.store.set_snapshot(page_id, snapshot, now)

    def _enqueue(self, actions: list[Action], now: datetime) -> None:
        self.store.add_actions(actions, now)

    # --- the actions ----------------------------------------------------------------------

    def _reconcile(
        self, item: OutboxItem, channel: str, thread_ts: str | None, since_s: float | None = None
    ) -> str | None:
        """The ts of this action's message if an earlier attempt posted it (the outcome was
        unknown), or if it may have been posted before the worker's memory was lost."""
        if not item.outcome_unknown and since_s is None:
            return None
        first = item.first_attempt_at.timestamp() if item.first_attempt_at else 0.0
        oldest = first - _RECONCILE_MARGIN_S
        if since_s is not None:
            oldest = since_s if not item.outcome_unknown else min(oldest, since_s)
        found = self.slack.find_posted(channel, item.key, thread_ts=thread_ts, oldest_s=oldest)
        if found:
            log.info("%s was already posted (ts %s); not posting it again", item.key, found)
        return found

    def _post_parent(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        # A new incident goes to the channel of the setting, and stays there.
        channel = self.settings.slack_channel_id
        payload = expect(item.payload, PostParent)
        look_since = payload.look_since
        since_s = look_since.timestamp() - 60 if look_since else None
        ts = self._reconcile(item, channel, None, since_s)
        result: dict[str, Any] = {"ts": ts, "reconciled": True}
        if ts is None:
            # Rendered before `sending`: its lookups may fail, and then nothing was sent.
            # The times about to be written on the row, where the row has none yet.
            message = parent_message(_with_planned(record.snapshot, payload), self.render)
            self.claim(item, now)
            facts = _facts(payload)
            posted = self._post_anyway(item, record, message, channel=channel, facts=facts)
            result = {**posted, "reconciled": False}
            ts = result["ts"]
        self.store.set_thread(
            record.page_id, ts, self._built_link(channel, ts), now, channel=channel
        )
        return result

    def _built_link(self, channel: str, ts: str) -> str | None:
        """The thread's permalink, for the page and the row; None when it cannot be had now
        (then it is asked for again when it is needed): the parent is posted all the same."""
        try:
            return self.slack.thread_link(channel, ts)
        except ServiceError as exc:
            log.warning("the link to thread %s is not known yet: %s", ts, exc)
            return None

    def _post_reply(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        payload = expect(item.payload, REPLY_TYPES)
        render = partial(reply_message, payload, record.snapshot, self.render)
        return self._post_in_thread(item, payload, record, now, render)

    def _post_nudge(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        payload = expect(item.payload, PostNudge)
        stale = _answered(payload, record, self.settings) or self._snoozed(payload, record, now)
        if stale:
            # Reminders go out between polls: what it asked for may have come meanwhile.
            log.info("%s not sent: %s", item.key, stale)
            return {"skipped": stale}
        render = partial(nudge_message, payload, record.snapshot, self.render, key=item.key)
        return self._post_in_thread(item, payload, record, now, render)

    def _snoozed(self, payload: PostNudge, record: IncidentRecord, now: datetime) -> str:
        """A reminder queued before someone snoozed the reminders: it waits with them."""
        if payload.kind in _SNOOZABLE and is_snoozed(self.store.nag_memory(record.page_id), now):
            return "someone snoozed the reminders meanwhile"
        return ""

    def _post_in_thread(
        self,
        item: OutboxItem,
        payload: Reply | PostNudge,
        record: IncidentRecord,
        now: datetime,
        render: Callable[[], SlackMessage],
    ) -> dict[str, Any]:
        thread_ts = _thread(record)
        channel = self.channel(record)
        ts = self._reconcile(item, channel, thread_ts)
        if ts is not None:
            return {"ts": ts, "reconciled": True}
        message = render()
        self.claim(item, now)
        broadcast = isinstance(payload, ChangesReply | PostNudge) and payload.broadcast
        return self._post_anyway(
            item,
            record,
            message,
            channel=channel,
            thread_ts=thread_ts,
            broadcast=broadcast,
            facts=_facts(payload),
        )

    def _post_anyway(
        self,
        item: OutboxItem,
        record: IncidentRecord,
        message: SlackMessage,
        *,
        channel: str,
        thread_ts: str | None = None,
        broadcast: bool = False,
        facts: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Post `message`; if Slack refuses it for good, post its plain version at once, and
        if that is refused too, one notice saying where to read it instead. Every form
        carries the action's key, so a retry after an unknown outcome finds whichever went."""
        words = self.render.words
        refused: list[str] = []
        for form in (message, plain_message(message, record.snapshot, words)):
            try:
                ts = self.slack.post(
                    channel,
                    form,
                    key=item.key,
                    thread_ts=thread_ts,
                    broadcast=broadcast,
                    facts=facts,
                )
            except ServiceError as exc:
                if not _refused_for_good(exc):
                    raise
                refused.append(exc.code)
                continue
            if refused:
                log.warning(
                    "%s: Slack refused the message (%s); posted a plain version instead",
                    item.key,
                    refused[0],
                )
                return {"ts": ts, "plain": refused[0]}
            return {"ts": ts}
        notice = refused_notice(record.snapshot, words, refused[0])
        ts = self.slack.post(
            channel, notice, key=item.key, thread_ts=thread_ts, broadcast=broadcast, facts=facts
        )
        log.error(
            "%s: Slack refused the message (%s) and its plain version (%s); posted a notice "
            "in its place, linking to the row",
            item.key,
            *refused,
        )
        return {"ts": ts, "skipped": f"refused by Slack: {refused[0]}"}

    def _post_notice(self, item: OutboxItem, now: datetime) -> dict[str, Any]:
        channel = self.settings.slack_channel_id
        ts = self._reconcile(item, channel, None)
        if ts is not None:
            return {"ts": ts, "reconciled": True}
        message = notice_message(expect(item.payload, PostNotice), self.render)
        self.claim(item, now)
        return {"ts": self.slack.post(channel, message, key=item.key)}

    def _update_parent(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        thread_ts = _thread(record)
        message = parent_message(record.snapshot, self.render)
        channel = self.channel(record)
        refused: list[str] = []
        for form in (message, plain_message(message, record.snapshot, self.render.words)):
            try:
                self.slack.update(channel, thread_ts, form)
            except ServiceError as exc:
                if exc.code in _PARENT_GONE:
                    # Not the worker's message, or deleted: nothing to keep current, and no
                    # reason to hold up the thread's other messages.
                    log.warning("%s: the parent message cannot be edited (%s)", item.key, exc)
                    return {"skipped": exc.code}
                if not _refused_for_good(exc):
                    raise
                refused.append(exc.code)
                continue
            if refused:
                log.warning(
                    "%s: Slack refused the parent message (%s); it shows a plain version",
                    item.key,
                    refused[0],
                )
                return {"plain": refused[0]}
            return {}
        # Said once per incident and cause in the thread; later updates may well go through.
        self._enqueue([refused_reply(record.page_id, "parent", refused[0])], now)
        log.error(
            "%s: Slack refused the parent message (%s) and its plain version (%s); "
            "it keeps its last content, and the thread says so",
            item.key,
            *refused,
        )
        return {"skipped": f"refused by Slack: {refused[0]}"}

    def _link_thread(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        _thread(record)  # NotReadyError while the parent is not posted yet
        permalink = self.thread_link(record, now)
        payload = expect(item.payload, LinkThread)
        # Another row's pages, copied along with the row (Notion's Duplicate): not this
        # incident's. Its own replace them when they are created.
        own = {"timeline": record.timeline_page_id, "postmortem": record.postmortem_page_id}
        self._write_row(record.page_id, payload.values(permalink, own), now)
        return {"permalink": permalink}

    def _write_props(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        payload = expect(item.payload, WriteProps)
        dates = {key: time.isoformat() if time else None for key, time in payload.dates.items()}
        values: dict[str, str | None] = {**dates, **payload.links}
        if any(key in dates for key in FILLED_IF_EMPTY):
            self._write_row(record.page_id, values, now)  # read the row again first
            values = {}
        # Times the worker empties (Resolved at, on a reopening), whoever set them.
        values.update({key: None for key in payload.clear})
        if values:
            self._patch_row(record.page_id, values, now)
        return {}

    def _write_from_slack(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        """Write what someone set from Slack on the row, then read the row back at once, so
        the thread hears of it now (credited to them: `clicks.credited`), not a poll later."""
        payload = expect(item.payload, WriteFromSlack)
        page = record.page_id
        if self.before_write is not None:
            self.before_write(page, now)  # people's edits since the last poll come first
        latest = self.store.get_record(page) or record
        stale = stale_write(payload, latest)
        if stale:
            log.info("%s not written: %s", item.key, stale)
            if payload.take_command and latest.snapshot.commander:
                self._tell_someone_was_first(payload, latest)
            return {"skipped": stale}
        result: dict[str, Any] = {}
        commander = None
        if payload.take_command:
            commander = self._commander_for(payload, record)
            if commander is None:
                return {"skipped": "no Notion person has their email"}
            result["commander"] = commander.id
            self.store.mark_progress(item.id, result)  # the credit finds who it made commander
        values = from_slack_values(
            self.settings, status_update=payload.status_update, commander=commander
        )
        self._written[page] = math.inf
        try:
            self.notion.update_properties(page, values)
        finally:
            self._written[page] = time.monotonic()
        if self.before_write is not None:
            try:
                self.before_write(page, now)
            except ServiceError as exc:
                # Written: the next poll sees it and credits it the same way.
                log.warning("%s: written, but the row could not be read back: %s", item.key, exc)
        return result

    def _tell_someone_was_first(self, payload: WriteFromSlack, record: IncidentRecord) -> None:
        """Two people took command at once: the later one, acknowledged when they clicked,
        is told (only they see it) who was first. Best effort: the action is done either way."""
        if not payload.by.slack_id:
            return
        incident = record.snapshot
        text = self.render.words.phrase(
            "click_has_commander",
            row=link(incident.url, "Notion") if incident.url else "Notion",
            field=escape(self.settings.properties["commander"]),
            commander=people_text(incident.commander, self.slack.mention, ""),
            email="",
        )
        try:
            self.slack.ephemeral(
                self.channel(record), payload.by.slack_id, text, thread_ts=record.thread_ts
            )
        except ServiceError as exc:
            log.warning(
                "could not tell %s someone took command first: %s", payload.by.slack_id, exc
            )

    def _commander_for(self, payload: WriteFromSlack, record: IncidentRecord) -> Person | None:
        """The Notion person with the clicker's email; when there is none, they are told why
        (only they see it) and nothing is written."""
        email = payload.by.email or ""
        person = self.notion.person_by_email(email) if email else None
        if person is not None or not payload.by.slack_id:
            return person
        text = self.render.words.phrase(
            "click_no_person",
            email=escape(email),
            field=escape(self.settings.properties["commander"]),
        )
        try:
            self.slack.ephemeral(
                self.channel(record), payload.by.slack_id, text, thread_ts=record.thread_ts
            )
        except ServiceError as exc:
            log.warning(
                "could not tell %s why they were not made commander: %s", payload.by.slack_id, exc
            )
        return None


class _Budget:
    """The background time budget of a pass: it starts at the first background action (at
    `first`), which always goes, so every pass makes progress."""

    def __init__(self, budget_s: float | None, *, first: int) -> None:
        self.budget_s = budget_s
        self.first = first
        self.started: float | None = None

    def spent(self, position: int) -> bool:
        if self.budget_s is None or position < self.first:
            return False
        if self.started is None:
            self.started = time.monotonic()
            return False
        return time.monotonic() - self.started > self.budget_s


def with_written(snapshot: Incident, values: Mapping[str, Any]) -> Incident:
    """`snapshot` with the worker-owned properties in `values` (links, ISO dates) set."""
    fields = {
        _field(key): _as_read(BY_KEY[key], value)
        for key, value in values.items()
        if key in WORKER_WRITTEN
    }
    return replace(snapshot, **fields)


def _as_read(prop: IncidentProperty, value: Any) -> Any:
    """A value as the worker writes it (an ISO date) → as the row parser reads it back."""
    if prop.reading == "date":
        if not value:
            return None
        # Notion keeps a time to the millisecond ("2026-07-04T10:30:00.000+02:00"): so the
        # next poll, reading it back, sees no change.
        moment = datetime.fromisoformat(value)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return value


def _field(key: str) -> str:
    """The `Incident` field of a worker-owned property."""
    name = BY_KEY[key].incident_field
    if name is None:
        raise KeyError(f"the worker writes {key}, which no Incident field holds")
    return name


def _with_planned(snapshot: Incident, parent: PostParent) -> Incident:
    """The times `post_parent` shows before they are written on the row, where the
    row has none yet."""
    return replace(
        snapshot,
        declared_at=snapshot.declared_at or parent.declared_at,
        next_update_due=snapshot.next_update_due or parent.next_update_due,
    )


def _facts(payload: Payload) -> dict[str, Any] | None:
    """What a reply means for the reminders, kept in its metadata: it restarted the update
    clock (a status update, a reopening, a restore) at `at`; a reminder was due at `at`."""
    if isinstance(payload, PostParent | ChangesReply | StatusUpdateReply) and payload.clock_at:
        return {"clock": True, "at": payload.clock_at.isoformat()}
    if isinstance(payload, PostNudge):
        sent = payload.due_at + timedelta(seconds=payload.overdue_by_s)
        return {"at": sent.isoformat()}
    return None


# The reminders a snooze puts off.
_SNOOZABLE = frozenset({"update_overdue", "escalation"})
# chat.update: the parent message is not the worker's, or was deleted.
_PARENT_GONE = frozenset({"cant_update_message", "message_not_found", "edit_window_closed"})


def _answered(payload: PostNudge, record: IncidentRecord, settings: Settings) -> str:
    """Why a queued reminder no longer needs sending ('' when it still does)."""
    kind = payload.kind
    incident = record.snapshot
    if kind != "postmortem_overdue" and incident.status in settings.resolved_statuses:
        return "the incident was resolved meanwhile"
    if incident.in_trash:
        return "the row is in the trash"
    last = record.last_update_at
    if kind in ("update_overdue", "escalation") and last and last > payload.last_update_at:
        return "a status update came meanwhile"
    if kind in ("no_commander", "commander_escalation") and incident.commander:
        return "someone took command meanwhile"
    if kind == "no_severity" and incident.severity:
        return "a severity was set meanwhile"
    return ""


def _refused_for_good(exc: ServiceError) -> bool:
    """Slack refused the message's content: sending the same again cannot help."""
    return exc.service == "slack" and not exc.retryable and exc.code in _REFUSED_CONTENT


def _thread(record: IncidentRecord) -> str:
    if not record.thread_ts:
        raise NotReadyError(f"incident {record.page_id} has no Slack thread yet")
    return record.thread_ts
