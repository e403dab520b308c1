"""Dependencies shared by the routers: paging, the caller and the community they act in,
optimistic locking (``ETag`` / ``If-Match``) and idempotent creation. The request's session is
:mod:`app.api.session`'s.

The caller is authenticated once per request, by whichever dependency asks first;
:class:`ReadableCommunity` does it in the same worker-thread hand-off as its community check.
A read of one object on PostgreSQL is one hand-off (caller, community and object together).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

import anyio
from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from app.api.session import DatabaseSlots, SessionDep, in_thread
from app.auth import (
    BOOTSTRAP_ADMIN,
    Principal,
    authenticate,
    authenticate_in_community,
    is_bootstrap_admin,
)
from app.db import autocommit_bind
from app.errors import InvalidParam, PreconditionFailed, PreconditionRequired
from app.models import Community, IdempotencyRecord, VersionedMixin
from app.schemas import IN_DIGITS, MAX_ID, Page
from app.services import access
from app.services.audit import PRINCIPAL_KEY
from app.services.common import missing
from app.services.communities import get_community
from app.services.idempotency import IdempotencyKey

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int


async def paging(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}"), IN_DIGITS
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip"), IN_DIGITS] = 0,
) -> Paging:
    return Paging(limit=limit, offset=offset)


PagingDep = Annotated[Paging, Depends(paging)]

P = ParamSpec("P")
R = TypeVar("R")
QueryT = TypeVar("QueryT", bound=BaseModel)


def parsed_query(model: type[QueryT]) -> Callable[[Request], Awaitable[QueryT]]:
    """A dependency that reads the query string into ``model`` in one validation: for the
    hottest read, where FastAPI's extraction of one parameter at a time cost about 45 us of
    the request's 0.7 ms. The route documents the fields with :func:`query_parameters`.

    As FastAPI's own parameters: the field's alias is its name, the last of repeated values
    counts, unknown names are ignored, and an invalid value, an empty one too (``?limit=``),
    is a 400 naming ``query.<name>``.
    """

    async def parse(request: Request) -> QueryT:
        values = dict(request.query_params.items())
        try:
            return model.model_validate(values)
        except ValidationError as error:
            raise RequestValidationError(
                [
                    {**detail, "loc": ("query", *detail["loc"])}
                    for detail in error.errors(include_url=False)
                ]
            ) from None

    return parse


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting each field of ``model`` as an optional query parameter,
    as FastAPI documents its own (see :func:`parsed_query`)."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    parameters = []
    for name, field in schema["properties"].items():
        field = {key: value for key, value in field.items() if (key, value) != ("default", None)}
        field.setdefault("title", name.title())
        parameter = {"name": name, "in": "query", "required": False, "schema": field}
        if "description" in field:
            parameter["description"] = field["description"]
        parameters.append(parameter)
    return {"parameters": parameters}


ReadT = TypeVar("ReadT", bound=BaseModel)


def page_of(model: type[ReadT], rows: Sequence[Any], total: int, paging: Paging) -> Page[ReadT]:
    """One page of ``rows`` (already limited by the query) as ``model`` items."""
    return Page(
        items=[model.model_validate(row) for row in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


def window_of(items: Sequence[ReadT], paging: Paging) -> Page[ReadT]:
    """One page of a list computed in full (taxonomy, engine results)."""
    return Page(
        items=list(items[paging.offset : paging.offset + paging.limit]),
        total=len(items),
        limit=paging.limit,
        offset=paging.offset,
    )


def id_path(alias: str, description: str) -> Any:
    return Path(alias=alias, ge=1, le=MAX_ID, description=description)


OrganisationId = Annotated[int, id_path("organisationId", "Id of the organisation"), IN_DIGITS]
PersonId = Annotated[int, id_path("personId", "Id of the person"), IN_DIGITS]
CommunityId = Annotated[int, id_path("communityId", "Id of the community"), IN_DIGITS]
MeetingId = Annotated[int, id_path("meetingId", "Id of the meeting"), IN_DIGITS]
NeedId = Annotated[int, id_path("needId", "Id of the need"), IN_DIGITS]
OfferId = Annotated[int, id_path("offerId", "Id of the offer"), IN_DIGITS]
FormatPreferenceId = Annotated[
    int, id_path("formatPreferenceId", "Id of the format preference"), IN_DIGITS
]

API_PREFIX = "/api/v1"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health"})
"""The API routes anyone may call, without a token."""


def set_location(response: Response, path: str) -> None:
    """Point ``Location`` at a created resource (``path`` relative to ``/api/v1``)."""
    response.headers["Location"] = f"{API_PREFIX}{path}"


# --- who is calling, and may they -----------------------------------------------------------


def _caller(request: Request, session: Session, principal: Principal) -> Principal:
    """Remember ``principal`` as the request's caller: for the audit log (on the session) and
    for any later dependency of the same request (so it is authenticated once)."""
    session.info[PRINCIPAL_KEY] = principal
    request.state.principal = principal
    return principal


def _authenticated(request: Request, session: Session) -> Principal:
    """The request's caller, authenticated by the first dependency that asks. Blocking."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    principal = authenticate(
        session, request.headers.get("authorization"), request.app.state.settings.admin_token
    )
    return _caller(request, session, principal)


