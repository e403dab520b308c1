"""Who is calling: bearer tokens, and the one :func:`authenticate` function.

Tokens are opaque (32 random bytes, URL-safe), shown once and stored only as their SHA-256
hash, with an expiry, revocation and last-used time. ``COPMATCH_ADMIN_TOKEN`` is the bootstrap
admin token. Another verifier (OIDC, say) plugs in by returning a :class:`Principal` from
``authenticate``; endpoints only ever see the principal.

:func:`authenticate_in_community` is the same check for reads of one community, with the
community and the caller's membership of it fetched in the token's query (the hot path). Both
verify a stored token in :func:`_verified`; a verifier without a stored token returns no
lookup there, and the community is then read on its own (as for the bootstrap admin token).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, and_, bindparam, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import Unauthorized
from app.models import ApiToken, Community, CommunityOrganiser, Membership, Person

TOKEN_BYTES = 32
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token (see :func:`note_token_use`)."""

TOKEN_USED_KEY = "copmatch_token_used"
"""``session.info`` key: (token id, time) when the request's token is to be noted as used."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    token_id: int | None
    person_id: int | None
    organisation_id: int | None
    is_admin: bool
    organiser_of: frozenset[int] = field(default_factory=frozenset)

    @property
    def key(self) -> str:
        """A stable, non-personal identity (for idempotency records)."""
        if self.token_id is None:
            return "admin"
        return person_key(self.person_id) if self.person_id else f"token:{self.token_id}"


def person_key(person_id: int) -> str:
    """The :attr:`Principal.key` of a person's tokens."""
    return f"person:{person_id}"


SYSTEM = Principal(token_id=None, person_id=None, organisation_id=None, is_admin=True)
"""The operator at the command line: acts with admin rights."""


def generate_token() -> str:
    """A new opaque token with 256 bits of randomness."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


BOOTSTRAP_ADMIN = Principal(token_id=None, person_id=None, organisation_id=None, is_admin=True)
"""The caller with ``COPMATCH_ADMIN_TOKEN``."""


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def is_bootstrap_admin(authorization: str | None, admin_token: str | None) -> bool:
    """Whether the header carries ``COPMATCH_ADMIN_TOKEN`` (no database needed to know)."""
    token = _bearer_token(authorization)
    return bool(token and admin_token and hmac.compare_digest(token.encode(), admin_token.encode()))


_TOKEN_LOOKUP = (
    select(
        ApiToken.id,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        ApiToken.person_id,
        Person.organisation_id,
        Person.active,
        Person.erased_at,
        CommunityOrganiser.community_id,
    )
    .outerjoin(Person, Person.id == ApiToken.person_id)
    .outerjoin(CommunityOrganiser, CommunityOrganiser.person_id == Person.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
"""One indexed query: the token, its person and the communities they organise (a row each).
Built once: every request runs it, and a statement object remembers its cache key."""

_TOKEN_AND_COMMUNITY_LOOKUP = (
    _TOKEN_LOOKUP.add_columns(Membership.id.label("membership_id"), Community)
    .outerjoin(
        Membership,
        and_(
            Membership.organisation_id == Person.organisation_id,
            Membership.community_id == bindparam("community_id"),
        ),
    )
    .outerjoin(Community, Community.id == bindparam("community_id"))
)
""":data:`_TOKEN_LOOKUP`, and on each row the community ``community_id`` (NULL when there is
none) and the caller's organisation's membership of it: the hot path of every community read,
in one round trip instead of three."""


@dataclass(frozen=True, slots=True)
class CommunityLookup:
    """A community looked up in the same query as the caller's token."""

    community: Community | None
    """None when no community has the id."""
    member: bool
    """Whether the caller's organisation is a member of the community."""


def authenticate(session: Session, authorization: str | None, admin_token: str | None) -> Principal:
    """The principal behind an ``Authorization`` header, or :class:`Unauthorized`."""
    token_hash = _stored_token_hash(authorization, admin_token)
    if token_hash is None:
        return BOOTSTRAP_ADMIN
    rows = session.execute(_TOKEN_LOOKUP, {"token_hash": token_hash}).all()
    return _verified(session, rows)


def authenticate_in_community(
    session: Session, authorization: str | None, admin_token: str | None, community_id: int
) -> tuple[Principal, CommunityLookup | None]:
    """:func:`authenticate`, and the community ``community_id`` with the caller's membership of
    it, from the same query. The lookup is None when the caller was authenticated without the
    database (the bootstrap admin token): then the community is still to be read."""
    token_hash = _stored_token_hash(authorization, admin_token)
    if token_hash is None:
        return BOOTSTRAP_ADMIN, None
    rows = session.execute(
        _TOKEN_AND_COMMUNITY_LOOKUP, {"token_hash": token_hash, "community_id": community_id}
    ).all()
    principal = _verified(session, rows)
    first = rows[0]
    return principal, CommunityLookup(
        community=first.Community, member=first.membership_id is not None
    )


def _stored_token_hash(authorization: str | None, admin_token: str | None) -> str | None:
    """The hash of the bearer token to look up, None for the bootstrap admin token (checked
    without the database), or :class:`Unauthorized` without a bearer token."""
    token = _bearer_token(authorization)
    if token is None:
        raise Unauthorized("send Authorization: Bearer <token>")
    if is_bootstrap_admin(authorization, admin_token):
        return None
    return hash_token(token)


def _verified(session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> Principal:
    """The principal of a stored token (the rows of :data:`_TOKEN_LOOKUP`), or
    :class:`Unauthorized`; notes when it was used."""
    if not rows:
        raise Unauthorized("unknown token")
    now = utcnow()
    stored = rows[0]
    if stored.revoked_at is not None or stored.expires_at <= now:
        raise Unauthorized("the token is revoked or expired")
    if stored.person_id is not None and (stored.erased_at is not None or not stored.active):
        raise Unauthorized("the token's person no longer takes part")
    if stored.last_used_at is None or now - stored.last_used_at >= LAST_USED_RESOLUTION:
        session.info[TOKEN_USED_KEY] = (stored.id, now)  # written apart: note_token_use
    if stored.person_id is None:
        return Principal(token_id=stored.id, person_id=None, organisation_id=None, is_admin=True)
    return Principal(
        token_id=stored.id,
        person_id=stored.person_id,
        organisation_id=stored.organisation_id,
        is_admin=False,
        organiser_of=frozenset(row.community_id for row in rows if row.community_id is not None),
    )


def note_token_use(session: Session, token_id: int, when: dt.datetime) -> None:
    """Write when a token was last used. The API does it after the request that used it, in a
    transaction of its own (``app.api.session.get_session``), so that request's reads stay reads."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=when))
