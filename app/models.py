"""Every table of copmatch. Importing this module gives Alembic the whole schema.

Vocabularies (organisation kinds, priorities, formats) are strings with CHECK constraints so both
SQLite and PostgreSQL enforce them without native enum types.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow

NAME_MAX = 200
TEXT_MAX = 2000
NOTE_MAX = 1000
DESCRIPTION_MAX = 5000
TOPIC_SLUG_MAX = 100
CAPACITY_MAX = 100
EMBEDDING_MODEL_MAX = 60


class OrganisationKind(enum.StrEnum):
    MUNICIPALITY = "municipality"
    PROVINCE = "province"
    AGENCY = "agency"
    REGIONAL_BODY = "regional-body"
    OTHER = "other"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class Format(enum.StrEnum):
    """How a CoP can be organised (answer to the third kick-off question)."""

    LEARNING_CIRCLE = "learning-circle"
    KNOWLEDGE_SESSION = "knowledge-session"
    SITE_VISIT = "site-visit"
    PEER_REVIEW = "peer-review"
    ONE_TO_ONE = "one-to-one"
    ONLINE_COMMUNITY = "online-community"
    REGIONAL_MEETING = "regional-meeting"
    SERIOUS_GAME = "serious-game"


class SuggestionStatus(enum.StrEnum):
    """Where a peer-help suggestion stands: proposed → introduced | declined; introduced →
    accepted | declined; accepted → completed. A member may decline a proposed suggestion
    without an introduction; a declined pair is never suggested again."""

    PROPOSED = "proposed"
    INTRODUCED = "introduced"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"


class TopicSource(enum.StrEnum):
    GIVEN = "given"
    INFERRED = "inferred"


def _in_check(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class VersionedMixin(TimestampMixin):
    """Rows clients edit carry a version the UPDATE itself checks (optimistic locking)."""

    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class Organisation(VersionedMixin, Base):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(_in_check("kind", OrganisationKind), name="kind"),
        CheckConstraint(
            "(kind = 'municipality' AND cbs_code IS NOT NULL)"
            " OR (kind <> 'municipality' AND cbs_code IS NULL)",
            name="cbs_code_for_municipalities",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    cbs_code: Mapped[str | None] = mapped_column(String(6), unique=True)
    province: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))

    people: Mapped[list[Person]] = relationship(back_populates="organisation", passive_deletes=True)


class Person(VersionedMixin, Base):
    """Personal data lives only here. Erasure blanks name and e-mail and keeps the row, so the
    organisation's answers stay and reports can still say their author has gone."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    department: Mapped[str | None] = mapped_column(String(100))
    job_title: Mapped[str | None] = mapped_column(String(NAME_MAX))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship(back_populates="people")


class Community(VersionedMixin, Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(String(100))
    suggestions_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped in the same transaction as any change of the community's suggestions (or of the
    answers they derive from): the key of cached suggestion pages, valid across processes."""
    scored_semantically: Mapped[bool | None] = mapped_column(Boolean, default=False)
    """Whether the stored suggestions were scored with the semantic factor (None: not known,
    as for a community scored before this was kept; a new one has none, as without it). A
    write whose index scores otherwise re-scores the whole community: one ranking never mixes
    two formulas (``matching.Formula``)."""
    scored_with_hub_floors: Mapped[bool | None] = mapped_column(Boolean, default=False)
    """Whether the stored suggestions were scored with the offers' hub floors, which an index
    fits from HUB_MIN_NEEDS needs on; None and a new community as for scored_semantically."""


class Membership(TimestampMixin, Base):
    """An organisation taking part in a community."""

    __tablename__ = "community_members"
    __table_args__ = (UniqueConstraint("community_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)

    organisation: Mapped[Organisation] = relationship()


class Meeting(VersionedMixin, Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(NAME_MAX))
    date: Mapped[dt.date] = mapped_column(Date)
    location: Mapped[str | None] = mapped_column(String(NAME_MAX))


def _answer_table_args(table: str) -> tuple[ForeignKeyConstraint | Index, ...]:
    # The composite key makes the database itself refuse answers of non-members.
    return (
        ForeignKeyConstraint(
            ["community_id", "organisation_id"],
            ["community_members.community_id", "community_members.organisation_id"],
            name=f"fk_{table}_membership",
        ),
        Index(f"ix_{table}_community_id_organisation_id", "community_id", "organisation_id"),
    )


class AnswerMixin(VersionedMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )


class Need(AnswerMixin, Base):
    """ "My municipality needs knowledge and experience about …"."""

    __tablename__ = "needs"
    __table_args__ = (
        *_answer_table_args("needs"),
        CheckConstraint(_in_check("priority", Priority), name="priority"),
    )

    text: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10), default=Priority.NORMAL.value)

    topic_tags: Mapped[list[NeedTopic]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="NeedTopic.topic",
        lazy="selectin",
    )

    @property
    def topics(self) -> list[str]:
        return [tag.topic for tag in self.topic_tags]


class Offer(AnswerMixin, Base):
    """ "We can offer knowledge and experience on …"."""

    __tablename__ = "offers"
    __table_args__ = (
        *_answer_table_args("offers"),
        CheckConstraint(f"capacity BETWEEN 1 AND {CAPACITY_MAX}", name="capacity"),
    )

    text: Mapped[str] = mapped_column(Text)
    capacity: Mapped[int] = mapped_column(Integer, default=3)

    topic_tags: Mapped[list[OfferTopic]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="OfferTopic.topic",
        lazy="selectin",
    )

    @property
    def topics(self) -> list[str]:
        return [tag.topic for tag in self.topic_tags]


class NeedTopic(Base):
    __tablename__ = "need_topics"
    __table_args__ = (CheckConstraint(_in_check("source", TopicSource), name="source"),)

    need_id: Mapped[int] = mapped_column(
        ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(TOPIC_SLUG_MAX), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(10), default=TopicSource.GIVEN.value)


class OfferTopic(Base):
    __tablename__ = "offer_topics"
    __table_args__ = (CheckConstraint(_in_check("source", TopicSource), name="source"),)

    offer_id: Mapped[int] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(TOPIC_SLUG_MAX), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(10), default=TopicSource.GIVEN.value)


class NeedEmbedding(Base):
    """A need's sentence embedding (:mod:`app.matching.embedding`), derived from its text."""

    __tablename__ = "need_embeddings"

    need_id: Mapped[int] = mapped_column(
        ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(EMBEDDING_MODEL_MAX))
    text_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the text it was computed from: a changed text is embedded again."""
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class OfferEmbedding(Base):
    """An offer's sentence embedding, as :class:`NeedEmbedding`."""

    __tablename__ = "offer_embeddings"

    offer_id: Mapped[int] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(EMBEDDING_MODEL_MAX))
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class FormatPreference(AnswerMixin, Base):
    """ "In what form should the CoP be organised?"."""

    __tablename__ = "format_preferences"
    __table_args__ = (
        *_answer_table_args("format_preferences"),
        CheckConstraint(_in_check("format", Format), name="format"),
    )

    format: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(NOTE_MAX))


