"""Authentication: tokens, the allow-list of public routes, and start-up refusals."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.auth import hash_token
from app.config import Settings
from app.models import ApiToken, AuditEvent, CommunityOrganiser
from app.services import tokens
from tests import factories
from tests.conftest import ADMIN_TOKEN, BACKENDS, migrated
from tests.http import delete, patch
from tests.problems import assert_problem

PUBLIC = {("GET", "/api/v1/health")}


def test_every_route_requires_a_token_except_the_allow_list(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert client.get("/api/v1/openapi.json", headers={"Authorization": ""}).status_code == 200
    assert client.get("/docs", headers={"Authorization": ""}).status_code == 200
    checked = 0
    for template, item in document["paths"].items():
        path = "/api/v1" + re.sub(r"\{[^}]+\}", "1", template)
        for method in item:
            response = client.request(method.upper(), path, headers={"Authorization": ""})
            if (method.upper(), "/api/v1" + template) in PUBLIC:
                assert response.status_code == 200, path
                continue
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == 'Bearer realm="copmatch"'
            checked += 1
    assert checked == sum(len(item) for item in document["paths"].values()) - len(PUBLIC)


@pytest.mark.parametrize("header", ["", "Bearer nonsense"], ids=["no-token", "unknown-token"])
def test_an_unknown_caller_is_told_so_before_what_is_wrong_with_the_path_or_query(
    client: TestClient, header: str
) -> None:
    """A route's dependencies, which authenticate, do not run on an invalid path or query:
    /communities/0/needs without a token was a 400 naming communityId."""
    document = client.get("/api/v1/openapi.json").json()
    checked = 0
    for template, item in document["paths"].items():
        path = "/api/v1" + re.sub(r"\{[^}]+\}", "0", template) + "?limit=0&offset=-1"
        for method in item:
            if (method.upper(), "/api/v1" + template) in PUBLIC:
                continue
            response = client.request(method.upper(), path, headers={"Authorization": header})
            assert response.status_code == 401, (method, path, response.text)
            checked += 1
    assert checked == sum(len(item) for item in document["paths"].values()) - len(PUBLIC)
    # A known caller is told what is wrong.
    assert_problem(client.get("/api/v1/communities/0/needs"), 400, "path.communityId")


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer nonsense", "Basic YWRtaW46YWRtaW4=", f"Token {ADMIN_TOKEN}"],
    ids=["empty", "no-token", "unknown-token", "basic", "other-scheme"],
)
def test_bad_authorization_headers(client: TestClient, header: str) -> None:
    response = client.get("/api/v1/topics", headers={"Authorization": header})
    assert_problem(response, 401)


def test_issued_token_works_is_hashed_and_can_be_revoked(
    client: TestClient, session: Session
) -> None:
    haarlem = factories.municipality(session)
    sanne = factories.person(session, haarlem)
    response = client.post(f"/api/v1/people/{sanne.id}/tokens")
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"id", "token", "expiresAt"}
    assert len(body["token"]) >= 43  # 32 random bytes, URL-safe base64
    stored = session.scalars(select(ApiToken).where(ApiToken.id == body["id"])).one()
    assert stored.token_hash == hash_token(body["token"])
    dump = " ".join(str(v) for v in session.execute(text("SELECT * FROM api_tokens")).all())
    assert body["token"] not in dump

    own = {"Authorization": f"Bearer {body['token']}"}
    assert client.get(f"/api/v1/people/{sanne.id}", headers=own).status_code == 200
    session.expire_all()
    assert session.get_one(ApiToken, body["id"]).last_used_at is not None
    meta = client.get(f"/api/v1/tokens/{body['id']}", headers=own).json()
    assert (meta["personId"], meta["revokedAt"]) == (sanne.id, None)

    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=own).status_code == 204
    assert_problem(client.get(f"/api/v1/people/{sanne.id}", headers=own), 401)
    assert_problem(client.get(f"/api/v1/tokens/{body['id']}"), 404)
    assert_problem(client.delete(f"/api/v1/tokens/{body['id']}"), 404)
    session.expire_all()
    assert session.get_one(ApiToken, body["id"]).revoked_at is not None  # forgotten for the export


def test_a_person_reads_and_revokes_their_own_other_tokens_and_no_one_elses(
    client: TestClient, session: Session
) -> None:
    """Only the token presented was "their own": a leaked second token of the same person
    could not be revoked with the first."""
    haarlem = factories.municipality(session)
    sanne, piet = factories.person(session, haarlem), factories.person(session, haarlem)
    first = tokens.issue_token(session, sanne, lifetime_days=1)
    leaked = tokens.issue_token(session, sanne, lifetime_days=1)
    colleagues = tokens.issue_token(session, piet, lifetime_days=1)
    own = {"Authorization": f"Bearer {first.token}"}

    assert client.get(f"/api/v1/tokens/{leaked.id}", headers=own).json()["personId"] == sanne.id
    assert client.delete(f"/api/v1/tokens/{leaked.id}", headers=own).status_code == 204
    assert_problem(
        client.get("/api/v1/topics", headers={"Authorization": f"Bearer {leaked.token}"}), 401
    )
    assert_problem(client.get(f"/api/v1/tokens/{colleagues.id}", headers=own), 403)
    assert_problem(client.delete(f"/api/v1/tokens/{colleagues.id}", headers=own), 403)
    assert client.get("/api/v1/topics", headers=own).status_code == 200


def test_expired_tokens_and_tokens_of_people_who_left(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    sanne = factories.person(session, haarlem)
    old = tokens.issue_token(session, sanne, lifetime_days=1)
    session.get_one(ApiToken, old.id).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    session.flush()
    assert_problem(
        client.get("/api/v1/topics", headers={"Authorization": f"Bearer {old.token}"}), 401
    )

    fresh = tokens.issue_token(session, sanne, lifetime_days=1)
    headers = {"Authorization": f"Bearer {fresh.token}"}
    assert client.get("/api/v1/topics", headers=headers).status_code == 200
    assert patch(client, f"/api/v1/people/{sanne.id}", {"active": False}).status_code == 200
    assert_problem(client.get("/api/v1/topics", headers=headers), 401)
    assert_problem(client.post(f"/api/v1/people/{sanne.id}/tokens"), 409)
    # Coming back does not bring the tokens they had back: they are issued a new one.
    assert patch(client, f"/api/v1/people/{sanne.id}", {"active": True}).status_code == 200
    assert_problem(client.get("/api/v1/topics", headers=headers), 401)
    assert session.get_one(ApiToken, fresh.id).revoked_at is not None
    again = tokens.issue_token(session, sanne, lifetime_days=1)
    assert (
        client.get("/api/v1/topics", headers={"Authorization": f"Bearer {again.token}"}).status_code
        == 200
    )


def test_erasing_a_person_deletes_their_tokens(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    sanne = factories.person(session, haarlem)
    issued = tokens.issue_token(session, sanne, lifetime_days=1)
    assert delete(client, f"/api/v1/people/{sanne.id}").status_code == 204
    assert session.scalar(select(ApiToken).where(ApiToken.id == issued.id)) is None
    assert_problem(
        client.get("/api/v1/topics", headers={"Authorization": f"Bearer {issued.token}"}), 401
    )


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize(
    "token", [None, "", "short", "changeme-changeme-changeme-changeme", "x" * 31]
)
def test_refuses_to_start_outside_development_without_a_real_admin_token(
    environment: str, token: str | None
) -> None:
    url = "postgresql+psycopg://db/copmatch"
    with pytest.raises(ValidationError, match="COPMATCH_ADMIN_TOKEN"):
        Settings(environment=environment, database_url=url, admin_token=token)  # type: ignore[arg-type]


def test_development_runs_without_an_admin_token() -> None:
    assert Settings(environment="development", admin_token=None).admin_token is None


def test_cors_is_off_by_default_and_an_explicit_allow_list(settings: Settings) -> None:
    from app.db import build_engine
    from app.main import create_app

    origin = {"Origin": "https://evil.example.org", "Access-Control-Request-Method": "GET"}
    with TestClient(create_app(settings, build_engine("sqlite://"))) as client:
        response = client.get("/api/v1/health", headers=origin)
        assert "access-control-allow-origin" not in response.headers
    allowed = settings.model_copy(update={"cors_origins": ["https://cop.example.org"]})
    with TestClient(create_app(allowed, build_engine("sqlite://"))) as client:
        good = client.options(
            "/api/v1/health", headers={**origin, "Origin": "https://cop.example.org"}
        )
        assert good.headers["access-control-allow-origin"] == "https://cop.example.org"
        assert "access-control-allow-credentials" not in good.headers
        evil = client.options("/api/v1/health", headers=origin)
        assert "access-control-allow-origin" not in evil.headers
        # A refused preflight is a problem like any other error (Starlette's was plain text).
        body = assert_problem(evil, 400, "header.Origin")
        assert body["detail"] == "this API's CORS policy does not allow the preflight's origin"
        odd = client.options(
            "/api/v1/health",
            headers={
                "Origin": "https://cop.example.org",
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "X-Foo",
            },
        )
        assert_problem(
            odd,
            400,
            "header.Access-Control-Request-Method",
            "header.Access-Control-Request-Headers",
        )
        assert odd.headers["access-control-allow-origin"] == "https://cop.example.org"
    with pytest.raises(ValidationError, match="explicitly"):
        Settings(environment="test", admin_token=ADMIN_TOKEN, cors_origins=["*"])


def test_a_script_on_an_allowed_origin_reads_a_413_and_a_500_too(settings: Settings) -> None:
    """The body-size limit sat outside CORSMiddleware, and an unexpected error is answered by
    Starlette's outermost middleware: both left their problem unreadable to the page."""
    from fastapi import APIRouter

    from app.db import build_engine
    from app.main import create_app

    allowed = settings.model_copy(
        update={"cors_origins": ["https://cop.example.org"], "max_body_bytes": 1024}
    )
    app = create_app(allowed, build_engine("sqlite://"))
    router = APIRouter()

    @router.get("/api/v1/test-unexpected")
    def unexpected() -> None:
        raise RuntimeError("a bug")

    app.include_router(router)
    origin = {"Origin": "https://cop.example.org", "Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        large = client.post("/api/v1/communities", content=b"x" * 2048, headers=origin)
        failed = client.get("/api/v1/test-unexpected", headers=origin)
        other = client.get("/api/v1/test-unexpected", headers={**origin, "Origin": "https://x.org"})
    for response, status in ((large, 413), (failed, 500)):
        assert_problem(response, status)
        assert response.headers["access-control-allow-origin"] == "https://cop.example.org"
        assert "API-Version" in response.headers["access-control-expose-headers"]
        assert "Origin" in response.headers["vary"]
    assert "access-control-allow-origin" not in other.headers


def test_browsers_may_send_and_read_every_header_of_the_protocol(settings: Settings) -> None:
    """Conditional requests, idempotent retries, downloads and back-off work from a page on an
    allowed origin: the preflight admits every header parameter the document declares, and the
    headers scripts act on are exposed."""
    from app.db import build_engine
    from app.main import create_app

    allowed = settings.model_copy(update={"cors_origins": ["https://cop.example.org"]})
    origin = {"Origin": "https://cop.example.org"}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(allowed, build_engine("sqlite://")), headers=admin) as client:
        document = client.get("/api/v1/openapi.json").json()
        declared = {
            parameter["name"]
            for item in document["paths"].values()
            for operation in item.values()
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "header"
        }
        assert declared == {"If-Match", "If-None-Match", "Idempotency-Key"}
        headers = sorted(declared | {"Authorization", "Content-Type", "X-Request-ID"})
        for method in ("GET", "HEAD", "POST", "PATCH", "DELETE"):
            for header in headers:
                preflight = client.options(
                    "/api/v1/communities/1/suggestions",
                    headers={
                        **origin,
                        "Access-Control-Request-Method": method,
                        "Access-Control-Request-Headers": header.lower(),
                    },
                )
                assert preflight.status_code == 200, (method, header, preflight.text)
        response = client.get("/api/v1/health", headers=origin)
    assert response.headers["access-control-expose-headers"].split(", ") == [
        "ETag",
        "Location",
        "API-Version",
        "X-Request-ID",
        "Content-Disposition",
        "Retry-After",
        "Idempotent-Replayed",
    ]


