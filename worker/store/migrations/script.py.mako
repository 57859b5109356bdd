"""Schema version ${up_revision}: ${message}."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    # The DDL of this step, spelled out (never the current table definitions).
    ${upgrades if upgrades else "pass"}
