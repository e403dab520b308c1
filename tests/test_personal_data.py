"""AVG: the right of access (export) and erasure, and an audit log free of personal data."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from app.services import organisations, tokens
from tests import factories
from tests.http import delete, patch
from tests.problems import assert_problem

NAME = "Sanne Vermeulen-de Kruijf"
EMAIL = "s.vermeulen@haarlem.example.org"


def _everything(session: Session) -> str:
    """Every value in every table, as one text."""
    dump: list[str] = []
    connection = session.connection()
    for table in inspect(connection).get_table_names():
        for row in connection.execute(text(f'SELECT * FROM "{table}"')):
            dump.extend(str(value) for value in row)
    return "\n".join(dump)


def test_export_has_everything_about_the_person(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    cop = factories.community(session, "CoP export", haarlem)
    kick_off = factories.meeting(session, cop)
    person = client.post(
        f"/api/v1/organisations/{haarlem.id}/people",
        json={"name": NAME, "email": EMAIL, "department": "wonen", "jobTitle": "wijkregisseur"},
    ).json()
    need = factories.need(
        session,
        cop,
        haarlem,
        "VvE's en het WUP",
        personId=person["id"],
        priority="high",
        topics=["vve-aanpak"],
        meetingId=kick_off.id,
    )
    offer = factories.offer(session, cop, haarlem, "Onze VvE-aanpak", personId=person["id"])
    tokens.add_organiser(session, cop, person["id"])
    issued = client.post(f"/api/v1/people/{person['id']}/tokens").json()
    as_person = {"Authorization": f"Bearer {issued['token']}"}
    colleague = factories.person(session, haarlem)
    for_colleague = client.post(f"/api/v1/people/{colleague.id}/tokens", headers=as_person)
    retried = client.post(
        f"/api/v1/communities/{cop.id}/needs",
        json={"organisationId": haarlem.id, "text": "Warmtenet", "personId": person["id"]},
        headers={**as_person, "Idempotency-Key": "kick-off-1"},
    )

    export = client.get(f"/api/v1/people/{person['id']}/export").json()
    assert export["person"] == client.get(f"/api/v1/people/{person['id']}").json()
    assert export["organisation"]["name"] == "Haarlem"
    stored = {"communityId": cop.id, "organisationId": haarlem.id}
    assert [{k: v for k, v in a.items() if k != "createdAt"} for a in export["answers"]] == [
        {
            "kind": "need",
            "id": need.id,
            **stored,
            "text": "VvE's en het WUP",
            "topics": ["vve-aanpak"],
            "priority": "high",
            "capacity": None,
            "meetingId": kick_off.id,
        },
        {
            "kind": "need",
            "id": retried.json()["id"],
            **stored,
            "text": "Warmtenet",
            "topics": [],
            "priority": "normal",
            "capacity": None,
            "meetingId": None,
        },
        {
            "kind": "offer",
            "id": offer.id,
            **stored,
            "text": "Onze VvE-aanpak",
            "topics": [],
            "priority": None,
            "capacity": 3,
            "meetingId": None,
        },
    ]
    assert export["organiserOf"] == [cop.id]
    assert [t["id"] for t in export["tokens"]] == [issued["id"]]
    assert [t["id"] for t in export["tokensIssued"]] == [for_colleague.json()["id"]]
    assert issued["token"] not in str(export)
    assert for_colleague.json()["token"] not in str(export)
    assert [
        (r["key"], r["method"], r["path"], r["status"], r["response"])
        for r in export["idempotencyRecords"]
    ] == [
        (
            "kick-off-1",
            "POST",
            f"/api/v1/communities/{cop.id}/needs",
            201,
            retried.json(),
        )
    ]


def test_export_has_the_persons_activity_from_the_audit_log(
    client: TestClient, session: Session
) -> None:
    """The export left out what the audit log records under the person's id: the writes they
    made, and those made to their own record."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    sanne, piet = factories.person(session, haarlem), factories.person(session, haarlem)
    sannes = tokens.issue_token(session, sanne, lifetime_days=1)
    token_id, as_sanne = sannes.id, {"Authorization": f"Bearer {sannes.token}"}
    as_piet = {
        "Authorization": f"Bearer {tokens.issue_token(session, piet, lifetime_days=1).token}"
    }
    url = f"/api/v1/communities/{cop.id}/needs"
    need = client.post(url, json={"organisationId": haarlem.id, "text": "TVW"}, headers=as_sanne)
    client.post(url, json={"organisationId": haarlem.id, "text": "WUP"}, headers=as_piet)
    patch(client, f"/api/v1/people/{sanne.id}", {"jobTitle": "wijkregisseur"})  # the admin

    export = client.get(f"/api/v1/people/{sanne.id}/export", headers=as_sanne).json()
    assert [
        (e["action"], e["resource"], e["resourceId"], e["personId"], e["communityId"])
        for e in export["auditEvents"]
    ] == [
        ("create", "person", sanne.id, None, None),  # by the factory, as the CLI would
        ("create", "token", token_id, None, None),  # her token, issued the same way
        ("create", "need", need.json()["id"], sanne.id, cop.id),
        ("update", "person", sanne.id, None, None),
    ]
    assert export["auditEvents"][2]["requestId"] == need.headers["x-request-id"]


