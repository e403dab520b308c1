"""Who may do what: the authorisation rules, in one place.

Roles: ``admin`` (the whole server), ``organiser`` (of a community: reads everything in it,
manages members, meetings, imports, reports and any answer in it), ``member`` (a person of a
member organisation: reads the community's answers and suggestions, writes only its own
organisation's answers, and acts on suggestions that involve it: either side introduces,
declines and completes, the offering side accepts, the needing side gives feedback).
What acts on a person everywhere (their tokens, their e-mail, whether they are active, their
erasure) is for admins, the person themself (not for tokens), and organisers who run every
community the person takes part in. Refusals are :class:`~app.errors.Forbidden` (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.auth import Principal
from app.errors import Forbidden, InvalidParam
from app.models import CommunityOrganiser, Membership, Person, Suggestion, SuggestionStatus


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("only an administrator may do this")


def is_manager(principal: Principal, community_id: int) -> bool:
    """Admins and the community's organisers."""
    return principal.is_admin or community_id in principal.organiser_of


def is_member(session: Session, principal: Principal, community_id: int) -> bool:
    if principal.organisation_id is None:
        return False
    found = session.scalar(
        _MEMBERSHIP, {"community_id": community_id, "organisation_id": principal.organisation_id}
    )
    return found is not None


_MEMBERSHIP = select(Membership.id).where(
    Membership.community_id == bindparam("community_id"),
    Membership.organisation_id == bindparam("organisation_id"),
)
"""Built once: readers are checked on every request."""


def require_reader(
    session: Session, principal: Principal, community_id: int, *, member: bool | None = None
) -> None:
    """Admins, organisers and members of the community may read it. ``member``: whether the
    principal's organisation is a member, when already known (else it is looked up)."""
    if is_manager(principal, community_id):
        return
    if member is None:
        member = is_member(session, principal, community_id)
    if not member:
        raise Forbidden(f"you take no part in community {community_id}")


def require_manager(principal: Principal, community_id: int) -> None:
    if not is_manager(principal, community_id):
        raise Forbidden(f"only organisers of community {community_id} may do this")


def require_answer_writer(
    session: Session, principal: Principal, community_id: int, organisation_id: int
) -> None:
    """Organisers write any answer of their community; members only their organisation's."""
    if is_manager(principal, community_id):
        return
    require_reader(session, principal, community_id)
    if principal.organisation_id != organisation_id:
        raise Forbidden("members write only their own organisation's answers")


def require_organisation_page_reader(
    principal: Principal, community_id: int, organisation_id: int
) -> None:
    """An organisation's page of a community's programme plan: the community's organisers and
    admins, and the organisation's own people."""
    if not (is_manager(principal, community_id) or principal.organisation_id == organisation_id):
        raise Forbidden(
            f"only organisers of community {community_id} and the people of organisation "
            f"{organisation_id} may read its page"
        )


def require_suggestion_actor(
    session: Session,
    principal: Principal,
    suggestion: Suggestion,
    *,
    status: str | None = None,
    feedback: bool = False,
) -> None:
    """Organisers, and members of the two organisations a suggestion involves, each side for
    its own part: accepting gives one of the offer's places, so it is the offering
    organisation's; feedback rates the help received, so it is the needing organisation's.
    Introducing, declining and completing are for either side; a *status* the suggestion
    already has changes nothing and is no one's part."""
    if is_manager(principal, suggestion.community_id):
        return
    require_reader(session, principal, suggestion.community_id)
    if principal.organisation_id not in {
        suggestion.need_organisation_id,
        suggestion.offer_organisation_id,
    }:
        raise Forbidden("members act only on suggestions that involve their organisation")
    if (
        status == SuggestionStatus.ACCEPTED
        and status != suggestion.status
        and principal.organisation_id != suggestion.offer_organisation_id
    ):
        raise Forbidden(
            "only the offering organisation (or an organiser) accepts a suggestion: it gives "
            "one of its offer's places",
            invalid_params=[InvalidParam("body.status", "the offering organisation's to give")],
        )
    if feedback and principal.organisation_id != suggestion.need_organisation_id:
        raise Forbidden(
            "feedback rates the help received: the organisation with the need (or an "
            "organiser) gives it",
            invalid_params=[InvalidParam("body.feedback", "the needing organisation's to give")],
        )


def organisation_communities(session: Session, organisation_id: int) -> set[int]:
    return set(
        session.scalars(
            select(Membership.community_id).where(Membership.organisation_id == organisation_id)
        )
    )


def organised_by(session: Session, person_id: int) -> set[int]:
    """Ids of the communities the person organises."""
    return set(
        session.scalars(
            select(CommunityOrganiser.community_id).where(CommunityOrganiser.person_id == person_id)
        )
    )


