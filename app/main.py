"""The application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.api import answers, communities, health, matching, organisations, topics
from app.api.deps import API_PREFIX
from app.api.openapi import build_openapi
from app.api.problems import register_problem_handlers
from app.config import Settings, get_settings
from app.db import get_engine, session_factory


class ApiVersionHeader:
    """Adds ``API-Version`` to every response (NL GOV ADR /core/version-header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (b"api-version", __version__.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != self.header[0]]
                message["headers"] = [*headers, self.header]
            await send(message)

        await self.app(scope, receive, send_with_version)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: the environment) on ``engine``."""
    settings = settings or get_settings()
    engine = engine or get_engine()
    app = FastAPI(
        title="copmatch",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        debug=False,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)

    for module in (health, topics, organisations, communities, answers, matching):
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
    app.add_middleware(ApiVersionHeader)
    return app
