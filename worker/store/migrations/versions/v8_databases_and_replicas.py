"""Schema version 8: several Incidents databases in one store, shared by several replicas.

Each incident and each outbox action says which Incidents database it belongs to
(`database_id`): one database's worker reads and carries out only its own. NULL means the
first database the worker is configured with: the rows stored before this version, and the
rows a worker of the previous release inserts while a deploy overlaps (it knows no such
column). `worker_replicas` holds a heartbeat per running replica, so that replicas share
the databases' leases between them (worker/replicas.py)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8"
down_revision = "7"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("database_id", sa.String(36)))
    op.create_index("ix_incidents_database", "incidents", ["database_id"])
    op.add_column("outbox", sa.Column("database_id", sa.String(36)))
    op.create_index("ix_outbox_database", "outbox", ["database_id", "state"])
    op.create_table(
        "worker_replicas",
        sa.Column("holder", sa.String(200), primary_key=True),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    )
