"""The cached suggestions page: ETag and 304, invalidation by every write, access on every read."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.api.cache import ResponseCache, matches
from app.config import Settings
from app.main import create_app
from app.models import Community, Suggestion
from app.schemas import MAX_ID, SuggestionRead
from app.services import tokens
from app.services.suggestion_versions import CHANGED_KEY
from tests import factories
from tests.conftest import ADMIN_TOKEN, POSTGRES_URL, drop_schema, fresh_database, migrate
from tests.http import delete, patch
from tests.problems import assert_problem

NEED = "Hoe pak je aquathermie uit oppervlaktewater (TEO) aan voor een wijk?"
OFFER = "Ervaring met TEO: warmte uit de Zaan via een warmtenet, haalbaarheidsstudie klaar"
SECOND_OFFER = "TEO en aquathermie: wij deden een haalbaarheidsstudie voor een wijk"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Cop:
    def __init__(self, session: Session) -> None:
        self.haarlem = factories.municipality(session, "Haarlem", "GM0392")
        self.zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        self.alkmaar = factories.municipality(session, "Alkmaar", "GM0361")
        self.community = factories.community(
            session, "CoP pages", self.haarlem, self.zaanstad, self.alkmaar
        )
        self.url = f"/api/v1/communities/{self.community.id}"
        self.page = f"{self.url}/suggestions"


@pytest.fixture
def cop(session: Session) -> Cop:
    return Cop(session)


def create(client: TestClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def version(session: Session, cop: Cop) -> int:
    session.expire_all()
    return session.scalars(
        select(Community.suggestions_version).where(Community.id == cop.community.id)
    ).one()


def test_the_page_has_a_strong_etag_and_if_none_match_gives_304(
    client: TestClient, cop: Cop
) -> None:
    create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    create(client, f"{cop.url}/needs", {"organisationId": cop.haarlem.id, "text": NEED})
    first = client.get(cop.page)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/ in front
    assert first.json()["total"] == 1

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(cop.page, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    other = client.get(cop.page, headers={"If-None-Match": '"0123456789abcdef"'})
    assert other.status_code == 200
    assert other.content == first.content

    # Another query is another representation, with its own tag.
    limited = client.get(cop.page, params={"limit": 1, "offset": 1})
    assert limited.status_code == 200
    assert limited.json() == {"items": [], "total": 1, "limit": 1, "offset": 1}
    assert limited.headers["etag"] != etag


def test_every_write_that_changes_suggestions_is_visible_to_the_next_read(
    client: TestClient, session: Session, cop: Cop
) -> None:
    assert version(session, cop) == 0
    empty = client.get(cop.page)
    assert empty.json()["total"] == 0

    offer = create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    assert version(session, cop) == 1  # one transaction, one bump
    need = create(client, f"{cop.url}/needs", {"organisationId": cop.haarlem.id, "text": NEED})
    assert version(session, cop) == 2
    page = client.get(cop.page, headers={"If-None-Match": empty.headers["etag"]})
    assert page.status_code == 200
    (suggestion,) = page.json()["items"]
    assert (suggestion["needId"], suggestion["offerId"]) == (need["id"], offer["id"])
    assert suggestion["status"] == "proposed"

    # A status change of one suggestion.
    item = f"{cop.page}/{suggestion['id']}"
    assert patch(client, item, json={"status": "introduced"}).status_code == 200
    assert version(session, cop) == 3
    assert [s["status"] for s in client.get(cop.page).json()["items"]] == ["introduced"]

    # Another offer adds a second suggestion for the need.
    create(client, f"{cop.url}/offers", {"organisationId": cop.alkmaar.id, "text": SECOND_OFFER})
    assert client.get(cop.page).json()["total"] == 2

    # Deleting the need removes its suggestions by ON DELETE CASCADE, unseen by the session
    # (once no help is in progress: an introduced suggestion keeps its need).
    assert patch(client, item, json={"status": "declined"}).status_code == 200
    assert delete(client, f"{cop.url}/needs/{need['id']}").status_code == 204
    assert client.get(cop.page).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_a_write_outside_the_api_invalidates_the_page_too(
    client: TestClient, session: Session, cop: Cop
) -> None:
    """The CLI (import, demo) writes through its own session: its commit bumps the version."""
    factories.offer(session, cop.community, cop.zaanstad, OFFER)
    session.commit()
    assert client.get(cop.page).json()["total"] == 0
    before = version(session, cop)
    factories.need(session, cop.community, cop.haarlem, NEED)
    session.commit()
    assert version(session, cop) == before + 1
    assert client.get(cop.page).json()["total"] == 1


def test_a_service_level_session_is_versioned_without_an_app(session: Session, cop: Cop) -> None:
    """The tests' own sessions carry the listeners the app and the CLI install. They did only
    once an earlier test in the process had built an app: a service-level test run first
    committed without bumping the version, and its session kept the change marked."""
    before = version(session, cop)
    factories.offer(session, cop.community, cop.zaanstad, OFFER)
    session.commit()
    assert (version(session, cop), session.info.get(CHANGED_KEY)) == (before + 1, None)


def test_a_failed_write_bumps_nothing(client: TestClient, session: Session, cop: Cop) -> None:
    create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    before = version(session, cop)
    outsider = factories.municipality(session, "Bergen (NH.)", "GM0373")
    refused = client.post(f"{cop.url}/needs", json={"organisationId": outsider.id, "text": NEED})
    assert_problem(refused, 409)
    assert version(session, cop) == before


def test_the_cached_page_is_the_models_page(client: TestClient, session: Session, cop: Cop) -> None:
    """The lean read (plain columns, no ORM objects) serialises exactly as the ORM rows do."""
    create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    create(client, f"{cop.url}/offers", {"organisationId": cop.alkmaar.id, "text": SECOND_OFFER})
    create(client, f"{cop.url}/needs", {"organisationId": cop.haarlem.id, "text": NEED})
    items = client.get(cop.page).json()["items"]
    (first, _) = items
    patch(client, f"{cop.page}/{first['id']}", json={"status": "introduced"})
    patch(client, f"{cop.page}/{first['id']}", json={"status": "accepted"})
    patch(
        client,
        f"{cop.page}/{first['id']}",
        json={"status": "completed", "feedback": {"usefulness": 4, "note": "Goed gesprek"}},
    )
    items = client.get(cop.page).json()["items"]
    rows = session.scalars(
        select(Suggestion)
        .where(Suggestion.community_id == cop.community.id)
        .order_by(Suggestion.score.desc(), Suggestion.id)
    ).all()
    session.expire_all()
    expected = [
        SuggestionRead.model_validate(row).model_dump(mode="json", by_alias=True) for row in rows
    ]
    assert items == expected
    assert items[0]["feedback"] == {"usefulness": 4, "note": "Goed gesprek"}
    assert items[1]["feedback"] is None


def test_access_is_checked_on_every_read_of_a_cached_page(
    client: TestClient, session: Session, cop: Cop
) -> None:
    create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    create(client, f"{cop.url}/needs", {"organisationId": cop.haarlem.id, "text": NEED})
    member = factories.person(session, cop.haarlem, name="Sanne de Vries")
    issued = tokens.issue_token(session, member, lifetime_days=1)
    as_member = {"Authorization": f"Bearer {issued.token}"}
    cached = client.get(cop.page, headers=as_member)
    assert cached.status_code == 200
    assert cached.json()["total"] == 1

    # A member of another community is refused the cached page (403, not a 304 or the body).
    elsewhere = factories.municipality(session, "Texel", "GM0448")
    factories.community(session, "CoP Wadden", elsewhere)
    stranger = factories.person(session, elsewhere, name="Jan Bakker")
    outsider = {
        "Authorization": f"Bearer {tokens.issue_token(session, stranger, lifetime_days=1).token}"
    }
    assert_problem(client.get(cop.page, headers=outsider), 403)
    assert_problem(
        client.get(cop.page, headers={**outsider, "If-None-Match": cached.headers["etag"]}), 403
    )

    # A revoked token stops working at once, cached page or not.
    assert client.delete(f"/api/v1/tokens/{issued.id}").status_code == 204
    assert_problem(client.get(cop.page, headers=as_member), 401)
    assert_problem(
        client.get(cop.page, headers={**as_member, "If-None-Match": cached.headers["etag"]}), 401
    )


def test_the_cache_keeps_the_most_recently_used_bodies() -> None:
    cache = ResponseCache(2)
    first = cache.put("a", b'{"a": 1}')
    cache.put("b", b'{"b": 1}')
    assert cache.get("a") == first  # now the most recent
    cache.put("c", b'{"c": 1}')
    assert (cache.get("a") is not None, cache.get("b"), cache.get("c") is not None) == (
        True,
        None,
        True,
    )
    assert len(cache) == 2
    assert cache.put("d", b'{"a": 1}').etag == first.etag  # the tag is the body's digest


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ('"abc"', True),
        ('W/"abc"', True),
        (' "x" , "abc" ', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
        ("", False),
    ],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert matches(header, '"abc"') is expected


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps (as two uvicorn workers) on one migrated PostgreSQL schema, committing for real
    (GETs on autocommit connections): each has its own page cache."""
    name = f"copmatch_page_cache_{os.getpid()}"
    engine = fresh_database("postgresql", name, tmp_path)
    migrate(engine)
    settings = Settings(environment="test", database_url=POSTGRES_URL, admin_token=ADMIN_TOKEN)
    first = TestClient(create_app(settings, engine), raise_server_exceptions=False, headers=ADMIN)
    second = TestClient(create_app(settings, engine), raise_server_exceptions=False, headers=ADMIN)
    with first, second:
        yield first, second
    engine.dispose()
    drop_schema(name)


