"""Peer-help suggestions and what is derived from them: allocation, reciprocal pairs, working
groups, gaps and unmet offers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.api.cache import NOT_MODIFIED, IfNoneMatch, ResponseCache, json_response
from app.api.deps import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    IfMatch,
    ManagedCommunity,
    PagingDep,
    PrincipalDep,
    ReadableCommunity,
    check_version,
    parsed_query,
    query_parameters,
    set_etag,
)
from app.api.session import SessionDep, in_thread, one_snapshot
from app.models import Format, SuggestionStatus
from app.schemas import (
    IN_DIGITS,
    MAX_ID,
    AllocationRead,
    AssignmentRead,
    DirectionRead,
    FormatCount,
    GapPage,
    GapRead,
    Page,
    ReciprocalPairRead,
    RecomputeRead,
    SuggestionRead,
    SuggestionUpdate,
    UnmetOfferPage,
    UnmetOfferRead,
    WorkingGroupRead,
)
from app.services import access
from app.services import matching as service

router = APIRouter(tags=["matching"])


SUGGESTION_PAGE = TypeAdapter(Page[SuggestionRead])


class SuggestionQuery(BaseModel):
    """The query string of a suggestions page: filters and paging."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    need_id: Annotated[int | None, IN_DIGITS] = Field(None, alias="needId", ge=1, le=MAX_ID)
    offer_id: Annotated[int | None, IN_DIGITS] = Field(None, alias="offerId", ge=1, le=MAX_ID)
    organisation_id: Annotated[int | None, IN_DIGITS] = Field(
        None, alias="organisationId", ge=1, le=MAX_ID, description="Needing or offering"
    )
    status: SuggestionStatus | None = None
    min_score: float | None = Field(None, alias="minScore", ge=0, le=1)
    limit: Annotated[int, IN_DIGITS] = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}"
    )
    offset: Annotated[int, IN_DIGITS] = Field(0, ge=0, le=MAX_ID, description="Items to skip")


@router.get(
    "/communities/{communityId}/suggestions",
    response_model=Page[SuggestionRead],
    responses=NOT_MODIFIED,
    summary="List peer-help suggestions, best first",
    description="The page carries a strong `ETag`; send it back in `If-None-Match` to get "
    "`304 Not Modified` while the community's suggestions are unchanged.",
    openapi_extra=query_parameters(SuggestionQuery),
)
@one_snapshot  # the version the page is cached under, its total and its items agree
async def list_suggestions(
    request: Request,
    session: SessionDep,
    community: ReadableCommunity,
    query: Annotated[SuggestionQuery, Depends(parsed_query(SuggestionQuery))],
    if_none_match: IfNoneMatch = None,
) -> Response:
    # The hottest read: the serialised page is cached per community, suggestions version and
    # query. Every reader of a community sees the same page, so the caller is not part of the
    # key; whether they may read it at all was decided above (ReadableCommunity), every time.
    key = (
        community.id,
        community.created_at,  # an id SQLite reuses after a delete is another community
        community.suggestions_version,
        query,  # frozen: hashed and compared by its filters and paging
    )
    cache: ResponseCache = request.app.state.suggestion_pages
    entry = cache.get(key)
    if entry is None:

        def page_json() -> bytes:
            items, total = service.list_suggestions(
                session,
                community,
                need_id=query.need_id,
                offer_id=query.offer_id,
                organisation_id=query.organisation_id,
                status=query.status,
                min_score=query.min_score,
                limit=query.limit,
                offset=query.offset,
            )
            page = {"items": items, "total": total, "limit": query.limit, "offset": query.offset}
            return SUGGESTION_PAGE.dump_json(SUGGESTION_PAGE.validate_python(page), by_alias=True)

        entry = cache.put(key, await in_thread(page_json))
    return json_response(entry, if_none_match)


