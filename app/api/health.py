"""Liveness and database reachability."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.problems import RETRY_AFTER_SECONDS, ProblemResponse, problem
from app.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="Service and database status",
    responses={503: {"description": "The database is unreachable"}},
)
def get_health(request: Request) -> Health | ProblemResponse | JSONResponse:
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
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
