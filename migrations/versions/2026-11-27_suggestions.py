"""Suggestions: peer-help pairs with score, reasons, status and feedback.

Revision ID: 7fd4e8f269b2
Revises: 76a3d1709bac
Create Date: 2026-11-27 05:46:16.160666
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "7fd4e8f269b2"
down_revision: str | None = "76a3d1709bac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("need_organisation_id", sa.Integer(), nullable=False),
        sa.Column("offer_organisation_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("matched_topics", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("feedback_usefulness", sa.Integer(), nullable=True),
        sa.Column("feedback_note", sa.String(length=1000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('proposed', 'introduced', 'accepted', 'declined', 'completed')",
            name=op.f("ck_suggestions_status"),
        ),
        sa.CheckConstraint(
            "feedback_usefulness BETWEEN 1 AND 5", name=op.f("ck_suggestions_feedback_usefulness")
        ),
        sa.CheckConstraint("score >= 0 AND score <= 1", name=op.f("ck_suggestions_score")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_suggestions_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_suggestions_need_id_needs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["need_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_suggestions_need_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_suggestions_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_suggestions_offer_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
        sa.UniqueConstraint("need_id", "offer_id", name=op.f("uq_suggestions_need_id_offer_id")),
    )
    op.create_index(
        "ix_suggestions_community_id_score", "suggestions", ["community_id", "score"], unique=False
    )
    op.create_index(
        op.f("ix_suggestions_need_organisation_id"),
        "suggestions",
        ["need_organisation_id"],
        unique=False,
    )
    op.create_index(op.f("ix_suggestions_offer_id"), "suggestions", ["offer_id"], unique=False)
    op.create_index(
        op.f("ix_suggestions_offer_organisation_id"),
        "suggestions",
        ["offer_organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_suggestions_offer_organisation_id"), table_name="suggestions")
    op.drop_index(op.f("ix_suggestions_offer_id"), table_name="suggestions")
    op.drop_index(op.f("ix_suggestions_need_organisation_id"), table_name="suggestions")
    op.drop_index("ix_suggestions_community_id_score", table_name="suggestions")

    op.drop_table("suggestions")