def test_an_organiser_of_one_community_cannot_export_a_person_who_takes_part_in_another(
    client: TestClient, session: Session
) -> None:
    """The export holds the person's answers and activity in every community they take part
    in: an organiser of only one of them read another's confidential answers through it."""
    haarlem, zaanstad = factories.municipality(session), factories.municipality(session)
    first = factories.community(session, None, haarlem, zaanstad)
    second = factories.community(session, None, haarlem)
    sanne, organiser = factories.person(session, haarlem), factories.person(session, zaanstad)
    factories.need(session, second, haarlem, "VERTROUWELIJK: ons budget", personId=sanne.id)
    tokens.add_organiser(session, first, organiser.id)
    as_organiser = {
        "Authorization": f"Bearer {tokens.issue_token(session, organiser, lifetime_days=1).token}"
    }
    url = f"/api/v1/people/{sanne.id}/export"

    body = assert_problem(client.get(url, headers=as_organiser), 403)
    assert body["detail"] == (
        "only admins, the person themself, and organisers of every community the person takes "
        "part in may export everything about them"
    )
    tokens.add_organiser(session, second, organiser.id)
    export = client.get(url, headers=as_organiser)
    assert export.status_code == 200
    assert [a["text"] for a in export.json()["answers"]] == ["VERTROUWELIJK: ons budget"]


def test_an_organisers_export_leaves_out_the_communities_the_person_has_left(
    client: TestClient, session: Session
) -> None:
    """Kept responses and audit events stay after the person's organisation leaves a community:
    an organiser of the community left could read the other's confidential text through them."""
    haarlem, zaanstad = factories.municipality(session), factories.municipality(session)
    first = factories.community(session, None, haarlem, zaanstad)
    second = factories.community(session, None, haarlem)
    sanne, organiser = factories.person(session, haarlem), factories.person(session, zaanstad)
    tokens.add_organiser(session, first, organiser.id)

    def bearer(person: Any) -> dict[str, str]:
        issued = tokens.issue_token(session, person, lifetime_days=1)
        return {"Authorization": f"Bearer {issued.token}"}

    as_sanne, as_organiser = bearer(sanne), bearer(organiser)
    secret = "VERTROUWELIJK: wij stoppen met het warmtenet"
    for community in (first, second):
        written = client.post(
            f"/api/v1/communities/{community.id}/needs",
            json={
                "organisationId": haarlem.id,
                "personId": sanne.id,
                "text": f"{secret} ({community.id})",
            },
            headers={**as_sanne, "Idempotency-Key": f"need-{community.id}"},
        )
        assert written.status_code == 201, written.text
    second_need = written.json()["id"]
    url = f"/api/v1/communities/{second.id}/needs/{second_need}"
    assert delete(client, url).status_code == 204
    assert (
        delete(client, f"/api/v1/communities/{second.id}/members/{haarlem.id}").status_code == 204
    )

    export = client.get(f"/api/v1/people/{sanne.id}/export", headers=as_organiser)
    assert export.status_code == 200
    body = export.json()
    assert f"({second.id})" not in export.text
    assert [a["text"] for a in body["answers"]] == [f"{secret} ({first.id})"]
    assert [r["key"] for r in body["idempotencyRecords"]] == [f"need-{first.id}"]
    assert {e["communityId"] for e in body["auditEvents"]} == {first.id, None}  # None: tokens
    # The person themself, and admins, see all of it.
    own = client.get(f"/api/v1/people/{sanne.id}/export", headers=as_sanne).json()
    assert [r["key"] for r in own["idempotencyRecords"]] == [
        f"need-{first.id}",
        f"need-{second.id}",
    ]
    assert {e["communityId"] for e in own["auditEvents"]} == {first.id, second.id, None}