def may_manage_people_of(session: Session, principal: Principal, organisation_id: int) -> bool:
    """Admins, organisers of a community the organisation belongs to, and its own people."""
    if principal.is_admin or principal.organisation_id == organisation_id:
        return True
    return bool(principal.organiser_of & organisation_communities(session, organisation_id))


def people_managed(session: Session, principal: Principal) -> frozenset[int] | None:
    """Ids of the organisations whose people the principal may see and manage
    (:func:`may_manage_people_of`); ``None`` means all (admin)."""
    if principal.is_admin:
        return None
    members = session.scalars(
        select(Membership.organisation_id).where(
            Membership.community_id.in_(sorted(principal.organiser_of))
        )
    )
    own = () if principal.organisation_id is None else (principal.organisation_id,)
    return frozenset((*members, *own))


def require_people_manager(session: Session, principal: Principal, organisation_id: int) -> None:
    if not may_manage_people_of(session, principal, organisation_id):
        raise Forbidden(f"you may not see or manage the people of organisation {organisation_id}")


def require_person_access(session: Session, principal: Principal, person: Person) -> None:
    """Personal data: the person, their colleagues, their communities' organisers, admins.
    Their e-mail, whether they are active, and their erasure: see :func:`require_account_manager`.
    """
    if principal.person_id == person.id:
        return
    if not may_manage_people_of(session, principal, person.organisation_id):
        # Not which organisation: a member could map every person id to theirs.
        raise Forbidden(f"you may not see or manage person {person.id}")


def runs_every_community_of(session: Session, principal: Principal, person: Person) -> bool:
    """Admins, and organisers who run every community the person takes part in (those their
    organisation is a member of and those they organise) and may manage the people of their
    organisation (:func:`may_manage_people_of`).

    The last, found by review: an organiser may make a person of an organisation in no
    community an organiser of theirs, and then ran every community that person takes part in,
    so exported, erased and issued tokens for someone whose record they may not even read."""
    if principal.is_admin:
        return True
    reach = communities_of(session, person)
    return (
        bool(reach)
        and reach <= principal.organiser_of
        and may_manage_people_of(session, principal, person.organisation_id)
    )


def require_appointer(session: Session, principal: Principal, person: Person) -> None:
    """Making a person an organiser: admins, and organisers who run every community the person
    already takes part in (a person in none may be made one by any organiser). An organiser of
    one community could otherwise appoint anyone: the appointment revokes the tokens other
    organisers issued to the person (see tokens.revoke_tokens_beyond_their_issuers)."""
    if principal.is_admin or communities_of(session, person) <= principal.organiser_of:
        return
    raise Forbidden(
        f"person {person.id} takes part in a community you do not run: only admins and "
        "organisers of every community the person takes part in may make them an organiser"
    )


def communities_of(session: Session, person: Person) -> set[int]:
    """The communities the person takes part in: their organisation's and those they organise."""
    return organisation_communities(session, person.organisation_id) | organised_by(
        session, person.id
    )


def changes_account(person: Person, changes: Mapping[str, Any]) -> bool:
    """Whether a PATCH's ``changes`` change the person's ``active`` or e-mail (stored in lower
    case), which :func:`require_account_manager` guards."""
    if "active" in changes and changes["active"] != person.active:
        return True
    return "email" in changes and str(changes["email"]).lower() != person.email


def require_account_manager(
    session: Session,
    principal: Principal,
    person: Person,
    action: str = "change the person's e-mail or whether they are active, or erase them",
) -> None:
    """Changing a person's e-mail or whether they are active, erasing them, and exporting
    everything about them: the person themself and those who run every community they take
    part in (as for their tokens).

    These reach the person everywhere: deactivating or erasing them ends their access, and an
    erasure their organiser roles, in every community they take part in, not only the caller's;
    the export holds their answers and activity in all of those (an organiser of one of them
    must not read another's through it).
    """
    if principal.person_id == person.id or runs_every_community_of(session, principal, person):
        return
    raise Forbidden(
        "only admins, the person themself, and organisers of every community the person takes "
        f"part in may {action}"
    )


def visible_communities(session: Session, principal: Principal) -> set[int] | None:
    """Ids of the communities the principal may read; ``None`` means all (admin)."""
    if principal.is_admin:
        return None
    member_of = (
        organisation_communities(session, principal.organisation_id)
        if principal.organisation_id is not None
        else set()
    )
    return member_of | set(principal.organiser_of)


def is_organiser_row(session: Session, community_id: int, person_id: int) -> bool:
    return (
        session.scalar(
            select(CommunityOrganiser.id).where(
                CommunityOrganiser.community_id == community_id,
                CommunityOrganiser.person_id == person_id,
            )
        )
        is not None
    )
