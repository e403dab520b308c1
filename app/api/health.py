"""Liveness and database reachability."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.api.problems import RETRY_AFTER_SECONDS, ProblemResponse, problem
from app.api.session import DatabaseSlots, in_thread
from app.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="Service and database status",
    responses={503: {"description": "The database is unreachable"}},
)
async def get_health(request: Request) -> Health | ProblemResponse | JSONResponse:
    slots: DatabaseSlots = request.app.state.database_slots
    try:
        async with slots.taken():
            await in_thread(_select_one, request.app.state.engine)
    except SQLAlchemyError:
        return problem(
            request,
            status=503,
            title="Service unavailable",
            detail="the database is unreachable",
            slug="database-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            extra={"database": "unreachable"},
        )
    return Health(status="ok", database="ok")


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