def test_an_organiser_who_appoints_a_person_of_no_community_gets_no_more_of_them(
    client: TestClient, session: Session
) -> None:
    """Found by review: an organiser may make a person of an organisation in no community an
    organiser of theirs; they then "ran every community the person takes part in", and could
    export, erase and issue tokens for someone whose record they may not read."""
    haarlem, bergen = factories.municipality(session), factories.municipality(session)
    community = factories.community(session, None, haarlem)
    organiser, outsider = factories.person(session, haarlem), factories.person(session, bergen)
    tokens.add_organiser(session, community, organiser.id)
    as_organiser = {
        "Authorization": f"Bearer {tokens.issue_token(session, organiser, lifetime_days=1).token}"
    }
    appointed = client.post(
        f"/api/v1/communities/{community.id}/organisers",
        json={"personId": outsider.id},
        headers=as_organiser,
    )
    assert appointed.status_code == 201
    url = f"/api/v1/people/{outsider.id}"
    refused = [
        client.get(url, headers=as_organiser),
        client.get(f"{url}/export", headers=as_organiser),
        client.post(f"{url}/tokens", json={}, headers=as_organiser),
        client.delete(url, headers={**as_organiser, "If-Match": "*"}),
    ]
    assert [response.status_code for response in refused] == [403] * 4
    assert client.get(url).json()["name"] == outsider.name  # not erased


def test_an_organisers_export_leaves_out_what_the_person_did_to_people_elsewhere(
    client: TestClient, session: Session
) -> None:
    """Found by review: the tokens the person issued, and the creation of a colleague, in a
    community the organiser does not run, were in the organiser's export of them."""
    haarlem, zaanstad = factories.municipality(session), factories.municipality(session)
    first = factories.community(session, None, haarlem)
    second = factories.community(session, None, zaanstad)
    sanne, organiser = factories.person(session, haarlem), factories.person(session, haarlem)
    elsewhere = factories.person(session, zaanstad)
    tokens.add_organiser(session, first, organiser.id)
    tokens.add_organiser(session, second, sanne.id)

    def bearer(person: Any) -> dict[str, str]:
        issued = tokens.issue_token(session, person, lifetime_days=1)
        return {"Authorization": f"Bearer {issued.token}"}

    as_sanne = bearer(sanne)
    issued = client.post(f"/api/v1/people/{elsewhere.id}/tokens", json={}, headers=as_sanne)
    assert issued.status_code == 201, issued.text
    colleague = client.post(
        f"/api/v1/organisations/{zaanstad.id}/people",
        json={"name": "Piet Zaan", "email": "piet@zaanstad.example.org"},
        headers=as_sanne,
    )
    assert colleague.status_code == 201, colleague.text
    assert (
        client.delete(f"/api/v1/communities/{second.id}/organisers/{sanne.id}").status_code == 204
    )

    export = client.get(f"/api/v1/people/{sanne.id}/export", headers=bearer(organiser))
    assert export.status_code == 200
    body = export.json()
    assert body["tokensIssued"] == []
    about = {(event["resource"], event["resourceId"]) for event in body["auditEvents"]}
    assert ("person", colleague.json()["id"]) not in about
    assert ("token", issued.json()["id"]) not in about
    # An admin sees all of it.
    full = client.get(f"/api/v1/people/{sanne.id}/export").json()
    assert [token["id"] for token in full["tokensIssued"]] == [issued.json()["id"]]


