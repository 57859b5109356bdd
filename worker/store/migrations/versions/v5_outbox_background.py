"""Schema version 5: outbox priorities. What a store still has to send is classed as the
worker of this version classed it: reminders and page work are background work."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5"
down_revision = "4"

# The kinds that were background work when this version was written (frozen here: a later
# change to the classification is not a change to what this step did).
_BACKGROUND_KINDS = (
    "post_nudge",
    "create_postmortem",
    "create_timeline",
    "postmortem_note",
    "timeline_entry",
)


def upgrade() -> None:
    op.add_column(
        "outbox",
        sa.Column("background", sa.Boolean, nullable=False, server_default=sa.text("FALSE")),
    )
    outbox = sa.table(
        "outbox", sa.column("kind"), sa.column("state"), sa.column("background", sa.Boolean)
    )
    op.execute(
        outbox.update()
        .where(outbox.c.kind.in_(_BACKGROUND_KINDS))
        .where(outbox.c.state.in_(("pending", "sending")))
        .values(background=True)
    )
