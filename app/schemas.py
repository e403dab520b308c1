"""Request and response bodies: ``XCreate`` / ``XUpdate`` / ``XRead`` and ``Page[T]``.

JSON properties are lowerCamelCase (NL GOV API Design Rules); unknown properties are refused so a
typo such as ``cbs_code`` is reported instead of silently ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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
    SuggestionStatus,
    TopicSource,
)
from app.services.topics import taxonomy

# PostgreSQL ``integer``: larger ids cannot exist, so they are refused before any query runs.
MAX_ID = 2_147_483_647
MAX_TOPICS = 20
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


def _whole_number(value: Any) -> Any:
    # JSON Schema's integer includes 2.0; "2", true and 2.5 are not numbers of things.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def _written_in_digits(value: Any) -> Any:
    # A path or query value is text, which lax pydantic reads as an integer also when it is
    # written "1_7", "17.0", " 17" or in other scripts' digits: one number, many spellings.
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError("must be a whole number written in the digits 0-9")
    return value


IN_DIGITS = BeforeValidator(_written_in_digits)
"""Annotation of an integer path or query parameter: written in the digits 0-9 only."""

# Numbers, dates and flags are typed strictly: a JSON number is not a date, "3" is not a
# capacity and "yes" is not a flag.
EntityId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_whole_number)]
Capacity = Annotated[int, Field(ge=1, le=CAPACITY_MAX), BeforeValidator(_whole_number)]


def _date_text_only(value: Any) -> Any:
    # Lax pydantic reads a number as a Unix time; a calendar date must be written as one.
    if not isinstance(value, str | dt.date) or isinstance(value, dt.datetime):
        raise ValueError("must be a date written as YYYY-MM-DD")
    return value


StrictDate = Annotated[dt.date, BeforeValidator(_date_text_only)]
StrictBool = Annotated[bool, Field(strict=True)]


_BLANK = (
    r"\x00-\x20\x7f-\xa0\xad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5\u180b-\u180f"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0"
)
"""Characters that show nothing on their own, as a regular-expression class (Python and
ECMA-262 read it alike): controls, every white space str.isspace knows, and the invisible ones
str.strip leaves: soft hyphen, zero-width space and joiners, direction marks, the word joiner,
variation selectors, the byte-order mark, the Hangul fillers and the blank braille pattern."""

_SHOWING = re.compile(f"[^{_BLANK}]")

SHOWS_SOMETHING = rf"^[^\x00]*[^{_BLANK}][^\x00]*$"
"""The pattern the API documents for texts and names: no NUL (PostgreSQL cannot store it) and
at least one character that shows. Validated as NO_NUL and :func:`shows_nothing`, which say
which of the two went wrong."""


def shows_nothing(value: str) -> bool:
    """Does *value* show nothing: only white space and invisible characters (see _BLANK)?
    str.strip alone lets a zero-width space through."""
    return _SHOWING.search(value) is None


def _not_blank(value: str) -> str:
    if shows_nothing(value):
        raise ValueError("must contain more than white space and invisible characters")
    return value


PLACEHOLDERS = frozenset(
    [
        "nvt",
        "nietvantoepassing",
        "geen",
        "nee",
        "niets",
        "niks",
        "idem",
        "onbekend",
        "weetniet",
        "geenidee",
        "nogniet",
        "nognietbekend",
        "zieboven",
        "ziehierboven",
        "notapplicable",
        "none",
        "nothing",
        "nil",
        "tbd",
    ]
)
"""What a spreadsheet cell holds where there is no answer ("n.v.t.", "Geen", "zie boven"), by
its letters and digits alone, case folded (:func:`is_placeholder`)."""


_MARKS = (
    r"!-/:-@\[-`{-~\xa1-\xbf\xd7\xf7\u2010-\u2027\u2030-\u205e\u20a0-\u20cf"
    r"\u2190-\u23ff\u2500-\u27bf\u2b00-\u2bff"
)
"""Punctuation and symbols, as a regular-expression class: ASCII's and Latin-1's, dashes,
quotes, bullets and the ellipsis, currency signs, arrows, mathematical and technical signs,
box drawing, shapes and dingbats (✓ ✗ ★). An answer of these alone ("-", "?", "…", "✓") marks
an empty cell."""

_SAYING = re.compile(f"[^{_BLANK}{_MARKS}]")

SAYS_SOMETHING = rf"^[^\x00]*[^{_BLANK}{_MARKS}][^\x00]*$"
"""The pattern the API documents for answer texts: no NUL and at least one character that is
neither blank nor a mark (see _MARKS). Validated as NO_NUL, :func:`shows_nothing` and
:func:`is_placeholder`."""


def is_placeholder(text: str) -> bool:
    """Is *text* a placeholder, not a need or offer ("n.v.t.", "NVT", "geen", "Zie boven", or
    marks alone: "-", "?", "…")? As an answer it would be matched with every other
    organisation's placeholder, by its words or its meaning."""
    if _SAYING.search(text) is None:
        return True
    return "".join(char for char in text.casefold() if char.isalnum()) in PLACEHOLDERS