@router.get(
    "/communities/{communityId}/suggestions/{suggestionId}",
    response_model=SuggestionRead,
    summary="Get a suggestion",
)
def get_suggestion(
    session: SessionDep,
    community: ReadableCommunity,
    suggestion_id: Annotated[int, Path(alias="suggestionId", ge=1, le=MAX_ID), IN_DIGITS],
    response: Response,
) -> SuggestionRead:
    suggestion = service.get_suggestion(session, community, suggestion_id)
    set_etag(response, suggestion)
    return SuggestionRead.model_validate(suggestion)


@router.patch(
    "/communities/{communityId}/suggestions/{suggestionId}",
    response_model=SuggestionRead,
    summary="Move a suggestion along its lifecycle or give feedback",
    description="proposed → introduced | declined; introduced → accepted | declined; "
    "accepted → completed. Feedback (usefulness 1–5, note) once it was acted on. Members act "
    "on suggestions that involve their organisation: either side introduces, declines and "
    "completes; the offering organisation accepts (it gives a place of its offer); the "
    "organisation with the need gives the feedback. Organisers do all of it. "
    "A declined pair is never suggested again. An introduced, accepted or completed suggestion "
    "takes a place of its offer's capacity: introducing a peer to a full offer is a 409.",
)
def update_suggestion(
    session: SessionDep,
    principal: PrincipalDep,
    community: ReadableCommunity,
    suggestion_id: Annotated[int, Path(alias="suggestionId", ge=1, le=MAX_ID), IN_DIGITS],
    body: SuggestionUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> SuggestionRead:
    suggestion = service.get_suggestion(session, community, suggestion_id)
    access.require_suggestion_actor(
        session, principal, suggestion, status=body.status, feedback=body.feedback is not None
    )
    check_version(suggestion, if_match)
    feedback = (body.feedback.usefulness, body.feedback.note) if body.feedback else None
    updated = service.update_suggestion(session, suggestion, status=body.status, feedback=feedback)
    set_etag(response, updated)
    return SuggestionRead.model_validate(updated)


@router.post(
    "/communities/{communityId}/_recompute",
    response_model=RecomputeRead,
    summary="Re-tag and re-score the whole community",
    description="Suggestions stay current on every write; this is for after bulk changes. "
    "Acted-on suggestions keep their status.",
)
def recompute_suggestions(session: SessionDep, community: ManagedCommunity) -> RecomputeRead:
    return RecomputeRead(suggestions=service.recompute(session, community))


@router.get(
    "/communities/{communityId}/allocation",
    response_model=AllocationRead,
    summary="Assign needs to offers within capacities",
    description="Every organisation with a need gets at least one helper where any exists, "
    "then the total score is maximised (exact solve). Declined suggestions are left out; "
    "introduced, accepted and completed ones are commitments: each is assigned, takes a place "
    "of its offer's capacity, and its need gets no other helper.",
)
@one_snapshot
def get_allocation(session: SessionDep, community: ReadableCommunity) -> AllocationRead:
    result, stored = service.allocation(session, community)
    return AllocationRead(
        assignments=[
            AssignmentRead(
                suggestion_id=stored.ids[a.need_id, a.offer_id],
                need_id=a.need_id,
                offer_id=a.offer_id,
                need_organisation_id=a.need_organisation_id,
                offer_organisation_id=a.offer_organisation_id,
                score=a.score,
                status=stored.statuses[a.need_id, a.offer_id],
            )
            for a in result.assignments
        ],
        covered_organisation_ids=list(result.covered_organisations),
        uncovered_organisation_ids=list(result.uncovered_organisations),
        total_score=result.total_score,
        needs_with_candidates=stored.needs_with_candidates,
        needs_assigned=result.needs_assigned,
    )


@router.get(
    "/communities/{communityId}/reciprocal-pairs",
    response_model=Page[ReciprocalPairRead],
    summary="Organisations that can help each other both ways",
)
@one_snapshot
def list_reciprocal_pairs(
    session: SessionDep, community: ReadableCommunity, paging: PagingDep
) -> Page[ReciprocalPairRead]:
    pairs, stored = service.reciprocal_pairs(session, community)

    def direction(suggestion: service.EngineSuggestion) -> DirectionRead:
        return DirectionRead(
            suggestion_id=stored.ids[suggestion.need_id, suggestion.offer_id],
            need_id=suggestion.need_id,
            offer_id=suggestion.offer_id,
            score=suggestion.score,
        )

    window = pairs[paging.offset : paging.offset + paging.limit]
    return Page(
        items=[
            ReciprocalPairRead(
                first_organisation_id=pair.first_organisation_id,
                second_organisation_id=pair.second_organisation_id,
                score=pair.score,
                first_helps_second=direction(pair.first_helps_second),
                second_helps_first=direction(pair.second_helps_first),
            )
            for pair in window
        ],
        total=len(pairs),
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/communities/{communityId}/working-groups",
    response_model=Page[WorkingGroupRead],
    summary="Clusters of organisations that share a need",
    description="A group (e.g. a leerkring) has at least three organisations; hosts are the "
    "organisations whose offers are suggested for the group's needs (those suggested for most "
    "of them first, then by their best score; a member hosts where its offer is suggested for "
    "another member's need); formats are those its members prefer.",
)
@one_snapshot
def list_working_groups(
    session: SessionDep, community: ReadableCommunity, paging: PagingDep
) -> Page[WorkingGroupRead]:
    groups = service.working_groups(session, community)
    window = groups[paging.offset : paging.offset + paging.limit]
    return Page(
        items=[
            WorkingGroupRead(
                topics=list(group.topics),
                need_ids=list(group.need_ids),
                organisation_ids=list(group.organisation_ids),
                host_organisation_ids=list(group.host_organisation_ids),
                preferred_formats=[
                    FormatCount(format=Format(name), organisations=count)
                    for name, count in group.preferred_formats
                ],
            )
            for group in window
        ],
        total=len(groups),
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/communities/{communityId}/gaps",
    response_model=GapPage,
    summary="Needs nobody in the community can answer well",
    description="Needs with no suggestion at the threshold or above that was not declined, and "
    "none a member acted on: topics for outside experts in the programme plan. Each with the "
    "offer that comes closest (`bestScore`, `bestOfferId`) as a write of the need scores it now.",
)
@one_snapshot
def list_gaps(session: SessionDep, community: ReadableCommunity, paging: PagingDep) -> GapPage:
    window = service.gaps_window(session, community, offset=paging.offset, limit=paging.limit)
    return GapPage(
        items=[
            GapRead(
                need_id=gap.need_id,
                organisation_id=gap.organisation_id,
                text=need.text,
                topics=need.topics,
                best_score=gap.best_score,
                best_offer_id=gap.best_offer_id,
            )
            for gap, need in window.items
        ],
        total=window.total,
        limit=paging.limit,
        offset=paging.offset,
        threshold=window.threshold,
    )


@router.get(
    "/communities/{communityId}/unmet-offers",
    response_model=UnmetOfferPage,
    summary="Offers nobody in the community asked for",
    description="Offers suggested to no one (no suggestion at the threshold or above that was "
    "not declined, none a member acted on), except those crowded out: every need that reaches "
    "the threshold with the offer holds 20 suggestions ranked above it. Each with the need of "
    "another organisation that comes closest (`bestScore`, `bestNeedId`) as a write of the "
    "offer scores it now.",
)
@one_snapshot
def list_unmet_offers(
    session: SessionDep, community: ReadableCommunity, paging: PagingDep
) -> UnmetOfferPage:
    window = service.unmet_offers_window(
        session, community, offset=paging.offset, limit=paging.limit
    )
    return UnmetOfferPage(
        items=[
            UnmetOfferRead(
                offer_id=unmet.offer_id,
                organisation_id=unmet.organisation_id,
                text=offer.text,
                topics=offer.topics,
                best_score=unmet.best_score,
                best_need_id=unmet.best_need_id,
            )
            for unmet, offer in window.items
        ],
        total=window.total,
        limit=paging.limit,
        offset=paging.offset,
        threshold=window.threshold,
    )
