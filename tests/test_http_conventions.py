"""Conventions every response follows: API-Version, problem+json, no trailing slashes, health."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import __version__
from app.api.session import DatabaseSlots
from app.config import Settings
from app.db import build_engine
from app.main import DOCS_ASSETS, create_app
from app.migrate import head_revision
from tests import factories
from tests.conftest import ADMIN_TOKEN, migrate
from tests.live import live_server
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


def test_health_says_busy_when_every_database_slot_is_taken(settings: Settings) -> None:
    """It said "unreachable" (database-unavailable) where every other endpoint says busy."""
    app = create_app(settings, build_engine("sqlite://"))
    app.state.database_slots = DatabaseSlots(1, timeout=0.01)
    with TestClient(app, headers=ADMIN) as client:
        slots: DatabaseSlots = app.state.database_slots

        async def hold() -> None:
            await slots._free.acquire()

        client.portal.call(hold)  # type: ignore[union-attr]
        response = client.get("/api/v1/health")
        body = assert_problem(response, 503)
        assert (body["type"], body["database"]) == ("urn:copmatch:problem:database-busy", "busy")
        assert response.headers["retry-after"] == "5"


def test_health_and_requests_say_when_the_schema_is_not_migrated(
    settings: Settings, tmp_path: Path
) -> None:
    """A database migrated to an older revision answered /health with "ok", and requests with
    503 "unreachable" (a missing column read as a lost connection)."""
    engine = build_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with TestClient(create_app(settings, engine), headers=ADMIN) as client:
        body = assert_problem(client.get("/api/v1/health"), 503)
        assert (body["database"], body["detail"]) == (
            "not-migrated",
            f"the database schema is at revision none; this copmatch needs {head_revision()}: "
            "run copmatch migrate",
        )
        request = assert_problem(client.get("/api/v1/organisations"), 503)
        assert request["type"] == "urn:copmatch:problem:database-not-migrated"
        migrate(engine)
        assert client.get("/api/v1/health").json() == {"status": "ok", "database": "ok"}
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'"))
        body = assert_problem(client.get("/api/v1/health"), 503)
        # Migrating cannot help where a newer copmatch migrated the database.
        assert (body["type"], body["database"]) == (
            "urn:copmatch:problem:database-newer-schema",
            "newer-schema",
        )
        assert body["detail"] == (
            "the database schema is at revision a1b2c3d4e5f6, which this copmatch does not "
            f"know (it knows up to {head_revision()}): a newer copmatch migrated it; run that "
            "copmatch or a newer one"
        )
    engine.dispose()


def test_unknown_path_method_and_trailing_slash(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.get("/api/v1/organisations/"), 404)
    response = client.put("/api/v1/organisations")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"
    # The documentation's routes too, which the OpenAPI document does not list.
    for path in ("/docs", "/api/v1/openapi.json"):
        refused = client.post(path)
        body = assert_problem(refused, 405)
        assert (refused.headers["allow"], body["detail"]) == (
            "GET, HEAD",
            "POST is not allowed here; use GET or HEAD",
        )


def test_every_response_has_api_version(client: TestClient) -> None:
    for path in ("/api/v1/openapi.json", "/docs", "/api/v1/topics", "/"):
        response = client.get(path, follow_redirects=False)
        assert response.headers["api-version"] == __version__, path


def test_a_response_without_content_has_no_content_type(
    client: TestClient, session: Session
) -> None:
    """Found by review: a 204 said ``Content-Type: application/json``."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    needs = f"/api/v1/communities/{cop.id}/needs"
    created = client.post(needs, json={"organisationId": haarlem.id, "text": "Hulp bij de TVW"})
    deleted = client.delete(
        f"{needs}/{created.json()['id']}", headers={"If-Match": created.headers["etag"]}
    )
    listed = client.get(f"/api/v1/communities/{cop.id}/suggestions")
    unchanged = client.get(listed.url, headers={"If-None-Match": listed.headers["etag"]})
    assert [deleted.status_code, unchanged.status_code] == [204, 304]
    assert [deleted.content, unchanged.content] == [b"", b""]
    assert ["content-type" in r.headers for r in (deleted, unchanged)] == [False, False]
    assert (listed.headers["content-type"], deleted.headers["api-version"]) == (
        "application/json",
        __version__,
    )


def test_the_docs_page_needs_no_cdn(client: TestClient) -> None:
    """A closed municipal network may not reach cdn.jsdelivr.net, where FastAPI's /docs page
    loads Swagger UI from (found by review): the page was blank there."""
    page = client.get("/docs", headers={"Authorization": ""})
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    files = ("swagger-ui.css", "favicon.png", "swagger-ui-bundle.js")
    assert sources == [f"{DOCS_ASSETS}/{name}" for name in files]
    for source in sources:
        asset = client.get(source, headers={"Authorization": ""})
        assert (asset.status_code, len(asset.content) > 500) == (200, True), source


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