def test_a_write_in_one_process_invalidates_the_page_cached_in_another(
    two_processes: tuple[TestClient, TestClient],
) -> None:
    """PostgreSQL only: the version is bumped in the writer's own transaction."""
    reader, writer = two_processes
    ids = {}
    for name, code in (("Haarlem", "GM0392"), ("Zaanstad", "GM0479")):
        body = {"name": name, "kind": "municipality", "cbsCode": code, "province": "Noord-Holland"}
        ids[name] = create(writer, "/api/v1/organisations", body)["id"]
    community = create(writer, "/api/v1/communities", {"name": "CoP twee", "region": "NH"})
    url = f"/api/v1/communities/{community['id']}"
    for organisation_id in ids.values():
        create(writer, f"{url}/members", {"organisationId": organisation_id})
    create(writer, f"{url}/offers", {"organisationId": ids["Zaanstad"], "text": OFFER})

    empty = reader.get(f"{url}/suggestions")
    assert empty.json()["total"] == 0
    assert reader.get(f"{url}/suggestions").content == empty.content  # now from the cache
    need = create(writer, f"{url}/needs", {"organisationId": ids["Haarlem"], "text": NEED})
    page = reader.get(f"{url}/suggestions", headers={"If-None-Match": empty.headers["etag"]})
    assert page.status_code == 200
    assert [item["needId"] for item in page.json()["items"]] == [need["id"]]
    # A read on an autocommit connection still sees the reader's own write at once.
    assert reader.get(f"{url}/needs/{need['id']}").json()["text"] == NEED


