"""The programme-plan report as data: the JSON representation, and what every renderer reads.

Kept apart from ``app.schemas`` (already past the house limit of ~400 lines); built on its
``ReadModel`` so properties are lowerCamelCase like the rest of the API. Topics are slugs, as
everywhere in the API; rows that exist to be counted per topic or theme carry their labels.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from app.models import Format, OrganisationKind, Priority, SuggestionStatus
from app.schemas import FormatCount, LocalisedText, ReadModel, ReasonRead

PersonStatus = Literal["active", "left", "erased"]
AnswerKind = Literal["need", "offer", "formatPreference"]


class OrganisationRef(ReadModel):
    id: int
    name: str


class AnswerRef(ReadModel):
    """A need or offer as a report points to it: its id, organisation and text."""

    id: int
    organisation: OrganisationRef
    text: str


class ReportCommunity(ReadModel):
    id: int
    name: str
    slug: str
    region: str | None
    description: str | None


class ReportSummary(ReadModel):
    organisations: int = Field(description="Member organisations")
    people: int = Field(description="Active people of the member organisations")
    needs: int
    offers: int
    format_preferences: int
    suggestions: int = Field(description="Suggestions not declined")
    declined_suggestions: int = Field(description="Suggestions a member declined")
    gaps: int
    working_groups: int
    reciprocal_pairs: int


# --- 1. participation -------------------------------------------------------------------------


class PersonSummary(ReadModel):
    """Someone taking part for an organisation; no e-mail address in reports."""

    id: int
    name: str | None
    department: str | None
    job_title: str | None


class Participant(ReadModel):
    organisation: OrganisationRef
    kind: OrganisationKind
    people: list[PersonSummary] = Field(description="Active people of the organisation")
    departments: list[str] = Field(description="Distinct departments of those people")
    single_department: bool = Field(
        description="A municipality of which exactly one department takes part: the heat "
        "transition needs more"
    )
    needs: int
    offers: int
    format_preferences: int


class Participation(ReadModel):
    organisations: int
    people: int
    departments: int = Field(description="Distinct departments over all organisations")
    single_department_organisations: int
    items: list[Participant]


# --- 2. demand and supply ---------------------------------------------------------------------


class TopicDemand(ReadModel):
    slug: str
    label: LocalisedText
    needs: int = Field(description="Needs tagged with the topic")
    offers: int = Field(description="Offers tagged with the topic")


class ThemeDemand(ReadModel):
    slug: str
    label: LocalisedText
    needs: int = Field(description="Needs with at least one topic of the theme")
    offers: int = Field(description="Offers with at least one topic of the theme")
    topics: list[TopicDemand] = Field(description="Topics with at least one need or offer")


class DemandSupply(ReadModel):
    needs: int
    offers: int
    untagged_needs: int
    untagged_offers: int
    themes: list[ThemeDemand] = Field(description="Every theme of the taxonomy, in its order")


# --- 3. gaps ----------------------------------------------------------------------------------


class GapItem(ReadModel):
    need_id: int
    organisation: OrganisationRef
    text: str
    topics: list[str]
    priority: Priority
    best_score: float
    best_offer_id: int | None
    best_offer: AnswerRef | None = Field(
        description="The offer that came closest (scoring best_score); null when none did"
    )


class GapGroup(ReadModel):
    topic: str | None = Field(description="Topic slug; null for needs without topics")
    theme: str | None
    label: LocalisedText | None
    needs: list[GapItem]


class Gaps(ReadModel):
    threshold: float = Field(
        description="A need with no suggestion at this score or above that was not declined, "
        "and none a member acted on, is a gap"
    )
    total: int = Field(description="Distinct needs that are gaps")
    groups: list[GapGroup] = Field(
        description="One group per topic, most gaps first; a need with two topics is in both"
    )


# --- 4. working groups ------------------------------------------------------------------------


class WorkingGroup(ReadModel):
    number: int = Field(
        description="The group's number in the programme plan (from 1); a member's page keeps it"
    )
    topics: list[str]
    need_ids: list[int]
    organisations: list[OrganisationRef]
    hosts: list[OrganisationRef] = Field(description="Organisations offering the topics")
    preferred_formats: list[FormatCount]


# --- 5. peer help -----------------------------------------------------------------------------


class SuggestionRow(ReadModel):
    suggestion_id: int
    need_id: int
    need_organisation: OrganisationRef
    need_text: str
    offer_id: int
    offer_organisation: OrganisationRef
    offer_text: str
    topics: list[str] = Field(description="Topics need and offer share")
    score: float
    reasons: list[ReasonRead]
    status: SuggestionStatus
    allocated: bool = Field(description="Chosen by the capacity-aware allocation")


class Assignment(ReadModel):
    suggestion_id: int
    need_id: int
    offer_id: int
    need_organisation: OrganisationRef
    offer_organisation: OrganisationRef
    score: float
    status: SuggestionStatus = Field(
        description="proposed, or a pair already acted on (introduced, accepted, completed)"
    )


class Allocation(ReadModel):
    assignments: list[Assignment]
    covered_organisations: list[OrganisationRef]
    uncovered_organisations: list[OrganisationRef]
    total_score: float
    needs_with_candidates: int
    needs_assigned: int


class ReciprocalPair(ReadModel):
    first_organisation: OrganisationRef
    second_organisation: OrganisationRef
    score: float = Field(description="The weaker direction's score")
    first_helps_second_suggestion_id: int
    second_helps_first_suggestion_id: int


class UnmetOffer(ReadModel):
    offer_id: int
    organisation: OrganisationRef
    text: str
    topics: list[str]
    best_score: float
    best_need: AnswerRef | None = Field(
        description="The need that came closest (scoring best_score); null when none did"
    )


class PeerHelp(ReadModel):
    suggestions: list[SuggestionRow] = Field(description="Every suggestion, best first")
    allocation: Allocation
    reciprocal_pairs: list[ReciprocalPair]
    unmet_offers: list[UnmetOffer]


# --- 6. format preferences --------------------------------------------------------------------


class FormatNote(ReadModel):
    organisation: OrganisationRef
    note: str


class FormatTally(ReadModel):
    format: Format
    organisations: int = Field(description="Organisations preferring the format")
    notes: list[FormatNote]


class FormatPreferences(ReadModel):
    organisations: int = Field(description="Organisations that stated a preference")
    items: list[FormatTally] = Field(description="Every format, most preferred first")


# --- 7. knowledge retention -------------------------------------------------------------------


class SinglePersonOffer(ReadModel):
    offer_id: int
    organisation: OrganisationRef
    text: str
    topics: list[str]
    person: PersonSummary
    person_status: PersonStatus


class SingleAuthorOrganisation(ReadModel):
    organisation: OrganisationRef
    offers: int
    person: PersonSummary
    person_status: PersonStatus


class DepartedAnswer(ReadModel):
    kind: AnswerKind
    id: int
    text: str = Field(description="The answer's text; the format for a format preference")
    person: PersonSummary
    person_status: PersonStatus


class DepartedOrganisation(ReadModel):
    organisation: OrganisationRef
    people_left: int
    people_erased: int
    answers: list[DepartedAnswer]


class KnowledgeRetention(ReadModel):
    single_person_offers: list[SinglePersonOffer] = Field(
        description="Offers no colleague of the same organisation backs: no other active person "
        "of it offers any of the offer's topics in this community (so an offer without topics "
        "always counts); offers without a recorded author are not judged"
    )
    single_author_organisations: list[SingleAuthorOrganisation] = Field(
        description="Organisations with two or more offers with a known author, all by one "
        "person (offers without a recorded author are not judged)"
    )
    departed: list[DepartedOrganisation] = Field(
        description="Organisations with answers by people who have left (inactive) or whose "
        "personal data was erased"
    )


class CommunityReport(ReadModel):
    """The programme plan of one community."""

    community: ReportCommunity
    generated_at: dt.datetime
    summary: ReportSummary
    participation: Participation
    demand_supply: DemandSupply
    gaps: Gaps
    working_groups: list[WorkingGroup]
    peer_help: PeerHelp
    format_preferences: FormatPreferences
    knowledge_retention: KnowledgeRetention


# --- one organisation's page ------------------------------------------------------------------


class OwnNeed(ReadModel):
    need_id: int
    text: str
    topics: list[str]
    priority: Priority
    gap: bool = Field(description="Nobody in the community answers it well enough")
    helpers: list[SuggestionRow] = Field(description="Who can help, best first")


class OwnOffer(ReadModel):
    offer_id: int
    text: str
    topics: list[str]
    capacity: int
    unmet: bool = Field(description="Suggested to no one: among the community's unmet offers")
    asked_by: list[SuggestionRow] = Field(
        description="Whose needs it is suggested for, best first. Empty for an unmet offer, and "
        "for one crowded out (not unmet): every need it suits holds 20 better suggestions"
    )


class OwnFormatPreference(ReadModel):
    format: Format
    note: str | None


class OrganisationReport(ReadModel):
    """One member's page in a community's programme plan."""

    organisation: OrganisationRef
    kind: OrganisationKind
    community: ReportCommunity
    generated_at: dt.datetime
    people: list[PersonSummary]
    needs: list[OwnNeed]
    offers: list[OwnOffer]
    format_preferences: list[OwnFormatPreference]
    working_groups: list[WorkingGroup] = Field(description="Groups it is a member or host of")
    reciprocal_partners: list[ReciprocalPair]
