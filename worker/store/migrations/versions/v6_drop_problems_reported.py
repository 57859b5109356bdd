"""Schema version 6: incidents.problems_reported goes (declared in version 1, never written
or read: problems are reported once through the outbox's action keys)."""

from __future__ import annotations

from alembic import op

revision = "6"
down_revision = "5"


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("problems_reported")
