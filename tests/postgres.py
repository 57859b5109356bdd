"""The local PostgreSQL for tests and benchmarks: a throwaway database, created and dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from worker.store import engine_url

POSTGRES_ADMIN_URL = os.environ.get(
    "INCIDENT_WORKER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_database(prefix: str = "iw_test") -> Iterator[str]:
    """A fresh database on the admin server; its URL; dropped afterwards (never skipped: the
    development machines and CI have PostgreSQL running)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(engine_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = engine_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
