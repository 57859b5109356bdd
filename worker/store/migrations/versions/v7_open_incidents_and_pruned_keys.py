"""Schema version 7: what the nudge pass and /metrics select by, and the keys of pruned actions.

Each incident's Status and whether its row is in the trash are columns (kept in step with the
stored snapshot), and `nag_due_at` says when a reminder may next be due: the nudge pass and a
/metrics scrape read what they need by index, instead of decoding every incident ever
announced. `outbox_pruned` keeps the key of each done action pruned from the outbox, so that
no action is ever planned twice."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "7"
down_revision = "6"

_BATCH = 500


def upgrade() -> None:
    op.add_column("incidents", sa.Column("status", sa.Text))
    op.add_column(
        "incidents",
        sa.Column("in_trash", sa.Boolean, nullable=False, server_default=sa.text("FALSE")),
    )
    # A row the previous release inserts meanwhile (it knows no such column) is judged at the
    # next pass.
    op.add_column("incidents", sa.Column("nag_due_at", sa.Float, server_default=sa.text("0")))
    op.create_index("ix_incidents_open", "incidents", ["in_trash", "status"])
    op.create_index("ix_incidents_nag", "incidents", ["phase", "in_trash", "nag_due_at"])
    op.create_table("outbox_pruned", sa.Column("key", sa.String(300), primary_key=True))
    _fill_from_snapshots()
    # Every incident is judged at the next nudge pass, which then says when to look again.
    op.execute(sa.table("incidents", sa.column("nag_due_at")).update().values(nag_due_at=0.0))


def _fill_from_snapshots() -> None:
    """The two columns of the incidents already stored, from their snapshot's JSON as
    `incident_to_json` writes it (keys `status` and `in_trash`; a snapshot stored before one
    of them existed has no status, or is not in the trash)."""
    incidents = sa.table(
        "incidents",
        sa.column("page_id", sa.String),
        sa.column("snapshot", sa.Text),
        sa.column("status", sa.Text),
        sa.column("in_trash", sa.Boolean),
    )
    conn = op.get_bind()
    update = (
        incidents.update()
        .where(incidents.c.page_id == sa.bindparam("page"))
        .values(status=sa.bindparam("new_status"), in_trash=sa.bindparam("new_in_trash"))
    )
    last = ""
    while True:  # a batch at a time, in page id order: a large store is never read at once
        rows = conn.execute(
            sa.select(incidents.c.page_id, incidents.c.snapshot)
            .where(incidents.c.page_id > last)
            .order_by(incidents.c.page_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(update, [_columns(page_id, snapshot) for page_id, snapshot in rows])
        last = rows[-1][0]


def _columns(page_id: str, snapshot: str) -> dict[str, object]:
    data = json.loads(snapshot)
    status = data.get("status")
    return {
        "page": page_id,
        "new_status": status if isinstance(status, str) else None,
        "new_in_trash": bool(data.get("in_trash")),
    }
