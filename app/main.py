"""The application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from pydantic.alias_generators import to_camel
from sqlalchemy import Engine

from app import __version__
from app.api import (
    answers,
    communities,
    health,
    imports,
    matching,
    organisations,
    reports,
    tokens,
    topics,
)
from app.api.cache import ResponseCache
from app.api.deps import API_PREFIX
from app.api.middleware import (
    CORS_ALLOWED_HEADERS,
    CORS_EXPOSED_HEADERS,
    BodySizeLimit,
    HeadAsGet,
    ResponseHeaders,
)
from app.api.openapi import build_openapi
from app.api.problems import ProblemCORSMiddleware, register_problem_handlers
from app.api.session import DatabaseSlots
from app.config import Settings, get_settings
from app.db import get_engine, pool_limits, session_factory
from app.services import audit, suggestion_versions

DOCS_ASSETS = "/docs-assets"
"""Where the /docs page's own Swagger UI files are served."""

SUGGESTION_PAGES_CACHED = 256
"""Serialised suggestion pages kept per process (a 100-item page is about 80 kB)."""


def _operation_id(route: APIRoute) -> str:
    """``getOrganisation`` from ``get_organisation``: readable ids for clients and links."""
    return to_camel(route.name)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: the environment) on ``engine``."""
    settings = settings or get_settings()
    engine = engine or get_engine()
    # FastAPIOffline: FastAPI whose /docs page loads Swagger UI from this server (under
    # DOCS_ASSETS), not from a CDN that a closed municipal network may not reach.
    app = FastAPIOffline(
        title="copmatch",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
        debug=False,
        redirect_slashes=False,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.database_slots = DatabaseSlots(*pool_limits(engine))
    app.state.suggestion_pages = ResponseCache(SUGGESTION_PAGES_CACHED)

    # Routes are matched in order, one by one, and no two paths overlap: the hot reads (the
    # suggestions page, single answers) come first, so they are found after few attempts.
    for module in (
        health,
        matching,
        answers,
        communities,
        topics,
        organisations,
        tokens,
        imports,
        reports,
    ):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    register_problem_handlers(app)
    audit.install()
    suggestion_versions.install()
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        # Multipart framing adds a little to the file itself.
        larger={
            "/imports": (
                settings.import_max_bytes + 64 * 1024,
                f": the file may be at most {settings.import_max_bytes:,} bytes; split it",
            )
        },
    )
    if settings.cors_origins:
        # An explicit allow-list only; no credentials (bearer tokens are sent explicitly).
        # Around BodySizeLimit, so a script on an allowed origin can read a 413 too.
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            allow_headers=list(CORS_ALLOWED_HEADERS),
            expose_headers=list(CORS_EXPOSED_HEADERS),
            allow_credentials=False,
        )
    app.add_middleware(ResponseHeaders)  # a 413 carries them too
    app.add_middleware(HeadAsGet)  # outermost: every layer sees the GET it answers
    return app