def test_importing_the_file_again_after_an_erasure_brings_no_one_back(
    client: TestClient, session: Session
) -> None:
    """Found by review: the kick-off file that named a person, imported again after their
    erasure, created them anew (name, e-mail, department) and made them the author again."""
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    community = factories.community(session, None, haarlem)
    kick_off = (
        "organisatie;soort;tekst;naam;e-mail;afdeling\r\n"
        f"Haarlem;behoefte;Hulp bij de TVW;{NAME};{EMAIL};Wonen\r\n"
    ).encode()
    url = f"/api/v1/communities/{community.id}/imports"

    def imported() -> dict[str, Any]:
        response = client.post(url, files={"file": ("kick-off.csv", kick_off)})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = imported()
    need = client.get(
        f"/api/v1/communities/{community.id}/needs/{first['outcomes'][0]['answerId']}"
    )
    author = need.json()["personId"]
    assert delete(client, f"/api/v1/people/{author}").status_code == 204

    again = imported()
    assert (again["unchanged"], again["updated"], again["peopleCreated"]) == (1, 0, 0)
    assert client.get(need.url).json()["personId"] == author
    stored = _everything(session)
    assert (NAME in stored, EMAIL in stored) == (False, False)


def test_erasure_leaves_no_trace_but_keeps_the_answers(
    client: TestClient, session: Session
) -> None:
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    cop = factories.community(session, "CoP erasure", haarlem)
    person = client.post(
        f"/api/v1/organisations/{haarlem.id}/people",
        json={"name": NAME, "email": EMAIL, "department": "wonen", "jobTitle": "wijkregisseur"},
    ).json()
    need = factories.need(
        session, cop, haarlem, "Warmtenet voor de binnenstad", personId=person["id"]
    )
    client.post(f"/api/v1/people/{person['id']}/tokens")
    patch(client, f"/api/v1/people/{person['id']}", {"jobTitle": "projectleider"})
    session.flush()
    assert NAME in _everything(session)

    assert delete(client, f"/api/v1/people/{person['id']}").status_code == 204
    session.expire_all()
    everything = _everything(session)
    for trace in (NAME, EMAIL, "Vermeulen", "s.vermeulen", "wijkregisseur", "projectleider"):
        assert trace not in everything
    assert_problem(client.get(f"/api/v1/people/{person['id']}"), 404)
    kept = client.get(f"/api/v1/communities/{cop.id}/needs/{need.id}").json()
    assert (kept["text"], kept["organisationId"]) == ("Warmtenet voor de binnenstad", haarlem.id)


