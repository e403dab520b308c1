"""Sentence embeddings of needs and offers (the engine's semantic factor), derived from their texts.

Revision ID: 534140b63c95
Revises: aa36801cef8b
Create Date: 2026-12-04 11:39:26.086520
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "534140b63c95"
down_revision: str | None = "aa36801cef8b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "need_embeddings",
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=60), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["need_id"],
            ["needs.id"],
            name=op.f("fk_need_embeddings_need_id_needs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("need_id", name=op.f("pk_need_embeddings")),
    )
    op.create_table(
        "offer_embeddings",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=60), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_offer_embeddings_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_offer_embeddings")),
    )


def downgrade() -> None:
    op.drop_table("offer_embeddings")
    op.drop_table("need_embeddings")
