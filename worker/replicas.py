"""Replicas: the Incidents databases' leases shared between the replicas on one state store.

Each database has a lease of its own (worker/lease.py); a replica acts on the databases whose
lease it holds. So that replicas share the work instead of the first one to start taking
everything, each replica renews a heartbeat row while it works (`worker_replicas`, expiring
after LEASE_TTL like a lease) and holds at most its fair share of the leases:
ceil(databases / live replicas). A replica holding more than its share (another one just
started) lets the extra go, the last in the configured order first; a replica below its
share takes any lease that ran out. When a replica dies, its heartbeat and its leases run
out together, so the others take its databases over at their first pass after LEASE_TTL
(on the same host at once: a dead process is seen at once, as by a single lease).

One database is one lease and no heartbeat: exactly the single lease of a worker that knew
one database. A replica of that older release holds the first database's lease (`worker`)
and sees every database's rows as its own, so while one holds it (a deploy's overlap) no
replica takes another database's lease.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from worker.lease import Lease, dead_here
from worker.store import Store, lease_table, replicas_table


class Replicas:
    """The leases of every database this replica may act on, in the configured order (the
    first database's first), and how many of them it should hold now. Thread-safe: each
    database's loop asks for its own lease."""

    def __init__(
        self, store: Store, leases: Sequence[Lease], *, ttl_s: float, greedy: bool = False
    ) -> None:
        """`greedy`: take every lease that is free, without a heartbeat (`once`: a single
        pass, not a replica the others should leave work to)."""
        if len({lease.holder for lease in leases}) != 1:
            raise ValueError("every lease of one replica has the same holder")
        self.store = store
        self.leases = tuple(leases)
        self.ttl_s = ttl_s
        self.greedy = greedy
        self.holder = self.leases[0].holder
        self._lock = threading.Lock()
        self._beat_at: datetime | None = None
        # Why this replica does not act on a database it could have taken (by lease name).
        self._why: dict[str, str] = {}

    def lead(self, lease: Lease, now: datetime) -> bool:
        """Take or renew `lease` if this replica should hold it now; True while it does."""
        with self._lock:
            self._why.pop(lease.name, None)
            if len(self.leases) == 1:
                return lease.acquire(now)
            live = self._live(now)
            if lease.token is not None:
                return self._keep(lease, now, live)
            share = self._share(live)
            held = sum(1 for other in self.leases if other.token is not None)
            if held >= share:
                self._why[lease.name] = (
                    f"this replica holds its share of the databases ({held} of "
                    f"{len(self.leases)}, {len(live)} replicas)"
                )
                return False
            older = self._older_release(lease, now, live)
            if older:
                self._why[lease.name] = (
                    f"{older} holds the first database without sharing (a replica of a "
                    "release that knew one database, or configured with one); no other "
                    "database is taken until it stops"
                )
                return False
            return lease.acquire(now)

    def why_not(self, lease: Lease) -> str | None:
        """Why this replica did not take `lease` at its last try, when it was its own choice
        (None: another replica holds it, `lease.other_holder`)."""
        with self._lock:
            return self._why.get(lease.name)

    def leave(self) -> None:
        """A clean stop: the others count one replica fewer at once (the leases are released
        by their owners)."""
        if len(self.leases) == 1 or self.greedy:
            return
        with self._lock, self.store.transaction() as conn:
            conn.execute(replicas_table.delete().where(replicas_table.c.holder == self.holder))
            self._beat_at = None

    # --- inside the lock ----------------------------------------------------------------

    def _keep(self, lease: Lease, now: datetime, live: set[str]) -> bool:
        held = [other for other in self.leases if other.token is not None]
        if lease in held[self._share(live) :]:
            lease.release()  # if its lanes are acting, the taker waits their requests out
            self._why[lease.name] = (
                f"handed over to another replica ({len(live)} replicas share "
                f"{len(self.leases)} databases)"
            )
            return False
        return lease.acquire(now)

    def _share(self, live: set[str]) -> int:
        if self.greedy:
            return len(self.leases)
        return math.ceil(len(self.leases) / max(1, len(live)))

    def _live(self, now: datetime) -> set[str]:
        """The replicas at work now, this one included (its heartbeat renewed as it goes)."""
        if self.greedy:
            return {self.holder}
        now_ms = _ms(now)
        if self._beat_at is None or now - self._beat_at >= timedelta(seconds=self.ttl_s / 4):
            with self.store.transaction() as conn:
                _beat(conn, self.holder, now_ms + int(self.ttl_s * 1000))
            self._beat_at = now
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(replicas_table.c.holder).where(replicas_table.c.expires_at_ms > now_ms)
            ).scalars()
            holders = [str(holder) for holder in rows]
        # A replica on this host whose process is gone is not at work, however fresh its
        # last heartbeat (it was killed; a restart replaces it).
        return {holder for holder in holders if not dead_here(holder)} | {self.holder}

    def _older_release(self, lease: Lease, now: datetime, live: set[str]) -> str:
        """The holder of the first database's lease, if it is a live replica that beats no
        heartbeat (a release that knew one database, or one configured with one); "" else."""
        first = self.leases[0]
        if lease is first:
            return ""
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(lease_table.c.holder, lease_table.c.expires_at_ms).where(
                    lease_table.c.name == first.name
                )
            ).first()
        if row is None or not row[0] or int(row[1]) <= _ms(now):
            return ""
        holder = str(row[0])
        if holder in live or dead_here(holder):
            return ""
        return holder


def _beat(conn: sa.Connection, holder: str, expires_at_ms: int) -> None:
    table = replicas_table
    updated = conn.execute(
        table.update().where(table.c.holder == holder).values(expires_at_ms=expires_at_ms)
    ).rowcount
    if updated:
        return
    try:
        with conn.begin_nested():
            conn.execute(table.insert().values(holder=holder, expires_at_ms=expires_at_ms))
    except IntegrityError:
        pass  # inserted by this replica's other thread at the same moment: beaten either way


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
