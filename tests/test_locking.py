"""Optimistic locking: ETag on single objects, If-Match on PATCH and DELETE, no lost updates."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.api.deps import names_version
from app.db import session_scope
from app.errors import Conflict, CopmatchError, NotFound
from app.matching.scoring import HUB_MIN_NEEDS
from app.models import (
    Community,
    FormatPreference,
    Meeting,
    Need,
    Offer,
    Organisation,
    Suggestion,
    SuggestionStatus,
)
from app.schemas import (
    CommunityCreate,
    FormatPreferenceCreate,
    FormatPreferenceUpdate,
    NeedCreate,
    OfferCreate,
    OrganisationCreate,
    OrganisationUpdate,
)
from app.services import answers, communities, imports, matching, organisations
from app.services.import_plan import Planner
from app.services.matching import index as index_module
from app.services.matching import suggestions as suggestions_module
from app.services.matching.index import community_index
from app.services.organisations import load_municipalities
from tests import factories
from tests.conftest import BACKENDS, drop_schema, fresh_database, migrate
from tests.imports import HEADER, before_reading_the_file, csv_file, write_lock_is_free, xlsx_file
from tests.live import LiveServer, live_server
from tests.problems import assert_problem

WRITERS = 8
HELD_AT_MOST = 30.0  # seconds a thread waits for the other at most
ROUNDS = 10


def test_etag_and_if_match(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    need = factories.need(session, cop, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs/{need.id}"
    etag = client.get(url).headers["etag"]
    assert etag == '"1"'

    assert_problem(client.patch(url, json={"priority": "high"}), 428, "header.If-Match")
    assert_problem(client.delete(url), 428, "header.If-Match")
    assert_problem(
        client.patch(url, json={"priority": "high"}, headers={"If-Match": '"7"'}),
        412,
        "header.If-Match",
    )
    assert_problem(
        client.patch(url, json={"priority": "high"}, headers={"If-Match": "zomaar"}),
        412,
        "header.If-Match",
    )
    changed = client.patch(url, json={"priority": "high"}, headers={"If-Match": etag})
    assert (changed.status_code, changed.headers["etag"]) == (200, '"2"')
    assert_problem(client.patch(url, json={"priority": "low"}, headers={"If-Match": etag}), 412)
    assert_problem(client.delete(url, headers={"If-Match": etag}), 412)
    assert client.get(url).json()["priority"] == "high"
    # If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches.
    assert_problem(client.delete(url, headers={"If-Match": 'W/"2"'}), 412, "header.If-Match")
    assert client.delete(url, headers={"If-Match": '"2"'}).status_code == 204
    # A missing resource is a 404, whatever If-Match says.
    assert_problem(client.delete(url, headers={"If-Match": '"2"'}), 404)


def test_if_match_star_or_a_list_naming_the_current_etag_matches(
    client: TestClient, session: Session
) -> None:
    """RFC 9110 §13.1.1: ``*`` matches any current representation; a list matches when one of
    its tags does."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    need = factories.need(session, cop, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs/{need.id}"

    star = client.patch(url, json={"priority": "high"}, headers={"If-Match": "*"})
    assert (star.status_code, star.headers["etag"]) == (200, '"2"')
    listed = client.patch(url, json={"priority": "low"}, headers={"If-Match": '"1", "2"'})
    assert (listed.status_code, listed.headers["etag"]) == (200, '"3"')
    assert_problem(
        client.patch(url, json={"priority": "high"}, headers={"If-Match": '"1", "2"'}),
        412,
        "header.If-Match",
    )
    assert_problem(client.patch(url, json={"priority": "high"}), 428, "header.If-Match")
    assert client.get(url).json()["priority"] == "low"
    assert client.delete(url, headers={"If-Match": " * "}).status_code == 204
    assert_problem(client.delete(url, headers={"If-Match": "*"}), 404)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"3"', True),
        ('W/"3"', False),
        ("*", True),
        ('"1", "3"', True),
        (' "1" ,W/"3" ', False),
        (' W/"3" , "3" ', True),
        ('"03"', False),
        ('"0000000003"', False),
        ('"1", "2"', False),
        ('"3', False),
        ("3", False),
        ("", False),
        ('"*"', False),
        ('*, "1"', False),
    ],
)
def test_names_version(header: str, expected: bool) -> None:
    assert names_version(header, 3) is expected


