"""Bearer tokens: issue one for a person (``/people/{personId}/tokens``), read its metadata,
revoke it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app.api.deps import PersonId, PrincipalDep, set_location
from app.api.session import SessionDep
from app.schemas import IN_DIGITS, MAX_ID, TokenCreated, TokenRead
from app.services import tokens as service
from app.services.organisations import get_person

router = APIRouter(tags=["tokens"])

TokenId = Annotated[
    int, Path(alias="tokenId", ge=1, le=MAX_ID, description="Id of the token"), IN_DIGITS
]


@router.get("/tokens/{tokenId}", response_model=TokenRead, summary="Get a token's metadata")
def get_token(session: SessionDep, principal: PrincipalDep, token_id: TokenId) -> TokenRead:
    token = service.get_token(session, token_id)
    service.require_token_reader(session, principal, token)
    return TokenRead.model_validate(token)


@router.delete(
    "/tokens/{tokenId}",
    status_code=204,
    summary="Revoke a token",
    description="Admins any token; organisers those of their communities' people; everyone "
    "their own, any of them (not only the one presented).",
)
def revoke_token(session: SessionDep, principal: PrincipalDep, token_id: TokenId) -> None:
    token = service.get_token(session, token_id)
    service.revoke_token(session, principal, token)


@router.post(
    "/people/{personId}/tokens",
    status_code=201,
    response_model=TokenCreated,
    summary="Issue a bearer token for a person",
    description="The token is shown once; only its SHA-256 hash is stored. Admins, and "
    "organisers for people who take part in no community they do not run. A token an "
    "organiser issued is revoked when its person comes to take part in a community that "
    "organiser does not run.",
    responses={
        201: {
            "headers": {
                "Cache-Control": {
                    "description": "`no-store`: the token is shown this once",
                    "schema": {"type": "string", "enum": ["no-store"]},
                }
            }
        }
    },
)
def create_token(
    session: SessionDep,
    principal: PrincipalDep,
    person_id: PersonId,
    request: Request,
    response: Response,
) -> TokenCreated:
    person = get_person(session, person_id)
    service.require_token_issuer(session, principal, person)
    lifetime = request.app.state.settings.token_lifetime_days
    issued = service.issue_token(session, person, lifetime_days=lifetime, issued_by=principal)
    response.headers["Cache-Control"] = "no-store"
    set_location(response, f"/tokens/{issued.id}")
    return TokenCreated(id=issued.id, token=issued.token, expires_at=issued.expires_at)