PLACEHOLDER_MESSAGE = "a placeholder, not a need or offer: leave it out, or say what is meant"


def _not_a_placeholder(value: str) -> str:
    if is_placeholder(value):
        raise ValueError(f"{value.strip()!r} is {PLACEHOLDER_MESSAGE}")
    return value


@dataclass(frozen=True, slots=True)
class _DocumentedPattern:
    """Annotated metadata: the JSON schema's ``pattern``, where validation checks it in
    steps of its own (with messages that say which step failed)."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


SPECIAL_USE_STAND_IN = "example.org"


def _email_address(value: str) -> str:
    # Syntax only (RFC 5321/5322), as the schema's `format: email` promises. email-validator
    # refuses special-use domains (.local, .test, …) outright; they are still well-formed
    # addresses (intranets use them), so their syntax is checked with a neutral domain.
    local, _, domain = value.rpartition("@")
    special = any(
        domain.lower() == name or domain.lower().endswith("." + name)
        for name in SPECIAL_USE_DOMAIN_NAMES
    )
    probe = f"{local}@{SPECIAL_USE_STAND_IN}" if special and local else value
    try:
        normalized = validate_email(probe, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"not a valid e-mail address: {error}") from error
    return f"{normalized.rpartition('@')[0]}@{domain.lower()}" if special else normalized


EmailAddress = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email_address),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}, mode="validation"),
]

# PostgreSQL cannot store NUL in text; every free string refuses it, so both databases agree.
NO_NUL = r"^[^\x00]*$"

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX, pattern=NO_NUL),
    AfterValidator(_not_blank),
    _DocumentedPattern(SHOWS_SOMETHING),
]
OptionalLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL)
]
# Answer texts are kept exactly as written on the post-it: no stripping, but never blank.
AnswerText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TEXT_MAX, pattern=NO_NUL),
    AfterValidator(_not_blank),
    AfterValidator(_not_a_placeholder),
    _DocumentedPattern(SAYS_SOMETHING),
]
Note = Annotated[str, StringConstraints(max_length=NOTE_MAX, pattern=NO_NUL)]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX, pattern=NO_NUL)]
TopicSlug = Annotated[
    str,
    StringConstraints(max_length=TOPIC_SLUG_MAX, pattern=SLUG_PATTERN),
    # The taxonomy is fixed data, so clients (and fuzzers) can see the valid slugs.
    WithJsonSchema({"type": "string", "enum": sorted(taxonomy().topic_slugs)}, mode="validation"),
]
CbsCode = Annotated[str, StringConstraints(pattern=r"^GM[0-9]{4}$")]
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
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name in cls.not_nullable:
            raise ValueError("may not be null")
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Document the not-nullable fields as such: optional to send, never ``null``."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        for name in cls.not_nullable:
            field = schema.get("properties", {}).get(to_camel(name))
            if field is None or "anyOf" not in field:
                continue
            options = [option for option in field.pop("anyOf") if option != {"type": "null"}]
            field.pop("default", None)
            if len(options) == 1:
                field.update(options[0])
            else:
                field["anyOf"] = options
        return schema


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
    model_config = ConfigDict(
        json_schema_extra={
            # A CBS code for municipalities, and for municipalities only.
            "if": {"properties": {"kind": {"const": "municipality"}}, "required": ["kind"]},
            "then": {"required": ["cbsCode"], "properties": {"cbsCode": {"type": "string"}}},
            "else": {"properties": {"cbsCode": {"type": "null"}}},
        }
    )

    name: Name
    kind: OrganisationKind
    cbs_code: CbsCode | None = Field(
        default=None, description="CBS municipality code (GM + 4 digits); municipalities only"
    )
    province: OptionalLabel | None = None
    region: OptionalLabel | None = None


NON_MUNICIPAL_KINDS: list[JsonValue] = [k.value for k in OrganisationKind if k != "municipality"]


class OrganisationUpdate(UpdateModel):
    model_config = ConfigDict(
        json_schema_extra={
            # Changing to a non-municipal kind drops the CBS code; sending one with it is an error.
            "if": {"properties": {"kind": {"enum": NON_MUNICIPAL_KINDS}}, "required": ["kind"]},
            "then": {"properties": {"cbsCode": {"type": "null"}}},
        }
    )
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
    email: EmailAddress
    department: OptionalLabel | None = Field(
        default=None, description="Afdeling, e.g. duurzaamheid, wonen, communicatie"
    )
    job_title: Name | None = None
    active: StrictBool = True


class PersonUpdate(UpdateModel):
    not_nullable = frozenset({"name", "email", "active"})

    name: Name | None = None
    email: EmailAddress | None = None
    department: OptionalLabel | None = None
    job_title: Name | None = None
    active: StrictBool | None = None


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
    description: Description | None = None
    region: OptionalLabel | None = None


class CommunityUpdate(UpdateModel):
    not_nullable = frozenset({"name", "slug"})

    name: Name | None = None
    slug: Slug | None = None
    description: Description | None = None
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
    date: StrictDate
    location: Name | None = None


class MeetingUpdate(UpdateModel):
    not_nullable = frozenset({"title", "date"})

    title: Name | None = None
    date: StrictDate | None = None
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
    person_id: EntityId | None = Field(
        default=None,
        description="Who gave the answer (for knowledge retention). Left out, it is the caller "
        "when they take part for the answer's organisation; null for no one.",
    )
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
    capacity: Capacity = Field(
        default=3, description="How many peer organisations this offer can help"
    )


class OfferUpdate(AnswerUpdate):
    not_nullable = frozenset({"text", "topics", "capacity"})

    text: AnswerText | None = None
    topics: TopicList | None = None
    capacity: Capacity | None = Field(
        default=None,
        description="How many peer organisations this offer can help; not below the peers "
        "already introduced to it (introduced, accepted or completed suggestions): 409",
    )


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
    note: Note | None = None


class FormatPreferenceUpdate(AnswerUpdate):
    not_nullable = frozenset({"format"})

    format: Format | None = None
    note: Note | None = None


class FormatPreferenceRead(AnswerRead):
    format: Format
    note: str | None


# --- matching ---------------------------------------------------------------------------------


class ReasonRead(ReadModel):
    factor: str = Field(
        examples=["topic"], description="topic, text, semantic, region or reciprocity"
    )
    contribution: float = Field(description="This factor's share of the score")
    detail: str = Field(examples=["topic Transitievisie Warmte (TVW)"])


class FeedbackRead(ReadModel):
    usefulness: int = Field(ge=1, le=5)
    note: str | None


class SuggestionRead(Stamped):
    community_id: int
    need_id: int
    offer_id: int
    need_organisation_id: int
    offer_organisation_id: int
    score: float = Field(ge=0, le=1, description="Sum of the reasons' contributions")
    reasons: list[ReasonRead]
    matched_topics: list[str]
    status: SuggestionStatus
    feedback: FeedbackRead | None


class FeedbackUpdate(InputModel):
    usefulness: Annotated[int, Field(ge=1, le=5), BeforeValidator(_whole_number)]
    note: Note | None = None


class SuggestionUpdate(UpdateModel):
    not_nullable = frozenset({"status", "feedback"})

    status: SuggestionStatus | None = None
    feedback: FeedbackUpdate | None = None


class AssignmentRead(ReadModel):
    suggestion_id: int
    need_id: int
    offer_id: int
    need_organisation_id: int
    offer_organisation_id: int
    score: float
    status: SuggestionStatus = Field(
        description="proposed: the solver's pick; introduced, accepted or completed: a commitment "
        "the allocation keeps"
    )


class AllocationRead(ReadModel):
    assignments: list[AssignmentRead]
    covered_organisation_ids: list[int] = Field(
        description="Organisations with a need that got at least one helper"
    )
    uncovered_organisation_ids: list[int] = Field(
        description="Organisations with a candidate helper that still got none (capacity)"
    )
    total_score: float
    needs_with_candidates: int
    needs_assigned: int


class DirectionRead(ReadModel):
    suggestion_id: int
    need_id: int
    offer_id: int
    score: float


class ReciprocalPairRead(ReadModel):
    first_organisation_id: int
    second_organisation_id: int
    score: float = Field(description="The weaker direction's score")
    first_helps_second: DirectionRead
    second_helps_first: DirectionRead


class FormatCount(ReadModel):
    format: Format
    organisations: int


class WorkingGroupRead(ReadModel):
    topics: list[str]
    need_ids: list[int]
    organisation_ids: list[int]
    host_organisation_ids: list[int] = Field(
        description="Organisations whose offers are suggested for the group's needs, those "
        "suggested for most of them first"
    )
    preferred_formats: list[FormatCount]


class GapRead(ReadModel):
    need_id: int
    organisation_id: int
    text: str
    topics: list[str]
    best_score: float
    best_offer_id: int | None


class GapPage(Page[GapRead]):
    threshold: float = Field(
        description="A need with no suggestion at this score or above that was not declined, "
        "and none a member acted on, is a gap"
    )


class UnmetOfferRead(ReadModel):
    offer_id: int
    organisation_id: int
    text: str
    topics: list[str]
    best_score: float
    best_need_id: int | None


class UnmetOfferPage(Page[UnmetOfferRead]):
    threshold: float = Field(
        description="An offer in no suggestion at this score or above that was not declined, and "
        "in none a member acted on, is unmet, unless every need reaching this with it holds 20 "
        "suggestions ranked above it"
    )


class RecomputeRead(ReadModel):
    suggestions: int = Field(description="Suggestions stored for the community")


# --- tokens, organisers, personal data, audit --------------------------------------------------


class TokenCreated(ReadModel):
    id: int
    token: str = Field(description="The bearer token; shown only now")
    expires_at: dt.datetime


class TokenRead(ReadModel):
    id: int
    person_id: int | None = Field(description="null for an admin token")
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    created_at: dt.datetime


class OrganiserCreate(InputModel):
    person_id: EntityId


class OrganiserRead(Stamped):
    community_id: int
    person_id: int


class AnswerExport(ReadModel):
    kind: str = Field(examples=["need"])
    id: int
    community_id: int
    organisation_id: int
    text: str = Field(description="A format preference's format, with its note after a colon")
    topics: list[str] = Field(description="Topics given with it (slugs); not those inferred")
    priority: str | None = Field(description="A need's priority; null for other answers")
    capacity: int | None = Field(description="An offer's capacity; null for other answers")
    meeting_id: int | None
    created_at: dt.datetime


class IdempotencyExport(ReadModel):
    """A first response kept under the person's Idempotency-Key for retries (24 hours)."""

    key: str
    method: str
    path: str
    status: int
    response: Any = Field(description="The response body as it was sent")
    created_at: dt.datetime