def test_a_change_of_topics_alone_is_an_edit(client: TestClient, session: Session) -> None:
    """Topics live in rows of their own, yet changing them changes the answer: its ETag moves on,
    so a stale If-Match cannot overwrite them, and the audit log records the edit."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    need = factories.need(session, cop, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs/{need.id}"
    etag = client.get(url).headers["etag"]

    changed = client.patch(
        url, json={"topics": ["wijkuitvoeringsplan"]}, headers={"If-Match": etag}
    )
    assert (changed.status_code, changed.headers["etag"]) == (200, '"2"')
    stale = client.patch(
        url, json={"topics": ["transitievisie-warmte"]}, headers={"If-Match": etag}
    )
    assert_problem(stale, 412, "header.If-Match")
    same = client.patch(url, json={"topics": ["wijkuitvoeringsplan"]}, headers={"If-Match": '"2"'})
    assert (same.status_code, same.headers["etag"]) == (200, '"2"')  # nothing changed
    given = [t["topic"] for t in client.get(url).json()["topicTags"] if t["source"] == "given"]
    assert given == ["wijkuitvoeringsplan"]
    events = client.get(f"/api/v1/communities/{cop.id}/audit-log").json()["items"]
    edits = [e for e in events if e["resource"] == "need" and e["action"] == "update"]
    assert [e["resourceId"] for e in edits] == [need.id]


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server on its own fresh database (real, concurrent transactions)."""
    name = f"copmatch_locking_{os.getpid()}"
    engine: Engine = fresh_database(request.param, name, tmp_path)
    migrate(engine)
    try:
        with live_server(engine) as live:
            yield live
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_schema(name)


def test_concurrent_writers_lose_no_update(server: LiveServer) -> None:
    with server.client() as http:
        organisation = http.post(
            "/api/v1/organisations",
            json={"name": "Haarlem", "kind": "municipality", "cbsCode": "GM0392"},
        ).json()
        community = http.post("/api/v1/communities", json={"name": "CoP locking"}).json()
        http.post(
            f"/api/v1/communities/{community['id']}/members",
            json={"organisationId": organisation["id"]},
        )
        preference = http.post(
            f"/api/v1/communities/{community['id']}/format-preferences",
            json={"organisationId": organisation["id"], "format": "learning-circle", "note": ""},
        ).json()
    url = f"/api/v1/communities/{community['id']}/format-preferences/{preference['id']}"
    conflicts = [0] * WRITERS
    busy = [0] * WRITERS
    failures: list[str] = []

    def writer(number: int) -> None:
        with server.client() as http:
            for round_ in range(ROUNDS):
                while True:
                    current = http.get(url)
                    note = current.json()["note"] or ""
                    response = http.patch(
                        url,
                        json={"note": f"{note} w{number}r{round_}".strip()},
                        headers={"If-Match": current.headers["etag"]},
                    )
                    if response.status_code == 200:
                        break
                    if response.status_code == 503:  # busy database: retry, as Retry-After asks
                        busy[number] += 1
                        continue
                    if response.status_code != 412:
                        failures.append(f"{response.status_code} {response.text}")
                        return
                    conflicts[number] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with server.client() as http:
        final = http.get(url)
    marks = final.json()["note"].split()
    assert sorted(marks) == sorted(f"w{n}r{r}" for n in range(WRITERS) for r in range(ROUNDS))
    assert final.headers["etag"] == f'"{1 + WRITERS * ROUNDS}"'
    print(
        f"\n{WRITERS} writers x {ROUNDS} rounds: 0 lost updates, {sum(conflicts)} conflicts retried"
    )


