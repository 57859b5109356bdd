"""Schema version 9: the facts of thread messages people send to the timeline.

One row per Slack message of an incident's thread that someone pinned, reacted to with the
timeline emoji, sent with the "Add to timeline" shortcut (or every message, with
TIMELINE_CAPTURE=all): what the message says, its pins and reactions, and the timeline entry
made for it (worker/thread_notes.py keeps them as JSON in `facts`). A message is its channel
and ts; `database_id` says which Incidents database's worker owns it, like the other tables
(NULL: the first configured one)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "9"
down_revision = "8"


def upgrade() -> None:
    op.create_table(
        "thread_notes",
        sa.Column("channel", sa.String(40), primary_key=True),
        sa.Column("ts", sa.String(40), primary_key=True),
        sa.Column("page_id", sa.String(36), nullable=False),
        sa.Column("thread_ts", sa.String(40), nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("database_id", sa.String(36)),
    )
    op.create_index("ix_thread_notes_page", "thread_notes", ["page_id"])
