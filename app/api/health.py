"""Liveness and database reachability."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.api.problems import ProblemResponse, problem, unavailable
from app.api.session import DatabaseSlots, in_thread
from app.migrate import SchemaState, schema_problem, schema_revision, schema_state
from app.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="Service and database status",
    responses={
        503: {"description": "The database is unreachable or busy, or its schema is not migrated"}
    },
)
async def get_health(request: Request) -> Health | ProblemResponse | JSONResponse:
    slots: DatabaseSlots = request.app.state.database_slots
    try:
        async with slots.taken():
            revision = await in_thread(_revision, request.app.state.engine)
    except PoolTimeout:  # every connection in use: busy, as every other endpoint says
        return unavailable(request, "the database is busy", "database-busy", {"database": "busy"})
    except SQLAlchemyError:
        return unavailable(
            request,
            "the database is unreachable",
            "database-unavailable",
            {"database": "unreachable"},
        )
    if (state := schema_state(revision)) is not SchemaState.CURRENT:
        # Requests would fail on missing tables or columns: say why, not "unreachable". A
        # schema of a newer copmatch is no matter of migrating: told apart for scripts too.
        newer = state is SchemaState.NEWER
        return problem(
            request,
            status=503,
            detail=schema_problem(revision, state),
            slug="database-newer-schema" if newer else "database-not-migrated",
            extra={"database": "newer-schema" if newer else "not-migrated"},
        )
    return Health(status="ok", database="ok")


def _revision(engine: Engine) -> str | None:
    """The database's schema revision, read as a reachability check too."""
    with engine.connect() as connection:
        return schema_revision(connection)