async def get_principal(request: Request, session: SessionDep) -> Principal:
    """The authenticated caller (401 without a valid bearer token). The bootstrap admin token
    and a caller already authenticated for this request need no database, so no hand-off."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    if is_bootstrap_admin(
        request.headers.get("authorization"), request.app.state.settings.admin_token
    ):
        return _caller(request, session, BOOTSTRAP_ADMIN)
    return await in_thread(_authenticated, request, session)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def manages_before_the_session(request: Request, community_id: CommunityId) -> bool:
    """May the caller manage the path's community? Asked before the request's session begins,
    in a short read of its own (401 for an unknown caller): for an endpoint with slow work to do
    without the database (reading an uploaded file) before its write transaction, which on
    SQLite holds the write lock from its start, and only for callers it is for. The session
    authenticates the caller again and checks the community (404, then 403) in the write
    transaction, so a token revoked meanwhile is refused."""
    return access.is_manager(await caller_apart(request), community_id)


async def caller_apart(request: Request) -> Principal:
    """The request's caller, authenticated in a short read of its own, outside the request's
    session (:class:`Unauthorized` for an unknown caller); the bootstrap admin token needs no
    database."""
    header = request.headers.get("authorization")
    admin_token = request.app.state.settings.admin_token
    if is_bootstrap_admin(header, admin_token):
        return BOOTSTRAP_ADMIN
    return await read_apart(request, authenticate, header, admin_token)


async def read_apart(
    request: Request, read: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """``read(session, *args, **kwargs)`` in a short read session of its own, outside the
    request's session (which, writing, holds SQLite's write lock from its start)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    slots: DatabaseSlots = request.app.state.database_slots
    bind = autocommit_bind(factory.kw.get("bind"))
    async with slots.taken():
        session = factory(bind=bind) if bind is not None else factory()
        try:
            return await in_thread(read, session, *args, **kwargs)
        finally:
            with anyio.CancelScope(shield=True):
                await in_thread(session.close)


def needs_a_caller(request: Request) -> bool:
    """Does the request's route need a token (every API route but PUBLIC_PATHS)? Its
    dependencies, which authenticate, run only when its path and query are valid, so an
    invalid one is answered before the caller is known: see problems._validation_error."""
    route = request.scope.get("route")
    return isinstance(route, APIRoute) and route.path not in PUBLIC_PATHS


