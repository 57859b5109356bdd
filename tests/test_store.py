"""State store contract: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.factories import T0, row, settings
from worker.actions import (
    Action,
    AppendTimelineEntry,
    Payload,
    PostNudge,
    StatusUpdateReply,
    Unreadable,
    UpdateParent,
    WriteProps,
)
from worker.plan import Plan
from worker.record import IncidentRecord
from worker.snapshot import parse_incident
from worker.store import (
    SCHEMA_VERSION,
    OutboxItem,
    Store,
    by_priority,
    engine_url,
    outbox_table,
)

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
    store.save_plan(Plan(record, (_action("k1"),)), 1.0)
    store.set_thread(record.page_id, "1700000000.000100", "https://x/p1", 2.0)
    store.set_meta("poll_cursor", T0.isoformat())
    store.close()
    again = Store.open(store_url)
    loaded = again.get_record(record.page_id)
    assert loaded is not None
    assert loaded.snapshot == record.snapshot
    assert loaded.thread_ts == "1700000000.000100"
    assert loaded.permalink == "https://x/p1"
    assert again.get_meta("poll_cursor") == T0.isoformat()
    assert [a.key for a in again.due_actions(10.0)] == ["k1"]
    again.close()


def test_an_action_reads_back_as_it_was_planned(store_url: str) -> None:
    store = Store.open(store_url)
    actions = tuple(_action(kind, kind=kind) for kind in _PAYLOADS)
    store.save_plan(Plan(_record(), actions), 1.0)
    store.close()
    again = Store.open(store_url)
    assert [(i.kind, i.payload) for i in again.due_actions(10.0)] == [
        (a.kind, a.payload) for a in actions
    ]
    again.close()


def test_an_action_this_version_cannot_read_leaves_the_others_readable(store_url: str) -> None:
    """A newer version's kind (replicas upgraded one at a time), or a damaged row."""
    store = Store.open(store_url)
    store.save_plan(Plan(_record(), (_action("k1"),)), 1.0)
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
    first, second = store.due_actions(10.0)
    assert first.payload == _PAYLOADS["post_reply"]
    assert second.payload == Unreadable(
        "post_carrier_pigeon", "no such action: 'post_carrier_pigeon'"
    )
    store.close()


def test_the_same_action_key_is_recorded_once(store_url: str) -> None:
    store = Store.open(store_url)
    store.save_plan(Plan(_record(), (_action("k1"), _action("k1"))), 1.0)
    store.add_actions([_action("k1")], 2.0)
    assert len(store.due_actions(10.0)) == 1
    store.close()


def test_outbox_lifecycle_and_per_incident_order(store_url: str) -> None:
    store = Store.open(store_url)
    a, b = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
    store.save_plan(Plan(_record(a), (_action("a1", a), _action("a2", a))), 1.0)
    store.save_plan(Plan(_record(b), (_action("b1", b),)), 1.0)
    first = store.due_actions(10.0)[0]
    store.mark_sending(first.id, 10.0)
    store.mark_retry(first.id, "timeout", 100.0, unknown=True)
    # a1 waits until 100: a2 must wait behind it; b's action is due.
    assert [i.key for i in store.due_actions(50.0)] == ["b1"]
    due = store.due_actions(100.0)
    assert [i.key for i in due] == ["a1", "a2", "b1"]
    assert due[0].outcome_unknown
    assert due[0].attempts == 1
    assert due[0].first_attempt_at == 10.0
    store.mark_done(due[0].id, {"ts": "1.2"}, 101.0)
    store.mark_failed(due[1].id, "broken", 101.0)
    assert [i.key for i in store.due_actions(200.0)] == ["b1"]
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
                s.save_plan(Plan(_record(page), (_action(f"{prefix}-{i}", page),)), float(i))
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
    store.update_record(_record(), 1.0)
    waiting = IncidentRecord(
        page_id="cccccccc-cccc-4ccc-8ccc-cccccccccccc",
        snapshot=parse_incident(row("cccccccc-cccc-4ccc-8ccc-cccccccccccc"), S),
        last_update_at=T0 + timedelta(minutes=5),
    )
    store.update_record(waiting, 1.0)
    assert [r.phase for r in store.records()] == ["announced", "waiting"]
    assert [r.page_id for r in store.records("waiting")] == [waiting.page_id]
    assert store.records("waiting")[0].last_update_at == T0 + timedelta(minutes=5)
    store.close()


def test_a_store_from_before_version_4_gets_the_new_columns(store_url: str) -> None:
    """An upgrade keeps every incident and adds the channel and first-seen columns."""
    import sqlalchemy as sa

    store = Store.open(store_url)
    record = _record()
    store.save_plan(Plan(record), 1.0)
    with store.transaction() as conn:
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_incidents_thread_ts"))
        conn.execute(sa.text("ALTER TABLE incidents DROP COLUMN channel"))
        conn.execute(sa.text("ALTER TABLE incidents DROP COLUMN first_seen_at"))
        conn.execute(sa.text("UPDATE worker_meta SET value = '3' WHERE key = 'schema_version'"))
    store.close()
    again = Store.open(store_url)
    assert again.schema_version() == SCHEMA_VERSION
    loaded = again.get_record(record.page_id)
    assert loaded is not None
    assert loaded.channel is None
    again.close()


def test_the_channel_and_first_sight_are_kept(store_url: str) -> None:
    store = Store.open(store_url)
    record = _record()
    store.save_plan(Plan(record), 1.0)
    store.set_thread(record.page_id, "1700000000.000100", None, 2.0, channel="C0OLD")
    store.update_record(replace_record(store, record.page_id), 3.0)
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
    store.save_plan(Plan(record, actions), 1.0)
    paused = store.pause(record.page_id, frozenset({"write_props", "timeline_entry"}), "row")
    assert paused == 2
    assert [a.key for a in store.due_actions(10.0)] == ["reply"]
    assert [a.key for a in store.paused("ro")] == ["write", "entry"]
    assert store.resume(record.page_id, "another reason") == 0
    assert store.resume(record.page_id, "row") == 2
    assert [a.key for a in store.due_actions(10.0)] == ["write", "reply", "entry"]
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
        1.0,
    )
    flags = {i.key: i.background for i in store.due_actions(10.0)}
    assert flags == {"reply": False, "nudge": True, "entry": True, "catch-up": True}
    store.close()


def test_a_store_from_before_priorities_classes_what_it_still_has_to_send(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    page = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
    store.save_plan(
        Plan(_record(page), (_action("nudge", page, kind="post_nudge"), _action("reply", page))),
        1.0,
    )
    with store.transaction() as conn:  # back to schema 4, as an older worker left it
        conn.execute(sa.text("ALTER TABLE outbox DROP COLUMN background"))
    store.set_meta("schema_version", "4")
    store.close()
    again = Store.open(store_url)
    assert again.schema_version() == SCHEMA_VERSION
    assert {i.key: i.background for i in again.due_actions(10.0)} == {
        "nudge": True,
        "reply": False,
    }
    again.close()


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
                not_before=0.0,
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