def test_head_is_the_get_without_its_body(client: TestClient) -> None:
    created = client.post("/api/v1/communities", json={"name": "CoP HEAD"})
    url = created.headers["location"]
    for path in (url, f"{url}/suggestions", f"{url}/report", "/api/v1/organisations?limit=1"):
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (200, b""), path
        assert got.status_code == 200, path
        for name in ("content-type", "content-length", "etag", "api-version"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)
    # The same access: no token, no content; nothing is there, 404.
    assert client.head(url, headers={"Authorization": ""}).status_code == 401
    assert client.head("/api/v1/communities/999999").status_code == 404
    # HEAD is allowed where GET is, and only there.
    refused = client.head(f"{url}/_recompute")
    assert (refused.status_code, refused.headers["allow"], refused.content) == (405, "POST", b"")


def test_head_through_a_real_server(tmp_path: Path) -> None:
    """The server keeps its own scope, method HEAD, so it sends no body either way and the
    GET's Content-Length is no promise it expects to be kept."""
    engine = build_engine(f"sqlite:///{tmp_path / 'head.sqlite3'}")
    migrate(engine)
    with live_server(engine) as live, live.client() as http:
        got, head = http.get("/api/v1/topics"), http.head("/api/v1/topics")
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == got.headers["content-length"] != "0"
        assert http.get("/api/v1/health").status_code == 200  # the connection still works
    engine.dispose()


INTEGER_PARAMETERS = [
    ("/organisations/{value}", "path.organisationId"),
    ("/people/{value}", "path.personId"),
    ("/tokens/{value}", "path.tokenId"),
    ("/communities/{value}", "path.communityId"),
    ("/communities/{community}/needs/{value}", "path.needId"),
    ("/communities/{community}/format-preferences/{value}", "path.formatPreferenceId"),
    ("/communities/{community}/suggestions/{value}", "path.suggestionId"),
    ("/organisations?limit={value}", "query.limit"),
    ("/communities/{community}/offers?offset={value}", "query.offset"),
    ("/communities/{community}/needs?organisationId={value}", "query.organisationId"),
    ("/communities/{community}/offers?meetingId={value}", "query.meetingId"),
    ("/communities/{community}/suggestions?needId={value}", "query.needId"),
    ("/communities/{community}/suggestions?limit={value}", "query.limit"),
    ("/organisations/{organisation}/report?communityId={value}", "query.communityId"),
]


@pytest.mark.parametrize(("url", "name"), INTEGER_PARAMETERS)
def test_an_integer_parameter_is_written_in_the_digits_0_to_9(
    client: TestClient, session: Session, url: str, name: str
) -> None:
    """Lax parsing read "1_7", "17.0", " 17", "+17" and Arabic-Indic digits as 17: one id,
    many spellings (and many cache keys)."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    for value in ("1_7", "17.0", "%2017", "+17", "%D9%A1%D9%A7"):  # the last: ١٧
        path = url.format(community=cop.id, organisation=haarlem.id, value=value)
        assert_problem(client.get(f"/api/v1{path}"), 400, name)


def test_each_problem_type_has_one_title(client: TestClient, session: Session) -> None:
    """RFC 9457: a type's title does not change from occurrence to occurrence. "not-found"
    came as "Not Found" and "Not found", "bad-request" with three titles."""
    cop = factories.community(session)
    imports = f"/api/v1/communities/{cop.id}/imports"
    multipart = {"Content-Type": "multipart/form-data"}  # no boundary
    responses = [
        client.get("/api/v1/nothing-here"),
        client.get("/api/v1/tokens/999999"),
        client.get("/api/v1/communities/abc"),
        client.post(
            "/api/v1/communities", content=b"{", headers={"Content-Type": "application/json"}
        ),
        client.post(imports, content=b"x", headers=multipart),
        client.post("/api/v1/communities", json={}),
        client.put("/api/v1/communities"),
    ]
    titles = {(r.json()["type"], r.json()["title"]) for r in responses}
    assert sorted(titles) == [
        ("urn:copmatch:problem:bad-request", "Bad request"),
        ("urn:copmatch:problem:method-not-allowed", "Method not allowed"),
        ("urn:copmatch:problem:not-found", "Not found"),
        ("urn:copmatch:problem:validation-failed", "Unprocessable content"),
    ]
    # The unreadable form names the body, and an unknown caller learns that first.
    assert_problem(responses[4], 400, "body")
    assert_problem(
        client.post(imports, content=b"x", headers={**multipart, "Authorization": ""}), 401
    )


def test_database_echo_logs_each_statement_once(caplog: pytest.LogCaptureFixture) -> None:
    """SQLAlchemy's own echo handler beside the command line's logging printed each twice."""
    engine_logger = logging.getLogger("sqlalchemy.engine")
    level = engine_logger.level
    try:
        engine = build_engine("sqlite://", echo=True)
        assert engine.echo is False  # logging has a handler (caplog's): it prints them
        with caplog.at_level(logging.INFO), engine.connect() as connection:
            connection.execute(text("SELECT 42"))
        assert [r.getMessage() for r in caplog.records].count("SELECT 42") == 1
    finally:
        engine_logger.setLevel(level)
