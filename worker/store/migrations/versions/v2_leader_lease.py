"""Schema version 2: the leader lease (one row; `token` is the fencing token)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2"
down_revision = "1"


def upgrade() -> None:
    lease = op.create_table(
        "leader_lease",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(lease, [{"name": "worker", "holder": "", "token": 0, "expires_at_ms": 0}])
