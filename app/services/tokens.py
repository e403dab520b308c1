"""Bearer tokens and community organisers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import Principal, generate_token, hash_token
from app.db import utcnow
from app.errors import Conflict, Forbidden, InvalidParam, NotFound
from app.models import ApiToken, Community, CommunityOrganiser, Person
from app.services import access
from app.services.organisations import get_person


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: the only moment its secret value exists outside the client."""

    id: int
    token: str
    expires_at: dt.datetime
    person_id: int | None


def issue_token(session: Session, person: Person | None, *, lifetime_days: int) -> IssuedToken:
    """A new token for ``person``, or an admin token when ``person`` is None."""
    secret = generate_token()
    row = ApiToken(
        token_hash=hash_token(secret),
        person_id=person.id if person else None,
        expires_at=utcnow() + dt.timedelta(days=lifetime_days),
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, secret, row.expires_at, row.person_id)


def require_token_issuer(session: Session, principal: Principal, person: Person) -> None:
    """Admins, and organisers who run every community the person takes part in: those their
    organisation is a member of and those they organise.

    A token acts as its person everywhere, so an organiser of one community who could issue a
    token for someone who also takes part elsewhere would get into communities they do not run.
    """
    if access.runs_every_community_of(session, principal, person):
        return
    raise Forbidden(
        "only admins, and organisers of every community the person takes part in, may issue "
        "or manage the person's tokens"
    )


def get_token(session: Session, token_id: int) -> ApiToken:
    """A token that still works; a revoked one is gone for the API (its row stays, with the
    revocation time, for the person's data export)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None:
        raise NotFound(f"token {token_id} does not exist or was revoked")
    return token


def require_token_reader(session: Session, principal: Principal, token: ApiToken) -> None:
    """Admins any token; organisers those of their communities' people; everyone their own
    (all of their person's, not only the one presented: a leaked one is revoked with another)."""
    own = token.person_id is not None and token.person_id == principal.person_id
    if principal.is_admin or token.id == principal.token_id or own:
        return
    person = session.get(Person, token.person_id) if token.person_id else None
    if person is None:
        raise Forbidden("only admins manage admin tokens")
    require_token_issuer(session, principal, person)


def revoke_token(session: Session, principal: Principal, token: ApiToken) -> None:
    """Revoke a token (see :func:`require_token_reader` for who may)."""
    require_token_reader(session, principal, token)
    token.revoked_at = utcnow()  # get_token gives only tokens not revoked yet
    session.flush()


# --- organisers ----------------------------------------------------------------------------


def list_organisers(session: Session, community: Community) -> list[CommunityOrganiser]:
    return list(
        session.scalars(
            select(CommunityOrganiser)
            .where(CommunityOrganiser.community_id == community.id)
            .order_by(CommunityOrganiser.person_id)
        )
    )


def add_organiser(session: Session, community: Community, person_id: int) -> CommunityOrganiser:
    person = get_person(session, person_id, field="body.personId")
    if access.is_organiser_row(session, community.id, person.id):
        raise Conflict(
            f"person {person.id} already organises community {community.id}",
            invalid_params=[InvalidParam("body.personId", "already an organiser")],
        )
    row = CommunityOrganiser(community_id=community.id, person_id=person.id)
    session.add(row)
    session.flush()
    return row


def get_organiser(session: Session, community: Community, person_id: int) -> CommunityOrganiser:
    """The person's organiser role in the community, or 404."""
    row = session.scalar(
        select(CommunityOrganiser).where(
            CommunityOrganiser.community_id == community.id,
            CommunityOrganiser.person_id == person_id,
        )
    )
    if row is None:
        raise not_an_organiser(community, person_id)
    return row


def remove_organiser(session: Session, community: Community, person_id: int) -> None:
    session.delete(get_organiser(session, community, person_id))
    session.flush()


def not_an_organiser(community: Community, person_id: int) -> NotFound:
    return NotFound(f"person {person_id} does not organise community {community.id}")
