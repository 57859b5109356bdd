"""Schema version 6: outbox.background defaults to false in every store.

A store that version 5 added the column to has that default; one created at version 5 (the
tables were then made from the current definitions) has none. From here on, all are alike."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "6"
down_revision = "5"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column(
            "background",
            existing_type=sa.Boolean,
            existing_nullable=False,
            server_default=sa.text("FALSE"),
        )
