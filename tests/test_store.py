"""State store contract: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import T0, at, row, settings
from worker.actions import (
    Action,
    AppendTimelineEntry,
    CreateTimeline,
    Payload,
    PostNudge,
    StatusUpdateReply,
    SyncNote,
    Unreadable,
    UpdateParent,
    WriteProps,
)
from worker.nag import NagMemory
from worker.plan import Plan
from worker.record import IncidentRecord, Phase
from worker.snapshot import parse_incident
from worker.store import (
    SCHEMA_VERSION,
    OutboxItem,
    Store,
    by_priority,
    engine_url,
    meta_table,
    outbox_table,
)
from worker.thread_notes import Pinned, Posted, Reacted, ThreadNote

S = settings()


def _record(page: str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa") -> IncidentRecord:
    return IncidentRecord(page_id=page, snapshot=parse_incident(row(page), S), phase="announced")


# A payload of each kind the tests queue, with text no ASCII-only store would keep.
_PAYLOADS: dict[str, Payload] = {
    "post_reply": StatusUpdateReply(text="日本語 💳", at=T0),
    "post_nudge": PostNudge(
        kind="update_overdue", overdue_by_s=90.0, due_at=T0, last_update_at=T0, first=True
    ),
    "timeline_entry": AppendTimelineEntry(at=T0, kind="note", text="日本語"),
    "write_props": WriteProps(dates={"resolved_at": T0, "next_update_due": None}),
    "create_timeline": CreateTimeline(),
}


def _action(
    key: str, page: str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", kind: str = "post_reply"
) -> Action:
    return Action(key, page, _PAYLOADS[kind])


def test_heroku_style_urls_get_the_psycopg_driver() -> None:
    url = engine_url("postgres://u:p%40ss@host:5432/db?sslmode=require")
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "p@ss"
    assert url.query["sslmode"] == "require"


def test_migrations_are_idempotent(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION
    store.close()


def test_records_survive_a_reopen(store_url: str) -> None:
    store = Store.open(store_url)
    record = _record()
    store.save_plan(Plan(record, (_action("k1"),)), at(1.0))
    store.set_thread(record.page_id, "1700000000.000100", "https://x/p1", at(2.0))
    store.set_meta("poll_cursor", T0.isoformat())
    store.close()
    again = Store.open(store_url)
    loaded = again.get_record(record.page_id)
    assert loaded is not None
    assert loaded.snapshot == record.snapshot
    assert loaded.thread_ts == "1700000000.000100"
    assert loaded.permalink == "https://x/p1"
    assert again.get_meta("poll_cursor") == T0.isoformat()
    assert [a.key for a in again.due_actions(at(10.0))] == ["k1"]
    again.close()


def test_an_action_reads_back_as_it_was_planned(store_url: str) -> None:
    store = Store.open(store_url)
    actions = tuple(_action(kind, kind=kind) for kind in _PAYLOADS)
    store.save_plan(Plan(_record(), actions), at(1.0))
    store.close()
    again = Store.open(store_url)
    assert [(i.kind, i.payload) for i in again.due_actions(at(10.0))] == [
        (a.kind, a.payload) for a in actions
    ]
    again.close()


def test_an_action_this_version_cannot_read_leaves_the_others_readable(store_url: str) -> None:
    """A newer version's kind (replicas upgraded one at a time), or a damaged row."""
    store = Store.open(store_url)
    store.save_plan(Plan(_record(), (_action("k1"),)), at(1.0))
    with store.transaction() as conn:
        conn.execute(
            outbox_table.insert().values(
                key="k2",
                page_id=_record().page_id,
                kind="post_carrier_pigeon",
                payload='{"coo": true}',
                state="pending",
                attempts=0,
                not_before=0.0,
                created_at=1.0,
                background=False,
            )
        )
    first, second = store.due_actions(at(10.0))
    assert first.payload == _PAYLOADS["post_reply"]
    assert second.payload == Unreadable(
        "post_carrier_pigeon", "no such action: 'post_carrier_pigeon'"
    )
    store.close()


def test_the_same_action_key_is_recorded_once(store_url: str) -> None:
    store = Store.open(store_url)
    store.save_plan(Plan(_record(), (_action("k1"), _action("k1"))), at(1.0))
    store.add_actions([_action("k1")], at(2.0))
    assert len(store.due_actions(at(10.0))) == 1
    store.close()