class AuditEventRead(ReadModel):
    id: int
    at: dt.datetime
    token_id: int | None
    person_id: int | None
    role: str
    action: str
    resource: str
    resource_id: int | None
    community_id: int | None
    request_id: str | None = Field(
        examples=["3f2c9a1e5b7d4c8e9f0a1b2c3d4e5f60"],
        description="The X-Request-ID of the request that wrote it (none for the CLI's writes)",
    )


class PersonExport(ReadModel):
    """Everything copmatch stores about one person (AVG right of access)."""

    person: PersonRead
    organisation: OrganisationRead
    answers: list[AnswerExport] = Field(description="Needs, offers and format preferences given")
    organiser_of: list[int] = Field(description="Ids of the communities the person organises")
    tokens: list[TokenRead]
    tokens_issued: list[TokenRead] = Field(
        description="Tokens the person issued for others, as an organiser (without secrets)"
    )
    idempotency_records: list[IdempotencyExport] = Field(
        description="Responses kept for retries of the requests they sent with an "
        "Idempotency-Key (for 24 hours)"
    )
    audit_events: list[AuditEventRead] = Field(
        description="The audit log's events (ids only) of the writes the person made and of "
        "the changes to their own record, their tokens and their organiser roles, oldest first"
    )


# --- imports --------------------------------------------------------------------------------


