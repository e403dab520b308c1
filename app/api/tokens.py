"""Bearer tokens: read one's metadata, revoke it. Issued under ``/people/{personId}/tokens``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.deps import PrincipalDep
from app.api.session import SessionDep
from app.schemas import IN_DIGITS, MAX_ID, TokenRead
from app.services import tokens as service

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
