"""Schema version 1: the meta table (poll cursor and such), incidents and the outbox."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "1"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "worker_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("page_id", sa.String(36), primary_key=True),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("thread_ts", sa.String(40)),
        sa.Column("permalink", sa.Text),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("last_update_at", sa.String(40)),
        sa.Column("timeline_page_id", sa.String(36)),
        sa.Column("postmortem_page_id", sa.String(36)),
        sa.Column("nag_memory", sa.Text),
        sa.Column("problems_reported", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("page_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", sa.Float, nullable=False),
        sa.Column("first_attempt_at", sa.Float),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float),
    )
    op.create_index("ix_outbox_page_id", "outbox", ["page_id"])
    op.create_index("ix_outbox_state", "outbox", ["state"])
