"""State store schema: Alembic revisions, one per schema version, each stating its own DDL.

Revision "N" is schema version N. A store made before Alembic kept its version in
`worker_meta` (key `schema_version`); the first upgrade stamps the same revision. That key is
kept in step with Alembic's `alembic_version` from then on: a worker from before Alembic
(still running while a release migrates, or rolled back to) reads it and carries on instead
of replaying its own first migrations. For the same reason no revision drops or renames
what such a worker reads; that waits for a later release.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from worker.errors import WorkerError

MIGRATIONS_DIR = Path(__file__).resolve().parent
_ADVISORY_LOCK_ID = 0x1C1DE17  # serialises migrations between replicas on PostgreSQL
_LEGACY_KEY = "schema_version"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_version() -> int:
    """The schema version this worker's revisions lead to."""
    return int(_script().get_current_head() or 0)


def stored_version(connection: Connection) -> int:
    """The store's schema version (0: no tables yet, or a store made before Alembic)."""
    revision = MigrationContext.configure(connection).get_current_revision()
    return int(revision) if revision else 0


def upgrade(connection: Connection) -> int:
    """Bring the schema to the head in the caller's transaction; safe when several replicas
    start at once. Returns the version reached."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    _adopt(connection)
    head, current = head_version(), stored_version(connection)
    if current > head:
        raise WorkerError(
            f"DATABASE_URL: the state store's schema is at version {current}, newer than this "
            f"worker knows (up to {head}); run the newer version of the worker"
        )
    if current < head:
        command.upgrade(_config(connection), "head")
    _keep_legacy_version(connection, head)
    return head


def _adopt(connection: Connection) -> None:
    """A store made before Alembic: stamp the revision of the version it recorded."""
    inspector = sa.inspect(connection)
    if inspector.has_table("alembic_version") or not inspector.has_table("worker_meta"):
        return
    meta = sa.table("worker_meta", sa.column("key"), sa.column("value"))
    version = connection.execute(sa.select(meta.c.value).where(meta.c.key == _LEGACY_KEY)).scalar()
    if version is None:
        return
    MigrationContext.configure(connection).stamp(_script(), str(version))


def _keep_legacy_version(connection: Connection, version: int) -> None:
    """The version where a worker from before Alembic looks for it."""
    meta = sa.table("worker_meta", sa.column("key"), sa.column("value"))
    stored = connection.execute(sa.select(meta.c.value).where(meta.c.key == _LEGACY_KEY)).scalar()
    if stored is None:
        connection.execute(meta.insert().values(key=_LEGACY_KEY, value=str(version)))
    elif stored != str(version):
        connection.execute(
            meta.update().where(meta.c.key == _LEGACY_KEY).values(value=str(version))
        )
