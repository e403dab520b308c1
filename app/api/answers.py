"""Needs, offers and format preferences: the three kick-off answers of a community.

The three resources behave the same (list with filters, create, get, patch, delete), so their
routes come from one function; each keeps its own schemas, filters and operation ids.
"""

# No ``from __future__ import annotations`` here: FastAPI must see the closures' real types.

from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from app.api.deps import (
    API_PREFIX,
    CommunityId,
    IdempotencyDep,
    IfMatch,
    PagingDep,
    PrincipalDep,
    ReadableCommunity,
    check_version,
    community_for_reader,
    id_path,
    page_of,
    replay,
    set_etag,
    set_location,
)
from app.api.session import SessionDep, in_thread
from app.models import Format as FormatKind
from app.models import FormatPreference, Need, Offer, Priority
from app.schemas import (
    IN_DIGITS,
    MAX_ID,
    SLUG_PATTERN,
    AnswerCreate,
    FormatPreferenceCreate,
    FormatPreferenceRead,
    FormatPreferenceUpdate,
    NeedCreate,
    NeedRead,
    NeedUpdate,
    OfferCreate,
    OfferRead,
    OfferUpdate,
    Page,
)
from app.services import access
from app.services import answers as service
from app.services.idempotency import previous, remember

router = APIRouter()

OrganisationFilter = Annotated[
    int | None,
    Query(alias="organisationId", ge=1, le=MAX_ID, description="Only this organisation's"),
    IN_DIGITS,
]
MeetingFilter = Annotated[
    int | None,
    Query(alias="meetingId", ge=1, le=MAX_ID, description="Only those given there"),
    IN_DIGITS,
]
TopicFilter = Annotated[
    str | None,
    Query(max_length=100, pattern=SLUG_PATTERN, description="Only those tagged with this topic"),
]


def need_filters(
    organisation_id: OrganisationFilter = None,
    topic: TopicFilter = None,
    priority: Annotated[Priority | None, Query(description="Only this priority")] = None,
    meeting_id: MeetingFilter = None,
) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id,
        "topic": topic,
        "priority": priority.value if priority else None,
        "meeting_id": meeting_id,
    }


def offer_filters(
    organisation_id: OrganisationFilter = None,
    topic: TopicFilter = None,
    meeting_id: MeetingFilter = None,
) -> dict[str, Any]:
    return {"organisation_id": organisation_id, "topic": topic, "meeting_id": meeting_id}


def format_preference_filters(
    organisation_id: OrganisationFilter = None,
    format: Annotated[FormatKind | None, Query(description="Only this format")] = None,
    meeting_id: MeetingFilter = None,
) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id,
        "format": format.value if format else None,
        "meeting_id": meeting_id,
    }