def test_reads_with_a_stored_token_hand_off_to_worker_threads_this_often(
    client: TestClient, session: Session, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each hand-off costs about as much CPU as a small query: the caller, their access and the
    # object (or the cached page) are looked up in one.
    create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    need = create(client, f"{cop.url}/needs", {"organisationId": cop.haarlem.id, "text": NEED})
    member = factories.person(session, cop.haarlem, name="Sanne de Vries")
    as_member = {
        "Authorization": f"Bearer {tokens.issue_token(session, member, lifetime_days=1).token}"
    }
    calls: list[object] = []
    real = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(function)
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    # Plus one at the end of each request here: the test's sessions share a connection inside a
    # transaction (rolled back after the test), so ending one is a hand-off too. A server's GET
    # on PostgreSQL reads in autocommit and ends with none.
    ending = 1
    expected = [
        # First read: the caller with the community, then the page's query; and, after the
        # response, noting the token's first use (at most once a minute per token).
        (cop.page, 3),
        (cop.page, 1),  # cached
        (f"{cop.url}/needs/{need['id']}", 1),
        # A list: the caller with the community; FastAPI's own for the sync filters, the sync
        # endpoint and the validation of its response.
        (f"{cop.url}/needs", 4),
    ]
    for path, hand_offs in expected:
        calls.clear()
        assert client.get(path, headers=as_member).status_code == 200
        assert len(calls) == hand_offs + ending, path


def bearer(session: Session, person: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue_token(session, person, lifetime_days=1).token}"}


def test_the_caller_their_access_and_the_community_are_one_query(
    client: TestClient, session: Session, cop: Cop
) -> None:
    """With a stored token, a read of a community costs one query before its own: the token,
    the community and the caller's membership of it are looked up together."""
    create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    need = create(client, f"{cop.url}/needs", {"organisationId": cop.haarlem.id, "text": NEED})
    assert client.get(cop.page).status_code == 200  # cached by the admin
    as_member = bearer(session, factories.person(session, cop.haarlem, name="Sanne de Vries"))
    statements: list[str] = []

    def record(*args: Any) -> None:
        statement = args[2].lstrip().split(None, 1)[0].upper()
        if statement in {"SELECT", "UPDATE", "INSERT", "DELETE"}:
            statements.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        assert client.get(cop.page, headers=as_member).status_code == 200
        assert statements == ["SELECT", "UPDATE"]  # the token's first use is noted
        for path, expected in (
            (cop.page, ["SELECT"]),
            (f"{cop.url}/needs/{need['id']}", ["SELECT", "SELECT"]),
            (f"/api/v1/communities/{MAX_ID}/suggestions", ["SELECT"]),
        ):
            statements.clear()
            assert client.get(path, headers=as_member).status_code in {200, 404}
            assert statements == expected, path
    finally:
        event.remove(connection, "before_cursor_execute", record)


def test_readers_are_refused_in_order_401_404_403(
    client: TestClient, session: Session, cop: Cop
) -> None:
    member = bearer(session, factories.person(session, cop.haarlem, name="Sanne de Vries"))
    organiser_person = factories.person(session, factories.agency(session, "RVO"), name="Piet")
    tokens.add_organiser(session, cop.community, organiser_person.id)
    organiser = bearer(session, organiser_person)  # organises, but no member organisation
    elsewhere = factories.municipality(session, "Texel", "GM0448")
    factories.community(session, "CoP Wadden", elsewhere)
    stranger = bearer(session, factories.person(session, elsewhere, name="Jan Bakker"))
    unknown = {"Authorization": "Bearer " + "u" * 43}
    missing = f"/api/v1/communities/{MAX_ID}/suggestions"

    assert_problem(client.get(missing, headers=unknown), 401)
    assert_problem(client.get(cop.page, headers=unknown), 401)
    assert_problem(client.get(missing, headers=member), 404)
    assert_problem(client.get(missing), 404)  # the bootstrap admin: no stored token
    assert_problem(client.get(cop.page, headers=stranger), 403)
    for allowed in (member, organiser, ADMIN):
        response = client.get(cop.page, headers=allowed)
        assert (response.status_code, response.json()["total"]) == (200, 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("needId=0", "needId"),
        ("needId=abc", "needId"),
        ("offerId=2147483648", "offerId"),
        ("organisationId=-1", "organisationId"),
        ("status=x", "status"),
        ("minScore=1.5", "minScore"),
        ("minScore=abc", "minScore"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        # Empty is a value, and not a valid one for any of them (as FastAPI reads its own).
        ("needId=", "needId"),
        ("offerId=", "offerId"),
        ("organisationId=", "organisationId"),
        ("status=", "status"),
        ("minScore=", "minScore"),
        ("limit=", "limit"),
        ("offset=", "offset"),
    ],
)
def test_a_bad_query_value_is_a_400_naming_it(
    client: TestClient, cop: Cop, query: str, field: str
) -> None:
    assert_problem(client.get(f"{cop.page}?{query}"), 400, f"query.{field}")


def test_every_bad_query_value_is_named(client: TestClient, cop: Cop) -> None:
    body = assert_problem(
        client.get(f"{cop.page}?limit=0&status=x&offset=2"), 400, "query.limit", "query.status"
    )
    assert body["detail"] == "invalid value(s) for query.status, query.limit"


def test_the_query_string_is_read_as_fastapi_reads_parameters(client: TestClient, cop: Cop) -> None:
    def page(query: str) -> dict[str, Any]:
        response = client.get(f"{cop.page}?{query}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    create(client, f"{cop.url}/offers", {"organisationId": cop.zaanstad.id, "text": OFFER})
    need = create(client, f"{cop.url}/needs", {"organisationId": cop.haarlem.id, "text": NEED})
    assert page("")["total"] == 1
    assert page("unknown=")["limit"] == 50  # an empty value of another name is ignored too
    assert page("limit=1&limit=3")["limit"] == 3  # the last of repeated values
    assert page("unknown=1&NEEDID=5")["total"] == 1  # other names are ignored
    assert page(f"needId={need['id']}&status=proposed&minScore=0&offset=0")["total"] == 1
    assert page(f"needId={need['id'] + 1}")["total"] == 0
    assert page("status=declined")["total"] == 0


def test_an_empty_value_is_refused_as_fastapis_own_parameters_refuse_it(
    client: TestClient, cop: Cop
) -> None:
    parsed = assert_problem(client.get(f"{cop.page}?limit="), 400, "query.limit")
    by_fastapi = assert_problem(client.get(f"{cop.url}/needs?limit="), 400, "query.limit")
    assert parsed["invalidParams"] == by_fastapi["invalidParams"]


def test_the_document_describes_every_query_parameter(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/communities/{communityId}/suggestions"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert list(parameters) == [
        "communityId",
        "If-None-Match",
        "needId",
        "offerId",
        "organisationId",
        "status",
        "minScore",
        "limit",
        "offset",
    ]
    identifier = {"type": ["integer", "null"], "maximum": MAX_ID, "minimum": 1}
    expected = {
        "needId": {**identifier, "title": "Needid"},
        "offerId": {**identifier, "title": "Offerid"},
        "organisationId": {
            **identifier,
            "description": "Needing or offering",
            "title": "Organisationid",
        },
        "status": {
            "anyOf": [{"$ref": "#/components/schemas/SuggestionStatus"}, {"type": "null"}],
            "title": "Status",
        },
        "minScore": {"type": ["number", "null"], "maximum": 1, "minimum": 0, "title": "Minscore"},
        "limit": {
            "type": "integer",
            "maximum": 100,
            "minimum": 1,
            "default": 50,
            "description": "Page size, at most 100",
            "title": "Limit",
        },
        "offset": {
            "type": "integer",
            "maximum": MAX_ID,
            "minimum": 0,
            "default": 0,
            "description": "Items to skip",
            "title": "Offset",
        },
    }
    for name, schema in expected.items():
        described = {"name": name, "in": "query", "required": False, "schema": schema}
        if "description" in schema:
            described["description"] = schema["description"]
        assert parameters[name] == described, name
