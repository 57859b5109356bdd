"""State store migrations, on SQLite and PostgreSQL: an empty store and a store left by the
worker of every past schema version reach the same schema, the one the code declares, and
keep their rows."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.factories import T0, at, row, settings
from tests.postgres import throwaway_database
from worker.actions import (
    Action,
    AppendTimelineEntry,
    Payload,
    PostNudge,
    StatusUpdateReply,
    to_json,
)
from worker.errors import WorkerError
from worker.nag import NagMemory, memory_to_json
from worker.plan import Plan
from worker.snapshot import incident_to_json, parse_incident
from worker.store import SCHEMA_VERSION, Store, create_engine, metadata

PAGE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
SNAPSHOT = parse_incident(row(PAGE), settings())
MEMORY = NagMemory(silence_since=T0, nudges_since_update=2, last_nudge_at=T0)


# --- the stores older workers left ------------------------------------------------------
# Frozen copies of what the worker of each schema version did (worker/store.py before
# Alembic): its `_v1` created the tables from the definitions of its own day, and each
# later step changed what was there. Never edit these to follow today's code.


def _tables_of(version: int) -> sa.MetaData:
    """The tables as the worker of `version` declared them."""
    tables = sa.MetaData()
    sa.Table(
        "worker_meta",
        tables,
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    sa.Table(
        "incidents",
        tables,
        sa.Column("page_id", sa.String(36), primary_key=True),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("thread_ts", sa.String(40)),
        sa.Column("permalink", sa.Text),
        sa.Column("seq", sa.Integer, nullable=False, default=0),
        sa.Column("last_update_at", sa.String(40)),
        sa.Column("timeline_page_id", sa.String(36)),
        sa.Column("postmortem_page_id", sa.String(36)),
        sa.Column("nag_memory", sa.Text),
        sa.Column("problems_reported", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
        *(
            [sa.Column("channel", sa.String(40)), sa.Column("first_seen_at", sa.String(40))]
            if version >= 4
            else []
        ),
    )
    sa.Table(
        "outbox",
        tables,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("page_id", sa.String(36), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("not_before", sa.Float, nullable=False, default=0.0),
        sa.Column("first_attempt_at", sa.Float),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float),
        *(
            [sa.Column("background", sa.Boolean, nullable=False, default=False)]
            if version >= 5
            else []
        ),
    )
    sa.Table(
        "leader_lease",
        tables,
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    )
    return tables


def _old_step(conn: sa.Connection, tables: sa.MetaData, number: int) -> None:
    """Step `number` of the old migrations, run with the tables of the worker running it."""
    t = tables.tables
    if number == 1:
        tables.create_all(conn, tables=[t["incidents"], t["outbox"]])
    elif number == 2:
        tables.create_all(conn, tables=[t["leader_lease"]])
        conn.execute(
            t["leader_lease"].insert().values(name="worker", holder="", token=0, expires_at_ms=0)
        )
    elif number == 3:
        conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_incidents_phase ON incidents (phase)"))
    elif number == 4:
        present = {c["name"] for c in sa.inspect(conn).get_columns("incidents")}
        for name in ("channel", "first_seen_at"):
            if name not in present:
                conn.execute(sa.text(f"ALTER TABLE incidents ADD COLUMN {name} VARCHAR(40)"))
        conn.execute(
            sa.text("CREATE INDEX IF NOT EXISTS ix_incidents_thread_ts ON incidents (thread_ts)")
        )
    elif number == 5:
        if "background" in {c["name"] for c in sa.inspect(conn).get_columns("outbox")}:
            return
        conn.execute(
            sa.text("ALTER TABLE outbox ADD COLUMN background BOOLEAN NOT NULL DEFAULT FALSE")
        )
        conn.execute(
            sa.text(
                "UPDATE outbox SET background = TRUE WHERE state IN ('pending', 'sending') AND "
                "kind IN ('post_nudge', 'create_timeline', 'timeline_entry', "
                "'create_postmortem', 'postmortem_note')"
            )
        )


def _old_worker_opens(url: str, version: int) -> None:
    """The worker of `version` opens the store (its `Store.migrate`)."""
    tables = _tables_of(version)
    engine = create_engine(url)
    with engine.begin() as conn:
        meta = tables.tables["worker_meta"]
        tables.create_all(conn, tables=[meta])
        stored = conn.execute(
            sa.select(meta.c.value).where(meta.c.key == "schema_version")
        ).scalar()
        for number in range(int(stored or 0) + 1, version + 1):
            _old_step(conn, tables, number)
        conn.execute(meta.delete().where(meta.c.key == "schema_version"))
        conn.execute(meta.insert().values(key="schema_version", value=str(version)))
    engine.dispose()


# One stored payload of each kind the old stores hold (the same JSON then as now).
PAYLOADS: dict[str, Payload] = {
    "reply": StatusUpdateReply(text="日本語", at=T0),
    "nudge": PostNudge(kind="update_overdue", overdue_by_s=60.0, due_at=T0, last_update_at=T0),
    "entry": AppendTimelineEntry(at=T0, kind="note", text="日本語"),
}


def _old_worker_writes(url: str, version: int) -> None:
    """What the worker of `version` would have stored: an incident, three actions (one
    done), the poll cursor and a lease holder."""
    tables = _tables_of(version).tables
    incident: dict[str, Any] = {
        "page_id": PAGE,
        "phase": "announced",
        "snapshot": incident_to_json(SNAPSHOT),
        "thread_ts": "1700000000.000100",
        "permalink": "https://slack.example/p1",
        "seq": 3,
        "last_update_at": T0.isoformat(),
        "nag_memory": memory_to_json(MEMORY),
        "updated_at": 5.0,
    }
    if version >= 4:
        incident |= {"channel": "C0OLD", "first_seen_at": T0.isoformat()}
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(tables["worker_meta"].insert().values(key="poll_cursor", value="c1"))
        conn.execute(tables["incidents"].insert().values(**incident))
        for key, kind, state, background in (
            ("reply", "post_reply", "pending", False),
            ("nudge", "post_nudge", "pending", True),
            ("entry", "timeline_entry", "done", True),
        ):
            assert PAYLOADS[key].action_kind == kind
            action = {
                "key": key,
                "page_id": PAGE,
                "kind": kind,
                "payload": to_json(PAYLOADS[key]),
                "state": state,
                "attempts": 0,
                "not_before": 0.0,
                "created_at": 4.0,
                "result": json.dumps({"ts": "1.2"}) if state == "done" else None,
            }
            if version >= 5:
                action["background"] = background
            conn.execute(tables["outbox"].insert().values(**action))
        if version >= 2:
            conn.execute(tables["leader_lease"].update().values(holder="host:1", token=7))
    engine.dispose()


# (created by the worker of version C, last opened by the worker of version R): every
# version as a new store, and an old store the workers upgraded step by step.
PAST_STORES = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (1, 5)]


# --- what a schema is -------------------------------------------------------------------

Schema = dict[str, dict[str, Any]]


def schema_of(url: str) -> Schema:
    """Tables, columns (in order, with type, nullability and default), keys and indexes."""
    engine = create_engine(url)
    inspector = sa.inspect(engine)
    found: Schema = {}
    for table in sorted(inspector.get_table_names()):
        found[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c["default"])
                for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
        }
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def fresh_schemas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Schema]]:
    """What a new, empty store becomes, per backend."""
    sqlite = f"sqlite:///{tmp_path_factory.mktemp('fresh')}/state.db"
    with throwaway_database("iw_fresh") as postgresql:
        schemas = {}
        for backend, url in (("sqlite", sqlite), ("postgresql", postgresql)):
            Store.open(url).close()
            schemas[backend] = schema_of(url)
        yield schemas


def _backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


# --- the tests --------------------------------------------------------------------------


def test_an_empty_store_gets_exactly_the_tables_the_code_declares(store_url: str) -> None:
    store = Store.open(store_url)
    with store.reading() as conn:
        context = MigrationContext.configure(conn, opts={"compare_server_default": True})
        differences = compare_metadata(context, metadata)
    tables = set(sa.inspect(store.engine).get_table_names())
    store.close()
    assert differences == []
    assert tables == {*metadata.tables, "alembic_version"}


@pytest.mark.parametrize(
    ("created", "reached"),
    PAST_STORES,
    ids=[f"created at {c}" + (f", upgraded to {r}" if r != c else "") for c, r in PAST_STORES],
)
def test_a_store_of_a_past_version_reaches_the_fresh_schema_with_its_rows(
    store_url: str, fresh_schemas: dict[str, Schema], created: int, reached: int
) -> None:
    _old_worker_opens(store_url, created)
    _old_worker_writes(store_url, created)
    if reached != created:
        _old_worker_opens(store_url, reached)

    store = Store.open(store_url)

    assert store.schema_version() == SCHEMA_VERSION
    assert schema_of(store_url) == fresh_schemas[_backend(store_url)]
    assert store.get_meta("poll_cursor") == "c1"
    # Kept in step for a worker from before Alembic (a deploy's overlap, a rollback).
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    record = store.get_record(PAGE)
    assert record is not None
    assert (record.phase, record.snapshot, record.thread_ts, record.seq) == (
        "announced",
        SNAPSHOT,
        "1700000000.000100",
        3,
    )
    assert record.last_update_at == T0
    assert (record.channel, record.first_seen_at) == (
        ("C0OLD", T0) if created >= 4 else (None, None)
    )
    assert store.nag_memory(PAGE) == MEMORY
    # What version 7 selects open incidents by was read from the stored snapshot.
    assert (store.count_open(("Resolved",)), store.count_open(("Investigating",))) == (1, 0)
    nag = store.records_to_nag(at(10.0))
    assert [(r.page_id, m) for r, m in nag] == [(PAGE, MEMORY)]
    # What is still to send is classed as version 5 classed it: the reminder is background.
    due = store.due_actions(at(10.0))
    assert [(i.key, i.background, i.payload) for i in due] == [
        ("reply", False, PAYLOADS["reply"]),
        ("nudge", True, PAYLOADS["nudge"]),
    ]
    entry = store.action("entry")
    assert entry is not None
    assert (entry.state, entry.result) == ("done", {"ts": "1.2"})
    with store.reading() as conn:
        lease = conn.execute(sa.text("SELECT holder, token FROM leader_lease")).all()
    assert [tuple(r) for r in lease] == [("host:1", 7) if created >= 2 else ("", 0)]
    # New rows go on from the old ones.
    store.save_plan(
        Plan(replace(record, seq=4), (Action("new", PAGE, PAYLOADS["reply"]),)), at(6.0)
    )
    new = store.action("new")
    assert new is not None
    assert new.id > max(i.id for i in due)
    store.close()


def test_a_worker_from_before_alembic_still_works_on_a_migrated_store(store_url: str) -> None:
    """While a release migrates, the previous release's dynos still run (and a rollback
    starts them again): version 5, the last before Alembic, must find nothing to replay and
    read and write every column it knows."""
    Store.open(store_url).close()
    _old_worker_opens(store_url, 5)  # would replay its first steps had the version gone
    _old_worker_writes(store_url, 5)
    engine = create_engine(store_url)
    with engine.connect() as conn:
        for table in _tables_of(5).tables.values():
            conn.execute(sa.select(table)).all()  # every column it selects is there
    engine.dispose()
    store = Store.open(store_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.get_record(PAGE) is not None
    # The incident it announced meanwhile is judged at the next nudge pass all the same.
    assert [r.page_id for r, _ in store.records_to_nag(T0)] == [PAGE]
    store.close()


def test_replicas_starting_at_once_on_an_empty_store_migrate_it_once(store_url: str) -> None:
    opened: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            store = Store.open(store_url)
            opened.append(store.schema_version())
            store.close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert opened == [SCHEMA_VERSION] * 3
    store = Store.open(store_url)
    with store.reading() as conn:
        leases = conn.execute(sa.text("SELECT count(*) FROM leader_lease")).scalar()
    store.close()
    assert leases == 1


def test_a_store_from_a_newer_worker_is_refused_with_what_to_do(store_url: str) -> None:
    store = Store.open(store_url)
    with store.transaction() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '99'"))
    store.close()
    with pytest.raises(WorkerError, match=r"version 99, newer than this worker knows"):
        Store.open(store_url)


def test_the_migrations_ship_inside_the_package() -> None:
    """`pip install` takes the packages setuptools finds and the package data pyproject
    names: every revision must be in one or the other."""
    import tomllib

    from setuptools import find_packages

    root = Path(__file__).resolve().parent.parent
    setuptools = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    packages = set(find_packages(str(root), include=setuptools["packages"]["find"]["include"]))
    data = setuptools["package-data"]["worker"]
    folder = root / "worker" / "store" / "migrations"
    for path in folder.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        package = ".".join(path.parent.relative_to(root).parts)
        shipped = (
            package in packages
            if path.suffix == ".py"
            else any(path.match(pattern) for pattern in data)
        )
        assert shipped, path
    assert {"worker.store.migrations", "worker.store.migrations.versions"} <= packages
