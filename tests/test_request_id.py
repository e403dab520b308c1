"""Every response names its request in ``X-Request-ID``; the audit log records that id."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import build_engine
from app.main import create_app
from app.models import AuditEvent
from tests import factories
from tests.problems import assert_problem

GENERATED = re.compile(r"[0-9a-f]{32}")  # uuid4().hex


def recorded_request_ids(session: Session, resource: str, resource_id: int) -> list[str | None]:
    return list(
        session.scalars(
            select(AuditEvent.request_id)
            .where(AuditEvent.resource == resource, AuditEvent.resource_id == resource_id)
            .order_by(AuditEvent.id)
        )
    )


def create_organisation(client: TestClient, request_id: str | bytes) -> httpx.Response:
    """An audited write, sent with ``request_id``."""
    response = client.post(
        "/api/v1/organisations",
        json={"name": "RVO", "kind": "agency"},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    return response


@pytest.mark.parametrize("sent", ["proxy-7f3a.2_b", "A" * 64])
def test_a_write_records_the_clients_request_id(
    client: TestClient, session: Session, sent: str
) -> None:
    response = create_organisation(client, sent)
    assert response.headers.get_list("x-request-id") == [sent]
    assert recorded_request_ids(session, "organisation", response.json()["id"]) == [sent]


def test_without_a_request_id_each_request_gets_its_own(
    client: TestClient, session: Session
) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs"
    first = client.post(url, json={"organisationId": haarlem.id, "text": "Hoe maak je een WUP?"})
    second = client.post(url, json={"organisationId": haarlem.id, "text": "Warmtenet in de wijk"})
    assert (first.status_code, second.status_code) == (201, 201)
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert [bool(GENERATED.fullmatch(request_id)) for request_id in ids] == [True, True]
    assert ids[0] != ids[1]
    assert recorded_request_ids(session, "need", first.json()["id"]) == [ids[0]]
    assert recorded_request_ids(session, "need", second.json()["id"]) == [ids[1]]
    # Writes made without a request (the CLI, the factories here) record none.
    assert recorded_request_ids(session, "community", cop.id) == [None]


def test_the_audit_log_shows_and_finds_each_requests_writes(
    client: TestClient, session: Session
) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    base = f"/api/v1/communities/{cop.id}"
    needs = [
        client.post(
            f"{base}/needs",
            json={"organisationId": haarlem.id, "text": text},
            headers={"X-Request-ID": request_id},
        )
        for text, request_id in (("Hoe maak je een WUP?", "first"), ("Warmtenet", "second"))
    ]
    assert [need.status_code for need in needs] == [201, 201]
    log = client.get(f"{base}/audit-log").json()["items"]
    assert [(e["resourceId"], e["requestId"]) for e in log if e["resource"] == "need"] == [
        (needs[1].json()["id"], "second"),
        (needs[0].json()["id"], "first"),
    ]
    found = client.get(f"{base}/audit-log", params={"requestId": "first"}).json()
    assert [(e["resource"], e["resourceId"]) for e in found["items"]] == [
        ("need", needs[0].json()["id"])
    ]
    assert found["total"] == 1
    none = client.get(f"{base}/audit-log", params={"requestId": "unknown"}).json()
    assert (none["items"], none["total"]) == ([], 0)
    invalid = client.get(f"{base}/audit-log", params={"requestId": "a;b"})
    assert_problem(invalid, 400, "query.requestId")


@pytest.mark.parametrize(
    "sent",
    [
        "A" * 65,  # longer than AuditEvent.request_id holds
        "two words",
        "a;b=c",
        "<script>",
        "a/b",
        "",
        b"caf\xe9",  # not ASCII
    ],
)
def test_an_unsafe_request_id_is_replaced_and_not_stored(
    client: TestClient, session: Session, sent: str | bytes
) -> None:
    response = create_organisation(client, sent)
    [replaced] = response.headers.get_list("x-request-id")
    assert GENERATED.fullmatch(replaced)
    assert recorded_request_ids(session, "organisation", response.json()["id"]) == [replaced]


def test_every_response_carries_the_request_id_once(client: TestClient) -> None:
    sent = {"X-Request-ID": "trace-1"}
    for response in (
        client.get("/api/v1/organisations", headers=sent),
        client.get("/api/v1/organisations/999", headers=sent),  # a problem made by a handler
        client.post("/api/v1/organisations", content=b"x" * (2 * 1024 * 1024), headers=sent),
    ):
        assert response.headers.get_list("x-request-id") == ["trace-1"], response.status_code
    assert_problem(client.get("/api/v1/organisations/999", headers=sent), 404)


def test_an_unexpected_error_names_the_request_too(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Its 500 is made by Starlette's outermost middleware, outside the app's own; its log line
    names the request, so the id a client reports finds it."""
    app = create_app(settings, build_engine("sqlite://"))

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom", headers={"X-Request-ID": "trace-500"})
    assert_problem(response, 500)
    assert response.headers.get_list("x-request-id") == ["trace-500"]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "unhandled error on GET /api/v1/boom (request trace-500)"
    ]


def test_browsers_may_send_and_read_the_request_id(settings: Settings) -> None:
    allowed = settings.model_copy(update={"cors_origins": ["https://cop.example.org"]})
    origin = {"Origin": "https://cop.example.org"}
    with TestClient(create_app(allowed, build_engine("sqlite://"))) as client:
        preflight = client.options(
            "/api/v1/health",
            headers={
                **origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-request-id",
            },
        )
        assert preflight.status_code == 200
        response = client.get("/api/v1/health", headers=origin)
    exposed = response.headers["access-control-expose-headers"].split(", ")
    assert "X-Request-ID" in exposed
