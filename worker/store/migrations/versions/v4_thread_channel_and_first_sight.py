"""Schema version 4: the channel each thread lives in (SLACK_CHANNEL_ID may change with
incidents open), when the worker first saw each row, and threads looked up by their ts
(duplicates)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "4"
down_revision = "3"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("channel", sa.String(40)))
    op.add_column("incidents", sa.Column("first_seen_at", sa.String(40)))
    op.create_index("ix_incidents_thread_ts", "incidents", ["thread_ts"])
