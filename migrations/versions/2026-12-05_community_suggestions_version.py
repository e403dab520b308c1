"""A version counter of each community's suggestions, the key of cached suggestion pages.

Revision ID: 7c1e5b9d2a40
Revises: 534140b63c95
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1e5b9d2a40"
down_revision: str | None = "534140b63c95"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(
            sa.Column("suggestions_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    # Never recreate the table on SQLite (which can drop a column itself): dropping the old
    # table would cascade into every table that refers to communities.
    with op.batch_alter_table("communities", recreate="never") as batch:
        batch.drop_column("suggestions_version")
