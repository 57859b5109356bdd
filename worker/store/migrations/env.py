"""Alembic's environment: the revisions run on the connection `Store.migrate` hands over, in
its transaction; from a checkout, `alembic …` (configured in pyproject.toml) runs them on
DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from worker.store import create_engine, metadata


def _run(connection: Connection) -> None:
    # Batch mode: SQLite alters a table by copying it, which Alembic's batch operations do.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


_given: Connection | None = context.config.attributes.get("connection")
if _given is not None:
    _run(_given)
else:
    _engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///state.db"))
    with _engine.begin() as _connection:
        _run(_connection)
    _engine.dispose()
