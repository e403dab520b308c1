"""Idempotent creation, request size limits and a database connection lost mid-request."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app import db
from app.api import answers as answers_api
from app.api.deps import get_principal
from app.api.session import SessionDep
from app.config import Settings
from app.main import create_app
from app.models import ApiToken, IdempotencyRecord, Need, Organisation
from app.services import answers as answers_service
from app.services import idempotency, tokens
from app.services.matching import suggestions as matching_suggestions
from app.services.matching import views as matching_views
from tests import factories
from tests.conftest import (
    ADMIN_TOKEN,
    BACKENDS,
    POSTGRES_URL,
    drop_schema,
    fresh_database,
    migrate,
    postgres_schema_url,
)
from tests.problems import assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_idempotency_key_returns_the_first_result(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs"
    body = {"organisationId": haarlem.id, "text": "Hoe maak je een WUP?"}
    key = {"Idempotency-Key": "7d3c0f4e-need-1"}

    first = client.post(url, json=body, headers=key)
    again = client.post(url, json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    count = select(func.count()).select_from(Need).where(Need.community_id == cop.id)
    assert session.scalar(count) == 1

    other = client.post(url, json={**body, "text": "Iets anders"}, headers=key)
    assert_problem(other, 422, "header.Idempotency-Key")

    assert session.scalar(count) == 1
    # Without a key every POST creates; a new key creates once more.
    assert client.post(url, json=body).status_code == 201
    assert client.post(url, json=body, headers={"Idempotency-Key": "another"}).status_code == 201
    assert session.scalar(count) == 3
    assert_problem(client.post(url, json=body, headers={"Idempotency-Key": "met spatie"}), 400)


def test_an_idempotency_key_is_kept_for_the_path_with_its_parsed_ids(
    client: TestClient, session: Session
) -> None:
    """``/communities/01/needs`` is ``/communities/1/needs``: a retry under either is the same
    request, and a path padded with zeros past the stored column's length is no 500."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    body = {"organisationId": haarlem.id, "text": "Hoe maak je een WUP?"}
    key = {"Idempotency-Key": "padded-path"}

    first = client.post(f"/api/v1/communities/{'0' * 600}{cop.id}/needs", json=body, headers=key)
    assert first.status_code == 201, first.text
    for spelling in (f"0{cop.id}", f"{cop.id}"):
        again = client.post(f"/api/v1/communities/{spelling}/needs", json=body, headers=key)
        assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
        assert again.json() == first.json()
    count = select(func.count()).select_from(Need).where(Need.community_id == cop.id)
    assert session.scalar(count) == 1
    stored = session.scalars(select(IdempotencyRecord.path)).all()
    assert stored == [f"/api/v1/communities/{cop.id}/needs"]
    # Another collection of the same community is another request.
    offers = client.post(f"/api/v1/communities/{cop.id}/offers", json=body, headers=key)
    assert_problem(offers, 422, "header.Idempotency-Key")


def test_a_replay_is_the_first_response_and_is_kept_for_a_day(
    client: TestClient, session: Session
) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs"
    body = {"organisationId": haarlem.id, "text": "Hoe maak je een WUP?"}
    first = client.post(url, json=body, headers={"Idempotency-Key": "wup-1"})
    again = client.post(url, json=body, headers={"Idempotency-Key": "wup-1"})
    assert again.headers["etag"] == first.headers["etag"] == '"1"'

    # A day later the key is free again: the record is gone, and another write clears every
    # record that old.
    day_ago = datetime.now(UTC) - idempotency.KEPT_FOR - timedelta(seconds=1)
    session.execute(update(IdempotencyRecord).values(created_at=day_ago))
    client.post(url, json={**body, "text": "Nog een"}, headers={"Idempotency-Key": "other"})
    assert session.scalars(select(IdempotencyRecord.key)).all() == ["other"]
    later = client.post(url, json=body, headers={"Idempotency-Key": "wup-1"})
    assert (later.status_code, "idempotent-replayed" in later.headers) == (201, False)
    assert later.json()["id"] != first.json()["id"]


