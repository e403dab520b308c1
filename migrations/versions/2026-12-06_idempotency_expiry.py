"""Idempotency records keep the first response's ETag, and expire (an index on their age).

Revision ID: 3f8a6d2c9b17
Revises: 7c1e5b9d2a40
Create Date: 2026-12-06 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f8a6d2c9b17"
down_revision: str | None = "7c1e5b9d2a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch:
        batch.add_column(sa.Column("etag", sa.String(length=20), nullable=True))
        batch.create_index(
            batch.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch:
        batch.drop_index(batch.f("ix_idempotency_records_created_at"))
        batch.drop_column("etag")
