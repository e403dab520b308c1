"""Communities of Practice, their members, meetings, organisers and audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from app.api.deps import (
    CommunityId,
    IfMatch,
    ManagedCommunity,
    MeetingId,
    OrganisationId,
    PagingDep,
    PersonId,
    PrincipalDep,
    ReadableCommunity,
    check_version,
    page_of,
    set_etag,
    set_location,
    window_of,
)
from app.api.middleware import REQUEST_ID_PATTERN
from app.api.session import SessionDep
from app.models import AuditEvent
from app.schemas import (
    AuditEventRead,
    CommunityCreate,
    CommunityRead,
    CommunityUpdate,
    MeetingCreate,
    MeetingRead,
    MeetingUpdate,
    MembershipCreate,
    MembershipRead,
    OrganiserCreate,
    OrganiserRead,
    Page,
)
from app.services import access, tokens
from app.services import communities as service
from app.services.common import paginate
from app.services.organisations import get_person

router = APIRouter(tags=["communities"])


@router.get("/communities", response_model=Page[CommunityRead], summary="List communities")
def list_communities(
    session: SessionDep, principal: PrincipalDep, paging: PagingDep
) -> Page[CommunityRead]:
    """Admins see every community; others those they take part in or organise."""
    items, total = service.list_communities(
        session,
        only=access.visible_communities(session, principal),
        limit=paging.limit,
        offset=paging.offset,
    )
    return page_of(CommunityRead, items, total, paging)


@router.post(
    "/communities",
    status_code=201,
    response_model=CommunityRead,
    summary="Create a community (admin)",
)
def create_community(
    session: SessionDep, principal: PrincipalDep, body: CommunityCreate, response: Response
) -> CommunityRead:
    access.require_admin(principal)
    community = service.create_community(session, body)
    set_location(response, f"/communities/{community.id}")
    set_etag(response, community)
    return CommunityRead.model_validate(community)


@router.get("/communities/{communityId}", response_model=CommunityRead, summary="Get a community")
def get_community(community: ReadableCommunity, response: Response) -> CommunityRead:
    set_etag(response, community)
    return CommunityRead.model_validate(community)


@router.patch(
    "/communities/{communityId}",
    response_model=CommunityRead,
    summary="Change a community (organisers)",
)
def update_community(
    session: SessionDep,
    community: ManagedCommunity,
    body: CommunityUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> CommunityRead:
    check_version(community, if_match)
    updated = service.update_community(session, community, body)
    set_etag(response, updated)
    return CommunityRead.model_validate(updated)


@router.delete(
    "/communities/{communityId}",
    status_code=204,
    summary="Delete a community (admin)",
    description=(
        "Deletes the community with its memberships, meetings, answers, suggestions and audit "
        "log; the log keeps only who deleted it, and when. Ids are never given again."
    ),
)
def delete_community(
    session: SessionDep,
    principal: PrincipalDep,
    community_id: CommunityId,
    if_match: IfMatch = None,
) -> None:
    access.require_admin(principal)
    community = service.get_community(session, community_id)
    check_version(community, if_match)
    service.delete_community(session, community)


@router.get(
    "/communities/{communityId}/members",
    response_model=Page[MembershipRead],
    summary="List a community's member organisations",
)
def list_members(
    session: SessionDep, community: ReadableCommunity, paging: PagingDep
) -> Page[MembershipRead]:
    items, total = service.list_members(
        session, community, limit=paging.limit, offset=paging.offset
    )
    return page_of(MembershipRead, items, total, paging)


@router.post(
    "/communities/{communityId}/members",
    status_code=201,
    response_model=MembershipRead,
    summary="Add an organisation to a community (organisers)",
)
def add_member(
    session: SessionDep, community: ManagedCommunity, body: MembershipCreate, response: Response
) -> MembershipRead:
    membership = service.add_member(session, community, body.organisation_id)
    set_location(response, f"/communities/{community.id}/members/{membership.organisation_id}")
    return MembershipRead.model_validate(membership)


@router.get(
    "/communities/{communityId}/members/{organisationId}",
    response_model=MembershipRead,
    summary="Get one membership",
)
def get_member(
    session: SessionDep, community: ReadableCommunity, organisation_id: OrganisationId
) -> MembershipRead:
    return MembershipRead.model_validate(
        service.get_membership(session, community, organisation_id)
    )


@router.delete(
    "/communities/{communityId}/members/{organisationId}",
    status_code=204,
    summary="Remove an organisation from a community (organisers)",
    description="Refused (409) while the organisation still has answers in the community. "
    "A membership has no versions, so no If-Match is asked.",
)
def remove_member(
    session: SessionDep, community: ManagedCommunity, organisation_id: OrganisationId
) -> None:
    service.remove_member(session, community, organisation_id)


@router.get(
    "/communities/{communityId}/meetings",
    response_model=Page[MeetingRead],
    summary="List a community's meetings",
)
def list_meetings(
    session: SessionDep, community: ReadableCommunity, paging: PagingDep
) -> Page[MeetingRead]:
    items, total = service.list_meetings(
        session, community, limit=paging.limit, offset=paging.offset
    )
    return page_of(MeetingRead, items, total, paging)


@router.post(
    "/communities/{communityId}/meetings",
    status_code=201,
    response_model=MeetingRead,
    summary="Add a meeting (organisers)",
)
def create_meeting(
    session: SessionDep, community: ManagedCommunity, body: MeetingCreate, response: Response
) -> MeetingRead:
    meeting = service.create_meeting(session, community, body)
    set_location(response, f"/communities/{community.id}/meetings/{meeting.id}")
    set_etag(response, meeting)
    return MeetingRead.model_validate(meeting)


@router.get(
    "/communities/{communityId}/meetings/{meetingId}",
    response_model=MeetingRead,
    summary="Get a meeting",
)
def get_meeting(
    session: SessionDep, community: ReadableCommunity, meeting_id: MeetingId, response: Response
) -> MeetingRead:
    meeting = service.get_meeting(session, community, meeting_id)
    set_etag(response, meeting)
    return MeetingRead.model_validate(meeting)


@router.patch(
    "/communities/{communityId}/meetings/{meetingId}",
    response_model=MeetingRead,
    summary="Change a meeting (organisers)",
)
def update_meeting(
    session: SessionDep,
    community: ManagedCommunity,
    meeting_id: MeetingId,
    body: MeetingUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> MeetingRead:
    meeting = service.get_meeting(session, community, meeting_id)
    check_version(meeting, if_match)
    updated = service.update_meeting(session, meeting, body)
    set_etag(response, updated)
    return MeetingRead.model_validate(updated)


@router.delete(
    "/communities/{communityId}/meetings/{meetingId}",
    status_code=204,
    summary="Delete a meeting (organisers)",
    description="Answers given at the meeting stay, without the meeting reference.",
)
def delete_meeting(
    session: SessionDep,
    community: ManagedCommunity,
    meeting_id: MeetingId,
    if_match: IfMatch = None,
) -> None:
    meeting = service.get_meeting(session, community, meeting_id)
    check_version(meeting, if_match)
    service.delete_meeting(session, meeting)


@router.get(
    "/communities/{communityId}/organisers",
    response_model=Page[OrganiserRead],
    summary="List a community's organisers",
)
def list_organisers(
    session: SessionDep, community: ReadableCommunity, paging: PagingDep
) -> Page[OrganiserRead]:
    rows = tokens.list_organisers(session, community)
    return window_of([OrganiserRead.model_validate(row) for row in rows], paging)


@router.post(
    "/communities/{communityId}/organisers",
    status_code=201,
    response_model=OrganiserRead,
    summary="Make a person an organiser of a community (organisers)",
    description="By admins, and by organisers of the community who also run every community "
    "the person already takes part in (403 otherwise).",
)
def add_organiser(
    session: SessionDep,
    principal: PrincipalDep,
    community: ManagedCommunity,
    body: OrganiserCreate,
    response: Response,
) -> OrganiserRead:
    person = get_person(session, body.person_id, field="body.personId")
    access.require_appointer(session, principal, person)
    row = tokens.add_organiser(session, community, person.id)
    set_location(response, f"/communities/{community.id}/organisers/{row.person_id}")
    return OrganiserRead.model_validate(row)


@router.get(
    "/communities/{communityId}/organisers/{personId}",
    response_model=OrganiserRead,
    summary="Get one organiser of a community",
)
def get_organiser(
    session: SessionDep,
    community: ReadableCommunity,
    person_id: PersonId,
) -> OrganiserRead:
    return OrganiserRead.model_validate(tokens.get_organiser(session, community, person_id))


@router.delete(
    "/communities/{communityId}/organisers/{personId}",
    status_code=204,
    summary="Remove an organiser (organisers)",
)
def remove_organiser(
    session: SessionDep,
    community: ManagedCommunity,
    person_id: PersonId,
) -> None:
    tokens.remove_organiser(session, community, person_id)


@router.get(
    "/communities/{communityId}/audit-log",
    response_model=Page[AuditEventRead],
    summary="Every write in the community, newest first (organisers)",
    description="Who (token and person ids), what (resource and id), when, and in which request "
    "(the `X-Request-ID` of its response); no personal data.",
)
def list_audit_events(
    session: SessionDep,
    community: ManagedCommunity,
    paging: PagingDep,
    request_id: Annotated[
        str | None,
        Query(
            alias="requestId",
            pattern=REQUEST_ID_PATTERN,
            description="Only the writes of this request (its `X-Request-ID`)",
        ),
    ] = None,
) -> Page[AuditEventRead]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.community_id == community.id)
        .order_by(AuditEvent.id.desc())
    )
    if request_id is not None:
        statement = statement.where(AuditEvent.request_id == request_id)
    items, total = paginate(session, statement, limit=paging.limit, offset=paging.offset)
    return page_of(AuditEventRead, items, total, paging)