def test_a_retry_sent_while_the_first_request_runs_waits_for_it_and_replays_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the retry did not see the first request's record until it committed, so it
    wrote the answer again and met the unique key: a 409 instead of the first response. (SQLite
    runs one writer at a time, and the retry begins after the first has committed.)"""
    first_in, go_on = threading.Event(), threading.Event()
    remember = answers_api.remember

    def remember_then_wait(*args: Any, **kwargs: Any) -> None:
        remember(*args, **kwargs)
        if not first_in.is_set():  # the first request holds its transaction open here
            first_in.set()
            go_on.wait(30)

    monkeypatch.setattr(answers_api, "remember", remember_then_wait)
    with _needs_on_postgresql(tmp_path, "copmatch_idempotent_race", go_on) as (
        client,
        engine,
        name,
        url,
        body,
    ):
        responses: dict[str, httpx.Response] = {}

        def post(which: str) -> None:
            responses[which] = client.post(url, json=body, headers={"Idempotency-Key": "k"})

        first = threading.Thread(target=post, args=("first",))
        first.start()
        assert first_in.wait(30)
        retry = threading.Thread(target=post, args=("retry",))
        retry.start()
        _wait_until_waiting_for_a_lock(engine, name)
        go_on.set()
        first.join(30)
        retry.join(30)

        assert responses["first"].status_code == 201
        assert (responses["retry"].status_code, responses["retry"].json()) == (
            201,
            responses["first"].json(),
        )
        assert responses["retry"].headers["idempotent-replayed"] == "true"
        assert client.get(url).json()["total"] == 1


def test_an_expired_key_used_again_beside_a_request_that_sweeps_does_not_deadlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a request under an expired key deleted its record (a row lock) before it
    took the community's lock; another request, holding that lock, swept the expired records
    and waited for that row: a deadlock, one of them a 503. Now the look-up leaves the record
    to the sweep, and the sweep skips what another transaction deletes."""
    created, go_on = threading.Event(), threading.Event()
    create_answer = answers_service.create_answer

    def create_then_wait(*args: Any, **kwargs: Any) -> Any:
        answer = create_answer(*args, **kwargs)  # the community's lock is held from here
        if args[3].text == "Aquathermie":
            created.set()
            go_on.wait(30)
        return answer

    monkeypatch.setattr(answers_service, "create_answer", create_then_wait)
    with _needs_on_postgresql(tmp_path, "copmatch_idempotent_sweep", go_on) as (
        client,
        engine,
        name,
        url,
        body,
    ):
        old = client.post(url, json=body, headers={"Idempotency-Key": "old"})
        assert old.status_code == 201
        with engine.begin() as connection:  # a day and more later
            connection.execute(
                update(IdempotencyRecord).values(
                    created_at=db.utcnow() - idempotency.KEPT_FOR - timedelta(seconds=1)
                )
            )
        responses: dict[str, httpx.Response] = {}

        def post(which: str, key: str, text: str) -> None:
            responses[which] = client.post(
                url, json={**body, "text": text}, headers={"Idempotency-Key": key}
            )

        first = threading.Thread(target=post, args=("first", "new", "Aquathermie"))
        first.start()
        assert created.wait(30)
        again = threading.Thread(target=post, args=("again", "old", "Zonnedaken"))
        again.start()
        _wait_until_waiting_for_a_lock(engine, name)  # for the community's lock
        go_on.set()
        first.join(30)
        again.join(30)

        assert (responses["first"].status_code, responses["again"].status_code) == (201, 201)
        assert "idempotent-replayed" not in responses["again"].headers
        assert [need["text"] for need in client.get(url).json()["items"]] == [
            "Warmtenet in de wijk",
            "Aquathermie",
            "Zonnedaken",
        ]