def test_outbox_lifecycle_and_per_incident_order(store_url: str) -> None:
    store = Store.open(store_url)
    a, b = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
    store.save_plan(Plan(_record(a), (_action("a1", a), _action("a2", a))), at(1.0))
    store.save_plan(Plan(_record(b), (_action("b1", b),)), at(1.0))
    first = store.due_actions(at(10.0))[0]
    store.mark_sending(first.id, at(10.0))
    store.mark_retry(first.id, "timeout", at(100.0), unknown=True)
    # a1 waits until 100: a2 must wait behind it; b's action is due.
    assert [i.key for i in store.due_actions(at(50.0))] == ["b1"]
    # The delivery lanes see every action still to do, due or not, in planning order.
    assert [(i.key, i.not_before <= at(1.0)) for i in store.pending_actions()] == [
        ("a1", False),  # waits until 100
        ("a2", True),
        ("b1", True),
    ]
    due = store.due_actions(at(100.0))
    assert [i.key for i in due] == ["a1", "a2", "b1"]
    assert due[0].outcome_unknown
    assert due[0].attempts == 1
    assert due[0].first_attempt_at == at(10.0)
    store.mark_done(due[0].id, {"ts": "1.2"}, at(101.0))
    store.mark_failed(due[1].id, "broken", at(101.0))
    assert [i.key for i in store.due_actions(at(200.0))] == ["b1"]
    assert store.action("a1").result == {"ts": "1.2"}  # type: ignore[union-attr]
    assert store.outbox_counts() == {"done": 1, "failed": 1, "pending": 1}
    store.close()


