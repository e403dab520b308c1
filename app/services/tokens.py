"""Bearer tokens and community organisers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
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


def issue_token(
    session: Session,
    person: Person | None,
    *,
    lifetime_days: int,
    issued_by: Principal | None = None,
) -> IssuedToken:
    """A new token for ``person``, or an admin token when ``person`` is None. ``issued_by``:
    the caller who asks for it (None: the command line), remembered when an organiser other
    than the person (see :func:`revoke_tokens_beyond_their_issuers`): one the person issued
    for themself no one else has seen. A person who left (``active`` false) gets none: it
    could never be used (409)."""
    if person is not None and not person.active:
        raise Conflict(
            f"person {person.id} has left (active is false): a token of theirs would never "
            "work; set active to true first if they are back"
        )
    issuer = issued_by.person_id if issued_by is not None and not issued_by.is_admin else None
    if person is not None and issuer == person.id:
        issuer = None  # their own token: no one else has seen it
    secret = generate_token()
    row = ApiToken(
        token_hash=hash_token(secret),
        person_id=person.id if person else None,
        expires_at=utcnow() + dt.timedelta(days=lifetime_days),
        issued_by_person_id=issuer,
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


def revoke_tokens_beyond_their_issuers(session: Session, person_ids: Collection[int]) -> None:
    """Revoke the tokens of these people that an organiser issued who does not run every
    community the person now takes part in: the rule :func:`require_token_issuer` checks at
    issue time, kept when a person's part grows (their organisation joins a community, or they
    become an organiser of one). The organiser saw the token; it must not let them in there."""
    if person_ids:
        _revoke_beyond_their_issuers(session, ApiToken.person_id.in_(person_ids))


def revoke_tokens_beyond_issuer(session: Session, issuer_id: int) -> None:
    """Revoke the tokens this organiser issued whose person takes part in a community the
    organiser no longer runs: the same rule kept when the organiser's part shrinks (they stop
    organising a community, leave, or are erased). Their copies must stop as well."""
    _revoke_beyond_their_issuers(session, ApiToken.issued_by_person_id == issuer_id)


def _revoke_beyond_their_issuers(session: Session, which: ColumnElement[bool]) -> None:
    """Revoke the tokens ``which`` selects, of those an organiser issued and not revoked yet,
    whose person takes part in a community the issuer does not run. An issuer who left or was
    erased runs none."""
    issued_by_organisers = session.scalars(
        select(ApiToken).where(
            which,
            ApiToken.issued_by_person_id.is_not(None),
            ApiToken.revoked_at.is_(None),
        )
    )
    for token in issued_by_organisers:
        assert token.person_id is not None  # selected so
        assert token.issued_by_person_id is not None
        person = session.get_one(Person, token.person_id)
        issuer = session.get(Person, token.issued_by_person_id)
        active = issuer is not None and issuer.active
        runs = access.organised_by(session, token.issued_by_person_id) if active else set()
        if not access.communities_of(session, person) <= runs:
            token.revoked_at = utcnow()
    session.flush()


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
    if not person.active:
        raise Conflict(
            f"person {person.id} has left (active is false); make them active again first",
            invalid_params=[InvalidParam("body.personId", "not active")],
        )
    if access.is_organiser_row(session, community.id, person.id):
        raise Conflict(
            f"person {person.id} already organises community {community.id}",
            invalid_params=[InvalidParam("body.personId", "already an organiser")],
        )
    row = CommunityOrganiser(community_id=community.id, person_id=person.id)
    session.add(row)
    session.flush()
    revoke_tokens_beyond_their_issuers(session, [person.id])
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
    """End the person's organiser role in the community; the tokens they issued for people who
    take part in it are revoked (see :func:`revoke_tokens_beyond_issuer`)."""
    session.delete(get_organiser(session, community, person_id))
    session.flush()
    revoke_tokens_beyond_issuer(session, person_id)


def not_an_organiser(community: Community, person_id: int) -> NotFound:
    return NotFound(f"person {person_id} does not organise community {community.id}")