@contextmanager
def _needs_on_postgresql(
    tmp_path: Path, prefix: str, go_on: threading.Event
) -> Iterator[tuple[TestClient, Engine, str, str, dict[str, Any]]]:
    """An app on a PostgreSQL database of its own, its connections named after it (see
    :func:`_wait_until_waiting_for_a_lock`), with a community whose member may write needs:
    (client as admin, engine, the database's name, the needs' URL, a need's body). On the way
    out *go_on* is set first: a request a test holds up lets go of its connection."""
    name = f"{prefix}_{os.getpid()}"
    fresh_database("postgresql", name, tmp_path).dispose()
    engine = db.build_engine(f"{postgres_schema_url(name)}&application_name={name}")
    migrate(engine)
    settings = Settings(environment="test", database_url=POSTGRES_URL, admin_token=ADMIN_TOKEN)
    try:
        with TestClient(create_app(settings, engine), headers=ADMIN) as client:
            rvo = client.post("/api/v1/organisations", json={"name": "RVO", "kind": "agency"})
            cop = client.post("/api/v1/communities", json={"name": "CoP"}).json()
            url = f"/api/v1/communities/{cop['id']}/needs"
            client.post(f"{url[:-6]}/members", json={"organisationId": rvo.json()["id"]})
            body = {"organisationId": rvo.json()["id"], "text": "Warmtenet in de wijk"}
            yield client, engine, name, url, body
    finally:
        go_on.set()
        engine.dispose()
        drop_schema(name)


