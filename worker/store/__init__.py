"""State store: incidents, the outbox of actions and the poll cursor (SQLAlchemy Core).

SQLite by default; PostgreSQL is only a different URL. Every action is recorded here
before it is carried out and marked done after, which is what makes effects exactly-once.
The schema's history is in `migrations/` (Alembic); opening a store brings it up to date.

What a pass reads does not grow with history: an incident's Status and whether its row is
in the trash are columns kept in step with its snapshot, so /metrics counts the open
incidents by an index instead of decoding every incident ever seen; the nudge pass reads
only the incidents whose `nag_due_at` — when a reminder may next be due, which the pass
itself writes (NULL: never, as for a resolved incident without a postmortem to remind of)
and any change to the record resets — has come; and the outbox is pruned (`prune_outbox`)
under a rule that keeps exactly-once:

- Only `done` actions go, once they were done longer ago than the retention
  (OUTBOX_RETENTION), and only those of an incident that is over: resolved, with nothing of
  its own still to carry out (pending, sending or parked). An open incident keeps every row:
  its outbox is the record its postmortem and a trashed timeline are rebuilt from.
  Reconciliation (an outcome unknown after a lost answer) is for `sending` actions, which
  are never pruned.
- The key of every pruned action stays, in `outbox_pruned`: a key already planned is never
  planned again (`_insert_action` looks in both tables), so an action pruned is never
  planned or sent a second time — whatever plans its key again (a row re-read, a reminder
  due again, a problem met again), however long after.

Several Incidents databases share one store: each incident and each action belongs to one
database (`database_id`), and each database's worker sees the store through a view scoped
to it (`Store.for_database`): its incidents, its outbox, its meta keys (a poll cursor per
database). An incident stays with the database it was first seen in.
"""

from __future__ import annotations

import copy
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from worker.actions import Action, Payload, Unreadable, from_json, to_json
from worker.nag import NagMemory, memory_from_json, memory_to_json, with_later_snooze
from worker.plan import Plan
from worker.record import IncidentRecord, Phase
from worker.snapshot import Incident, incident_from_json, incident_to_json
from worker.store.migrations import head_version, stored_version, upgrade
from worker.thread_notes import ThreadNote, note_from_json, note_to_json

# The schema version the code below reads and writes: the last revision in migrations/.
SCHEMA_VERSION = head_version()

# The tables as the code uses them. Never used to create tables: each revision in
# migrations/ states its own DDL, and a test checks that the two agree.
metadata = sa.MetaData()