def test_two_writers_do_not_lock_each_other_out(store_url: str) -> None:
    """Concurrent read-then-write transactions wait for each other instead of failing."""
    store = Store.open(store_url)
    other = Store.open(store_url)
    errors: list[BaseException] = []

    def write(s: Store, prefix: str) -> None:
        try:
            for i in range(30):
                page = f"{prefix}{i:07d}-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
                s.save_plan(Plan(_record(page), (_action(f"{prefix}-{i}", page),)), at(i))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, p)) for s, p in ((store, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count_incidents() == 60
    store.close()
    other.close()


def test_records_by_phase(store_url: str) -> None:
    store = Store.open(store_url)
    store.update_record(_record(), at(1.0))
    waiting = IncidentRecord(
        page_id="cccccccc-cccc-4ccc-8ccc-cccccccccccc",
        snapshot=parse_incident(row("cccccccc-cccc-4ccc-8ccc-cccccccccccc"), S),
        last_update_at=T0 + timedelta(minutes=5),
    )
    store.update_record(waiting, at(1.0))
    assert [r.phase for r in store.records()] == ["announced", "waiting"]
    assert [r.page_id for r in store.records("waiting")] == [waiting.page_id]
    assert store.records("waiting")[0].last_update_at == T0 + timedelta(minutes=5)
    store.close()


def test_the_channel_and_first_sight_are_kept(store_url: str) -> None:
    store = Store.open(store_url)
    record = _record()
    store.save_plan(Plan(record), at(1.0))
    store.set_thread(record.page_id, "1700000000.000100", None, at(2.0), channel="C0OLD")
    store.update_record(replace_record(store, record.page_id), at(3.0))
    loaded = store.get_record(record.page_id)
    assert loaded is not None
    assert loaded.channel == "C0OLD"
    assert loaded.first_seen_at == T0
    assert store.record_by_thread("1700000000.000100") == loaded
    assert store.record_by_thread("1700000000.000200") is None
    store.close()


def replace_record(store: Store, page: str) -> IncidentRecord:
    from dataclasses import replace

    loaded = store.get_record(page)
    assert loaded is not None
    return replace(loaded, first_seen_at=T0)


def test_parked_actions_wait_without_holding_up_the_rest_and_resume_in_order(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    record = _record()
    actions = (
        _action("write", kind="write_props"),
        _action("reply"),
        _action("entry", kind="timeline_entry"),
    )
    store.save_plan(Plan(record, actions), at(1.0))
    paused = store.pause(record.page_id, frozenset({"write_props", "timeline_entry"}), "row")
    assert paused == 2
    assert [a.key for a in store.due_actions(at(10.0))] == ["reply"]
    assert [a.key for a in store.paused("ro")] == ["write", "entry"]
    assert store.resume(record.page_id, "another reason") == 0
    assert store.resume(record.page_id, "row") == 2
    assert [a.key for a in store.due_actions(at(10.0))] == ["write", "reply", "entry"]
    store.close()


def test_what_is_background_work_is_remembered(store_url: str) -> None:
    store = Store.open(store_url)
    page = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
    store.save_plan(
        Plan(
            _record(page),
            (
                _action("reply", page),
                _action("nudge", page, kind="post_nudge"),
                _action("entry", page, kind="timeline_entry"),
                Action("catch-up", page, UpdateParent(), background=True),
            ),
        ),
        at(1.0),
    )
    flags = {i.key: i.background for i in store.due_actions(at(10.0))}
    assert flags == {"reply": False, "nudge": True, "entry": True, "catch-up": True}
    store.close()


def test_a_transaction_is_all_or_nothing(store_url: str) -> None:
    store = Store.open(store_url)

    def stopped_half_way() -> None:
        with store.transaction() as conn:
            conn.execute(meta_table.insert().values(key="a", value="1"))
            raise RuntimeError("stopped half way")

    with pytest.raises(RuntimeError):
        stopped_half_way()
    assert store.get_meta("a") is None
    with store.transaction() as conn:
        conn.execute(meta_table.insert().values(key="a", value="1"))
        conn.execute(meta_table.insert().values(key="b", value="2"))
    assert (store.get_meta("a"), store.get_meta("b")) == ("1", "2")
    store.close()


def test_a_reader_does_not_hold_up_a_writer(store_url: str) -> None:
    """A long read (the metrics scrape, say) while the worker writes: the write goes
    through at once (on SQLite a write transaction would wait for the lock)."""
    store = Store.open(store_url)
    other = Store.open(store_url)
    store.save_plan(Plan(_record()), at(1.0))
    with store.reading() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar() == 1
        other.set_meta("poll_cursor", "c2")
        other.add_actions([_action("k1")], at(2.0))
    assert store.get_meta("poll_cursor") == "c2"
    assert [a.key for a in store.due_actions(at(10.0))] == ["k1"]
    store.close()
    other.close()


def test_the_stored_view_of_a_row_changes_alone(store_url: str) -> None:
    store = Store.open(store_url)
    record = replace(_record(), thread_ts="1700000000.000100", seq=3)
    store.update_record(record, at(1.0))
    renamed = parse_incident(row(record.page_id, title="Checkout slow"), S)
    store.set_snapshot(record.page_id, renamed, at(2.0))
    assert store.get_record(record.page_id) == replace(record, snapshot=renamed)
    store.close()


def test_the_timeline_and_postmortem_pages_are_remembered(store_url: str) -> None:
    store = Store.open(store_url)
    record = _record()
    store.update_record(record, at(1.0))
    timeline = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
    postmortem = "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"
    store.set_page(record.page_id, timeline=timeline, now=at(2.0))
    store.set_page(record.page_id, postmortem=postmortem, now=at(3.0))  # the timeline stays
    loaded = store.get_record(record.page_id)
    assert loaded == replace(record, timeline_page_id=timeline, postmortem_page_id=postmortem)
    store.close()


def test_nudges_and_what_the_schedule_remembers_are_saved_together(store_url: str) -> None:
    store = Store.open(store_url)
    page = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
    store.update_record(_record(page), at(1.0))
    assert store.nag_memory(page) == NagMemory()  # nothing sent yet
    memory = NagMemory(silence_since=T0, nudges_since_update=1, last_nudge_at=T0)
    nudge = _action("nudge-1", page, kind="post_nudge")
    store.save_nudges(page, [nudge], memory, at(2.0))
    store.save_nudges(page, [nudge], memory, at(3.0))  # a pass repeated: the nudge once
    assert store.nag_memory(page) == memory
    assert [(a.key, a.background) for a in store.due_actions(at(10.0))] == [("nudge-1", True)]
    store.close()


def test_a_snooze_is_kept_whatever_a_nudge_pass_writes_after_reading_before_it(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    page = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
    store.update_record(_record(page), at(1.0))
    read_by_the_pass = NagMemory(silence_since=T0, nudges_since_update=1, last_nudge_at=at(2.0))
    store.save_nudges(page, [], read_by_the_pass, at(2.0))
    snoozed = replace(read_by_the_pass, snoozed_until=at(1800.0), snoozed_at=at(3.0))
    store.save_snooze(page, snoozed, [_action("reply-snoozed", page)], at(3.0))
    # The pass that read the memory before the snooze now saves its own reminder.
    later = replace(read_by_the_pass, nudges_since_update=2, last_nudge_at=at(4.0))
    store.save_nudges(page, [_action("nudge-2", page, kind="post_nudge")], later, at(4.0))
    assert store.nag_memory(page) == replace(later, snoozed_until=at(1800.0), snoozed_at=at(3.0))
    assert [a.key for a in store.pending_actions()] == ["reply-snoozed", "nudge-2"]
    store.close()


def _incident(
    page: str,
    *,
    status: str | None = "Investigating",
    phase: Phase = "announced",
    thread: bool = True,
    in_trash: bool = False,
    postmortem: str | None = None,
) -> IncidentRecord:
    snapshot = replace(parse_incident(row(page, status=status), S), in_trash=in_trash)
    return IncidentRecord(
        page_id=page,
        snapshot=snapshot,
        phase=phase,
        thread_ts="1700000000.000100" if thread else None,
        postmortem_page_id=postmortem,
    )


def _page(letter: str) -> str:
    x = letter
    return f"{x * 8}-{x * 4}-4{x * 3}-8{x * 3}-{x * 12}"


RESOLVED = ("Resolved",)


def test_the_nudge_pass_reads_announced_incidents_with_a_thread_and_their_memory(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    records = {
        "open": _incident(_page("a")),
        "no status": _incident(_page("b"), status=None),
        "mitigated": _incident(_page("c"), status="Monitoring"),
        "resolved": _incident(_page("d"), status="Resolved"),
        "resolved, postmortem": _incident(_page("e"), status="Resolved", postmortem="pm-e"),
        "in the trash": _incident(_page("f"), in_trash=True),
        "no thread yet": _incident(_page("1"), thread=False),
        "waiting": _incident(_page("2"), phase="waiting"),
        "adopting": _incident(_page("3"), phase="adopting"),
    }
    for record in records.values():
        store.update_record(record, at(1.0))
    memory = NagMemory(silence_since=T0, nudges_since_update=2, escalated=True)
    store.save_nudges(_page("c"), [], memory, at(2.0))

    found = store.records_to_nag(at(10.0))
    assert [(r, m) for r, m in found] == [
        (records["open"], NagMemory()),
        (records["no status"], NagMemory()),
        (records["mitigated"], memory),
        (records["resolved"], NagMemory()),  # judged once, by the pass (tests/test_tick.py)
        (records["resolved, postmortem"], NagMemory()),
    ]
    store.close()


def test_the_selection_follows_the_snapshot_as_it_changes(store_url: str) -> None:
    store = Store.open(store_url)
    a, b = _incident(_page("a")), _incident(_page("b"))
    store.update_record(a, at(1.0))
    store.update_record(b, at(1.0))
    assert store.count_open(RESOLVED) == 2
    resolved = parse_incident(row(a.page_id, status="Resolved"), S)
    store.set_snapshot(a.page_id, resolved, at(2.0))
    store.save_plan(Plan(replace(b, snapshot=replace(b.snapshot, in_trash=True))), at(2.0))
    assert store.count_open(RESOLVED) == 0
    assert [r.page_id for r, _m in store.records_to_nag(at(10.0))] == [a.page_id]  # b: trash
    # The settings decide what resolved means, at each read: nothing is stored about it.
    assert store.count_open(("Monitoring",)) == 1
    store.close()


def test_the_nudge_pass_reads_an_incident_again_when_its_moment_comes_or_it_changes(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    a, b, c = (_incident(_page(x)) for x in "abc")
    for record in (a, b, c):
        store.update_record(record, at(1.0))

    def judged(seconds: float) -> list[str]:
        return [r.page_id for r, _m in store.records_to_nag(at(seconds))]

    assert judged(2.0) == [a.page_id, b.page_id, c.page_id]  # new: judged at the next pass
    store.set_next_due({a.page_id: at(60.0), b.page_id: None})
    store.save_nudges(
        c.page_id,
        [_action("n1", c.page_id, kind="post_nudge")],
        NagMemory(),
        at(2.0),
        next_due=at(30.0),
    )
    assert judged(10.0) == []
    assert judged(30.0) == [c.page_id]
    assert judged(60.0) == [a.page_id, c.page_id]  # b: nothing can come due as it stands
    store.set_snapshot(b.page_id, replace(b.snapshot, severity="SEV1"), at(11.0))
    assert judged(11.0) == [b.page_id]  # changed: judged afresh
    store.set_next_due({b.page_id: None})
    store.set_thread(b.page_id, "1700000000.000200", None, at(12.0))
    store.save_plan(Plan(replace(a, seq=2)), at(12.0))
    assert judged(12.0) == [a.page_id, b.page_id]
    store.set_next_due({a.page_id: None, b.page_id: None})
    store.save_nudges(c.page_id, [], NagMemory(), at(13.0))  # by default: judged next pass
    assert judged(13.0) == [c.page_id]
    store.set_next_due({})
    store.judge_all_again()  # the policy changed
    assert judged(13.0) == [a.page_id, b.page_id, c.page_id]
    store.close()


def test_open_incidents_are_counted_in_every_phase(store_url: str) -> None:
    store = Store.open(store_url)
    for record in (
        _incident(_page("a"), phase="waiting", thread=False),
        _incident(_page("b"), phase="adopted", status="Resolved"),
        _incident(_page("c"), phase="adopting"),
        _incident(_page("d"), status=None),
        _incident(_page("e"), in_trash=True),
    ):
        store.update_record(record, at(1.0))
    assert store.count_open(RESOLVED) == 3
    store.close()


def test_the_records_of_a_page_of_rows_are_read_together(store_url: str) -> None:
    store = Store.open(store_url)
    a, b = _incident(_page("a")), _incident(_page("b"), status="Resolved")
    store.update_record(a, at(1.0))
    store.update_record(b, at(1.0))
    assert store.records_of([b.page_id, _page("c"), a.page_id, b.page_id]) == {
        a.page_id: a,
        b.page_id: b,
    }
    assert store.records_of([]) == {}
    store.close()


def _done(store: Store, key: str, when: float) -> None:
    item = store.action(key)
    assert item is not None
    store.mark_done(item.id, {"ts": "1.1"}, at(when))


def test_done_actions_of_resolved_incidents_are_pruned_after_the_retention(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    over, still_open = _incident(_page("a"), status="Resolved"), _incident(_page("b"))
    busy, recent = (
        _incident(_page("c"), status="Resolved"),
        _incident(_page("d"), status="Resolved"),
    )
    plans = [
        (over, ("over-1", "over-2")),
        (still_open, ("open-1",)),
        (busy, ("busy-1", "busy-2")),
        (recent, ("recent-1",)),
    ]
    for record, keys in plans:
        store.save_plan(Plan(record, tuple(_action(k, record.page_id) for k in keys)), at(1.0))
    for key in ("over-1", "over-2", "open-1", "busy-1"):
        _done(store, key, 2.0)
    _done(store, "recent-1", 60.0)
    channel_notice = _action("notice-1", "channel")
    store.add_actions([channel_notice], at(1.0))
    _done(store, "notice-1", 2.0)

    assert store.prune_outbox(at(50.0), RESOLVED) == 2

    kept = [[i.key for i in store.actions_for(record.page_id)] for record, _keys in plans]
    assert kept == [
        [],  # resolved, everything done before the cut-off
        ["open-1"],  # an open incident's outbox is its record: all of it stays
        ["busy-1", "busy-2"],  # something still to do: nothing of it goes
        ["recent-1"],  # done after the cut-off
    ]
    assert store.action("notice-1") is not None  # not an incident's
    assert store.outbox_counts() == {"done": 4, "pending": 1}
    assert store.prune_outbox(at(50.0), RESOLVED) == 0
    _done(store, "busy-2", 3.0)
    assert store.prune_outbox(at(50.0), RESOLVED) == 2
    store.close()


def test_a_pruned_action_is_never_planned_or_sent_again(store_url: str) -> None:
    store = Store.open(store_url)
    record = _incident(_page("a"), status="Resolved")
    store.save_plan(Plan(record, (_action("reply-1", record.page_id),)), at(1.0))
    _done(store, "reply-1", 2.0)
    assert store.prune_outbox(at(50.0), RESOLVED) == 1
    store.close()
    again = Store.open(store_url)  # the keys outlive the process too

    # The same effect planned again (a row re-read, a reminder or a problem met again).
    again.save_plan(Plan(record, (_action("reply-1", record.page_id),)), at(60.0))
    again.add_actions([_action("reply-1", record.page_id)], at(61.0))
    again.save_nudges(record.page_id, [_action("reply-1", record.page_id)], NagMemory(), at(62.0))
    assert again.due_actions(at(100.0)) == []
    assert again.action("reply-1") is None
    assert again.was_planned("reply-1")
    # New effects of the same incident are planned as ever.
    assert not again.was_planned("reply-2")
    again.add_actions([_action("reply-2", record.page_id)], at(63.0))
    assert [i.key for i in again.due_actions(at(100.0))] == ["reply-2"]
    again.close()


def test_an_incidents_actions_in_planning_order_whatever_their_state(store_url: str) -> None:
    store = Store.open(store_url)
    a, b = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
    store.save_plan(Plan(_record(a), (_action("a1", a), _action("a2", a))), at(1.0))
    store.save_plan(Plan(_record(b), (_action("b1", b),)), at(1.0))
    store.add_actions([_action("a3", a, kind="timeline_entry")], at(2.0))
    first = store.actions_for(a)[0]
    store.mark_done(first.id, {"ts": "1.1"}, at(3.0))
    assert [(i.key, i.state, i.created_at) for i in store.actions_for(a)] == [
        ("a1", "done", at(1.0)),
        ("a2", "pending", at(1.0)),
        ("a3", "pending", at(2.0)),
    ]
    assert store.actions_for("cccccccc-cccc-4ccc-8ccc-cccccccccccc") == []
    store.close()


def test_progress_of_a_long_action_is_kept_until_it_is_done(store_url: str) -> None:
    store = Store.open(store_url)
    store.save_plan(Plan(_record(), (_action("page", kind="create_timeline"),)), at(1.0))
    item = store.due_actions(at(10.0))[0]
    assert store.mark_sending(item.id, at(10.0))
    store.mark_progress(item.id, {"page_id": "p1", "blocks_written": 100})
    store.mark_retry(item.id, "timeout", at(20.0), unknown=True)
    (again,) = store.due_actions(at(20.0))
    assert again.outcome_unknown
    assert again.result == {"page_id": "p1", "blocks_written": 100}
    store.mark_done(again.id, {"page_id": "p1"}, at(21.0))
    assert store.action("page").result == {"page_id": "p1"}  # type: ignore[union-attr]
    store.close()


def test_a_claim_the_fence_refuses_sends_nothing(store_url: str) -> None:
    store = Store.open(store_url)
    store.save_plan(Plan(_record(), (_action("k1"),)), at(1.0))
    item = store.due_actions(at(10.0))[0]
    assert not store.mark_sending(item.id, at(10.0), guard=sa.false())
    unclaimed = store.action("k1")
    assert unclaimed is not None
    assert (unclaimed.state, unclaimed.first_attempt_at) == ("pending", None)
    store.close()


# --- several Incidents databases in one store ----------------------------------------------

PAYMENTS = "11111111-1111-4111-8111-111111111111"
PLATFORM = "22222222-2222-4222-8222-222222222222"


def test_each_database_sees_only_its_own_incidents_outbox_and_meta(store_url: str) -> None:
    store = Store.open(store_url)
    payments = store.for_database(PAYMENTS, first=True)
    platform = store.for_database(PLATFORM, first=False)
    mine, theirs = _incident(_page("a")), _incident(_page("b"))
    payments.save_plan(Plan(mine, (_action("reply-a", mine.page_id),)), at(1.0))
    platform.save_plan(Plan(theirs, (_action("reply-b", theirs.page_id),)), at(1.0))
    # Notices about the database itself (no incident's) belong to a database too.
    payments.add_actions([_action("notice-a", "channel")], at(1.0))
    platform.add_actions([_action("notice-b", "channel")], at(1.0))

    assert [r.page_id for r in payments.records()] == [mine.page_id]
    assert platform.get_record(mine.page_id) is None
    assert list(platform.records_of([mine.page_id, theirs.page_id])) == [theirs.page_id]
    assert [r.page_id for r, _m in platform.records_to_nag(at(10.0))] == [theirs.page_id]
    assert platform.record_by_thread("1700000000.000100") == theirs
    assert [i.key for i in payments.due_actions(at(10.0))] == ["reply-a", "notice-a"]
    assert [i.key for i in platform.due_actions(at(10.0))] == ["reply-b", "notice-b"]
    assert [i.key for i in platform.pending_actions()] == ["reply-b", "notice-b"]  # the lanes'
    assert (payments.count_open(RESOLVED), payments.count_incidents()) == (1, 1)
    assert platform.outbox_counts() == {"pending": 2}
    assert store.outbox_counts() == {"pending": 4}  # the store itself sees everything
    # One database's writes by page id never touch another's incident.
    payments.set_next_due({theirs.page_id: None})
    assert [r.page_id for r, _m in platform.records_to_nag(at(10.0))] == [theirs.page_id]
    platform.judge_all_again()
    # A poll cursor (and every other meta key) per database; the first keeps the old names.
    payments.set_meta("poll_cursor", "p1")
    platform.set_meta("poll_cursor", "q1")
    assert (payments.get_meta("poll_cursor"), platform.get_meta("poll_cursor")) == ("p1", "q1")
    assert store.get_meta("poll_cursor") == "p1"
    store.close()


def test_an_incidents_database_is_where_it_was_first_seen(store_url: str) -> None:
    store = Store.open(store_url)
    payments = store.for_database(PAYMENTS, first=True)
    platform = store.for_database(PLATFORM, first=False)
    moved = _incident(_page("a"))
    payments.save_plan(Plan(moved, ()), at(1.0))
    # The row moved to the Platform database: its poll finds the incident is Payments'.
    assert platform.elsewhere([moved.page_id, _page("b")]) == {moved.page_id}
    assert payments.elsewhere([moved.page_id]) == set()
    with pytest.raises(sa.exc.IntegrityError):
        platform.save_plan(Plan(replace(moved, seq=9), ()), at(2.0))
    assert payments.get_record(moved.page_id) == moved
    store.close()


def test_rows_from_before_several_databases_are_the_first_databases(store_url: str) -> None:
    store = Store.open(store_url)
    old = _incident(_page("a"))
    store.save_plan(Plan(old, (_action("reply-a", old.page_id),)), at(1.0))  # unmarked
    store.set_meta("poll_cursor", "c0")
    payments = store.for_database(PAYMENTS, first=True)
    platform = store.for_database(PLATFORM, first=False)
    assert (len(payments.records()), len(platform.records())) == (1, 0)
    assert [i.key for i in payments.due_actions(at(10.0))] == ["reply-a"]
    assert payments.get_meta("poll_cursor") == "c0"
    assert platform.claim_unmarked() == 0  # only the first database claims them
    assert payments.claim_unmarked() == 2
    # Marked, they stay Payments' even when it is no longer listed first.
    later = store.for_database(PAYMENTS, first=False)
    assert [r.page_id for r in later.records()] == [old.page_id]
    assert [i.key for i in later.due_actions(at(10.0))] == ["reply-a"]
    store.close()


def test_every_public_method_of_the_store_is_in_this_suite() -> None:
    source = Path(__file__).read_text("utf-8")
    public = [name for name in vars(Store) if not name.startswith("_")]
    assert [name for name in public if f".{name}(" not in source] == []


_KINDS = {
    "reply": "post_reply",
    "update": "update_parent",
    "nudge": "post_nudge",
    "entry": "timeline_entry",
    "catchup": "update_parent",
}


def _queued(spec: str) -> list[OutboxItem]:
    """'A:nudge B:reply' → outbox items of incidents A and B, ids in that order."""
    items = []
    for number, word in enumerate(spec.split(), start=1):
        page, what = word.split(":")
        items.append(
            OutboxItem(
                id=number,
                key=f"{page}{number}",
                page_id=page,
                kind=_KINDS[what],
                payload=UpdateParent(),
                state="pending",
                attempts=0,
                not_before=T0,
                first_attempt_at=None,
                result=None,
                error=None,
                background=what in ("nudge", "entry", "catchup"),
            )
        )
    return items


@pytest.mark.parametrize(
    ("queued", "urgent", "background"),
    [
        pytest.param("A:nudge B:reply", "B2", "A1", id="a reminder waits for another's reply"),
        pytest.param(
            "A:nudge A:reply", "A1 A2", "", id="a reminder queued before its own reply goes first"
        ),
        pytest.param("A:reply A:nudge", "A1", "A2", id="a reminder after its reply stays behind"),
        pytest.param(
            "A:entry A:reply", "A2", "A1", id="page work, its own lane, is not pulled forward"
        ),
        pytest.param(
            "A:catchup B:catchup C:reply C:update A:reply",
            "A1 C3 C4 A5",
            "B2",
            id="catch-up waits for every change but its own incident's",
        ),
        pytest.param(
            "B:entry A:nudge C:catchup", "", "A2 C3 B1", id="background: Slack before pages"
        ),
        pytest.param("A:reply A:update A:reply", "A1 A2 A3", "", id="urgent work in its order"),
    ],
)
def test_urgent_work_goes_first_without_reordering_an_incident(
    queued: str, urgent: str, background: str
) -> None:
    first, then = by_priority(_queued(queued))
    assert " ".join(i.key for i in first) == urgent
    assert " ".join(i.key for i in then) == background


# --- thread notes ---------------------------------------------------------------------------

_NOTE = ThreadNote(
    page_id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    channel="C0INCIDENTS",
    ts="1764668000.000200",
    thread_ts="1764667000.000100",
)


def _sync(cause: str) -> Callable[[ThreadNote | None, ThreadNote], list[Action]]:
    def plan(before: ThreadNote | None, after: ThreadNote) -> list[Action]:
        del before
        return [
            Action(
                f"timeline_note:{after.ts}:{cause}",
                after.page_id,
                SyncNote(after.channel, after.ts),
            )
        ]

    return plan


def test_a_notes_facts_and_the_work_they_call_for_are_stored_together(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.note(_NOTE.channel, _NOTE.ts) is None
    pinned = Pinned(on=True, at="1764668100.000000")
    after = store.change_note(_NOTE, pinned.applied_to, _sync("Ev1"), at(1.0))
    assert after.pinned
    assert store.note(_NOTE.channel, _NOTE.ts) == after
    assert [a.key for a in store.due_actions(at(2.0))] == [f"timeline_note:{_NOTE.ts}:Ev1"]
    # The same event again: the facts stay, the same action key is not planned twice.
    assert store.change_note(_NOTE, pinned.applied_to, _sync("Ev1"), at(3.0)) == after
    assert len(store.due_actions(at(4.0))) == 1
    text = Posted(text="DB failover *done* 日本語", user="U01ANN", at=_NOTE.ts)
    store.change_note(_NOTE, text.applied_to, lambda _b, _a: [], at(5.0))
    reopened = Store.open(store_url)
    held = reopened.note(_NOTE.channel, _NOTE.ts)
    assert held is not None
    assert (held.text, held.pinned, held.pinned_at) == (text.text, True, pinned.at)
    store.close()
    reopened.close()


def test_an_incidents_notes_come_oldest_message_first(store_url: str) -> None:
    store = Store.open(store_url)
    for ts in ("1764668300.000000", "1764668000.000200", "1764668100.000000"):
        store.change_note(replace(_NOTE, ts=ts), lambda n: n, lambda _b, _a: [], at(1.0))
    store.change_note(
        replace(_NOTE, ts="1.0", page_id="other"), lambda n: n, lambda _b, _a: [], at(1.0)
    )
    assert [n.ts for n in store.notes_for(_NOTE.page_id)] == [
        "1764668000.000200",
        "1764668100.000000",
        "1764668300.000000",
    ]
    store.close()


def test_concurrent_changes_of_one_message_each_apply_to_the_others(store_url: str) -> None:
    """Handlers at once, in several processes (stores of their own): no change is lost, the
    first insert of the message's row included."""
    store = Store.open(store_url)
    users = [f"U{n:03d}" for n in range(6)]
    stores = [Store.open(store_url) for _ in users]
    errors: list[BaseException] = []

    def react(user: str, own: Store) -> None:
        try:
            event = Reacted(user, on=True, at="1764668100.000000")
            own.change_note(_NOTE, event.applied_to, lambda _b, _a: [], at(1.0))
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=react, args=pair) for pair in zip(users, stores, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    held = store.note(_NOTE.channel, _NOTE.ts)
    assert held is not None
    assert held.reactors == tuple(users)
    for own in [store, *stores]:
        own.close()


def test_notes_belong_to_their_database(store_url: str) -> None:
    store = Store.open(store_url)
    store.change_note(_NOTE, lambda n: n, lambda _b, _a: [], at(1.0))  # unmarked: the first's
    payments = store.for_database(PAYMENTS, first=True)
    platform = store.for_database(PLATFORM, first=False)
    assert payments.note(_NOTE.channel, _NOTE.ts) is not None
    assert platform.note(_NOTE.channel, _NOTE.ts) is None
    assert platform.notes_for(_NOTE.page_id) == []
    assert payments.claim_unmarked() == 1
    store.close()