def test_audit_log_records_writes_with_ids_only(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
    cop = factories.community(session, "CoP audit", haarlem)
    organiser = factories.person(session, zaanstad, name=NAME)
    tokens.add_organiser(session, cop, organiser.id)
    token = tokens.issue_token(session, organiser, lifetime_days=1).token
    as_organiser = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/communities/{cop.id}"

    member = client.post(
        f"{url}/members", json={"organisationId": zaanstad.id}, headers=as_organiser
    ).json()
    need = client.post(
        f"{url}/needs",
        json={"organisationId": haarlem.id, "text": "Warmtenet"},
        headers=as_organiser,
    ).json()
    patch(client, f"{url}/needs/{need['id']}", {"priority": "high"}, headers=as_organiser)
    delete(client, f"{url}/needs/{need['id']}", headers=as_organiser)

    log = client.get(f"{url}/audit-log", headers=as_organiser).json()
    mine = [
        (e["action"], e["resource"], e["resourceId"], e["personId"], e["role"])
        for e in log["items"]
        if e["tokenId"] is not None
    ]
    assert mine == [
        ("delete", "need", need["id"], organiser.id, "person"),
        ("update", "need", need["id"], organiser.id, "person"),
        ("create", "need", need["id"], organiser.id, "person"),
        ("create", "member", member["id"], organiser.id, "person"),
    ]
    assert NAME not in str(log)
    assert "Warmtenet" not in str(log)


def test_a_conflict_the_database_finds_logs_no_personal_data(
    client: TestClient, session: Session, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    """The log named the statement's parameters (and PostgreSQL's DETAIL the duplicate key's
    value): names and e-mail addresses. It names the constraint."""
    haarlem = factories.municipality(session)
    url = f"/api/v1/organisations/{haarlem.id}/people"
    assert client.post(url, json={"name": NAME, "email": EMAIL}).status_code == 201
    # A concurrent request stored the address after this one's check: the database refuses it.
    monkeypatch.setattr(organisations, "ensure_unique", lambda *args, **kwargs: None)
    caplog.set_level(logging.INFO, logger="app.api.problems")

    assert_problem(client.post(url, json={"name": "Sanne B. de Vries", "email": EMAIL}), 409)
    cause = {
        "sqlite": "IntegrityError (SQLITE_CONSTRAINT_UNIQUE: "
        "UNIQUE constraint failed: people.email)",
        "postgresql": "IntegrityError (SQLSTATE 23505, constraint uq_people_email)",
    }[session.get_bind().dialect.name]
    assert [record.getMessage() for record in caplog.records] == [
        f"integrity error on POST {url}: {cause}"
    ]


def test_a_failing_statement_logs_no_personal_data(
    client: TestClient, session: Session, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    """A 500 (PostgreSQL: the value is in the error's own message) or 503 (SQLite) logged the
    exception with its parameters."""
    haarlem = factories.municipality(session)
    dialect = session.get_bind().dialect.name
    failing = {
        "sqlite": "SELECT no_such_function(:value)",
        "postgresql": "SELECT CAST(:value AS integer)",
    }[dialect]

    def fail(session: Session, *args: object, **kwargs: object) -> None:
        session.execute(text(failing), {"value": EMAIL})

    monkeypatch.setattr(organisations, "ensure_unique", fail)
    caplog.set_level(logging.INFO, logger="app.api.problems")

    response = client.post(
        f"/api/v1/organisations/{haarlem.id}/people", json={"name": NAME, "email": EMAIL}
    )
    assert response.status_code == {"sqlite": 503, "postgresql": 500}[dialect]
    cause = {
        "sqlite": "OperationalError (SQLITE_ERROR: no such function: no_such_function)",
        "postgresql": "DataError (SQLSTATE 22P02)",
    }[dialect]
    first_line = caplog.records[0].getMessage().splitlines()[0]  # then where it failed
    assert first_line.endswith(f": {cause}")
    assert EMAIL not in caplog.text


def test_an_answer_of_an_erased_person_is_changed_with_its_body_sent_back(
    client: TestClient, session: Session
) -> None:
    """A client edits what it read: the personId of someone erased since, sent back unchanged,
    is no new reference to check (the tombstone stays the author); another person still is."""
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    cop = factories.community(session, "CoP erasure", haarlem)
    person = factories.person(session, haarlem)
    need = factories.need(session, cop, haarlem, "Warmtenet voor de binnenstad", personId=person.id)
    meeting = factories.meeting(session, cop)
    assert delete(client, f"/api/v1/people/{person.id}").status_code == 204
    url = f"/api/v1/communities/{cop.id}/needs/{need.id}"
    read = client.get(url).json()
    assert read["personId"] == person.id

    body = {"text": "Warmtenet voor de oude binnenstad", "personId": read["personId"]}
    changed = patch(client, url, {**body, "meetingId": meeting.id})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["text"], changed.json()["meetingId"]) == (body["text"], meeting.id)
    other = factories.municipality(session)
    assert_problem(patch(client, url, {"personId": factories.person(session, other).id}), 409)


def test_a_person_one_may_not_see_is_refused_without_naming_their_organisation(
    client: TestClient, session: Session
) -> None:
    """The 403 named the person's organisation: a member could map every person id to one."""
    haarlem, rvo = factories.municipality(session), factories.agency(session)
    factories.community(session, None, haarlem)
    sanne, stranger = factories.person(session, haarlem), factories.person(session, rvo)
    token = tokens.issue_token(session, sanne, lifetime_days=1).token
    body = assert_problem(
        client.get(f"/api/v1/people/{stranger.id}", headers={"Authorization": f"Bearer {token}"}),
        403,
    )
    assert body["detail"] == f"you may not see or manage person {stranger.id}"
    assert str(rvo.id) not in body["detail"].replace(str(stranger.id), "")
