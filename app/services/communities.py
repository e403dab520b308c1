"""Communities of Practice, their member organisations and their meetings."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.errors import Conflict, InvalidParam, NotFound, not_found
from app.models import (
    Community,
    FormatPreference,
    Meeting,
    Membership,
    Need,
    Offer,
    Organisation,
    Person,
)
from app.schemas import (
    CommunityCreate,
    CommunityUpdate,
    MeetingCreate,
    MeetingUpdate,
)
from app.services import audit, tokens
from app.services.common import (
    apply_changes,
    ensure_unique,
    get_or_404,
    missing,
    paginate,
    queue_name_writes,
)
from app.services.matching import queue_answer_writes


def slugify(text: str, *, max_length: int = 100) -> str:
    """``"CoP Warmtetransitie Noord-Holland"`` → ``"cop-warmtetransitie-noord-holland"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def get_community(session: Session, community_id: int) -> Community:
    return get_or_404(session, Community, community_id, resource="community")


def list_communities(
    session: Session, *, only: set[int] | None, limit: int, offset: int
) -> tuple[list[Community], int]:
    """A page of communities; ``only`` restricts to these ids (``None``: all)."""
    statement = select(Community).order_by(Community.id)
    if only is not None:
        statement = statement.where(Community.id.in_(only))
    return paginate(session, statement, limit=limit, offset=offset)


def create_community(session: Session, data: CommunityCreate) -> Community:
    # Found by review: two communities named alike ("Auto X", "Auto X!") at once took one slug.
    queue_name_writes(session, Community)
    ensure_unique(session, Community, "name", data.name, field="name", resource="community")
    if data.slug is not None:
        ensure_unique(session, Community, "slug", data.slug, field="slug", resource="community")
        slug = data.slug
    else:
        slug = _free_slug(session, slugify(data.name) or "community")
    community = Community(
        name=data.name, slug=slug, description=data.description, region=data.region
    )
    session.add(community)
    session.flush()
    return community