class ImportProblemRead(ReadModel):
    row: int = Field(description="Row number as a spreadsheet shows it (the header is row 1)")
    column: str = Field(
        examples=["prioriteit"], description="The column's header as written in the file"
    )
    value: str | None = Field(examples=["urgent"], description="The offending cell, if any")
    message: str = Field(
        examples=["unknown priority 'urgent'; use low, normal or high (laag, normaal, hoog)"]
    )


ImportedKind = Literal["need", "offer", "format-preference"]
ImportOutcome = Literal["created", "updated", "unchanged"]


class ImportRowRead(ReadModel):
    row: int = Field(description="The row's number, as a spreadsheet shows it")
    kind: ImportedKind
    outcome: ImportOutcome
    answer_id: int | None = Field(
        description="The answer the row is (null: a new answer of a dry run)"
    )
    changes: list[str] = Field(
        description="The properties an update changes (text, topics, priority, capacity, note, "
        "personId, meetingId)"
    )


class ImportRead(ReadModel):
    dry_run: bool = Field(description="True: checked only, nothing was written")
    rows: int = Field(description="Data rows in the file (below the header, blank rows skipped)")
    created: int = Field(description="Rows that are (or would be) new answers")
    unchanged: int = Field(description="Rows equal to a stored answer")
    updated: int = Field(description="Rows that change a stored answer")
    members_added: list[int] = Field(
        description="Ids of organisations that are (or would be) made members of the community"
    )
    people_created: int = Field(description="People that are (or would be) added")
    problems: list[ImportProblemRead] = Field(
        description="Every problem found (at most 1000); a dry run lists them here, an import "
        "answers 422 with the same list"
    )
    outcomes: list[ImportRowRead] = Field(
        description="What the import does (a dry run: would do) with each row without problems"
    )


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(examples=["ok"])