def _register(
    *,
    segment: str,
    singular: str,
    plural: str,
    model: service.AnswerModel,
    create_schema: type[BaseModel],
    update_schema: type[BaseModel],
    read_schema: type[BaseModel],
    filters: Callable[..., dict[str, Any]],
    id_alias: str,
) -> None:
    """Add the five routes of one kind of answer to ``router``."""
    collection = f"/communities/{{communityId}}/{segment}"
    item = f"{collection}/{{{id_alias}}}"
    tag = segment
    pascal = "".join(part.capitalize() for part in singular.split())
    AnswerId = Annotated[int, id_path(id_alias, f"Id of the {singular}"), IN_DIGITS]  # noqa: N806

    def list_answers(
        session: SessionDep,
        community: ReadableCommunity,
        paging: PagingDep,
        wanted: Annotated[dict[str, Any], Depends(filters)],
    ) -> Page[Any]:
        items, total = service.list_answers(
            session, model, community, filters=wanted, limit=paging.limit, offset=paging.offset
        )
        return page_of(read_schema, items, total, paging)

    def create_answer(
        session: SessionDep,
        principal: PrincipalDep,
        community: ReadableCommunity,
        body: create_schema,  # type: ignore[valid-type]
        response: Response,
        idempotent: IdempotencyDep,
    ) -> Any:
        data = cast(AnswerCreate, body)
        organisation_id = data.organisation_id
        access.require_answer_writer(session, principal, community.id, organisation_id)
        if (
            "person_id" not in data.model_fields_set
            and principal.person_id is not None
            and principal.organisation_id == organisation_id
        ):
            # A member typing in their own answer gave it: section 7 of the plan (knowledge
            # retention) counts it as theirs.
            data = data.model_copy(update={"person_id": principal.person_id})
        # Keyed by the path with the parsed id: /communities/01/needs is /communities/1/needs.
        path = f"{API_PREFIX}/communities/{community.id}/{segment}"
        keyed = idempotent.at(path) if idempotent is not None else None
        if keyed is not None and (record := previous(session, keyed)) is not None:
            return replay(record)
        answer = service.create_answer(session, model, community, data)
        location = f"/communities/{community.id}/{segment}/{answer.id}"
        set_location(response, location)
        set_etag(response, answer)
        result = read_schema.model_validate(answer)
        if keyed is not None:
            remember(
                session,
                keyed,
                status=201,
                body=result.model_dump(mode="json", by_alias=True),
                location=response.headers["Location"],
                etag=response.headers["ETag"],
            )
        return result

    async def get_answer(
        request: Request,
        session: SessionDep,
        community_id: CommunityId,
        answer_id: AnswerId,
        response: Response,
    ) -> Any:
        # A hot read: the caller, their access to the community and the answer in one hand-off
        # to the database; the response is built on the event loop.
        def load() -> service.Answer:
            community = community_for_reader(request, session, community_id)
            return service.get_answer(session, model, community, answer_id)

        answer = await in_thread(load)
        set_etag(response, answer)
        return read_schema.model_validate(answer)

    def update_answer(
        session: SessionDep,
        principal: PrincipalDep,
        community: ReadableCommunity,
        answer_id: AnswerId,
        body: update_schema,  # type: ignore[valid-type]
        response: Response,
        if_match: IfMatch = None,
    ) -> Any:
        answer = service.get_answer(session, model, community, answer_id)
        access.require_answer_writer(session, principal, community.id, answer.organisation_id)
        check_version(answer, if_match)
        updated = service.update_answer(session, model, answer, body)
        set_etag(response, updated)
        return read_schema.model_validate(updated)

    def delete_answer(
        session: SessionDep,
        principal: PrincipalDep,
        community: ReadableCommunity,
        answer_id: AnswerId,
        if_match: IfMatch = None,
    ) -> None:
        answer = service.get_answer(session, model, community, answer_id)
        access.require_answer_writer(session, principal, community.id, answer.organisation_id)
        check_version(answer, if_match)
        service.delete_answer(session, answer)

    plural_pascal = "".join(part.capitalize() for part in plural.split())
    router.add_api_route(
        collection,
        list_answers,
        methods=["GET"],
        response_model=Page[read_schema],  # type: ignore[valid-type]
        tags=[tag],
        summary=f"List a community's {plural}",
        operation_id=f"list{plural_pascal}",
    )
    router.add_api_route(
        collection,
        create_answer,
        methods=["POST"],
        status_code=201,
        response_model=read_schema,
        tags=[tag],
        summary=f"Add a {singular}",
        description="Members add their own organisation's; organisers any member's. Left "
        "out, `personId` is the caller where they take part for the organisation. Send an "
        "Idempotency-Key to make retries safe.",
        operation_id=f"create{pascal}",
    )
    router.add_api_route(
        item,
        get_answer,
        methods=["GET"],
        response_model=read_schema,
        tags=[tag],
        summary=f"Get a {singular}",
        operation_id=f"get{pascal}",
    )
    router.add_api_route(
        item,
        update_answer,
        methods=["PATCH"],
        response_model=read_schema,
        tags=[tag],
        summary=f"Change a {singular}",
        operation_id=f"update{pascal}",
    )
    router.add_api_route(
        item,
        delete_answer,
        methods=["DELETE"],
        status_code=204,
        tags=[tag],
        summary=f"Delete a {singular}",
        description=(
            "Its suggestions go with it. A 409 while one is in progress (introduced or "
            "accepted) with another organisation: complete it, or decline it while only "
            "introduced, first."
            if model is not FormatPreference
            else None
        ),
        operation_id=f"delete{pascal}",
    )


_register(
    segment="needs",
    singular="need",
    plural="needs",
    model=Need,
    create_schema=NeedCreate,
    update_schema=NeedUpdate,
    read_schema=NeedRead,
    filters=need_filters,
    id_alias="needId",
)
_register(
    segment="offers",
    singular="offer",
    plural="offers",
    model=Offer,
    create_schema=OfferCreate,
    update_schema=OfferUpdate,
    read_schema=OfferRead,
    filters=offer_filters,
    id_alias="offerId",
)
_register(
    segment="format-preferences",
    singular="format preference",
    plural="format preferences",
    model=FormatPreference,
    create_schema=FormatPreferenceCreate,
    update_schema=FormatPreferenceUpdate,
    read_schema=FormatPreferenceRead,
    filters=format_preference_filters,
    id_alias="formatPreferenceId",
)