def test_an_import_reads_its_file_before_it_takes_the_write_lock(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a large XLSX takes a while; other writers need not wait for that."""
    with session_scope(server.engine) as session:
        haarlem = factories.municipality(session, "Haarlem", "GM0392")
        community_id = factories.community(session, "CoP", haarlem).id
    free_while_reading: list[bool] = []
    before_reading_the_file(
        monkeypatch,
        lambda: free_while_reading.append(write_lock_is_free(server.engine, community_id)),
    )
    content = xlsx_file([HEADER, ["Haarlem", "need", "Warmtenet in de wijk", None, None, None]])

    with server.client() as http:
        response = http.post(
            f"/api/v1/communities/{community_id}/imports", files={"file": ("a.xlsx", content)}
        )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert free_while_reading == [True]


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_imports_of_one_file_at_once_store_it_once(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that retries an import after a timeout sends the file again while the first
    still runs: the second must find the first's rows (unchanged), not create them again."""
    name = f"copmatch_imports_{os.getpid()}"
    engine = fresh_database(backend, name, tmp_path)
    migrate(engine)
    with session_scope(engine) as session:
        haarlem = factories.municipality(session, "Haarlem", "GM0392")
        community_id = factories.community(session, "CoP", haarlem).id
    upload = imports.read_import(
        csv_file([HEADER, ["Haarlem", "need", "Warmtenet in de wijk", None, None, None]]),
        "a.csv",
        max_bytes=1 << 20,
    )
    # Each planner waits (a little) for the other to plan too, as two imports side by side do.
    side_by_side = threading.Barrier(2)
    plan = Planner.plan

    def plan_then_wait(self: Planner, *args: Any, **kwargs: Any) -> Any:
        found = plan(self, *args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            side_by_side.wait(timeout=1.0)  # the other import is held at the lock meanwhile
        return found

    monkeypatch.setattr(Planner, "plan", plan_then_wait)
    results: list[tuple[int, int]] = []

    def run() -> None:
        with session_scope(engine, writing=True) as session:
            community = session.get_one(Community, community_id)
            result = imports.import_answers(session, community, upload, dry_run=False)
            results.append((result.created, result.unchanged))

    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with session_scope(engine) as session:
            stored = session.scalar(select(func.count()).select_from(Need))
        assert (sorted(results), stored) == ([(0, 1), (1, 0)], 1)
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(name)


@contextlib.contextmanager
def _migrated_engine(backend: str, name: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh database migrated to head; disposed (and dropped) afterwards."""
    schema = f"{name}_{os.getpid()}"
    engine = fresh_database(backend, schema, tmp_path)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(schema)


def _haarlem_and_zaanstad(session: Session) -> tuple[Organisation, Organisation, Community]:
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
    return haarlem, zaanstad, factories.community(session, "CoP", haarlem, zaanstad)


def _planted(session: Session, need: Need, offer: Offer) -> Suggestion:
    """A proposed suggestion of *need* and *offer* stored as it is, not by the engine."""
    planted = Suggestion(
        community_id=need.community_id,
        need_id=need.id,
        offer_id=offer.id,
        need_organisation_id=need.organisation_id,
        offer_organisation_id=offer.organisation_id,
        score=0.5,
        reasons=[],
        matched_topics=[],
    )
    session.add(planted)
    session.flush()
    return planted


def _second_waits(
    engine: Engine,
    first: Callable[[Session], object],
    second: Callable[[Session, threading.Event], object],
    refused: type[CopmatchError],
) -> list[CopmatchError | None]:
    """PostgreSQL: *first* in a writing transaction held open while *second* runs in another
    one (it sets the event once it has read what it reads before it must wait). Asserts that
    *second* waited for *first*'s commit, and returns how it ended: None, or the *refused*
    error it raised."""
    started = threading.Event()
    outcome: list[CopmatchError | None] = []

    def run() -> None:
        with session_scope(engine, writing=True) as session:
            try:
                second(session, started)
                outcome.append(None)
            except refused as error:  # nothing written: the scope's commit is empty
                outcome.append(error)

    with session_scope(engine, writing=True) as session:
        first(session)
        thread = threading.Thread(target=run)
        thread.start()
        assert started.wait(HELD_AT_MOST)
        time.sleep(0.3)  # the second now waits for this transaction
        assert outcome == []
    thread.join(HELD_AT_MOST)
    return outcome


def _introduce(session: Session, suggestion_id: int, read: threading.Event | None = None) -> None:
    """A member reads a suggestion (then says so, on *read*) and introduces its peer."""
    row = session.get_one(Suggestion, suggestion_id)
    if read is not None:
        read.set()
    matching.update_suggestion(session, row, status=SuggestionStatus.INTRODUCED, feedback=None)


def _write_need(session: Session, community_id: int, organisation_id: int, text: str) -> None:
    """Write a need as the API does: tagged and scored right away."""
    community = session.get_one(Community, community_id)
    answers.create_answer(
        session, Need, community, NeedCreate(organisationId=organisation_id, text=text)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_write_beside_the_one_that_switches_the_formula_waits_and_scores_with_the_new_one(
    backend: str, tmp_path: Path, embedder: Any
) -> None:
    """The 20th need (with 20 offers) re-scores the community semantically while an offer is
    written beside it: the offer's write waits, then scores with the semantic factor too. (It
    used to score lexically, under a marker that said "semantic", or fail with a 409/412 when
    both writes re-scored the community.)"""
    with _migrated_engine(backend, "copmatch_switch", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            for number in range(HUB_MIN_NEEDS - 1):
                text = f"Vraag {number} over aquathermie, warmtenetten en TEO"
                answers.create_answer(
                    session, Need, community, NeedCreate(organisationId=haarlem.id, text=text)
                )
            for number in range(HUB_MIN_NEEDS):
                text = f"Ervaring {number} met warmtenetten en aquathermie"
                answers.create_answer(
                    session, Offer, community, OfferCreate(organisationId=zaanstad.id, text=text)
                )
            community_id, haarlem_id, zaanstad_id = community.id, haarlem.id, zaanstad.id
        switched = threading.Event()
        written: list[int] = []

        def beside() -> None:
            switched.wait(HELD_AT_MOST)
            with session_scope(engine, writing=True) as session:
                offer = answers.create_answer(
                    session,
                    Offer,
                    session.get_one(Community, community_id),
                    OfferCreate(organisationId=zaanstad_id, text="Aquathermie uit de rwzi: advies"),
                )
                written.append(offer.id)

        thread = threading.Thread(target=beside)
        thread.start()
        with session_scope(engine, writing=True) as session:
            _write_need(session, community_id, haarlem_id, "De twintigste vraag: aquathermie")
            switched.set()
            time.sleep(1.0)  # the other write starts meanwhile, and must wait for this one
        thread.join(HELD_AT_MOST)
        with session_scope(engine) as session:
            community = session.get_one(Community, community_id)
            stored = session.execute(
                select(Suggestion.reasons).where(Suggestion.offer_id == written[0])
            ).scalars()
            factors = {frozenset(reason["factor"] for reason in reasons) for reasons in stored}
            assert (community.scored_semantically, factors) == (
                True,
                {frozenset({"topic", "text", "semantic"})},
            )


def test_a_suggestion_a_member_acts_on_during_a_recompute_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL (SQLite runs one writer at a time): a recompute reads a proposed suggestion
    it no longer proposes; a member introduces it and commits before the recompute deletes the
    stale rows. The member's suggestion stays, introduced."""
    with _migrated_engine("postgresql", "copmatch_acted", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            need = factories.need(session, community, haarlem, "Zon op het dak van de sporthal")
            offer = factories.offer(session, community, zaanstad, "Ervaring met aquathermie")
            # A pair the engine does propose, so the recompute has rows to store.
            factories.need(session, community, haarlem, "Aquathermie (TEO) voor de wijk")
            # A proposal of an earlier scoring that the engine no longer makes.
            planted = _planted(session, need, offer)
            community_id, planted_id = community.id, planted.id
        read, acted = threading.Event(), threading.Event()
        values = suggestions_module._values

        def values_after_the_member(*args: Any) -> Any:
            # Called by _store once it has read the stored rows (the planted one as proposed).
            if threading.current_thread().name == "recompute" and not read.is_set():
                read.set()
                acted.wait(HELD_AT_MOST)
            return values(*args)

        monkeypatch.setattr(suggestions_module, "_values", values_after_the_member)

        def recompute() -> None:
            with session_scope(engine, writing=True) as session:
                matching.recompute(session, session.get_one(Community, community_id))

        thread = threading.Thread(target=recompute, name="recompute")
        thread.start()
        assert read.wait(HELD_AT_MOST)
        with session_scope(engine, writing=True) as session:
            row = session.get_one(Suggestion, planted_id)
            matching.update_suggestion(
                session, row, status=SuggestionStatus.INTRODUCED, feedback=None
            )
        acted.set()
        thread.join(HELD_AT_MOST)
        with session_scope(engine) as session:
            kept = session.get(Suggestion, planted_id)
            assert kept is not None
            assert kept.status == SuggestionStatus.INTRODUCED


def test_two_members_introducing_two_peers_to_an_offer_with_one_place_at_once(
    tmp_path: Path,
) -> None:
    """PostgreSQL (SQLite runs one writer at a time): a member introduces one peer to an offer
    with capacity 1 and has not committed yet when another introduces a second. The second
    waits for the first (the offer's row is locked while its places are counted), then finds the
    place taken: 409, and only one is introduced."""
    with _migrated_engine("postgresql", "copmatch_places", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            offer = factories.offer(session, community, zaanstad, "Zon op daken", capacity=1)
            first_id, second_id = (  # pairs no scoring proposes
                _planted(session, factories.need(session, community, haarlem, text), offer).id
                for text in ("Parkeerbeleid", "Bomenkap")
            )
        outcome = _second_waits(
            engine,
            lambda session: _introduce(session, first_id),
            lambda session, read: _introduce(session, second_id, read),
            Conflict,
        )
        assert [type(error) for error in outcome] == [Conflict]
        with session_scope(engine) as session:
            statuses = session.scalars(
                select(Suggestion.status).where(Suggestion.offer_id == offer.id)
            ).all()
            assert sorted(statuses) == ["introduced", "proposed"]


def test_introducing_a_peer_to_an_offer_deleted_meanwhile_is_not_found(tmp_path: Path) -> None:
    """PostgreSQL: a member reads a suggestion, and its offer is deleted before the member's
    count of the offer's places gets the offer's row. The count waits for the delete, then
    finds no offer: 404, not a 500."""
    with _migrated_engine("postgresql", "copmatch_gone", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            offer = factories.offer(session, community, zaanstad, "Zon op daken")
            offer_id = offer.id
            suggestion_id = _planted(
                session, factories.need(session, community, haarlem, "Parkeerbeleid"), offer
            ).id

        def delete_offer(session: Session) -> None:
            session.delete(session.get_one(Offer, offer_id))
            session.flush()

        # The member's count of the offer's places waits for the delete.
        outcome = _second_waits(
            engine,
            delete_offer,
            lambda session, read: _introduce(session, suggestion_id, read),
            NotFound,
        )
        assert [str(error) for error in outcome] == [f"offer {offer_id} does not exist"]


def test_writes_that_wait_for_a_community_delete_are_not_found_or_go_on_without_it(
    tmp_path: Path,
) -> None:
    """PostgreSQL, found by review: a write of a need, and a change of a member's region, read
    their community, then waited for a transaction that deleted it. Re-reading its scoring
    formula after the wait raised InvalidRequestError: a 500. Now the need's write is a 404,
    and the region changes (the organisation still exists; the community needs no re-score)."""
    with _migrated_engine("postgresql", "copmatch_deleted", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            factories.offer(session, community, zaanstad, "Zon op daken")
            factories.need(session, community, haarlem, "Parkeerbeleid")
            community_id, haarlem_id = community.id, haarlem.id

        def delete(session: Session) -> None:
            communities.delete_community(session, session.get_one(Community, community_id))

        def write_need(session: Session, read: threading.Event) -> None:
            community = session.get_one(Community, community_id)
            read.set()
            answers.create_answer(
                session, Need, community, NeedCreate(organisationId=haarlem_id, text="Isolatie")
            )

        outcome = _second_waits(engine, delete, write_need, NotFound)
        assert [str(error) for error in outcome] == [f"community {community_id} does not exist"]

        with session_scope(engine) as session:
            community = factories.community(
                session, "CoP 2", session.get_one(Organisation, haarlem_id)
            )
            factories.need(session, community, session.get_one(Organisation, haarlem_id))
            community_id = community.id

        def move(session: Session, read: threading.Event) -> None:
            moved = session.get_one(Organisation, haarlem_id)
            session.scalars(select(Community)).all()  # what the change will queue behind
            read.set()
            organisations.update_organisation(
                session, moved, OrganisationUpdate(region="Kennemerland")
            )

        assert _second_waits(engine, delete, move, NotFound) == [None]
        with session_scope(engine) as session:
            assert session.get_one(Organisation, haarlem_id).region == "Kennemerland"


@pytest.mark.parametrize(
    ("second", "refused"),
    [
        (
            lambda session: organisations.create_organisation(
                session, OrganisationCreate(name="haarlem", kind="other")
            ),
            "organisation 1 is named 'HAARLEM', which differs only in case, accents or spacing",
        ),
        # Found by review: the load checked the names, then "HAARLEM" was committed beside it.
        (
            load_municipalities,
            "organisation 1 (agency) has the name 'HAARLEM', alike 'Haarlem' of municipality "
            "GM0392: rename it (PATCH /organisations/{id}) first",
        ),
    ],
)
def test_a_name_written_beside_an_alike_one_waits_and_is_refused(
    tmp_path: Path, second: Callable[[Session], object], refused: str
) -> None:
    """PostgreSQL: an organisation named "HAARLEM" is created while another request creates
    "haarlem" or loads the municipalities (Haarlem): names an import cannot tell apart. The
    second waits for the first, then finds its name: 409, and one name is stored."""
    with _migrated_engine("postgresql", "copmatch_alike", tmp_path) as engine:

        def then(session: Session, read: threading.Event) -> None:
            read.set()
            second(session)

        outcome = _second_waits(
            engine,
            lambda session: organisations.create_organisation(
                session, OrganisationCreate(name="HAARLEM", kind="agency")
            ),
            then,
            Conflict,
        )
        assert [str(error) for error in outcome] == [refused]
        with session_scope(engine) as session:
            assert session.scalars(select(Organisation.name)).all() == ["HAARLEM"]


def test_deleting_a_meeting_while_an_import_gives_answers_it_deadlocks_nothing(
    tmp_path: Path,
) -> None:
    """PostgreSQL, found by review: an import updated an answer of a meeting, and the meeting's
    delete then locked the meeting's row and waited for that answer; the import's next row, a
    new answer at the meeting, waited for the meeting's row: a deadlock, and the whole import
    lost. The delete now waits for the community's writes first, as they do."""
    with _migrated_engine("postgresql", "copmatch_meeting_import", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem = factories.municipality(session, "Haarlem", "GM0392")
            community = factories.community(session, "CoP", haarlem)
            meeting = factories.meeting(session, community)
            factories.need(session, community, haarlem, "Warmtenet", meetingId=meeting.id)
            community_id, meeting_id = community.id, meeting.id
        rows = [
            [*HEADER, "bijeenkomst"],
            ["Haarlem", "need", "Warmtenet", "", "", "hoog", "Kick-off"],
            ["Haarlem", "need", "Zonnepanelen op daken", "", "", "", "Kick-off"],
        ]
        upload = imports.read_import(csv_file(rows), "kick-off.csv", max_bytes=2**20)
        updated, deleting = threading.Event(), threading.Event()
        failed: list[str] = []

        def pause_after_the_update(*args: Any) -> None:
            # The import, between its update of the meeting's answer and its new answer: the
            # delete gets going (and, as it did, takes the row locks it takes) meanwhile.
            if threading.current_thread().name == "import" and args[2].startswith("UPDATE needs"):
                updated.set()
                deleting.wait(HELD_AT_MOST)
                time.sleep(0.5)

        def run(name: str, work: Callable[[Session], object]) -> threading.Thread:
            def target() -> None:
                try:
                    with session_scope(engine, writing=True) as session:
                        work(session)
                except Exception as error:
                    failed.append(f"{name}: {error!r}")

            thread = threading.Thread(target=target, name=name)
            thread.start()
            return thread

        def delete_meeting(session: Session) -> None:
            meeting = session.get_one(Meeting, meeting_id)
            deleting.set()
            communities.delete_meeting(session, meeting)

        event.listen(engine, "after_cursor_execute", pause_after_the_update)
        importing = run(
            "import",
            lambda session: imports.import_answers(
                session, session.get_one(Community, community_id), upload, dry_run=False
            ),
        )
        assert updated.wait(HELD_AT_MOST)
        deleted = run("delete", delete_meeting)
        importing.join(HELD_AT_MOST)
        deleted.join(HELD_AT_MOST)

        assert failed == []
        with session_scope(engine) as session:
            stored = session.execute(select(Need.text, Need.priority, Need.meeting_id))
            assert sorted(stored.all()) == [
                ("Warmtenet", "high", None),
                ("Zonnepanelen op daken", "normal", None),
            ]


def test_two_communities_named_alike_at_once_get_two_slugs(tmp_path: Path) -> None:
    """PostgreSQL, found by review: two communities created at once with names that give one
    slug ("Auto X", "Auto X!") both chose it, and the second failed with a 409; the second now
    waits for the first, then takes the next slug."""
    with _migrated_engine("postgresql", "copmatch_slugs", tmp_path) as engine:

        def second(session: Session, read: threading.Event) -> None:
            read.set()
            communities.create_community(session, CommunityCreate(name="Auto X!"))

        outcome = _second_waits(
            engine,
            lambda session: communities.create_community(session, CommunityCreate(name="Auto X")),
            second,
            Conflict,
        )
        assert outcome == [None]
        with session_scope(engine) as session:
            slugs = session.execute(select(Community.name, Community.slug).order_by(Community.id))
            assert slugs.all() == [("Auto X", "auto-x"), ("Auto X!", "auto-x-2")]


def test_deleting_a_meeting_while_an_answer_is_given_it_moves_the_answers_version(
    tmp_path: Path,
) -> None:
    """PostgreSQL, found by review: a meeting was deleted while a request gave an answer that
    meeting. The delete read the meeting's answers before that commit, so the foreign key
    cleared the reference instead: changed, with its ETag as it was. Now the delete waits,
    then clears it as it does every answer's (a new version)."""
    with _migrated_engine("postgresql", "copmatch_meeting", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, _, community = _haarlem_and_zaanstad(session)
            meeting_id = factories.meeting(session, community).id
            preference = answers.create_answer(
                session,
                FormatPreference,
                community,
                FormatPreferenceCreate(organisationId=haarlem.id, format="learning-circle"),
            )
            preference_id, version = preference.id, preference.version

        def give_the_meeting(session: Session) -> None:
            answers.update_answer(
                session,
                FormatPreference,
                session.get_one(FormatPreference, preference_id),
                FormatPreferenceUpdate(meetingId=meeting_id),
            )

        def delete_meeting(session: Session, read: threading.Event) -> None:
            meeting = session.get_one(Meeting, meeting_id)
            read.set()
            communities.delete_meeting(session, meeting)

        assert _second_waits(engine, give_the_meeting, delete_meeting, NotFound) == [None]
        with session_scope(engine) as session:
            stored = session.get_one(FormatPreference, preference_id)
            assert (stored.meeting_id, stored.version) == (None, version + 2)


def test_deleting_a_need_while_a_member_introduces_its_peer_waits_and_refuses(
    tmp_path: Path,
) -> None:
    """PostgreSQL: a member introduces a peer to a need and has not committed yet when the
    need is deleted. The delete's check of help in progress waits for the introduction, then
    finds it: 409, and both stay (it read "proposed" and deleted them)."""
    with _migrated_engine("postgresql", "copmatch_busy", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            offer = factories.offer(session, community, zaanstad, "Zon op daken")
            need = factories.need(session, community, haarlem, "Parkeerbeleid")
            need_id, suggestion_id = need.id, _planted(session, need, offer).id

        def delete_need(session: Session, started: threading.Event) -> None:
            started.set()
            answers.delete_answer(session, session.get_one(Need, need_id))

        # The delete's check of help in progress waits for the introduction.
        outcome = _second_waits(
            engine, lambda session: _introduce(session, suggestion_id), delete_need, Conflict
        )
        assert [type(error) for error in outcome] == [Conflict]
        with session_scope(engine) as session:
            assert session.get_one(Suggestion, suggestion_id).status == "introduced"


def test_two_preferences_for_one_format_at_once_store_one(tmp_path: Path) -> None:
    """PostgreSQL: two requests give an organisation's preference for the same format at once;
    the second waits for the first (the community's write lock), then finds it: 409."""
    with _migrated_engine("postgresql", "copmatch_formats", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, _, community = _haarlem_and_zaanstad(session)
            community_id, haarlem_id = community.id, haarlem.id
        body = FormatPreferenceCreate(organisationId=haarlem_id, format="site-visit")

        def prefer(session: Session) -> None:
            community = session.get_one(Community, community_id)
            answers.create_answer(session, FormatPreference, community, body)

        def prefer_too(session: Session, started: threading.Event) -> None:
            started.set()
            prefer(session)

        outcome = _second_waits(engine, prefer, prefer_too, Conflict)
        assert [type(error) for error in outcome] == [Conflict]
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(FormatPreference)) == 1


def test_a_rename_beside_a_member_acting_on_a_suggestion_naming_it_rewrites_its_reasons(
    tmp_path: Path,
) -> None:
    """PostgreSQL: loading the reference data renames "Gemeente Haarlem" to "Haarlem" while a
    member introduces a suggestion whose reasons name it (members take no lock). The rename
    waits for the member's commit, then rewrites the reasons and keeps the status. (It used to
    fail on the row's version with StaleDataError, rolling the whole load back.)"""
    with _migrated_engine("postgresql", "copmatch_rename", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            haarlem.name = "Gemeente Haarlem"  # the reference data calls it Haarlem
            factories.need(session, community, haarlem, "Hoe pak je aquathermie (TEO) aan?")
            factories.offer(session, community, zaanstad, "Ervaring met TEO uit de Zaan")
            factories.offer(session, community, haarlem, "Onze VvE-aanpak voor appartementen")
            factories.need(session, community, zaanstad, "Hoe krijg je VvE's mee bij isolatie?")
            matching.recompute(session, community)
            row = session.scalars(
                select(Suggestion).where(Suggestion.need_organisation_id == haarlem.id)
            ).one()
            assert [r["detail"] for r in row.reasons if r["factor"] == "reciprocity"] == [
                "Gemeente Haarlem can help Zaanstad in return"
            ]
            row_id = row.id
        acted, go = threading.Event(), threading.Event()

        def introduce() -> None:
            with session_scope(engine, writing=True) as session:
                row = session.get_one(Suggestion, row_id)
                matching.update_suggestion(
                    session, row, status=SuggestionStatus.INTRODUCED, feedback=None
                )
                acted.set()  # flushed: the row is locked, not committed
                go.wait(HELD_AT_MOST)

        member = threading.Thread(target=introduce)
        member.start()
        assert acted.wait(HELD_AT_MOST)
        loaded: list[object] = []

        def load() -> None:
            with session_scope(engine) as session:
                loaded.append(load_municipalities(session))

        loader = threading.Thread(target=load)
        loader.start()
        time.sleep(1.0)  # the loader's UPDATE of the row waits for the member's commit
        go.set()
        member.join(HELD_AT_MOST)
        loader.join(HELD_AT_MOST)
        assert len(loaded) == 1
        with session_scope(engine) as session:
            row = session.get_one(Suggestion, row_id)
            details = [r["detail"] for r in row.reasons if r["factor"] == "reciprocity"]
            assert (row.status, details) == (
                SuggestionStatus.INTRODUCED,
                ["Haarlem can help Zaanstad in return"],
            )


def test_a_reader_of_an_older_snapshot_keeps_its_index_to_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a report's REPEATABLE READ transaction began before a need was written and
    builds its index after readers of the new state cached theirs. The cache keeps the index
    of the current state, so the next reader does not build it again."""
    monkeypatch.setattr(index_module, "_indexes", index_module._IndexCache(4))
    with _migrated_engine("postgresql", "copmatch_cache", tmp_path) as engine:
        with session_scope(engine) as session:
            haarlem, zaanstad, community = _haarlem_and_zaanstad(session)
            factories.need(session, community, haarlem, "Hoe pak je aquathermie (TEO) aan?")
            factories.offer(session, community, zaanstad, "Ervaring met TEO uit de Zaan")
            community_id, haarlem_id = community.id, haarlem.id

        def index(session: Session) -> object:
            return community_index(session, session.get_one(Community, community_id))[1]

        older = engine.execution_options(isolation_level="REPEATABLE READ")
        with Session(older) as report:
            report.execute(select(Community.id)).all()  # its snapshot of the database starts
            with session_scope(engine, writing=True) as session:
                _write_need(session, community_id, haarlem_id, "Warmtenet voor de wijk")
            with session_scope(engine) as session:
                current = index(session)
            stale = index(report)
        with session_scope(engine) as session:
            assert (stale is current, index(session) is current) == (False, True)


def test_a_write_waits_for_the_communitys_lock_only_so_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a write behind one that holds its community's lock too long fails with
    55P03 (503 database-busy) instead of holding a connection without end; a write that gets
    the lock leaves the transaction's own lock_timeout as it was."""
    monkeypatch.setattr(suggestions_module, "WRITE_LOCK_TIMEOUT", "200ms")
    # Advisory locks are the database's, not the schema's: tests beside this one (pytest -n)
    # hold community 1's lock in their own schemas, for longer than 200 ms.
    monkeypatch.setattr(
        suggestions_module, "ANSWER_WRITES_LOCK", suggestions_module.ANSWER_WRITES_LOCK + 1
    )
    with _migrated_engine("postgresql", "copmatch_lock_timeout", tmp_path) as engine:
        with session_scope(engine) as session:
            community_id = _haarlem_and_zaanstad(session)[2].id
        with session_scope(engine) as holder, Session(engine) as waiter:
            matching.queue_answer_writes(holder, holder.get_one(Community, community_id))
            # Without the lock's own timeout, this one ends the wait (57014): no hanging test.
            waiter.execute(select(func.set_config("statement_timeout", "5s", True)))
            with pytest.raises(OperationalError) as raised:
                matching.queue_answer_writes(waiter, waiter.get_one(Community, community_id))
            assert raised.value.orig.sqlstate == "55P03"  # type: ignore[union-attr]
        with session_scope(engine) as session:
            matching.queue_answer_writes(session, session.get_one(Community, community_id))
            setting = session.execute(select(func.current_setting("lock_timeout"))).scalar()
            assert setting == "0"
