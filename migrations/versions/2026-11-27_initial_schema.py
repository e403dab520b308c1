"""Initial schema: organisations, people, communities, members, meetings and the answers.

Revision ID: 76a3d1709bac
Revises:
Create Date: 2026-11-27 05:28:53.133530
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "76a3d1709bac"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
        sa.UniqueConstraint("name", name=op.f("uq_communities_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_communities_slug")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("cbs_code", sa.String(length=6), nullable=True),
        sa.Column("province", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'municipality' AND cbs_code IS NOT NULL) OR (kind <> 'municipality' AND cbs_code IS NULL)",
            name=op.f("ck_organisations_cbs_code_for_municipalities"),
        ),
        sa.CheckConstraint(
            "kind IN ('municipality', 'province', 'agency', 'regional-body', 'other')",
            name=op.f("ck_organisations_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("cbs_code", name=op.f("uq_organisations_cbs_code")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "community_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_members_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_community_members_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_members")),
        sa.UniqueConstraint(
            "community_id",
            "organisation_id",
            name=op.f("uq_community_members_community_id_organisation_id"),
        ),
    )
    op.create_index(
        op.f("ix_community_members_organisation_id"),
        "community_members",
        ["organisation_id"],
        unique=False,
    )

    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_meetings_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_index(op.f("ix_meetings_community_id"), "meetings", ["community_id"], unique=False)

    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("erased_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_people_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("email", name=op.f("uq_people_email")),
    )
    op.create_index(op.f("ix_people_organisation_id"), "people", ["organisation_id"], unique=False)

    op.create_table(
        "format_preferences",
        sa.Column("format", sa.String(length=30), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "format IN ('learning-circle', 'knowledge-session', 'site-visit', 'peer-review', 'one-to-one', 'online-community', 'regional-meeting', 'serious-game')",
            name=op.f("ck_format_preferences_format"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "organisation_id"],
            ["community_members.community_id", "community_members.organisation_id"],
            name="fk_format_preferences_membership",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_format_preferences_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_format_preferences_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_format_preferences_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_format_preferences_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_format_preferences")),
    )
    op.create_index(
        "ix_format_preferences_community_id_organisation_id",
        "format_preferences",
        ["community_id", "organisation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_format_preferences_meeting_id"), "format_preferences", ["meeting_id"], unique=False
    )
    op.create_index(
        op.f("ix_format_preferences_person_id"), "format_preferences", ["person_id"], unique=False
    )

    op.create_table(
        "needs",
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high')", name=op.f("ck_needs_priority")),
        sa.ForeignKeyConstraint(
            ["community_id", "organisation_id"],
            ["community_members.community_id", "community_members.organisation_id"],
            name="fk_needs_membership",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_needs_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_needs_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_needs_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_needs_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_needs")),
    )
    op.create_index(
        "ix_needs_community_id_organisation_id",
        "needs",
        ["community_id", "organisation_id"],
        unique=False,
    )
    op.create_index(op.f("ix_needs_meeting_id"), "needs", ["meeting_id"], unique=False)
    op.create_index(op.f("ix_needs_person_id"), "needs", ["person_id"], unique=False)

    op.create_table(
        "offers",
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity BETWEEN 1 AND 100", name=op.f("ck_offers_capacity")),
        sa.ForeignKeyConstraint(
            ["community_id", "organisation_id"],
            ["community_members.community_id", "community_members.organisation_id"],
            name="fk_offers_membership",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_offers_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_offers_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_offers_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_offers_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    op.create_index(
        "ix_offers_community_id_organisation_id",
        "offers",
        ["community_id", "organisation_id"],
        unique=False,
    )
    op.create_index(op.f("ix_offers_meeting_id"), "offers", ["meeting_id"], unique=False)
    op.create_index(op.f("ix_offers_person_id"), "offers", ["person_id"], unique=False)

    op.create_table(
        "need_topics",
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.CheckConstraint("source IN ('given', 'inferred')", name=op.f("ck_need_topics_source")),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_topics_need_id_needs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("need_id", "topic", name=op.f("pk_need_topics")),
    )
    op.create_index(op.f("ix_need_topics_topic"), "need_topics", ["topic"], unique=False)

    op.create_table(
        "offer_topics",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.CheckConstraint("source IN ('given', 'inferred')", name=op.f("ck_offer_topics_source")),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_offer_topics_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", "topic", name=op.f("pk_offer_topics")),
    )
    op.create_index(op.f("ix_offer_topics_topic"), "offer_topics", ["topic"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_offer_topics_topic"), table_name="offer_topics")

    op.drop_table("offer_topics")
    op.drop_index(op.f("ix_need_topics_topic"), table_name="need_topics")

    op.drop_table("need_topics")
    op.drop_index(op.f("ix_offers_person_id"), table_name="offers")
    op.drop_index(op.f("ix_offers_meeting_id"), table_name="offers")
    op.drop_index("ix_offers_community_id_organisation_id", table_name="offers")

    op.drop_table("offers")
    op.drop_index(op.f("ix_needs_person_id"), table_name="needs")
    op.drop_index(op.f("ix_needs_meeting_id"), table_name="needs")
    op.drop_index("ix_needs_community_id_organisation_id", table_name="needs")

    op.drop_table("needs")
    op.drop_index(op.f("ix_format_preferences_person_id"), table_name="format_preferences")
    op.drop_index(op.f("ix_format_preferences_meeting_id"), table_name="format_preferences")
    op.drop_index(
        "ix_format_preferences_community_id_organisation_id", table_name="format_preferences"
    )

    op.drop_table("format_preferences")
    op.drop_index(op.f("ix_people_organisation_id"), table_name="people")

    op.drop_table("people")
    op.drop_index(op.f("ix_meetings_community_id"), table_name="meetings")

    op.drop_table("meetings")
    op.drop_index(op.f("ix_community_members_organisation_id"), table_name="community_members")

    op.drop_table("community_members")
    op.drop_table("organisations")
    op.drop_table("communities")
