"""Communities of Practice, their members and meetings."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.deps import (
    CommunityId,
    MeetingId,
    OrganisationId,
    PagingDep,
    SessionDep,
    set_location,
)
from app.schemas import (
    CommunityCreate,
    CommunityRead,
    CommunityUpdate,
    MeetingCreate,
    MeetingRead,
    MeetingUpdate,
    MembershipCreate,
    MembershipRead,
    Page,
)
from app.services import communities as service

router = APIRouter(tags=["communities"])


@router.get("/communities", response_model=Page[CommunityRead], summary="List communities")
def list_communities(session: SessionDep, paging: PagingDep) -> Page[CommunityRead]:
    items, total = service.list_communities(session, limit=paging.limit, offset=paging.offset)
    return Page(
        items=[CommunityRead.model_validate(i) for i in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/communities", status_code=201, response_model=CommunityRead, summary="Create a community"
)
def create_community(
    session: SessionDep, body: CommunityCreate, response: Response
) -> CommunityRead:
    community = service.create_community(session, body)
    set_location(response, f"/communities/{community.id}")
    return CommunityRead.model_validate(community)


@router.get("/communities/{communityId}", response_model=CommunityRead, summary="Get a community")
def get_community(session: SessionDep, community_id: CommunityId) -> CommunityRead:
    return CommunityRead.model_validate(service.get_community(session, community_id))


@router.patch(
    "/communities/{communityId}", response_model=CommunityRead, summary="Change a community"
)
def update_community(
    session: SessionDep, community_id: CommunityId, body: CommunityUpdate
) -> CommunityRead:
    community = service.get_community(session, community_id)
    return CommunityRead.model_validate(service.update_community(session, community, body))


@router.delete(
    "/communities/{communityId}",
    status_code=204,
    summary="Delete a community",
    description="Deletes the community with its memberships, meetings and answers.",
)
def delete_community(session: SessionDep, community_id: CommunityId) -> None:
    service.delete_community(session, service.get_community(session, community_id))


@router.get(
    "/communities/{communityId}/members",
    response_model=Page[MembershipRead],
    summary="List a community's member organisations",
)
def list_members(
    session: SessionDep, community_id: CommunityId, paging: PagingDep
) -> Page[MembershipRead]:
    community = service.get_community(session, community_id)
    items, total = service.list_members(
        session, community, limit=paging.limit, offset=paging.offset
    )
    return Page(
        items=[MembershipRead.model_validate(i) for i in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/communities/{communityId}/members",
    status_code=201,
    response_model=MembershipRead,
    summary="Add an organisation to a community",
)
def add_member(
    session: SessionDep, community_id: CommunityId, body: MembershipCreate, response: Response
) -> MembershipRead:
    community = service.get_community(session, community_id)
    membership = service.add_member(session, community, body.organisation_id)
    set_location(response, f"/communities/{community.id}/members/{membership.organisation_id}")
    return MembershipRead.model_validate(membership)


@router.get(
    "/communities/{communityId}/members/{organisationId}",
    response_model=MembershipRead,
    summary="Get one membership",
)
def get_member(
    session: SessionDep, community_id: CommunityId, organisation_id: OrganisationId
) -> MembershipRead:
    community = service.get_community(session, community_id)
    return MembershipRead.model_validate(
        service.get_membership(session, community, organisation_id)
    )


@router.delete(
    "/communities/{communityId}/members/{organisationId}",
    status_code=204,
    summary="Remove an organisation from a community",
    description="Refused (409) while the organisation still has answers in the community.",
)
def remove_member(
    session: SessionDep, community_id: CommunityId, organisation_id: OrganisationId
) -> None:
    service.remove_member(session, service.get_community(session, community_id), organisation_id)


@router.get(
    "/communities/{communityId}/meetings",
    response_model=Page[MeetingRead],
    summary="List a community's meetings",
)
def list_meetings(
    session: SessionDep, community_id: CommunityId, paging: PagingDep
) -> Page[MeetingRead]:
    community = service.get_community(session, community_id)
    items, total = service.list_meetings(
        session, community, limit=paging.limit, offset=paging.offset
    )
    return Page(
        items=[MeetingRead.model_validate(i) for i in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/communities/{communityId}/meetings",
    status_code=201,
    response_model=MeetingRead,
    summary="Add a meeting",
)
def create_meeting(
    session: SessionDep, community_id: CommunityId, body: MeetingCreate, response: Response
) -> MeetingRead:
    community = service.get_community(session, community_id)
    meeting = service.create_meeting(session, community, body)
    set_location(response, f"/communities/{community.id}/meetings/{meeting.id}")
    return MeetingRead.model_validate(meeting)


@router.get(
    "/communities/{communityId}/meetings/{meetingId}",
    response_model=MeetingRead,
    summary="Get a meeting",
)
def get_meeting(
    session: SessionDep, community_id: CommunityId, meeting_id: MeetingId
) -> MeetingRead:
    community = service.get_community(session, community_id)
    return MeetingRead.model_validate(service.get_meeting(session, community, meeting_id))


@router.patch(
    "/communities/{communityId}/meetings/{meetingId}",
    response_model=MeetingRead,
    summary="Change a meeting",
)
def update_meeting(
    session: SessionDep, community_id: CommunityId, meeting_id: MeetingId, body: MeetingUpdate
) -> MeetingRead:
    community = service.get_community(session, community_id)
    meeting = service.get_meeting(session, community, meeting_id)
    return MeetingRead.model_validate(service.update_meeting(session, meeting, body))


@router.delete(
    "/communities/{communityId}/meetings/{meetingId}",
    status_code=204,
    summary="Delete a meeting",
    description="Answers given at the meeting stay, without the meeting reference.",
)
def delete_meeting(session: SessionDep, community_id: CommunityId, meeting_id: MeetingId) -> None:
    community = service.get_community(session, community_id)
    service.delete_meeting(session, service.get_meeting(session, community, meeting_id))