def _free_slug(session: Session, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` … whichever no community uses yet."""
    base = base[:90].rstrip("-")  # a cut just after a hyphen would end the slug in one
    taken = set(
        session.scalars(
            select(Community.slug).where(
                (Community.slug == base) | Community.slug.startswith(f"{base}-", autoescape=True)
            )
        )
    )
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def update_community(session: Session, community: Community, data: CommunityUpdate) -> Community:
    changes = data.changes()
    if "name" in changes or "slug" in changes:
        queue_name_writes(session, Community)
    for column, field in (("name", "name"), ("slug", "slug")):
        ensure_unique(
            session,
            Community,
            column,
            changes.get(column),
            field=field,
            resource="community",
            exclude_id=community.id,
        )
    apply_changes(community, changes)
    session.flush()
    return community


def delete_community(session: Session, community: Community) -> None:
    """Delete a community with its memberships, meetings and answers (cascade in the database)
    and its audit log; the log keeps only who deleted it, and when. After the writes of its
    answers that are under way (each of those that waited for it then answers 404)."""
    queue_answer_writes(session, community)
    audit.forget_community(session, community.id)
    session.delete(community)
    session.flush()


# --- members ---------------------------------------------------------------------------------


def get_membership(session: Session, community: Community, organisation_id: int) -> Membership:
    membership = session.scalar(
        select(Membership)
        .options(joinedload(Membership.organisation))
        .where(
            Membership.community_id == community.id,
            Membership.organisation_id == organisation_id,
        )
    )
    if membership is None:
        raise NotFound(
            f"organisation {organisation_id} is not a member of community {community.id}"
        )
    return membership


def list_members(
    session: Session, community: Community, *, limit: int, offset: int
) -> tuple[list[Membership], int]:
    statement = (
        select(Membership)
        .options(joinedload(Membership.organisation))  # each member shows its organisation
        .where(Membership.community_id == community.id)
        .order_by(Membership.organisation_id)
    )
    return paginate(session, statement, limit=limit, offset=offset)


def add_member(session: Session, community: Community, organisation_id: int) -> Membership:
    get_or_404(
        session, Organisation, organisation_id, resource="organisation", field="body.organisationId"
    )
    if is_member(session, community.id, organisation_id):
        raise Conflict(
            f"organisation {organisation_id} is already a member of community {community.id}",
            invalid_params=[InvalidParam("body.organisationId", "already a member")],
        )
    membership = Membership(community_id=community.id, organisation_id=organisation_id)
    session.add(membership)
    session.flush()
    people = session.scalars(select(Person.id).where(Person.organisation_id == organisation_id))
    tokens.revoke_tokens_beyond_their_issuers(session, list(people))
    return membership


def remove_member(session: Session, community: Community, organisation_id: int) -> None:
    """End a membership; refused while the organisation has answers in the community, so no
    knowledge is dropped by accident."""
    membership = get_membership(session, community, organisation_id)
    answers = sum(
        session.scalar(
            select(func.count()).where(
                model.community_id == community.id, model.organisation_id == organisation_id
            )
        )
        or 0
        for model in (Need, Offer, FormatPreference)
    )
    if answers:
        raise Conflict(
            f"organisation {organisation_id} still has {answers} answer(s) in community "
            f"{community.id}; delete its needs, offers and format preferences first (complete "
            "any help in progress with them, or decline it while only introduced)"
        )
    session.delete(membership)
    session.flush()


def is_member(session: Session, community_id: int, organisation_id: int) -> bool:
    return (
        session.scalar(
            select(Membership.id).where(
                Membership.community_id == community_id,
                Membership.organisation_id == organisation_id,
            )
        )
        is not None
    )


# --- meetings --------------------------------------------------------------------------------


def get_meeting(
    session: Session, community: Community, meeting_id: int, *, field: str | None = None
) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.community_id != community.id:
        raise not_found(
            f"meeting {meeting_id} does not exist in community {community.id}", field=field
        )
    return meeting


def list_meetings(
    session: Session, community: Community, *, limit: int, offset: int
) -> tuple[list[Meeting], int]:
    statement = (
        select(Meeting)
        .where(Meeting.community_id == community.id)
        .order_by(Meeting.date, Meeting.id)
    )
    return paginate(session, statement, limit=limit, offset=offset)


def create_meeting(session: Session, community: Community, data: MeetingCreate) -> Meeting:
    meeting = Meeting(
        community_id=community.id, title=data.title, date=data.date, location=data.location
    )
    session.add(meeting)
    session.flush()
    return meeting


def update_meeting(session: Session, meeting: Meeting, data: MeetingUpdate) -> Meeting:
    apply_changes(meeting, data.changes())
    session.flush()
    return meeting


def delete_meeting(session: Session, meeting: Meeting) -> None:
    """Delete a meeting; answers given there stay, without the meeting reference.

    The reference is cleared through the ORM, not left to the foreign key's ``SET NULL``: each
    answer changes, so its version (its ETag) and ``updatedAt`` move with it, and a client
    holding the old ETag gets a 412 instead of overwriting what it has not seen.

    After the writes of the community's answers under way (its write lock, as they take it
    first): an answer given the meeting meanwhile is then read here, not cleared by the foreign
    key unseen with its ETag unchanged. (Locking the meeting's row instead deadlocked with an
    import that updates answers of the meeting, then adds one.)"""
    queue_answer_writes(session, session.get_one(Community, meeting.community_id))
    if session.scalar(select(Meeting.id).where(Meeting.id == meeting.id)) is None:
        raise missing("meeting", meeting.id)  # deleted by a transaction this one waited for
    for answer in (
        *session.scalars(select(Need).where(Need.meeting_id == meeting.id)),
        *session.scalars(select(Offer).where(Offer.meeting_id == meeting.id)),
        *session.scalars(select(FormatPreference).where(FormatPreference.meeting_id == meeting.id)),
    ):
        answer.meeting_id = None
    session.delete(meeting)
    session.flush()