def test_erasing_an_organiser_ends_their_role_and_the_log_records_it(
    client: TestClient, session: Session
) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    sanne = factories.person(session, haarlem)
    tokens.add_organiser(session, cop, sanne.id)
    issued = tokens.issue_token(session, sanne, lifetime_days=1)
    organisers = f"/api/v1/communities/{cop.id}/organisers"
    assert [row["personId"] for row in client.get(organisers).json()["items"]] == [sanne.id]

    assert delete(client, f"/api/v1/people/{sanne.id}").status_code == 204

    assert client.get(organisers).json()["items"] == []
    log = client.get(f"/api/v1/communities/{cop.id}/audit-log").json()["items"]
    assert [(e["action"], e["resource"]) for e in log if e["action"] == "delete"] == [
        ("delete", "organiser")
    ]
    assert session.scalar(select(ApiToken).where(ApiToken.id == issued.id)) is None
    deleted_tokens = session.scalars(
        select(AuditEvent.resource_id).where(
            AuditEvent.resource == "token", AuditEvent.action == "delete"
        )
    ).all()
    assert deleted_tokens == [issued.id]


def test_an_organiser_who_leaves_is_no_longer_listed_as_one(
    client: TestClient, session: Session
) -> None:
    """Setting active to false revoked their tokens but left them among the organisers."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    sanne = factories.person(session, haarlem)
    tokens.add_organiser(session, cop, sanne.id)
    organisers = f"/api/v1/communities/{cop.id}/organisers"
    assert patch(client, f"/api/v1/people/{sanne.id}", {"active": False}).status_code == 200
    assert client.get(organisers).json()["items"] == []
    log = client.get(f"/api/v1/communities/{cop.id}/audit-log").json()["items"]
    assert [(e["action"], e["resource"]) for e in log if e["action"] == "delete"] == [
        ("delete", "organiser")
    ]
    # Nor made one again while gone.
    again = client.post(organisers, json={"personId": sanne.id})
    body = assert_problem(again, 409, "body.personId")
    assert body["detail"] == (
        f"person {sanne.id} has left (active is false); make them active again first"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_upgrade_revokes_the_tokens_of_people_who_left_before_it(
    backend: str, tmp_path: Path
) -> None:
    """Before this release setting ``active`` to false left the person's tokens unrevoked, and
    they worked again when the person came back. The upgrade revokes them, at the time it
    runs; tokens of people still active, and revocations already made, stay as they were."""
    before_issuers = "a7e87d505df0"
    with migrated(backend, tmp_path, "copmatch_token_upgrade") as (connection, config):
        session = Session(bind=connection, autoflush=False)
        haarlem = factories.municipality(session)
        left, stayed = factories.person(session, haarlem), factories.person(session, haarlem)
        forgotten = tokens.issue_token(session, left, lifetime_days=1).id
        revoked_before = tokens.issue_token(session, left, lifetime_days=1).id
        working = tokens.issue_token(session, stayed, lifetime_days=1).id
        long_ago = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
        session.get_one(ApiToken, revoked_before).revoked_at = long_ago
        left.active = False  # as the previous release did: its tokens stay unrevoked
        session.flush()
        command.downgrade(config, before_issuers)

        start = dt.datetime.now(dt.UTC)
        command.upgrade(config, "head")
        end = dt.datetime.now(dt.UTC)
        session.expire_all()
        revoked_at = {
            token_id: session.get_one(ApiToken, token_id).revoked_at
            for token_id in (forgotten, revoked_before, working)
        }
        assert (revoked_at[revoked_before], revoked_at[working]) == (long_ago, None)
        assert revoked_at[forgotten] is not None
        assert start <= revoked_at[forgotten] <= end
        session.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_upgrade_ends_the_organiser_roles_of_people_who_left_before_it(
    backend: str, tmp_path: Path
) -> None:
    """Leaving ended no role before this release: the upgrade ends those, and no other."""
    before = "4c0d9e7b2f61"
    with migrated(backend, tmp_path, "copmatch_organiser_upgrade") as (connection, config):
        session = Session(bind=connection, autoflush=False)
        haarlem = factories.municipality(session)
        cop = factories.community(session, None, haarlem)
        left, stayed = factories.person(session, haarlem), factories.person(session, haarlem)
        for person in (left, stayed):
            tokens.add_organiser(session, cop, person.id)
        left.active = False  # as the previous release did: the role stays
        session.flush()
        command.downgrade(config, before)
        command.upgrade(config, "head")
        session.expire_all()
        roles = session.scalars(select(CommunityOrganiser.person_id)).all()
        assert roles == [stayed.id]
        session.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_upgrade_takes_token_issuers_from_the_audit_log_and_keeps_their_rule(
    backend: str, tmp_path: Path
) -> None:
    """Tokens an organiser issued before this release name no issuer: the upgrade takes it from
    the audit log, and revokes the copies of those whose person already takes part in a
    community the organiser does not run. A token an admin, or its person, issued keeps none."""
    with migrated(backend, tmp_path, "copmatch_token_issuers") as (connection, config):
        session = Session(bind=connection, autoflush=False)
        haarlem, zaanstad = factories.municipality(session), factories.municipality(session)
        rvo = factories.agency(session)
        run = factories.community(session, "CoP C", haarlem, zaanstad, rvo)
        factories.community(session, "CoP D", haarlem)  # haarlem joined it later
        organiser = factories.person(session, rvo)
        tokens.add_organiser(session, run, organiser.id)
        beyond, within = factories.person(session, haarlem), factories.person(session, zaanstad)
        issued = {
            who: tokens.issue_token(session, person, lifetime_days=1).id
            for who, person in (
                ("beyond", beyond),
                ("within", within),
                ("own", organiser),
                ("admin's", within),
            )
        }
        session.flush()
        command.downgrade(config, "a7e87d505df0")
        # What the previous release logged when these tokens were issued; the admin's token
        # has the id of one the organiser issued before, deleted since (SQLite gave ids again).
        logged = [("earlier", issued["admin's"]), *issued.items()]
        for who, token_id in logged:
            role, actor = ("admin", None) if who == "admin's" else ("person", organiser.id)
            connection.execute(
                text(
                    "INSERT INTO audit_events (at, person_id, role, action, resource,"
                    " resource_id) VALUES ('2026-12-01 10:00:00', :actor, :role, 'create',"
                    " 'token', :token)"
                ),
                {"actor": actor, "role": role, "token": token_id},
            )

        command.upgrade(config, "head")

        session.expire_all()
        found = {
            who: (
                session.get_one(ApiToken, token_id).issued_by_person_id,
                session.get_one(ApiToken, token_id).revoked_at is not None,
            )
            for who, token_id in issued.items()
        }
        assert found == {
            "beyond": (organiser.id, True),
            "within": (organiser.id, False),
            "own": (None, False),
            "admin's": (None, False),
        }
        session.close()
