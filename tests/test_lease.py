"""Leadership contract, on SQLite and PostgreSQL: one holder at a time, fenced tokens."""

from __future__ import annotations

import os
import threading

import sqlalchemy as sa

from tests.factories import at
from worker.lease import Lease, fenced
from worker.store import SCHEMA_VERSION, Store, meta_table


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pair(store_url: str) -> tuple[Store, Lease, Lease, Clock]:
    store = Store.open(store_url)
    clock = Clock()
    a = Lease(store, ttl_s=30, holder="a", monotonic=clock)
    b = Lease(store, ttl_s=30, holder="b", monotonic=clock)
    return store, a, b, clock


def test_one_holder_at_a_time_and_takeover_after_expiry(store_url: str) -> None:
    store, a, b, _clock = _pair(store_url)
    assert a.acquire(at(1000.0))
    first = a.token
    assert not b.acquire(at(1010.0))
    assert a.acquire(at(1020.0))  # renewal keeps the token
    assert a.token == first
    assert not b.acquire(at(1049.0))  # a's renewal at 1020 holds until 1050
    assert b.acquire(at(1051.0))
    assert b.token == (first or 0) + 1  # a new holder, a new fencing token
    assert not a.acquire(at(1052.0))
    assert store.migrate() == SCHEMA_VERSION
    store.close()


def test_release_hands_over_at_once(store_url: str) -> None:
    store, a, b, _clock = _pair(store_url)
    assert a.acquire(at(1000.0))
    a.release()
    assert not a.valid()
    assert b.acquire(at(1001.0))
    store.close()


def test_a_paused_leader_knows_it_must_not_act(store_url: str) -> None:
    store, a, _b, clock = _pair(store_url)
    assert a.acquire(at(1000.0))
    assert a.valid()
    clock.now += 29.0  # a paused process wakes up close to (or past) the lease's end
    assert not a.valid()
    store.close()


def test_the_fence_only_passes_for_the_live_token(store_url: str) -> None:
    store, a, b, _clock = _pair(store_url)
    assert a.acquire(at(1000.0))
    old = a.fence()
    assert old is not None
    with store.transaction() as conn:
        conn.execute(meta_table.insert().values(key="k", value="0"))

    def claim(fence: object, seconds: float, value: str) -> int:
        with store.transaction() as conn:
            return conn.execute(
                meta_table.update()
                .where(meta_table.c.key == "k", fenced(fence, at(seconds)))  # type: ignore[arg-type]
                .values(value=value)
            ).rowcount

    assert claim(old, 1001.0, "a") == 1
    assert b.acquire(at(1031.0))
    assert claim(old, 1032.0, "stale") == 0  # the old leader's claim is refused
    assert claim(b.fence(), 1032.0, "b") == 1
    with store.transaction() as conn:
        assert (
            conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "k")).scalar()
            == "b"
        )
    store.close()


def test_racing_replicas_elect_exactly_one(store_url: str) -> None:
    store = Store.open(store_url)
    leases = [Lease(Store.open(store_url), ttl_s=30, holder=f"r{i}") for i in range(4)]
    results: list[bool] = []
    barrier = threading.Barrier(len(leases))

    def race(lease: Lease) -> None:
        barrier.wait()
        results.append(lease.acquire(at(5000.0)))

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    for lease in leases:
        lease.store.close()
    store.close()


def test_a_killed_replica_on_this_host_is_replaced_at_once(store_url: str) -> None:
    import socket
    import subprocess
    import sys

    host = socket.gethostname()
    store = Store.open(store_url)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer runs
    dead = Lease(store, ttl_s=30, holder=f"{host}:{gone.pid}:abc")
    assert dead.acquire(at(1000.0))
    successor = Lease(store, ttl_s=30, holder=f"{host}:{os.getpid()}:def")
    assert successor.acquire(at(1001.0))  # the holder's process is gone: no need to wait
    assert successor.token == (dead.token or 0) + 1
    # A live holder (this very process) is never replaced before its lease ends.
    assert not Lease(store, ttl_s=30, holder=f"{host}:1:zzz").acquire(at(1002.0))
    store.close()


def test_a_long_pass_renews_the_lease_as_it_goes(store_url: str) -> None:
    clock = Clock()
    wall = [1000.0]
    store = Store.open(store_url)
    lease = Lease(store, ttl_s=30, holder="a", monotonic=clock, clock=lambda: at(wall[0]))
    other = Lease(store, ttl_s=30, holder="b", monotonic=clock)
    assert lease.acquire(at(1000.0))
    for _ in range(6):  # a pass that runs three times longer than the lease
        clock.now += 15.0
        wall[0] += 15.0
        assert lease.keep()
        assert not other.acquire(at(wall[0]))
    store.close()


def test_a_claim_is_refused_once_the_lease_is_lost(store_url: str) -> None:
    from tests.factories import row, settings
    from worker.actions import Action, ProblemReply
    from worker.plan import Plan
    from worker.record import IncidentRecord
    from worker.snapshot import parse_incident

    store = Store.open(store_url)
    a = Lease(store, ttl_s=30, holder="a")
    b = Lease(store, ttl_s=30, holder="b")
    page = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
    record = IncidentRecord(page_id=page, snapshot=parse_incident(row(page), settings()))
    reply = ProblemReply(what="row", error="x")
    store.save_plan(Plan(record, (Action("k", page, reply),)), at(1.0))
    (item,) = store.due_actions(at(10.0))
    assert a.acquire(at(1000.0))
    fence = a.fence()
    assert fence is not None
    assert b.acquire(at(1031.0))  # a was paused past its lease; b took over
    assert not store.mark_sending(item.id, at(1032.0), fenced(fence, at(1032.0)))
    assert store.mark_sending(item.id, at(1032.0), fenced(b.fence(), at(1032.0)))  # type: ignore[arg-type]
    store.close()


def test_taking_over_from_a_replica_that_may_still_be_sending_waits_for_its_requests(
    store_url: str,
) -> None:
    """A leader paused past its lease may still have a request under way (started while its
    lease held, answered up to a client timeout later): the replica that takes over looks
    for that request's outcome only once it is surely over. A lease given up, or never
    held, means nothing is under way."""
    store = Store.open(store_url)
    clock = Clock()
    a = Lease(store, ttl_s=30, holder="host-a:1:x", monotonic=clock, settle_s=31)
    b = Lease(store, ttl_s=30, holder="host-b:1:y", monotonic=clock, settle_s=31)
    assert a.acquire(at(1000.0))
    assert a.settled()  # nobody held it before
    clock.now += 40.0
    assert b.acquire(at(1040.0))  # a's lease ran out; a may be alive, and sending
    assert not b.settled()
    clock.now += 30.0
    assert not b.settled()
    clock.now += 1.5
    assert b.settled()
    b.release()
    assert a.acquire(at(1080.0))  # given up: nothing of b's can be under way
    assert a.settled()
    store.close()
