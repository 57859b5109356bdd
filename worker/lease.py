"""Leadership: one lease row with a fencing token, so only one replica acts at a time.

Every replica runs the same schedule; each pass first acquires or renews the lease and does
nothing unless it holds it. The lease expires `ttl_s` after its last renewal, so another
replica takes over within that time when the leader dies. The token grows by one at each
change of holder: side effects are claimed in the database only while the token is still
ours (`fence`), and a leader that was paused past its lease stops before acting (a local
monotonic deadline), so two overlapping replicas never both send the same message.

Each Incidents database has a lease of its own: the first configured one keeps the name
`worker` (so a replica of a release that knew one database, and a replica of this one,
still exclude each other on it), another is `worker:<database id>`. How replicas share
the leases between them is worker/replicas.py.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from worker.store import Store, lease_table

LEASE_NAME = "worker"


def lease_name(database_id: str, *, first: bool) -> str:
    """The lease of an Incidents database (`first`: the first configured one)."""
    return LEASE_NAME if first else f"{LEASE_NAME}:{database_id}"


# Stop acting a little before the lease really ends: clocks and pauses are not exact.
_SAFETY_S = 2.0


def holder_id() -> str:
    """Who this process is, for the lease row and the logs (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Fence:
    """What a claim in the database must still match for us to be allowed to act."""

    name: str
    holder: str
    token: int


class Lease:
    def __init__(
        self,
        store: Store,
        *,
        ttl_s: float,
        holder: str | None = None,
        name: str = LEASE_NAME,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        settle_s: float = 0.0,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        # After taking over from a replica that may still be alive (its lease ran out, it
        # did not give it up), how long its last requests may still be under way: the
        # longest a request may take (every request of a lane starts only while its lease is
        # valid: pacing.sending_only_while). Actions it left with an unknown outcome are
        # looked for only after that (`settled`), so a page it was still making is found,
        # not made a second time.
        self.settle_s = settle_s
        self._settled_at = 0.0
        # Whether something acting under this lease may have a request under way (the
        # delivery lanes set it): asked when the lease is given up.
        self.busy: Callable[[], bool] = lambda: False
        # The lanes renew (keep) while the scheduler's thread renews or gives up (acquire,
        # release): one at a time.
        self._lock = threading.RLock()
        self.holder = holder or holder_id()
        self.name = name
        self._monotonic = monotonic
        # Read only to renew the lease in the middle of a long pass (`keep`): the renewal
        # must count from the moment it is made, not from the start of the pass.
        self._clock = clock
        self._renew_after = 0.0
        self.token: int | None = None
        self._deadline = 0.0
        # Who held the lease when we last failed to take it ("" when we hold it).
        self.other_holder = ""

    def acquire(self, now: datetime) -> bool:
        """Take or renew the lease; True when we are the leader until the next renewal."""
        with self._lock:
            return self._acquire(now)

    def _acquire(self, now: datetime) -> bool:
        started = self._monotonic()
        other = ""
        with self.store.transaction() as conn:
            before = _row_of(conn, self.name)
            token = _take(conn, self.name, self.holder, now, self.ttl_s)
            other = _holder_of(conn, self.name) if token is None else ""
            if other and dead_here(other):
                # A replica on this host that was killed (SIGKILL never releases): take
                # over now instead of staying silent until its lease runs out.
                token = _take(conn, self.name, self.holder, now, self.ttl_s, replacing=other)
        if token is None:
            self.token = None
            self._deadline = 0.0
            self.other_holder = other
            return False
        previous, expires_ms = before if before is not None else ("", 0)
        if previous not in ("", self.holder) and expires_ms > 0 and not dead_here(previous):
            # Its lease ran out (it did not give it up): it may still be sending.
            self._settled_at = started + self.settle_s
        self.token = token
        self.other_holder = ""
        self._deadline = started + self.ttl_s - _SAFETY_S
        self._renew_after = started + self.ttl_s / 3
        return True

    def keep(self) -> bool:
        """Before each action of a long pass: still ours? Renews once a third of it is gone."""
        with self._lock:
            if self.token is None:
                return False
            if self._monotonic() < self._renew_after:
                return True
            return self._acquire(self._clock())

    def settled(self) -> bool:
        """Whether the previous holder's last requests are surely over (`settle_s`)."""
        return self._monotonic() >= self._settled_at

    def valid(self) -> bool:
        """Still safe to act on our own clock (a paused process learns it lost the lease)."""
        return self.token is not None and self._monotonic() < self._deadline

    def fence(self) -> Fence | None:
        return Fence(self.name, self.holder, self.token) if self.token is not None else None

    def release(self) -> None:
        """Give the lease up (clean shutdown, a database handed to another replica), so that
        another replica need not wait for it to run out. If a request of ours may still be
        under way (`busy`: a delivery lane is acting), the lease is free only `settle_s`
        from now, and then held by nobody, so the next holder need not wait any longer."""
        with self._lock:
            if self.token is None:
                return
            self.token = None  # first: our lanes start nothing more (keep, valid)
            self._deadline = 0.0
            self._release(self.busy())

    def _release(self, in_flight: bool) -> None:
        table = lease_table
        now_ms = _ms(self._clock())
        free_at = {"holder": "", "expires_at_ms": now_ms + int(self.settle_s * 1000)}
        with self.store.transaction() as conn:
            conn.execute(
                table.update()
                .where(table.c.name == self.name, table.c.holder == self.holder)
                .values(**(free_at if in_flight and self.settle_s > 0 else {"expires_at_ms": 0}))
            )

    def current_holder(self) -> tuple[str, int, int] | None:
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(
                    lease_table.c.holder, lease_table.c.token, lease_table.c.expires_at_ms
                ).where(lease_table.c.name == self.name)
            ).first()
        return (str(row[0]), int(row[1]), int(row[2])) if row else None


def _row_of(conn: Connection, name: str) -> tuple[str, int] | None:
    """(holder, expires_at_ms) of a lease; 0 when given up."""
    table = lease_table
    row = conn.execute(
        sa.select(table.c.holder, table.c.expires_at_ms).where(table.c.name == name)
    ).first()
    return (str(row[0]), int(row[1])) if row else None


def _holder_of(conn: Connection, name: str) -> str:
    row = conn.execute(sa.select(lease_table.c.holder).where(lease_table.c.name == name)).first()
    return str(row[0]) if row else ""


def dead_here(holder: str) -> bool:
    """Whether `holder` (a `holder_id`) ran on this host and its process is gone (only then
    can we know that it is dead before its lease runs out)."""
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, and someone else's
    return False


def _take(
    conn: Connection,
    name: str,
    holder: str,
    now: datetime,
    ttl_s: float,
    *,
    replacing: str | None = None,
) -> int | None:
    """One atomic statement: renew if ours, take if expired, else nothing (both dialects)."""
    table = lease_table
    now_ms = _ms(now)
    exists = conn.execute(sa.select(table.c.name).where(table.c.name == name)).first()
    if exists is None:  # the migration creates the usual row; another name starts here
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values(name=name, holder="", token=0, expires_at_ms=0))
        except IntegrityError:
            pass  # another replica created it at the same moment
    result = conn.execute(
        table.update()
        .where(
            table.c.name == name,
            sa.or_(
                table.c.holder == holder,
                table.c.expires_at_ms < now_ms,
                table.c.holder == (replacing or holder),
            ),
        )
        .values(
            holder=holder,
            expires_at_ms=now_ms + int(ttl_s * 1000),
            token=sa.case((table.c.holder == holder, table.c.token), else_=table.c.token + 1),
        )
        .returning(table.c.token)
    )
    row = result.first()
    return int(row[0]) if row else None


def _ms(moment: datetime) -> int:
    """A moment as the lease row keeps it: Unix milliseconds."""
    return int(moment.timestamp() * 1000)


def fenced(fence: Fence, now: datetime) -> sa.ColumnElement[bool]:
    """A WHERE clause that holds only while `fence` is the live lease."""
    table = lease_table
    return sa.exists(
        sa.select(table.c.name).where(
            table.c.name == fence.name,
            table.c.holder == fence.holder,
            table.c.token == fence.token,
            table.c.expires_at_ms > _ms(now),
        )
    )
