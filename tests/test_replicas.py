"""Replicas share the databases' leases, on SQLite and PostgreSQL: each holds its fair share,
takes over a dead replica's databases within LEASE_TTL, and keeps off while a replica of the
release that knew one database holds the first."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tests.factories import at
from worker.lease import Lease, lease_name
from worker.replicas import Replicas
from worker.store import Store, replicas_table

TTL_S = 30.0
DATABASES = ("payments", "platform", "security")


class Clock:
    """The moment every replica is at (fake): `now` for the store, monotonic for leases."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return at(self.seconds)


def _replica(
    store: Store, holder: str, clock: Clock, databases: tuple[str, ...] = DATABASES
) -> Replicas:
    leases = [
        Lease(
            store,
            ttl_s=TTL_S,
            holder=holder,
            name=lease_name(database, first=index == 0),
            monotonic=clock.monotonic,
            clock=clock.now,
        )
        for index, database in enumerate(databases)
    ]
    return Replicas(store, leases, ttl_s=TTL_S)


def _pass(replica: Replicas, clock: Clock) -> list[str]:
    """One pass of every database's loop; the databases this replica acts on."""
    return [
        name
        for name, lease in zip(DATABASES, replica.leases, strict=False)
        if replica.lead(lease, clock.now())
    ]


def test_two_replicas_share_the_databases(store_url: str) -> None:
    store, clock = Store.open(store_url), Clock()
    first, second = _replica(store, "a", clock), _replica(store, "b", clock)
    assert _pass(first, clock) == list(DATABASES)  # alone, it takes them all
    clock.seconds = 5
    assert _pass(second, clock) == []  # all held
    clock.seconds = 10
    assert _pass(first, clock) == ["payments", "platform"]  # two replicas: two each at most
    assert "handed over to another replica" in (first.why_not(first.leases[2]) or "")
    clock.seconds = 15
    assert _pass(second, clock) == ["security"]
    for step in range(4):  # and so it stays
        clock.seconds = 20 + 5 * step
        assert _pass(first, clock) == ["payments", "platform"]
        assert _pass(second, clock) == ["security"]
    store.close()


def test_a_replica_that_dies_hands_its_databases_over_within_the_lease_ttl(
    store_url: str,
) -> None:
    store, clock = Store.open(store_url), Clock()
    first, second = _replica(store, "a", clock), _replica(store, "b", clock)
    _pass(first, clock)
    clock.seconds = 1
    _pass(second, clock)
    clock.seconds = 2
    assert _pass(first, clock) == ["payments", "platform"]  # its last pass: then it dies
    clock.seconds = 3
    assert _pass(second, clock) == ["security"]
    held: list[str] = []
    while set(held) != set(DATABASES):
        clock.seconds += 5  # the survivor's passes
        held = _pass(second, clock)
        assert clock.seconds <= 2 + TTL_S + 5, held
    assert clock.seconds > 2 + TTL_S - 5  # not before the dead one's leases ran out
    store.close()


def test_a_clean_stop_hands_the_databases_over_at_once(store_url: str) -> None:
    store, clock = Store.open(store_url), Clock()
    first, second = _replica(store, "a", clock), _replica(store, "b", clock)
    _pass(first, clock)
    _pass(second, clock)
    clock.seconds = 1
    _pass(first, clock)
    _pass(second, clock)
    for lease in first.leases:
        lease.release()
    first.leave()
    clock.seconds = 2
    assert _pass(second, clock) == list(DATABASES)
    store.close()


def test_a_replica_of_the_release_that_knew_one_database_keeps_the_others_off(
    store_url: str,
) -> None:
    store, clock = Store.open(store_url), Clock()
    older = Lease(store, ttl_s=TTL_S, holder="old", monotonic=clock.monotonic)  # `worker`
    assert older.acquire(clock.now())
    new = _replica(store, "a", clock)
    # It would see the other databases' rows as its own: none is taken while it runs.
    assert _pass(new, clock) == []
    assert "old holds the first database without sharing" in (new.why_not(new.leases[1]) or "")
    assert new.why_not(new.leases[0]) is None  # the first is simply held by another
    assert new.leases[0].other_holder == "old"
    older.release()  # the deploy is over
    clock.seconds = 1
    assert _pass(new, clock) == list(DATABASES)
    store.close()


def test_one_database_is_one_lease_and_no_heartbeat(store_url: str) -> None:
    store, clock = Store.open(store_url), Clock()
    first = _replica(store, "a", clock, databases=("payments",))
    second = _replica(store, "b", clock, databases=("payments",))
    assert first.lead(first.leases[0], clock.now())
    assert not second.lead(second.leases[0], clock.now())
    assert first.leases[0].name == "worker"
    with store.reading() as conn:
        assert conn.execute(sa.select(replicas_table)).all() == []
    store.close()