def _wait_until_waiting_for_a_lock(engine: Engine, application_name: str) -> None:
    """Until a connection of the app (named ``application_name``) waits for a lock."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = :name AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    with engine.connect() as connection:
        while not connection.execute(waiting, {"name": application_name}).scalar_one():
            assert time.monotonic() < deadline, "the retry never waited"
            time.sleep(0.02)
            connection.rollback()


def test_bodies_over_the_limit_are_413(client: TestClient) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'", "kind": "agency"}'
    response = client.post(
        "/api/v1/organisations", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"name": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'", "kind": "agency"}'

    response = client.post(
        "/api/v1/organisations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)
    assert client.get("/api/v1/organisations").json()["total"] == 0


def test_small_chunked_bodies_still_work(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "RVO",'
        yield b' "kind": "agency"}'

    response = client.post(
        "/api/v1/organisations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201


@pytest.fixture
def postgres_app(tmp_path: Path) -> Iterator[TestClient]:
    """The app on its own migrated PostgreSQL schema, outside the test transaction."""
    name = f"copmatch_connection_loss_{os.getpid()}"
    engine = fresh_database("postgresql", name, tmp_path)
    migrate(engine)
    settings = Settings(environment="test", database_url=POSTGRES_URL, admin_token=ADMIN_TOKEN)
    yield TestClient(create_app(settings, engine), raise_server_exceptions=False, headers=ADMIN)
    engine.dispose()
    drop_schema(name)


def test_connection_lost_mid_request_is_503_and_writes_nothing(postgres_app: TestClient) -> None:
    """PostgreSQL only: SQLite has no server connection to lose."""
    client = postgres_app
    app = client.app
    router = APIRouter(dependencies=[Depends(get_principal)])
    marker = "Verbinding-weg BV"

    @router.post("/api/v1/test-connection-loss")
    def lose_connection(session: SessionDep) -> None:
        session.add(Organisation(name=marker, kind="agency"))
        session.flush()
        # The database ends this very connection, as a failover or restart would.
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    app.include_router(router)  # type: ignore[attr-defined]
    with client:
        response = client.post("/api/v1/test-connection-loss")
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "5"
        # The lost connection invalidated the pool: the next request connects afresh and sees
        # nothing half-written.
        found = client.get("/api/v1/organisations", params={"q": marker})
        assert found.status_code == 200
        assert found.json()["total"] == 0


@pytest.mark.parametrize(
    ("sqlstate", "slug"),
    [
        ("40P01", "database-collision"),
        ("40001", "database-collision"),
        ("55P03", "database-busy"),
        ("57P01", None),
    ],
)
def test_a_transaction_the_database_rolls_back_for_a_collision_is_503_to_retry(
    postgres_app: TestClient, sqlstate: str, slug: str | None
) -> None:
    """A deadlock or serialization failure is the database's choice of a loser among concurrent
    transactions, not an outage: 503 to retry, saying so, and nothing written. Raised here by
    the database itself with the SQLSTATE it uses (55P03, a lock waited out, is busy; 57P01, an
    administrator's shutdown, is an outage)."""
    client = postgres_app
    app = client.app
    router = APIRouter(dependencies=[Depends(get_principal)])
    marker = f"Botsing {sqlstate} BV"

    @router.post("/api/v1/test-collision")
    def collide(session: SessionDep) -> None:
        session.add(Organisation(name=marker, kind="agency"))
        session.flush()
        session.execute(
            text(f"DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{sqlstate}'; END $$")
        )

    app.include_router(router)  # type: ignore[attr-defined]
    with client:
        response = client.post("/api/v1/test-collision")
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "5"
        expected = slug or "database-unavailable"
        assert response.json()["type"] == f"urn:copmatch:problem:{expected}"
        found = client.get("/api/v1/organisations", params={"q": marker})
        assert found.json()["total"] == 0


def test_a_write_that_waits_out_sqlites_busy_timeout_is_503_busy(client: TestClient) -> None:
    """SQLite's one writer held the database longer than the busy timeout: overload, as when
    no pooled connection comes free, not an outage. (Raised as the driver raises it: waiting
    out the 30 s timeout has no place in a test.)"""
    router = APIRouter(dependencies=[Depends(get_principal)])

    @router.post("/api/v1/test-locked")
    def locked() -> None:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    client.app.include_router(router)  # type: ignore[attr-defined]
    response = client.post("/api/v1/test-locked")
    assert_problem(response, 503)
    assert response.json()["type"] == "urn:copmatch:problem:database-busy"


def _end_pooled_connections(engine: Engine) -> int:
    """End the server side of every connection now idle in ``engine``'s pool, as a restart
    would, from another connection; returns how many."""
    pool = engine.pool
    held = [pool.connect() for _ in range(pool.checkedin())]  # type: ignore[attr-defined]
    pids = [connection.dbapi_connection.info.backend_pid for connection in held]  # type: ignore[union-attr]
    for connection in held:
        connection.close()
    other = create_engine(engine.url, poolclass=NullPool)
    with other.connect() as connection:
        for pid in pids:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()
    return len(pids)


@pytest.mark.parametrize("idle_seconds", [0.0, 3600.0])
def test_connections_lost_while_idle_in_the_pool(
    postgres_app: TestClient, monkeypatch: pytest.MonkeyPatch, idle_seconds: float
) -> None:
    """PostgreSQL only. A pooled connection idle for PING_AFTER_IDLE_SECONDS is pinged and, when
    gone, replaced before use; one used within that time is not, so losing it fails one request
    (503), after which the pool connects afresh."""
    client = postgres_app
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with client:
        assert client.get("/api/v1/organisations").status_code == 200
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # no ping while we kill
        assert _end_pooled_connections(engine) >= 1
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", idle_seconds)
        first = client.get("/api/v1/organisations")
        if idle_seconds == 0.0:
            assert first.status_code == 200
        else:
            assert_problem(first, 503)
        assert client.get("/api/v1/organisations").status_code == 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_free_connection_is_503_after_the_pool_timeout(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overload, not a bug: a request that waits POOL_TIMEOUT_SECONDS for a pooled connection in
    vain is told to retry (503 with Retry-After), not 500."""
    monkeypatch.setattr(db, "POOL_SIZE", 1)
    monkeypatch.setattr(db, "POOL_OVERFLOW", 0)
    monkeypatch.setattr(db, "POOL_TIMEOUT_SECONDS", 0.2)
    name = f"copmatch_pool_{os.getpid()}"
    engine = fresh_database(backend, name, tmp_path)
    migrate(engine)
    settings = Settings(environment="test", database_url=str(engine.url), admin_token=ADMIN_TOKEN)
    client = TestClient(create_app(settings, engine), raise_server_exceptions=False, headers=ADMIN)
    try:
        with client:
            assert client.get("/api/v1/organisations").status_code == 200
            with engine.connect():  # the pool's only connection, held elsewhere
                response = client.get("/api/v1/organisations")
                assert_problem(response, 503)
                assert response.headers["retry-after"] == "5"
            assert client.get("/api/v1/organisations").status_code == 200
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(name)


def _one_pair_database(
    backend: str, name: str, tmp_path: Path, need: str, offer: str
) -> tuple[Engine, int, int]:
    """A migrated database of its own with one community: Haarlem's *need*, Zaanstad's *offer*;
    its engine, the community's id and the need's."""
    engine = fresh_database(backend, name, tmp_path)
    migrate(engine)
    with db.session_scope(engine) as session:
        haarlem = factories.municipality(session, "Haarlem", "GM0392")
        zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        cop = factories.community(session, "CoP", haarlem, zaanstad)
        written = factories.need(session, cop, haarlem, need)
        factories.offer(session, cop, zaanstad, offer)
        return engine, cop.id, written.id


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_read_of_several_queries_sees_one_snapshot(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A need deleted by another request between the queries of one read (the gaps page finds
    the gaps, then reads their texts) is still there for that read: no 500 for a KeyError. On
    PostgreSQL, whose statements each see the latest commit, this takes a read transaction at
    REPEATABLE READ; SQLite's read transactions see one snapshot anyway."""
    name = f"copmatch_snapshot_{os.getpid()}"
    engine, community_id, need_id = _one_pair_database(
        backend,
        name,
        tmp_path,
        "waterstof voor monumentale binnensteden",
        "zonnepanelen op sporthallen",
    )
    with db.session_scope(engine) as session:
        # A stored token, never used: the request notes its use, apart from its own reads.
        issued = tokens.issue_token(session, None, lifetime_days=1)
    found_gaps = matching_views.gaps

    def gaps_then_a_delete_elsewhere(session: Session, community: object) -> object:
        found = found_gaps(session, community)  # type: ignore[arg-type]
        with engine.begin() as other:  # another request deletes the need meanwhile
            other.execute(text("DELETE FROM needs WHERE id = :id"), {"id": need_id})
        return found

    monkeypatch.setattr(matching_views, "gaps", gaps_then_a_delete_elsewhere)
    settings = Settings(environment="test", database_url=str(engine.url), admin_token=ADMIN_TOKEN)
    stored = {"Authorization": f"Bearer {issued.token}"}
    client = TestClient(create_app(settings, engine), raise_server_exceptions=False, headers=stored)
    try:
        with client:
            response = client.get(f"/api/v1/communities/{community_id}/gaps")
            assert response.status_code == 200, response.text
            assert [gap["needId"] for gap in response.json()["items"]] == [need_id]
            with engine.connect() as connection:
                used = connection.execute(
                    select(ApiToken.last_used_at).where(ApiToken.id == issued.id)
                ).scalar_one()
            assert used is not None
            monkeypatch.setattr(matching_views, "gaps", found_gaps)
            after = client.get(f"/api/v1/communities/{community_id}/gaps")
            assert after.json()["items"] == []
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_page_of_suggestions_is_of_the_version_it_is_cached_under(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suggestions page is cached under the community's suggestions version, read first; its
    total and items are read after. A suggestion deleted in between by another request must
    not show in that page (it would be cached under the old version, and its total and items
    could disagree): the read sees one snapshot."""
    name = f"copmatch_page_{os.getpid()}"
    engine, community_id, _ = _one_pair_database(
        backend,
        name,
        tmp_path,
        "aquathermie uit oppervlaktewater voor een wijk",
        "ervaring met aquathermie uit de Zaan",
    )
    paginate = matching_suggestions.paginate_rows

    def paginate_after_a_delete_elsewhere(*args: Any, **kwargs: Any) -> Any:
        with engine.begin() as other:  # another request deletes the suggestion meanwhile
            other.execute(text("DELETE FROM suggestions"))
        return paginate(*args, **kwargs)

    monkeypatch.setattr(matching_suggestions, "paginate_rows", paginate_after_a_delete_elsewhere)
    settings = Settings(environment="test", database_url=str(engine.url), admin_token=ADMIN_TOKEN)
    client = TestClient(create_app(settings, engine), raise_server_exceptions=False, headers=ADMIN)
    try:
        with client:
            url = f"/api/v1/communities/{community_id}/suggestions"
            page = client.get(url).json()
            assert (page["total"], len(page["items"])) == (1, 1)
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(name)