meta_table = sa.Table(
    "worker_meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

incidents_table = sa.Table(
    "incidents",
    metadata,
    sa.Column("page_id", sa.String(36), primary_key=True),
    sa.Column("phase", sa.String(20), nullable=False, index=True),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("thread_ts", sa.String(40), index=True),
    sa.Column("permalink", sa.Text),
    sa.Column("seq", sa.Integer, nullable=False, default=0),
    sa.Column("last_update_at", sa.String(40)),
    sa.Column("timeline_page_id", sa.String(36)),
    sa.Column("postmortem_page_id", sa.String(36)),
    sa.Column("nag_memory", sa.Text),
    # Unused, but a worker from before Alembic selects it: it goes in a later release, once
    # no such worker can still be running during a deploy or be rolled back to.
    sa.Column("problems_reported", sa.Text),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("channel", sa.String(40)),
    sa.Column("first_seen_at", sa.String(40)),
    # The snapshot's Status and trash flag (`_snapshot_columns`): what is still open is
    # selected by these, never by decoding every snapshot.
    sa.Column("status", sa.Text),
    sa.Column(
        "in_trash", sa.Boolean, nullable=False, default=False, server_default=sa.text("FALSE")
    ),
    # When a reminder may next be due (nag.next_due, Unix seconds): the nudge pass reads only
    # the incidents whose moment has come. 0: judge at the next pass (the record changed);
    # NULL: nothing can come due until the record changes.
    # 0 unless the nudge pass said otherwise: a row a worker from before version 7 inserts
    # (a deploy's overlap) is judged at the next pass.
    sa.Column("nag_due_at", sa.Float, server_default=sa.text("0")),
    # The Incidents database the incident belongs to (NULL: the first configured one).
    sa.Column("database_id", sa.String(36)),
)
sa.Index("ix_incidents_database", incidents_table.c.database_id)
sa.Index("ix_incidents_open", incidents_table.c.in_trash, incidents_table.c.status)
sa.Index(
    "ix_incidents_nag",
    incidents_table.c.phase,
    incidents_table.c.in_trash,
    incidents_table.c.nag_due_at,
)

outbox_table = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("page_id", sa.String(36), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    # pending → sending → done | failed; `sending` means the outcome may be unknown.
    sa.Column("state", sa.String(10), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("not_before", sa.Float, nullable=False, default=0.0),
    sa.Column("first_attempt_at", sa.Float),
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    # Work nobody is waiting on (see `is_background`): delivered after the urgent work.
    sa.Column(
        "background", sa.Boolean, nullable=False, default=False, server_default=sa.text("FALSE")
    ),
    # The Incidents database whose worker carries it out (NULL: the first configured one).
    sa.Column("database_id", sa.String(36)),
)
sa.Index("ix_outbox_database", outbox_table.c.database_id, outbox_table.c.state)

# The key of each done action pruned from the outbox: never planned again (`prune_outbox`).
pruned_table = sa.Table(
    "outbox_pruned",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
)

# One row per lease (replicas: only the holder acts; `token` is the fencing token).
lease_table = sa.Table(
    "leader_lease",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
)

# One row per running replica, renewed as it works (worker/replicas.py): how many share
# the databases.
replicas_table = sa.Table(
    "worker_replicas",
    metadata,
    sa.Column("holder", sa.String(200), primary_key=True),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
)

# The facts of each thread message people send to the timeline (worker/thread_notes.py), as
# JSON: one row per message (its channel and ts), changed only by `change_note`.
notes_table = sa.Table(
    "thread_notes",
    metadata,
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("ts", sa.String(40), primary_key=True),
    sa.Column("page_id", sa.String(36), nullable=False),
    sa.Column("thread_ts", sa.String(40), nullable=False),
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("database_id", sa.String(36)),
)
sa.Index("ix_thread_notes_page", notes_table.c.page_id)

# `paused`: waits for people to restore what it writes to (a row or a page in the trash);
# it holds up nothing else and is picked up again when that is back.
OutboxState = Literal["pending", "sending", "done", "failed", "paused"]

# Actions of one incident run in order within a lane; a stuck Notion page (say, a broken
# template) must not hold up the incident's Slack thread, so pages have their own lane.
_PAGE_KINDS = frozenset(
    {"create_timeline", "timeline_entry", "create_postmortem", "postmortem_note", "timeline_note"}
)
# Page work people are waiting for: a message they just pinned should reach the timeline
# soon, not after every reminder and catch-up.
_URGENT_PAGE_KINDS = frozenset({"timeline_note"})


def lane(kind: str) -> str:
    return "pages" if kind in _PAGE_KINDS else "main"


def is_background(action: Action) -> bool:
    """Work nobody is waiting on at this moment: reminders, page work, catch-up after a state
    loss. A change people just made is announced first; this goes a slice at a time between
    polls, so that however much of it there is, it never keeps the next poll waiting."""
    if action.kind in _URGENT_PAGE_KINDS:
        return action.background
    return action.background or action.kind == "post_nudge" or lane(action.kind) == "pages"


def by_priority(items: Sequence[OutboxItem]) -> tuple[list[OutboxItem], list[OutboxItem]]:
    """Due actions (in id order) → (urgent, background), each in the order to carry it out.

    Priorities reorder only different incidents (or an incident's two lanes, which are
    independent anyway): within one incident's lane the order stays the order of planning.
    So a background action followed in its lane by an urgent one is urgent too (a reminder
    queued before a reply goes before it; a reply never overtakes its parent post)."""
    last_urgent: dict[tuple[str, str], int] = {}
    for item in items:
        if not item.background:
            last_urgent[(item.page_id, lane(item.kind))] = item.id
    urgent: list[OutboxItem] = []
    background: list[OutboxItem] = []
    for item in items:
        if item.id <= last_urgent.get((item.page_id, lane(item.kind)), -1):
            urgent.append(item)
        else:
            background.append(item)
    # Slack and the row first, pages after: under load, incidents are announced first.
    urgent.sort(key=lambda i: (lane(i.kind) != "main", i.id))
    background.sort(key=lambda i: (lane(i.kind) != "main", i.id))
    return urgent, background


# The columns' "no time" (an action due at once; a record not yet written).
EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    page_id: str
    kind: str
    # As the codec reads it: `Unreadable` for a newer version's kind or a damaged row.
    payload: Payload | Unreadable
    state: OutboxState
    attempts: int
    not_before: datetime
    first_attempt_at: datetime | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime = EPOCH
    background: bool = False

    @property
    def outcome_unknown(self) -> bool:
        """A previous attempt may have taken effect: reconcile before sending again."""
        return self.state == "sending"


def engine_url(raw: str) -> URL:
    """Accept Heroku's postgres:// and spell out the psycopg 3 driver."""
    url = make_url(raw)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def create_engine(raw_url: str, *, connections: int = 2) -> Engine:
    """`connections`: how many threads use the store at once (PostgreSQL's pool; two more
    may be opened for a moment)."""
    url = engine_url(raw_url)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 10})
        _sqlite_transactions(engine)
        return engine
    return sa.create_engine(url, pool_size=connections, max_overflow=2, pool_pre_ping=True)


