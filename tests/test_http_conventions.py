"""Conventions every response follows: API-Version, problem+json, no trailing slashes, health."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.testclient import TestClient

from app import __version__
from app.config import Settings
from app.db import build_engine
from app.main import create_app
from tests.conftest import ADMIN_TOKEN
from tests.problems import assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_health_reports_database(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response.headers["api-version"] == __version__


def test_health_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    engine = build_engine("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=1")
    with TestClient(create_app(settings, engine), headers=ADMIN) as client:
        response = client.get("/api/v1/health")
        body = assert_problem(response, 503)
        assert body["database"] == "unreachable"
        assert response.headers["retry-after"] == "5"
        # A request that needs the database fails the same clean way.
        assert_problem(client.get("/api/v1/organisations"), 503)


def test_unknown_path_method_and_trailing_slash(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.get("/api/v1/organisations/"), 404)
    response = client.put("/api/v1/organisations")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, POST"


def test_every_response_has_api_version(client: TestClient) -> None:
    for path in ("/api/v1/openapi.json", "/docs", "/api/v1/topics", "/"):
        response = client.get(path, follow_redirects=False)
        assert response.headers["api-version"] == __version__, path


def test_unexpected_errors_are_problems_without_internals(settings: Settings) -> None:
    engine = build_engine("sqlite://")
    app = create_app(settings, engine)
    router = APIRouter()

    @router.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False, headers=ADMIN) as client:
        response = client.get("/api/v1/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text
    assert body["detail"] == "an unexpected error occurred; it has been logged"
