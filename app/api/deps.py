"""Dependencies shared by the routers: the request's database session and paging."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from sqlalchemy.orm import Session

from app.schemas import MAX_ID

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


def get_session(request: Request) -> Iterator[Session]:
    """The unit of work of one request: the only place in the app that commits.

    Declared with ``scope="function"`` so the commit happens before the response is sent; a
    failing commit therefore becomes an error response, never a 2xx for lost data.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int


def paging(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip")] = 0,
) -> Paging:
    return Paging(limit=limit, offset=offset)


PagingDep = Annotated[Paging, Depends(paging)]


def id_path(alias: str, description: str) -> Any:
    return Path(alias=alias, ge=1, le=MAX_ID, description=description)


OrganisationId = Annotated[int, id_path("organisationId", "Id of the organisation")]
PersonId = Annotated[int, id_path("personId", "Id of the person")]
CommunityId = Annotated[int, id_path("communityId", "Id of the community")]
MeetingId = Annotated[int, id_path("meetingId", "Id of the meeting")]
NeedId = Annotated[int, id_path("needId", "Id of the need")]
OfferId = Annotated[int, id_path("offerId", "Id of the offer")]
FormatPreferenceId = Annotated[int, id_path("formatPreferenceId", "Id of the format preference")]

API_PREFIX = "/api/v1"


def set_location(response: Response, path: str) -> None:
    """Point ``Location`` at a created resource (``path`` relative to ``/api/v1``)."""
    response.headers["Location"] = f"{API_PREFIX}{path}"
