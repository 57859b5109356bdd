"""Schema version 3: incidents indexed by phase.

Each poll looks up the incidents waiting for a title, each nag pass the announced ones:
without an index that is a scan of every incident ever seen."""

from __future__ import annotations

from alembic import op

revision = "3"
down_revision = "2"


def upgrade() -> None:
    op.create_index("ix_incidents_phase", "incidents", ["phase"])
