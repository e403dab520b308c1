"""Request and response bodies: ``XCreate`` / ``XUpdate`` / ``XRead`` and ``Page[T]``.

JSON properties are lowerCamelCase (NL GOV API Design Rules); unknown properties are refused so a
typo such as ``cbs_code`` is reported instead of silently ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

from app.models import (
    CAPACITY_MAX,
    DESCRIPTION_MAX,
    NAME_MAX,
    NOTE_MAX,
    TEXT_MAX,
    TOPIC_SLUG_MAX,
    Format,
    OrganisationKind,
    Priority,
    TopicSource,
)

# PostgreSQL ``integer``: larger ids cannot exist, so they are refused before any query runs.
MAX_ID = 2_147_483_647
MAX_TOPICS = 20
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

EntityId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain more than white space")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]
OptionalLabel = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
# Answer texts are kept exactly as written on the post-it: no stripping, but never blank.
AnswerText = Annotated[str, Field(min_length=1, max_length=TEXT_MAX), AfterValidator(_not_blank)]
TopicSlug = Annotated[str, StringConstraints(max_length=TOPIC_SLUG_MAX, pattern=SLUG_PATTERN)]
CbsCode = Annotated[str, StringConstraints(pattern=r"^GM\d{4}$")]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SLUG_PATTERN)]


class InputModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=False, validate_by_alias=True, extra="forbid"
    )


class UpdateModel(InputModel):
    """PATCH bodies: absent fields stay as they are; ``null`` only where a value may be empty."""

    not_nullable: ClassVar[frozenset[str]] = frozenset()

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, by attribute name."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name in cls.not_nullable:
            raise ValueError("may not be null")
        return value


class ReadModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, from_attributes=True, populate_by_name=True)


class Stamped(ReadModel):
    id: int
    created_at: dt.datetime
    updated_at: dt.datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a collection."""

    items: list[T]
    total: int = Field(description="Number of items matching the filters, over all pages")
    limit: int
    offset: int

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        # ``OrganisationReadPage`` rather than ``Page[OrganisationRead]``: UpperCamelCase schemas.
        return f"{getattr(params[0], '__name__', 'Item')}Page"


# --- topics -------------------------------------------------------------------------------


class LocalisedText(ReadModel):
    nl: str
    en: str


class TopicRead(ReadModel):
    slug: str
    theme: str
    label: LocalisedText
    description: LocalisedText
    abbreviations: list[str]
    synonyms: list[str]


class ThemeRead(ReadModel):
    slug: str
    label: LocalisedText


# --- organisations and people -------------------------------------------------------------


class OrganisationCreate(InputModel):
    name: Name
    kind: OrganisationKind
    cbs_code: CbsCode | None = Field(
        default=None, description="CBS municipality code (GM + 4 digits); municipalities only"
    )
    province: OptionalLabel | None = None
    region: OptionalLabel | None = None


class OrganisationUpdate(UpdateModel):
    not_nullable = frozenset({"name", "kind"})

    name: Name | None = None
    kind: OrganisationKind | None = None
    cbs_code: CbsCode | None = None
    province: OptionalLabel | None = None
    region: OptionalLabel | None = None


class OrganisationRead(Stamped):
    name: str
    kind: OrganisationKind
    cbs_code: str | None
    province: str | None
    region: str | None


class PersonCreate(InputModel):
    name: Name
    email: EmailStr = Field(max_length=254)
    department: OptionalLabel | None = Field(
        default=None, description="Afdeling, e.g. duurzaamheid, wonen, communicatie"
    )
    job_title: Name | None = None
    active: bool = True


class PersonUpdate(UpdateModel):
    not_nullable = frozenset({"name", "email", "active"})

    name: Name | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    department: OptionalLabel | None = None
    job_title: Name | None = None
    active: bool | None = None


class PersonRead(Stamped):
    organisation_id: int
    name: str
    email: str
    department: str | None
    job_title: str | None
    active: bool


# --- communities, members, meetings -------------------------------------------------------


class CommunityCreate(InputModel):
    name: Name
    slug: Slug | None = Field(default=None, description="Derived from the name when absent")
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] | None = None
    region: OptionalLabel | None = None


class CommunityUpdate(UpdateModel):
    not_nullable = frozenset({"name", "slug"})

    name: Name | None = None
    slug: Slug | None = None
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] | None = None
    region: OptionalLabel | None = None


class CommunityRead(Stamped):
    name: str
    slug: str
    description: str | None
    region: str | None


class MembershipCreate(InputModel):
    organisation_id: EntityId


class MembershipRead(Stamped):
    community_id: int
    organisation_id: int
    organisation: OrganisationRead


class MeetingCreate(InputModel):
    title: Name
    date: dt.date
    location: Name | None = None


class MeetingUpdate(UpdateModel):
    not_nullable = frozenset({"title", "date"})

    title: Name | None = None
    date: dt.date | None = None
    location: Name | None = None


class MeetingRead(Stamped):
    community_id: int
    title: str
    date: dt.date
    location: str | None


# --- answers ------------------------------------------------------------------------------

TopicList = Annotated[list[TopicSlug], Field(max_length=MAX_TOPICS)]


class TopicTag(ReadModel):
    topic: str
    source: TopicSource


class AnswerCreate(InputModel):
    organisation_id: EntityId
    person_id: EntityId | None = None
    meeting_id: EntityId | None = None


class AnswerUpdate(UpdateModel):
    person_id: EntityId | None = None
    meeting_id: EntityId | None = None


class NeedCreate(AnswerCreate):
    text: AnswerText
    topics: TopicList = Field(default_factory=list)
    priority: Priority = Priority.NORMAL


class NeedUpdate(AnswerUpdate):
    not_nullable = frozenset({"text", "topics", "priority"})

    text: AnswerText | None = None
    topics: TopicList | None = None
    priority: Priority | None = None


class OfferCreate(AnswerCreate):
    text: AnswerText
    topics: TopicList = Field(default_factory=list)
    capacity: Annotated[int, Field(ge=1, le=CAPACITY_MAX)] = Field(
        default=3, description="How many peer organisations this offer can help"
    )


class OfferUpdate(AnswerUpdate):
    not_nullable = frozenset({"text", "topics", "capacity"})

    text: AnswerText | None = None
    topics: TopicList | None = None
    capacity: Annotated[int, Field(ge=1, le=CAPACITY_MAX)] | None = None


class AnswerRead(Stamped):
    community_id: int
    organisation_id: int
    person_id: int | None
    meeting_id: int | None


class TaggedAnswerRead(AnswerRead):
    text: str
    topics: list[str] = Field(description="Slugs of every topic the answer is tagged with")
    topic_tags: list[TopicTag] = Field(description="Each tag and whether it was given or inferred")


class NeedRead(TaggedAnswerRead):
    priority: Priority


class OfferRead(TaggedAnswerRead):
    capacity: int


class FormatPreferenceCreate(AnswerCreate):
    format: Format
    note: Annotated[str, Field(max_length=NOTE_MAX)] | None = None


class FormatPreferenceUpdate(AnswerUpdate):
    not_nullable = frozenset({"format"})

    format: Format | None = None
    note: Annotated[str, Field(max_length=NOTE_MAX)] | None = None


class FormatPreferenceRead(AnswerRead):
    format: Format
    note: str | None


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(examples=["ok"])