def community_for_reader(request: Request, session: Session, community_id: int) -> Community:
    """The community ``community_id``, for callers who take part in it (admin, organiser,
    member): 401, then 404, then 403. Authenticates the caller unless a dependency did, so a
    hot read can make both checks in the same worker-thread hand-off as its own query; with a
    stored token, the caller, the community and their membership of it are one query.
    Blocking."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal, lookup = authenticate_in_community(
            session,
            request.headers.get("authorization"),
            request.app.state.settings.admin_token,
            community_id,
        )
        _caller(request, session, principal)
        if lookup is not None:
            if lookup.community is None:
                raise missing("community", community_id)
            access.require_reader(session, principal, community_id, member=lookup.member)
            return lookup.community
    community = get_community(session, community_id)
    access.require_reader(session, principal, community.id)
    return community


async def readable_community(
    request: Request, session: SessionDep, community_id: CommunityId
) -> Community:
    """The path's community, for callers who take part in it: one hand-off for the caller
    and the community, where the caller is not authenticated yet (reads), instead of two."""
    return await in_thread(community_for_reader, request, session, community_id)


def managed_community(
    session: SessionDep, principal: PrincipalDep, community_id: CommunityId
) -> Community:
    """The path's community, for its organisers and admins."""
    community = get_community(session, community_id)
    access.require_manager(principal, community.id)
    return community


ReadableCommunity = Annotated[Community, Depends(readable_community)]
ManagedCommunity = Annotated[Community, Depends(managed_community)]


# --- optimistic locking --------------------------------------------------------------------


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, row: VersionedMixin) -> None:
    response.headers["ETag"] = etag(row.version)


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=100,
        description="The ETag of the version you are changing (from a GET), or `*`; required",
    ),
]


def names_version(if_match: str, version: int) -> bool:
    """Whether ``If-Match`` is ``*`` (any current representation) or lists the ETag of
    ``version`` among its comma-separated tags, by the strong comparison RFC 9110 §13.1.1 asks
    of If-Match: character by character (``"01"`` is not ``"1"``), and a weak tag
    (``W/"1"``) matches nothing."""
    if if_match.strip() == "*":
        return True
    current = etag(version)
    return any(tag.strip() == current for tag in if_match.split(","))


def check_version(row: VersionedMixin, if_match: str | None) -> None:
    """428 without ``If-Match``, 412 unless it is ``*`` or names the stored version. The UPDATE
    or DELETE checks the version again in the database, so a concurrent writer cannot slip in
    between.

    Called after the row is loaded, so a missing resource is a 404 first."""
    if if_match is None:
        raise PreconditionRequired(
            "send If-Match with the ETag from your last GET, so no one's change is lost",
            invalid_params=[InvalidParam("header.If-Match", "required")],
        )
    if not names_version(if_match, row.version):
        raise PreconditionFailed(
            f"the resource is now at {etag(row.version)}, not {if_match}; GET it again",
            invalid_params=[InvalidParam("header.If-Match", "not the current ETag")],
        )


# --- idempotent creation -------------------------------------------------------------------

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


async def idempotency(
    request: Request,
    principal: PrincipalDep,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="A unique key per intended creation; a retry with it returns the "
            "first result instead of creating a second object",
        ),
    ] = None,
) -> IdempotencyKey | None:
    """The key and the request it came with; the route completes it with its canonical path
    (:meth:`IdempotencyKey.at`)."""
    if key is None:
        return None
    return IdempotencyKey(
        principal=principal.key,
        key=key,
        method=request.method,
        query=request.url.query,
        body=await request.body(),
    )


IdempotencyDep = Annotated[IdempotencyKey | None, Depends(idempotency)]


def replay(record: IdempotencyRecord) -> JSONResponse:
    """The stored first response, marked as a replay."""
    headers = {"Idempotent-Replayed": "true"}
    if record.location:
        headers["Location"] = record.location
    if record.etag:
        headers["ETag"] = record.etag
    return JSONResponse(json.loads(record.body), status_code=record.status, headers=headers)