class Suggestion(VersionedMixin, Base):
    """A peer-help suggestion: an offer of another organisation for a need, with its reasons.

    Rows are kept up to date by ``app.services.matching``. Proposed rows are replaced when the
    engine scores again; rows a member acted on (introduced, accepted, declined, completed)
    survive, and a declined pair is never proposed again.
    """

    __tablename__ = "suggestions"
    __table_args__ = (
        UniqueConstraint("need_id", "offer_id"),
        CheckConstraint(_in_check("status", SuggestionStatus), name="status"),
        CheckConstraint("score >= 0 AND score <= 1", name="score"),
        CheckConstraint("feedback_usefulness BETWEEN 1 AND 5", name="feedback_usefulness"),
        Index("ix_suggestions_community_id_score", "community_id", "score"),
        # Declined pairs are read on every write of an answer.
        Index("ix_suggestions_community_id_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    need_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    offer_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    matched_topics: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default=SuggestionStatus.PROPOSED.value)
    feedback_usefulness: Mapped[int | None] = mapped_column(Integer)
    feedback_note: Mapped[str | None] = mapped_column(String(NOTE_MAX))

    @property
    def feedback(self) -> dict[str, object] | None:
        if self.feedback_usefulness is None:
            return None
        return {"usefulness": self.feedback_usefulness, "note": self.feedback_note}


class ApiToken(TimestampMixin, Base):
    """A bearer token: only its SHA-256 hash is stored. ``person_id`` NULL means an admin token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    issued_by_person_id: Mapped[int | None] = mapped_column(Integer)
    """The organiser who issued it, when that is someone else than its person: someone who has
    seen the secret. None when an admin (or the command line) issued it, or the person for
    themself. Such a token is revoked when its person comes to take part in a community that
    organiser does not run, or the organiser stops running one its person takes part in
    (``app.services.tokens``). No foreign key: ids are never given again, and a person's row
    outlives their erasure."""


class CommunityOrganiser(TimestampMixin, Base):
    """A person who organises a community: reads everything in it and manages it."""

    __tablename__ = "community_organisers"
    __table_args__ = (UniqueConstraint("community_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)


class AuditEvent(Base):
    """One write: who (token and person ids), what (table, row id, action), when. Ids only: no
    personal data, so erasing a person leaves nothing of them here."""

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("action IN ('create', 'update', 'delete')", name="action"),
        Index("ix_audit_events_community_id_id", "community_id", "id"),
        Index("ix_audit_events_community_id_request_id", "community_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    token_id: Mapped[int | None] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(10))
    resource: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[int | None] = mapped_column(Integer)
    community_id: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(64))


class DeclinedPair(Base):
    """A declined pair, remembered by what its answers say: each side's organisation and the
    key of its text (:func:`app.services.matching.declines.text_key`), not their ids. A need or
    offer deleted and given again with the same text (re-typed, re-imported) is the same answer
    to the members who declined the pair, and is not suggested to them again."""

    __tablename__ = "declined_pairs"
    __table_args__ = (
        UniqueConstraint(
            "community_id",
            "need_organisation_id",
            "need_key",
            "offer_organisation_id",
            "offer_key",
            name="uq_declined_pairs_answers",  # the convention's name is too long for PostgreSQL
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    need_organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    need_key: Mapped[str] = mapped_column(String(64))
    offer_organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    offer_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyRecord(Base):
    """The first response to a POST with an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    principal: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    etag: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
