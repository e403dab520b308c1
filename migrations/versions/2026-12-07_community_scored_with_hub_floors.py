"""Whether a community's stored suggestions were scored with the offers' hub floors.

An index fits hub floors from HUB_MIN_NEEDS needs on: the 20th need changes the scoring
formula of the whole community, as the semantic factor does, and a write that crosses it
re-scores the community. Unknown (NULL) for the communities there are: the next write of a
need or offer, or the next recompute, re-scores such a community once and records it.

Revision ID: 3f6b8d2a9c17
Revises: 8e1f4a2b6c30
Create Date: 2026-12-07 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f6b8d2a9c17"
down_revision: str | None = "8e1f4a2b6c30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("scored_with_hub_floors", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # Never recreate the table on SQLite (which can drop a column itself): dropping the old
    # table would cascade into every table that refers to communities.
    with op.batch_alter_table("communities", recreate="never") as batch:
        batch.drop_column("scored_with_hub_floors")
