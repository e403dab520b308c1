"""Whether a community's stored suggestions were scored with the semantic factor.

Unknown (NULL) for the communities there are: the next write of a need or offer, or the next
recompute, re-scores such a community once and records it.

Revision ID: 5d7a3c1e8f24
Revises: 9b4e2f7a1c63
Create Date: 2026-12-06 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d7a3c1e8f24"
down_revision: str | None = "9b4e2f7a1c63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("scored_semantically", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # Never recreate the table on SQLite (which can drop a column itself): dropping the old
    # table would cascade into every table that refers to communities.
    with op.batch_alter_table("communities", recreate="never") as batch:
        batch.drop_column("scored_semantically")
