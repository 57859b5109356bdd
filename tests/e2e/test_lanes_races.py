"""End to end: what two delivery lanes, the poll and a second replica may do at the same moment.

The lanes are driven one round at a time (`Effects.run_ready`), in an order the scheduler's
threads can take, so that each test is deterministic."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.harness import Databases, Harness, message_text, people, rich, select
from worker.pacing import sending_only_while
from worker.runtimes import Runtimes
from worker.sandbox import Sandbox

INCIDENTS, PLATFORM = 0, 1

T0 = datetime.now(UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _round(h: Harness, lane: str, minutes: float) -> None:
    h.runtime.worker.effects.run_ready(lane, lambda: _at(minutes))  # type: ignore[arg-type]


def test_a_status_update_before_the_timeline_page_keeps_its_next_update_due(h: Harness) -> None:
    """Declared at minute 0 (SEV2: an update every 30 minutes, so due at 30); a status update
    comes at minute 10, before the timeline page is made (in a burst, pages wait minutes for
    Notion): the update is due at 40. The status update's write (main lane, urgent) goes
    before the page (pages lane, an announcement); the page's one PATCH, which brings the
    declaration's dates, must not write "due at 30" over it: a write's Next update due is
    as due when it is written."""
    ben = h.person("Ben")
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"), Commander=people(ben))
    assert h.runtime.poll(_at(0), deliver=False) is not None  # records the declaration
    _round(h, "slack", 0.1)  # the parent message
    h.edit("Ben", page, **{"Status update": rich("Rolled back; watching")})
    assert h.runtime.poll(_at(10), deliver=False) is not None  # records the update
    for minute in (10.1, 10.2, 10.3, 10.4):
        _round(h, "notion", minute)
        _round(h, "slack", minute)
    assert not h.runtime.store.pending_actions()
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.last_update_at is not None
    due = h.row(page)["properties"]["Next update due"]["date"]["start"]
    shown = datetime.fromisoformat(due)
    expected = record.last_update_at + timedelta(minutes=30)
    assert abs((shown - expected).total_seconds()) < 60, (
        f"the row says the next update is due at {shown}, it is due at {expected}"
    )


def test_a_poll_that_read_the_row_before_the_lanes_write_says_nothing_about_links(
    h: Harness,
) -> None:
    """On the scheduler the poll and the Notion lane run at once. Someone edits a new
    incident (its Status) while its timeline page is on its way; the poll's query returns
    the row with that edit and without the links, and — while the poll works through its
    page of rows — the Notion lane makes the page, writes the thread and timeline links and
    remembers them. The row the poll read predates that write: it must not be taken for
    someone clearing the links (a repair write and "someone changed Slack thread, Timeline;
    the worker set it back" in the thread, when nobody touched them)."""
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    assert h.runtime.poll(_at(0), deliver=False) is not None
    _round(h, "slack", 0.1)  # the parent message
    h.edit("Ben", page, Status=select("Identified"))
    worker = h.runtime.worker
    real = worker._records_of

    def lane_writes_meanwhile(rows):  # type: ignore[no-untyped-def]
        known = real(rows)
        _round(h, "notion", 0.2)  # the Notion lane, in its thread, as the poll goes on
        return known

    worker._records_of = lane_writes_meanwhile  # type: ignore[method-assign]
    try:
        h.runtime.poll(_at(0.3), deliver=False)
    finally:
        worker._records_of = real  # type: ignore[method-assign]
    for minute in (0.4, 0.5, 0.6):
        _round(h, "notion", minute)
        _round(h, "slack", minute)
    planned = [a.key for a in h.runtime.store.actions_for(page)]
    assert not [k for k in planned if k.startswith(("repair:", f"reply:{page}:repair"))], planned
    assert [t for t in h.replies_text(page) if "set it back" in t] == []


def test_a_database_handed_to_another_replica_mid_post_is_announced_once(
    box: Sandbox, tmp_path: Path
) -> None:
    """Replicas share the databases: when a second replica starts, the first one's next poll
    of the database it gives up releases that lease at once (Replicas._keep → Lease.release,
    expires_at_ms = 0) — from the scheduler's thread, while that database's Slack lane may
    have a post in flight (past `may_send`). The new holder takes the lease at once, and as
    it was given up (not run out) `lease.settled` holds at once too: its lane finds the
    action `sending`, looks for its message (not there yet), claims it under its own fence
    and posts; then the first replica's post lands. Before the lanes, a release never
    overlapped an action (delivery ran inside the poll, on the thread that releases). So a
    lease given up while the outbox is being carried out is free only a client timeout later,
    and the taker then finds the post instead of making it again."""
    dbs = Databases(box, tmp_path, start=False, LEASE_TTL="30s")
    clock = _Later()
    first = dbs.start_worker(clock=clock)
    replicas: list[Runtimes] = []
    try:
        now = clock.skip(5)
        assert [r.poll(now, deliver=False) is not None for r in first.runtimes] == [True, True]
        dbs.declare(PLATFORM, "Ben", "Deploys stuck", Severity=select("SEV3"))
        assert first.runtimes[PLATFORM].poll(clock.skip(1), deliver=False) is not None
        client = first.shared.slack.client
        handed: list[bool] = []
        waited: list[bool] = []
        real_post = client.chat_postMessage

        def meanwhile() -> None:
            # Other threads: a second replica starts; the first one's next poll hands it
            # this database; the second one's Slack lane carries out what is pending.
            second = dbs.start_worker(clock=clock)
            replicas.append(second)
            moment = clock.skip(1)
            second.runtimes[INCIDENTS].poll(moment, deliver=False)  # beats its heartbeat
            handed.append(first.runtimes[PLATFORM].poll(moment, deliver=False) is None)
            # Given up while its post is under way: not to be taken until that is surely over.
            waited.append(second.runtimes[PLATFORM].poll(clock.skip(1), deliver=False) is None)

        def post_while_handed_over(**kwargs: Any) -> Any:
            client.chat_postMessage = real_post  # type: ignore[method-assign]
            # The request is on its way (past `may_send`) while the others act.
            other = threading.Thread(target=meanwhile)
            other.start()
            other.join(30)
            return real_post(**kwargs)  # the first replica's request lands

        client.chat_postMessage = post_while_handed_over  # type: ignore[method-assign]
        giver = first.runtimes[PLATFORM]
        with sending_only_while(giver.lease.valid):  # as its Slack lane runs a round
            giver.worker.effects.run_ready("slack", clock)
        assert handed == [True], "the database was not handed over"
        assert waited == [True], "taken while the first replica's post was under way"
        taker = replicas[0].runtimes[PLATFORM]
        assert taker.poll(clock.skip(35), deliver=False) is not None  # a client timeout on
        with sending_only_while(taker.lease.valid):
            taker.worker.effects.run_ready("slack", clock)  # finds the post, or makes it
        posted = [m for m in dbs.top_level(PLATFORM) if "Deploys stuck" in message_text(m)]
        assert len(posted) == 1, f"announced {len(posted)} times"
    finally:
        for replica in replicas:
            replica.close()
        first.close()


class _Later:
    """The real clock moved on by `skip`."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def skip(self, seconds: float) -> datetime:
        self.offset += timedelta(seconds=seconds)
        return self()


def test_on_the_lanes_without_a_thread_for_long_the_timeline_page_is_made_without_the_link(
    h: Harness,
) -> None:
    """README: a page made before the thread exists (Slack down for more than two minutes)
    gets the thread's link once it does; pages/effects.THREAD_WAIT_S. test_pages_thread_link
    checks it through `poll()` (run_due); on the lanes, `outbox_order.ready` holds an
    incident's pages behind its pending parent post for that long only: with the channel
    archived, the row still gets its page, Declared at and Next update due."""
    h.box.slack.archive_channel(h.channel)
    page = h.declare("Aiko", "Queue stuck", Severity=select("SEV2"))
    assert h.runtime.poll(_at(0), deliver=False) is not None
    _round(h, "slack", 0.1)  # refused: archived (a settings problem, retried patiently)
    for minute in (3, 4, 5):  # past THREAD_WAIT_S
        _round(h, "notion", minute)
    row = h.row(page)["properties"]
    assert row["Timeline"]["url"], "no timeline page after five minutes without Slack"
    assert row["Declared at"]["date"]
