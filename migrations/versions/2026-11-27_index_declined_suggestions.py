"""Index the declined suggestions of a community (read on every write of an answer).

Revision ID: aa36801cef8b
Revises: 57d48c914099
Create Date: 2026-11-27 06:37:40.780035
"""

from collections.abc import Sequence

from alembic import op

revision: str = "aa36801cef8b"
down_revision: str | None = "57d48c914099"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_suggestions_community_id_status",
        "suggestions",
        ["community_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_suggestions_community_id_status", table_name="suggestions")