def _sqlite_transactions(engine: Engine) -> None:
    """WAL, a busy timeout and BEGIN IMMEDIATE: read-then-write transactions never deadlock."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Reads take no write lock; writes take it at once (a deferred transaction that
        # reads and then writes fails at once instead of waiting for the busy timeout).
        read_only = connection.get_execution_options().get("iw_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _use_wal(cursor: Any, tries: int = 50) -> None:
    """Switch the file to WAL (once per file; later connections find it done). SQLite answers
    "database is locked" at once, without its busy timeout, when another replica starting at
    the same moment holds the file: try again a little later."""
    for attempt in range(tries):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.05 + 0.05 * random.random())
        else:
            return


def _seconds(moment: datetime) -> float:
    """A moment as the store's columns keep it: Unix seconds."""
    return moment.timestamp()


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def describe_open_error(exc: BaseException, raw_url: str) -> str:
    """A driver's complaint about DATABASE_URL, on one line, without the URL or password."""
    detail = (type(exc).__name__ + ": " + str(exc).split("\n")[0]).replace(raw_url, "***")
    try:
        password = make_url(raw_url).password
    except (ArgumentError, ValueError):
        password = None
    return detail.replace(str(password), "***") if password else detail


@dataclass(frozen=True)
class Scope:
    """One Incidents database's part of the store. The first configured database also owns
    the rows stored before databases were told apart (`database_id` NULL) and keeps the meta
    keys as they were (`poll_cursor`); another one's keys carry its id."""

    database_id: str
    first: bool

    def owns(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        mine = column == self.database_id
        return sa.or_(mine, column.is_(None)) if self.first else mine

    def meta_key(self, key: str) -> str:
        return key if self.first else f"{key}@{self.database_id}"


class Store:
    """All persistent state of the worker; every method is one short transaction.

    A store opened on a URL sees everything; `for_database` gives one database's view of
    it, which every method then keeps to (the engine is shared)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Held around every read-modify-write of an incident's record in this process: the
        # poll (and a row read again before a write) writes the whole record it read, while
        # the delivery lanes set a thread, a page or what the worker wrote on the row, each
        # in a thread of its own. Every record update of the store takes it too.
        self.lock = threading.RLock()
        self.scope: Scope | None = None

    def for_database(self, database_id: str, *, first: bool) -> Store:
        """The store as one database's worker sees it (`first`: the first configured
        database, which owns the rows from before several were told apart)."""
        view = copy.copy(self)
        view.scope = Scope(database_id, first)
        # Its own: one database's records are never another's, so its writes need not wait
        # for another database's pass.
        view.lock = threading.RLock()
        return view

    def _owns(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """The condition that keeps a query to this view's database (none: everything)."""
        return self.scope.owns(column) if self.scope is not None else sa.true()

    def _incidents(self) -> sa.ColumnElement[bool]:
        return self._owns(incidents_table.c.database_id)

    def _outbox(self) -> sa.ColumnElement[bool]:
        return self._owns(outbox_table.c.database_id)

    def _meta_key(self, key: str) -> str:
        return self.scope.meta_key(key) if self.scope is not None else key

    @property
    def _database_id(self) -> str | None:
        """What new rows of this view are marked with (None: a store seeing everything)."""
        return self.scope.database_id if self.scope is not None else None

    @classmethod
    def open(cls, raw_url: str, *, connections: int = 2) -> Store:
        store = cls(create_engine(raw_url, connections=connections))
        store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with self.engine.connect().execution_options(iw_read_only=True) as conn, conn.begin():
            yield conn

    # --- schema -------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to SCHEMA_VERSION (migrations/); safe when several replicas
        start at once."""
        with self.transaction() as conn:
            return upgrade(conn)

    def schema_version(self) -> int:
        with self.reading() as conn:
            return stored_version(conn)

    # --- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        stored = self._meta_key(key)
        with self.reading() as conn:
            return conn.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == stored)
            ).scalar()

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            self._put_meta(conn, self._meta_key(key), value)

    @staticmethod
    def _put_meta(conn: Connection, key: str, value: str) -> None:
        updated = conn.execute(
            meta_table.update().where(meta_table.c.key == key).values(value=value)
        ).rowcount
        if not updated:
            conn.execute(meta_table.insert().values(key=key, value=value))

    # --- incidents ----------------------------------------------------------------------

    def get_record(self, page_id: str) -> IncidentRecord | None:
        with self.reading() as conn:
            row = conn.execute(
                sa.select(incidents_table).where(
                    incidents_table.c.page_id == page_id, self._incidents()
                )
            ).first()
        return _record(row._mapping) if row else None

    def records_of(self, page_ids: Collection[str]) -> dict[str, IncidentRecord]:
        """The records of these incidents, by page id, in one query (those it has)."""
        if not page_ids:
            return {}
        query = sa.select(incidents_table).where(
            incidents_table.c.page_id.in_(sorted(set(page_ids))), self._incidents()
        )
        with self.reading() as conn:
            return {row.page_id: _record(row._mapping) for row in conn.execute(query)}

    def elsewhere(self, page_ids: Collection[str]) -> set[str]:
        """Those of these pages whose incident belongs to another database (a row moved
        from one Incidents database to another): never this view's to take."""
        if not page_ids or self.scope is None:
            return set()
        table = incidents_table
        query = sa.select(table.c.page_id).where(
            table.c.page_id.in_(sorted(set(page_ids))), sa.not_(self._incidents())
        )
        with self.reading() as conn:
            return {str(page_id) for page_id in conn.execute(query).scalars()}

    def claim_unmarked(self) -> int:
        """Mark the rows stored before databases were told apart (NULL) as this first
        database's, so that they stay its own whatever order the databases are listed in
        later. Rows a worker of the previous release inserts meanwhile are NULL again: this
        view owns those too."""
        if self.scope is None or not self.scope.first:
            return 0
        marked = 0
        with self.transaction() as conn:
            for table in (incidents_table, outbox_table, notes_table):
                marked += conn.execute(
                    table.update()
                    .where(table.c.database_id.is_(None))
                    .values(database_id=self.scope.database_id)
                ).rowcount
        return marked

    def records(self, phase: Phase | None = None) -> list[IncidentRecord]:
        query = (
            sa.select(incidents_table).where(self._incidents()).order_by(incidents_table.c.page_id)
        )
        if phase is not None:
            query = query.where(incidents_table.c.phase == phase)
        with self.reading() as conn:
            return [_record(row._mapping) for row in conn.execute(query)]

    def count_incidents(self) -> int:
        with self.reading() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(incidents_table).where(self._incidents())
                ).scalar()
                or 0
            )

    def count_open(self, resolved_statuses: Collection[str]) -> int:
        """Incidents neither resolved (a Status among `resolved_statuses`) nor in the trash, in
        any phase; counted from the indexed columns, no snapshot read."""
        table = incidents_table
        query = (
            sa.select(sa.func.count())
            .select_from(table)
            .where(
                table.c.in_trash == sa.false(), _unresolved(resolved_statuses), self._incidents()
            )
        )
        with self.reading() as conn:
            return int(conn.execute(query).scalar() or 0)

    def save_plan(self, plan: Plan, now: datetime) -> None:
        """Store the new record and its actions in one transaction (actions before effects)."""
        with self.lock, self.transaction() as conn:
            self._upsert(conn, plan.record, now)
            for action in plan.actions:
                self._insert_action(conn, action, now)

    def update_record(self, record: IncidentRecord, now: datetime) -> None:
        with self.lock, self.transaction() as conn:
            self._upsert(conn, record, now)

    def set_snapshot(self, page_id: str, snapshot: Incident, now: datetime) -> None:
        """Only the stored view of the row (the rest of the record is the poll's to change)."""
        self._update_incident(page_id, _snapshot_columns(snapshot), now)

    def set_thread(
        self,
        page_id: str,
        thread_ts: str,
        permalink: str | None,
        now: datetime,
        *,
        channel: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"thread_ts": thread_ts}
        if permalink is not None:
            values["permalink"] = permalink
        if channel is not None:
            values["channel"] = channel
        self._update_incident(page_id, values, now)

    def record_by_thread(self, thread_ts: str) -> IncidentRecord | None:
        """The incident whose thread this is (a row carrying it may be a duplicate)."""
        query = sa.select(incidents_table).where(
            incidents_table.c.thread_ts == thread_ts, self._incidents()
        )
        with self.reading() as conn:
            row = conn.execute(query.order_by(incidents_table.c.page_id)).first()
        return _record(row._mapping) if row else None

    def set_page(
        self,
        page_id: str,
        *,
        timeline: str | None = None,
        postmortem: str | None = None,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {}
        if timeline is not None:
            values["timeline_page_id"] = timeline
        if postmortem is not None:
            values["postmortem_page_id"] = postmortem
        self._update_incident(page_id, values, now)

    def _update_incident(self, page_id: str, values: dict[str, Any], now: datetime) -> None:
        with self.lock, self.transaction() as conn:
            conn.execute(
                incidents_table.update()
                .where(incidents_table.c.page_id == page_id, self._incidents())
                .values(updated_at=_seconds(now), nag_due_at=0.0, **values)
            )

    def _upsert(self, conn: Connection, record: IncidentRecord, now: datetime) -> None:
        values = {
            "phase": record.phase,
            **_snapshot_columns(record.snapshot),
            "thread_ts": record.thread_ts,
            "permalink": record.permalink,
            "seq": record.seq,
            "last_update_at": _iso(record.last_update_at),
            "timeline_page_id": record.timeline_page_id,
            "postmortem_page_id": record.postmortem_page_id,
            "channel": record.channel,
            "first_seen_at": _iso(record.first_seen_at),
            "updated_at": _seconds(now),
            "nag_due_at": 0.0,  # changed: its reminders are judged afresh
        }
        table = incidents_table
        updated = conn.execute(
            table.update()
            .where(table.c.page_id == record.page_id, self._incidents())
            .values(**values)
        ).rowcount
        if not updated:
            # An incident of another database's by the same page id is never taken over: the
            # insert fails (the poll leaves such a row alone first: `elsewhere`).
            conn.execute(
                table.insert().values(
                    page_id=record.page_id, database_id=self._database_id, **values
                )
            )

    def records_to_nag(self, now: datetime) -> list[tuple[IncidentRecord, NagMemory]]:
        """What the nudge pass looks at, with what the schedule remembers of each, in one
        query by an index: the announced incidents with a thread, not in the trash, whose
        `nag_due_at` has come (the pass sets it to NULL for those that can owe nothing, such
        as a resolved incident without a postmortem to remind of)."""
        table = incidents_table
        query = (
            sa.select(table)
            .where(
                table.c.phase == "announced",
                table.c.in_trash == sa.false(),
                table.c.nag_due_at <= _seconds(now),
                table.c.thread_ts.is_not(None),
                self._incidents(),
            )
            .order_by(table.c.page_id)
        )
        with self.reading() as conn:
            rows = [row._mapping for row in conn.execute(query)]
        return [(_record(row), memory_from_json(row["nag_memory"])) for row in rows]

    def nag_memory(self, page_id: str) -> NagMemory:
        with self.reading() as conn:
            text = conn.execute(
                sa.select(incidents_table.c.nag_memory).where(
                    incidents_table.c.page_id == page_id, self._incidents()
                )
            ).scalar()
        return memory_from_json(text)

    def save_nudges(
        self,
        page_id: str,
        actions: Sequence[Action],
        memory: NagMemory,
        now: datetime,
        *,
        next_due: datetime | None = EPOCH,
    ) -> None:
        """Record the nudges, what the schedule now remembers and when a reminder may next
        be due (by default: judge again at the next pass), in one transaction. A snooze
        someone asked for since `memory` was read is kept (`with_later_snooze`)."""
        with self.transaction() as conn:
            for action in actions:
                self._insert_action(conn, action, now)
            stored = self._locked_memory(conn, page_id)
            self._put_memory(conn, page_id, with_later_snooze(memory, stored), next_due, now)

    def save_snooze(
        self, page_id: str, snoozed: NagMemory, actions: Sequence[Action], now: datetime
    ) -> None:
        """Record a snooze (`snoozed`: the memory `nag.snooze` made) with its actions (the
        thread's note), in one transaction: into the memory as stored now, which a nudge
        pass may have written since the snooze was worked out. The reminders are judged
        again at the next pass."""
        with self.transaction() as conn:
            for action in actions:
                self._insert_action(conn, action, now)
            stored = self._locked_memory(conn, page_id)
            same_silence = stored.silence_since == snoozed.silence_since
            memory = with_later_snooze(stored, snoozed) if same_silence else snoozed
            self._put_memory(conn, page_id, memory, EPOCH, now)

    def _locked_memory(self, conn: Connection, page_id: str) -> NagMemory:
        """The memory as stored, its row locked until the transaction ends (PostgreSQL; on
        SQLite the write transaction holds the whole database already)."""
        text = conn.execute(
            sa.select(incidents_table.c.nag_memory)
            .where(incidents_table.c.page_id == page_id, self._incidents())
            .with_for_update()
        ).scalar()
        return memory_from_json(text)

    def _put_memory(
        self,
        conn: Connection,
        page_id: str,
        memory: NagMemory,
        next_due: datetime | None,
        now: datetime,
    ) -> None:
        conn.execute(
            incidents_table.update()
            .where(incidents_table.c.page_id == page_id, self._incidents())
            .values(
                nag_memory=memory_to_json(memory),
                nag_due_at=_due_seconds(next_due),
                updated_at=_seconds(now),
            )
        )

    def set_next_due(self, due: dict[str, datetime | None]) -> None:
        """When a reminder may next be due, per incident (those the nudge pass judged and
        found nothing due for yet), in one transaction."""
        if not due:
            return
        table = incidents_table
        update = (
            table.update()
            .where(table.c.page_id == sa.bindparam("page"), self._incidents())
            .values(nag_due_at=sa.bindparam("due"))
        )
        with self.transaction() as conn:
            conn.execute(update, [{"page": p, "due": _due_seconds(d)} for p, d in due.items()])

    def judge_all_again(self) -> None:
        """Every incident's reminders judged afresh at the next pass (the policy changed)."""
        with self.transaction() as conn:
            conn.execute(incidents_table.update().where(self._incidents()).values(nag_due_at=0.0))

    # --- outbox -------------------------------------------------------------------------

    def _insert_action(self, conn: Connection, action: Action, now: datetime) -> None:
        if _known_key(conn, action.key):
            return  # the same effect was already planned: never twice
        conn.execute(
            outbox_table.insert().values(
                database_id=self._database_id,
                key=action.key,
                page_id=action.page_id,
                kind=action.kind,
                payload=to_json(action.payload),
                state="pending",
                attempts=0,
                not_before=0.0,
                created_at=_seconds(now),
                background=is_background(action),
            )
        )

    def was_planned(self, key: str) -> bool:
        """Was an action of this key ever planned (in the outbox, or pruned from it)?"""
        with self.reading() as conn:
            return _known_key(conn, key)

    def add_actions(self, actions: Sequence[Action], now: datetime) -> None:
        with self.transaction() as conn:
            for action in actions:
                self._insert_action(conn, action, now)

    def due_actions(self, now: datetime) -> list[OutboxItem]:
        """Actions still to carry out, oldest first (per incident order is by id)."""
        query = (
            sa.select(outbox_table)
            .where(outbox_table.c.state.in_(("pending", "sending")), self._outbox())
            .order_by(outbox_table.c.id)
        )
        with self.reading() as conn:
            items = [_item(row._mapping) for row in conn.execute(query)]
        # An incident whose first action must wait makes its later actions (in the same
        # lane) wait too.
        blocked: set[tuple[str, str]] = set()
        due: list[OutboxItem] = []
        for item in items:
            where = (item.page_id, lane(item.kind))
            if where in blocked:
                continue
            if item.not_before > now:
                blocked.add(where)
                continue
            due.append(item)
        return due

    def pending_actions(self) -> list[OutboxItem]:
        """Every action still to carry out, due or not, in id (planning) order: what the
        delivery lanes choose from (worker/outbox_order.py)."""
        query = (
            sa.select(outbox_table)
            .where(outbox_table.c.state.in_(("pending", "sending")), self._outbox())
            .order_by(outbox_table.c.id)
        )
        with self.reading() as conn:
            return [_item(row._mapping) for row in conn.execute(query)]

    def action(self, key: str) -> OutboxItem | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.key == key)).first()
        return _item(row._mapping) if row else None

    def actions_for(self, page_id: str) -> list[OutboxItem]:
        query = sa.select(outbox_table).where(outbox_table.c.page_id == page_id)
        with self.reading() as conn:
            return [_item(row._mapping) for row in conn.execute(query.order_by(outbox_table.c.id))]

    def mark_sending(
        self, item_id: int, now: datetime, guard: sa.ColumnElement[bool] | None = None
    ) -> bool:
        """Claim an action just before a non-repeatable call; False when `guard` (the
        replica's fencing condition) no longer holds and nothing may be sent."""
        table = outbox_table
        conditions = [table.c.id == item_id] + ([guard] if guard is not None else [])
        with self.transaction() as conn:
            claimed = conn.execute(
                table.update()
                .where(*conditions)
                .values(
                    state="sending",
                    first_attempt_at=sa.func.coalesce(table.c.first_attempt_at, _seconds(now)),
                )
            ).rowcount
        return claimed == 1

    def mark_progress(self, item_id: int, progress: dict[str, Any]) -> None:
        """Save how far a multi-request action got (kept while it is still `sending`)."""
        self._set(item_id, result=json.dumps(progress, ensure_ascii=False))

    def mark_done(self, item_id: int, result: dict[str, Any] | None, now: datetime) -> None:
        self._set(
            item_id,
            state="done",
            result=json.dumps(result or {}),
            done_at=_seconds(now),
            error=None,
        )

    def mark_retry(self, item_id: int, error: str, not_before: datetime, *, unknown: bool) -> None:
        """Try again later; `unknown` keeps the 'sending' state so the retry reconciles first."""
        state: OutboxState = "sending" if unknown else "pending"
        self._set(
            item_id,
            state=state,
            error=error[:2000],
            not_before=_seconds(not_before),
            attempts=outbox_table.c.attempts + 1,
        )

    def mark_failed(self, item_id: int, error: str, now: datetime) -> None:
        self._set(item_id, state="failed", error=error[:2000], done_at=_seconds(now))

    def _set(self, item_id: int, **values: Any) -> None:
        with self.transaction() as conn:
            conn.execute(outbox_table.update().where(outbox_table.c.id == item_id).values(**values))

    def pause(self, page_id: str, kinds: frozenset[str], reason: str) -> int:
        """Park an incident's pending actions of these kinds until `resume` (a restore)."""
        table = outbox_table
        with self.transaction() as conn:
            return int(
                conn.execute(
                    table.update()
                    .where(
                        table.c.page_id == page_id,
                        table.c.kind.in_(sorted(kinds)),
                        table.c.state.in_(("pending", "sending")),
                    )
                    .values(state="paused", error=reason)
                ).rowcount
            )

    def resume(self, page_id: str, reason: str) -> int:
        """Make the actions parked for `reason` due again, in their order."""
        table = outbox_table
        with self.transaction() as conn:
            return int(
                conn.execute(
                    table.update()
                    .where(
                        table.c.page_id == page_id,
                        table.c.state == "paused",
                        table.c.error == reason,
                    )
                    .values(state="pending", not_before=0.0)
                ).rowcount
            )

    def paused(self, reason_prefix: str) -> list[OutboxItem]:
        """Parked actions whose reason starts with `reason_prefix`."""
        table = outbox_table
        query = sa.select(table).where(
            table.c.state == "paused", table.c.error.startswith(reason_prefix), self._outbox()
        )
        with self.reading() as conn:
            return [_item(row._mapping) for row in conn.execute(query.order_by(table.c.id))]

    def prune_outbox(self, before: datetime, resolved_statuses: Collection[str]) -> int:
        """Delete the done actions of incidents that are over, done before `before`, keeping
        their keys (the rule is in the module's docstring). Returns how many went."""
        table, incidents = outbox_table, incidents_table
        over = sa.select(incidents.c.page_id).where(
            incidents.c.status.in_(sorted(resolved_statuses)), self._incidents()
        )
        waiting = table.alias("waiting")
        busy = sa.select(waiting.c.page_id).where(
            waiting.c.state.in_(("pending", "sending", "paused"))
        )
        prunable = sa.and_(
            self._outbox(),
            table.c.state == "done",
            table.c.done_at < _seconds(before),
            table.c.page_id.in_(over),
            table.c.page_id.not_in(busy),
        )
        with self.transaction() as conn:
            keys = sa.select(table.c.key).where(prunable)
            conn.execute(pruned_table.insert().from_select(["key"], keys))
            return int(conn.execute(table.delete().where(prunable)).rowcount)

    # --- thread notes ---------------------------------------------------------------------

    def note(self, channel: str, ts: str) -> ThreadNote | None:
        """The facts of one thread message (None: nothing was ever heard of it)."""
        table = notes_table
        query = sa.select(table).where(
            table.c.channel == channel, table.c.ts == ts, self._owns(table.c.database_id)
        )
        with self.reading() as conn:
            row = conn.execute(query).first()
        return _note(row._mapping) if row else None

    def notes_for(self, page_id: str) -> list[ThreadNote]:
        """The facts of an incident's thread messages, oldest message first."""
        table = notes_table
        query = sa.select(table).where(table.c.page_id == page_id, self._owns(table.c.database_id))
        with self.reading() as conn:
            notes = [_note(row._mapping) for row in conn.execute(query)]
        return sorted(notes, key=lambda note: (_ts_key(note.ts), note.ts))

    def change_note(
        self,
        start: ThreadNote,
        change: Callable[[ThreadNote], ThreadNote],
        plan: Callable[[ThreadNote | None, ThreadNote], Sequence[Action]],
        now: datetime,
    ) -> ThreadNote:
        """Change a message's facts and record what the change calls for, in one transaction
        (`start`: the facts of a message not seen before; `plan(before, after)` → the
        actions). Concurrent changes of one message are serialised: each applies to what the
        other wrote (SQLite: the write lock; PostgreSQL: the row's lock, a first insert
        racing another is settled by the primary key and tried again)."""
        for attempt in range(3):
            try:
                return self._change_note(start, change, plan, now)
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _change_note(
        self,
        start: ThreadNote,
        change: Callable[[ThreadNote], ThreadNote],
        plan: Callable[[ThreadNote | None, ThreadNote], Sequence[Action]],
        now: datetime,
    ) -> ThreadNote:
        table = notes_table
        where = (table.c.channel == start.channel, table.c.ts == start.ts)
        with self.lock, self.transaction() as conn:
            row = conn.execute(sa.select(table).where(*where).with_for_update()).first()
            before = _note(row._mapping) if row else None
            after = change(before or start)
            values = {"facts": note_to_json(after), "updated_at": _seconds(now)}
            if before is None:
                conn.execute(
                    table.insert().values(
                        channel=start.channel,
                        ts=start.ts,
                        page_id=start.page_id,
                        thread_ts=start.thread_ts,
                        database_id=self._database_id,
                        **values,
                    )
                )
            elif after != before:
                conn.execute(table.update().where(*where).values(**values))
            for action in plan(before, after):
                self._insert_action(conn, action, now)
        return after

    def outbox_counts(self) -> dict[str, int]:
        query = (
            sa.select(outbox_table.c.state, sa.func.count())
            .where(self._outbox())
            .group_by(outbox_table.c.state)
        )
        with self.reading() as conn:
            return {str(state): int(count) for state, count in conn.execute(query)}


