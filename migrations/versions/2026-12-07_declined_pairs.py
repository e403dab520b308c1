"""Declined pairs are also remembered by their answers' organisations and texts.

A need or offer deleted and given again with the same text is not suggested again to those who
declined the pair (app.services.matching.declines). The upgrade remembers every pair declined so
far; the downgrade forgets them (the suggestion rows still hold the declines of answers that
exist).

Revision ID: 4c0d9e7b2f61
Revises: 9b2a4476255e
Create Date: 2026-12-07 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db
from app.services.matching.declines import text_key

revision: str = "4c0d9e7b2f61"
down_revision: str | None = "9b2a4476255e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    declined_pairs = op.create_table(
        "declined_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("need_organisation_id", sa.Integer(), nullable=False),
        sa.Column("need_key", sa.String(length=64), nullable=False),
        sa.Column("offer_organisation_id", sa.Integer(), nullable=False),
        sa.Column("offer_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_declined_pairs_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["need_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_declined_pairs_need_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_declined_pairs_offer_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declined_pairs")),
        sa.UniqueConstraint(
            "community_id",
            "need_organisation_id",
            "need_key",
            "offer_organisation_id",
            "offer_key",
            name=op.f("uq_declined_pairs_answers"),
        ),
        sqlite_autoincrement=True,  # as every surrogate key (see the sqlite_autoincrement revision)
    )
    with op.batch_alter_table("declined_pairs") as batch:
        batch.create_index(
            batch.f("ix_declined_pairs_need_organisation_id"), ["need_organisation_id"]
        )
        batch.create_index(
            batch.f("ix_declined_pairs_offer_organisation_id"), ["offer_organisation_id"]
        )
    _remember_the_pairs_declined_so_far(declined_pairs)


def _remember_the_pairs_declined_so_far(declined_pairs: sa.Table) -> None:
    needs = sa.table(
        "needs",
        sa.column("id", sa.Integer()),
        sa.column("organisation_id", sa.Integer()),
        sa.column("text", sa.Text()),
    )
    offers = sa.table(
        "offers",
        sa.column("id", sa.Integer()),
        sa.column("organisation_id", sa.Integer()),
        sa.column("text", sa.Text()),
    )
    suggestions = sa.table(
        "suggestions",
        sa.column("community_id", sa.Integer()),
        sa.column("need_id", sa.Integer()),
        sa.column("offer_id", sa.Integer()),
        sa.column("status", sa.String()),
    )
    rows = (
        op.get_bind()
        .execute(
            sa.select(
                suggestions.c.community_id,
                needs.c.organisation_id,
                needs.c.text,
                offers.c.organisation_id,
                offers.c.text,
            )
            .join(needs, needs.c.id == suggestions.c.need_id)
            .join(offers, offers.c.id == suggestions.c.offer_id)
            .where(suggestions.c.status == "declined")
            .order_by(suggestions.c.community_id, suggestions.c.need_id, suggestions.c.offer_id)
        )
        .all()
    )
    now = app.db.utcnow()
    remembered = {
        (community, need_organisation, text_key(need), offer_organisation, text_key(offer))
        for community, need_organisation, need, offer_organisation, offer in rows
    }
    if remembered:
        op.bulk_insert(
            declined_pairs,
            [
                {
                    "community_id": community,
                    "need_organisation_id": need_organisation,
                    "need_key": need_key,
                    "offer_organisation_id": offer_organisation,
                    "offer_key": offer_key,
                    "created_at": now,
                }
                for community, need_organisation, need_key, offer_organisation, offer_key in sorted(
                    remembered
                )
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("declined_pairs") as batch:
        batch.drop_index(batch.f("ix_declined_pairs_offer_organisation_id"))
        batch.drop_index(batch.f("ix_declined_pairs_need_organisation_id"))
    op.drop_table("declined_pairs")