def _snapshot_columns(snapshot: Incident) -> dict[str, Any]:
    """The stored snapshot and the columns kept in step with it."""
    return {
        "snapshot": incident_to_json(snapshot),
        "status": snapshot.status,
        "in_trash": snapshot.in_trash,
    }


def _due_seconds(moment: datetime | None) -> float | None:
    return _seconds(moment) if moment is not None else None


def _unresolved(resolved_statuses: Collection[str]) -> sa.ColumnElement[bool]:
    status = incidents_table.c.status
    return sa.or_(status.is_(None), status.not_in(sorted(resolved_statuses)))


def _known_key(conn: Connection, key: str) -> bool:
    """Was an action of this key ever planned (still in the outbox, or pruned from it)?"""
    for column in (outbox_table.c.key, pruned_table.c.key):
        if conn.execute(sa.select(column).where(column == key)).first():
            return True
    return False


def _record(row: Any) -> IncidentRecord:
    return IncidentRecord(
        page_id=row["page_id"],
        snapshot=incident_from_json(row["snapshot"]),
        phase=row["phase"],
        thread_ts=row["thread_ts"],
        permalink=row["permalink"],
        seq=row["seq"],
        last_update_at=_dt(row["last_update_at"]),
        timeline_page_id=row["timeline_page_id"],
        postmortem_page_id=row["postmortem_page_id"],
        channel=row["channel"],
        first_seen_at=_dt(row["first_seen_at"]),
    )


def _note(row: Any) -> ThreadNote:
    return note_from_json(row["page_id"], row["channel"], row["ts"], row["thread_ts"], row["facts"])


def _ts_key(ts: str) -> float:
    try:
        return float(ts)
    except ValueError:
        return 0.0


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        key=row["key"],
        page_id=row["page_id"],
        kind=row["kind"],
        payload=from_json(row["kind"], row["payload"]),
        state=row["state"],
        attempts=row["attempts"],
        not_before=_moment(row["not_before"]),
        first_attempt_at=_moment(first) if (first := row["first_attempt_at"]) is not None else None,
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        created_at=_moment(row["created_at"]),
        background=bool(row["background"]),
    )
