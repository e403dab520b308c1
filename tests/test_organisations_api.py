"""Organisations and people through the HTTP API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Organisation, Person
from tests import factories
from tests.http import delete, patch
from tests.problems import assert_problem

HAARLEM = {
    "name": "Haarlem",
    "kind": "municipality",
    "cbsCode": "GM0392",
    "province": "Noord-Holland",
}


def test_create_municipality_returns_it_with_location(client: TestClient) -> None:
    response = client.post("/api/v1/organisations", json=HAARLEM)
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/v1/organisations/{body['id']}"
    assert {k: body[k] for k in ("name", "kind", "cbsCode", "province", "region")} == {
        **HAARLEM,
        "region": None,
    }
    assert body["createdAt"].endswith("Z") or body["createdAt"].endswith("+00:00")
    assert client.get(response.headers["location"]).json() == body


def test_duplicate_cbs_code_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/v1/organisations", json=HAARLEM).status_code == 201
    response = client.post("/api/v1/organisations", json={**HAARLEM, "name": "Haarlem 2"})
    assert_problem(response, 409, "body.cbsCode")


def test_duplicate_name_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/v1/organisations", json=HAARLEM).status_code == 201
    response = client.post("/api/v1/organisations", json={**HAARLEM, "cbsCode": "GM0999"})
    assert_problem(response, 409, "body.name")


@pytest.mark.parametrize(
    "alike", ["haarlem", "HAARLEM", "Haarlém", "Haar\u200blem", "\uff28aarlem"]
)
def test_a_name_that_differs_only_in_case_accents_or_invisibles_is_a_conflict(
    client: TestClient, alike: str
) -> None:
    """Found by review: an import finds organisations by folded name, and took one of two such
    names at random."""
    haarlem = client.post("/api/v1/organisations", json=HAARLEM).json()
    body = {"name": alike, "kind": "other"}
    problem = assert_problem(client.post("/api/v1/organisations", json=body), 409, "body.name")
    assert problem["detail"] == (
        f"organisation {haarlem['id']} is named 'Haarlem', "
        "which differs only in case, accents or spacing"
    )
    other = client.post("/api/v1/organisations", json={"name": "RVO", "kind": "other"}).json()
    url = f"/api/v1/organisations/{other['id']}"
    assert_problem(patch(client, url, json={"name": alike}), 409, "body.name")
    # An organisation's own name may change in case or accents.
    renamed = patch(client, f"/api/v1/organisations/{haarlem['id']}", json={"name": alike})
    assert (renamed.status_code, renamed.json()["name"]) == (200, alike)


def test_an_organisation_named_alike_before_keeps_its_name_in_a_patch(
    client: TestClient, session: Session
) -> None:
    """Found by review: names stored alike before they were refused could not be sent back
    unchanged (a client sends back what it read): 409."""
    factories.agency(session, "Haarlem")
    twin = Organisation(name="haarlem", kind="agency")
    session.add(twin)
    session.flush()
    url = f"/api/v1/organisations/{twin.id}"
    changed = patch(client, url, json={"name": "haarlem", "region": "Kennemerland"})
    assert (changed.status_code, changed.json()["region"]) == (200, "Kennemerland")
    assert_problem(patch(client, url, json={"name": "HAARLEM"}), 409, "body.name")


def test_names_beyond_the_latin_script_are_told_apart(client: TestClient) -> None:
    """The names' fold kept only ASCII: every Cyrillic name folded to "" and was alike."""
    for name in ("Энергобюро", "Водоканал"):
        body = {"name": name, "kind": "other"}
        assert client.post("/api/v1/organisations", json=body).status_code == 201
    body = {"name": "ЭНЕРГОБЮРО", "kind": "other"}
    assert_problem(client.post("/api/v1/organisations", json=body), 409, "body.name")


def test_municipality_needs_a_cbs_code(client: TestClient) -> None:
    response = client.post(
        "/api/v1/organisations", json={"name": "Nergens", "kind": "municipality"}
    )
    assert_problem(response, 422, "body.cbsCode")


def test_a_cbs_code_has_ascii_digits(client: TestClient) -> None:
    """Other digits would pass for another code: GM٠٣٩٢ is not Haarlem's GM0392."""
    for digits in ("GM\u0660\u0663\u0669\u0662", "GM\uff10\uff13\uff19\uff12"):
        response = client.post("/api/v1/organisations", json={**HAARLEM, "cbsCode": digits})
        assert_problem(response, 422, "body.cbsCode")


def test_only_municipalities_have_a_cbs_code(client: TestClient) -> None:
    response = client.post(
        "/api/v1/organisations", json={"name": "RVO", "kind": "agency", "cbsCode": "GM0001"}
    )
    assert_problem(response, 422, "body.cbsCode")


def test_malformed_cbs_code_kind_and_unknown_property_are_named(client: TestClient) -> None:
    response = client.post(
        "/api/v1/organisations",
        json={"name": "X", "kind": "village", "cbsCode": "0392", "cbs_code": "GM0392"},
    )
    assert_problem(response, 422, "body.kind", "body.cbsCode", "body.cbs_code")


def test_body_that_is_not_json_is_a_400(client: TestClient) -> None:
    """Not parseable, so not a payload to validate (422): a bad request, at its position."""
    response = client.post(
        "/api/v1/organisations", content=b"{not json", headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "body")
    reason = "Expecting property name enclosed in double quotes at character 1"
    assert body["detail"] == f"the body is not valid JSON: {reason}"
    assert body["invalidParams"] == [{"name": "body", "reason": f"not valid JSON: {reason}"}]


def test_body_of_another_media_type_is_a_415(client: TestClient) -> None:
    json_text = b'{"name": "RVO", "kind": "agency"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        response = client.post("/api/v1/organisations", content=json_text, headers=headers)
        body = assert_problem(response, 415, "header.Content-Type")
        sent = content_type or "without a type"
        assert body["detail"] == f"the body must be sent as application/json, not {sent}"
    assert client.get("/api/v1/organisations?q=RVO").json()["total"] == 0
    # JSON of the wrong shape is a payload that fails validation: still 422.
    assert_problem(client.post("/api/v1/organisations", json=[1, 2]), 422, "body")
    sent = client.post(
        "/api/v1/organisations",
        content=json_text,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert sent.status_code == 201


def test_list_filters_by_kind_cbs_code_and_name(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    factories.municipality(session, "Haarlemmermeer", "GM0394")
    factories.municipality(session, "Zaanstad", "GM0479")
    rvo = factories.agency(session, "RVO")

    def names(**params: str) -> list[str]:
        response = client.get("/api/v1/organisations", params=params)
        assert response.status_code == 200
        return [item["name"] for item in response.json()["items"]]

    assert names(q="haarlem") == ["Haarlem", "Haarlemmermeer"]
    assert names(kind="agency") == ["RVO"]
    assert names(cbsCode="gm0392") == ["Haarlem"]
    assert names(q=" haarlem ") == ["Haarlem", "Haarlemmermeer"]
    # A municipality is stored by its name alone, and often written with "Gemeente".
    assert names(q="Gemeente  Haarlem") == ["Haarlem", "Haarlemmermeer"]
    assert names(q="gemeente zaan") == ["Zaanstad"]
    assert names(q="gemeente rvo") == []
    assert names(q="%") == []
    for digits in ("GM\u0660\u0663\u0669\u0662", "GM\uff10\uff13\uff19\uff12"):  # ٠٣٩٢, ０３９２
        assert_problem(client.get("/api/v1/organisations", params={"cbsCode": digits}), 400)
    page = client.get("/api/v1/organisations", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 4
    assert page["limit"] == 2
    assert page["offset"] == 1
    assert [item["id"] for item in page["items"]] == sorted(item["id"] for item in page["items"])
    assert len(page["items"]) == 2
    assert rvo.id not in {haarlem.id}


def test_an_organisation_called_gemeente_that_is_no_municipality_is_found_as_written(
    client: TestClient, session: Session
) -> None:
    factories.municipality(session, "Haarlem", "GM0392")
    grond = factories.agency(session, "Gemeente Haarlem Grondzaken")
    found = client.get("/api/v1/organisations", params={"q": "gemeente haarlem grond"})
    assert [item["name"] for item in found.json()["items"]] == [grond.name]


def test_the_name_search_ignores_case_and_accents_as_names_are_compared(
    client: TestClient, session: Session
) -> None:
    """SQLite's own lower() folds A-Z only: "ölmühle" did not find "Ölmühle" there. Accents
    count as little as in an import or in the names' uniqueness ("Energiebureau Olmuhle"
    could not be added beside it), so "olmuhle" finds it too (it did not)."""
    bureau = factories.agency(session, "Énergiebureau Ölmühle")
    noord = factories.agency(session, "Energiebureau Noord")
    cyrillic = factories.agency(session, "Энергобюро")

    def found(q: str) -> list[int]:
        response = client.get("/api/v1/organisations", params={"q": q})
        return [item["id"] for item in response.json()["items"]]

    searches = ("énergie", "ÉNERGIE", "ölmühle", "ÖLMÜHLE", "olmuhle", "Öl\u200bmühle")
    assert [found(q) for q in searches] == [[bureau.id, noord.id]] * 2 + [[bureau.id]] * 4
    assert (found("энерго"), found("ЭНЕРГО")) == ([cyrillic.id], [cyrillic.id])


def test_paging_and_filters_are_bounded(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/organisations?limit=101"), 400, "query.limit")
    assert_problem(client.get("/api/v1/organisations?limit=0"), 400, "query.limit")
    assert_problem(client.get("/api/v1/organisations?offset=-1"), 400, "query.offset")
    assert_problem(client.get("/api/v1/organisations?kind=village"), 400, "query.kind")
    assert_problem(client.get("/api/v1/organisations?cbsCode=392"), 400, "query.cbsCode")
    # PostgreSQL cannot compare text with NUL: refused before the query, on both databases.
    assert_problem(client.get("/api/v1/organisations?q=%00"), 400, "query.q")
    assert_problem(client.get("/api/v1/organisations?q=a%00b"), 400, "query.q")
    assert client.get("/api/v1/organisations?limit=100").json()["limit"] == 100


def test_unknown_and_out_of_range_ids(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/organisations/999999"), 404)
    assert_problem(client.get("/api/v1/organisations/0"), 400, "path.organisationId")
    assert_problem(
        client.get("/api/v1/organisations/99999999999999999999"), 400, "path.organisationId"
    )
    assert_problem(client.get("/api/v1/organisations/abc"), 400, "path.organisationId")


def test_patch_changes_only_given_fields(client: TestClient, session: Session) -> None:
    rvo = factories.agency(session, "RVO")
    response = patch(client, f"/api/v1/organisations/{rvo.id}", json={"region": "Nederland"})
    assert response.status_code == 200
    assert response.json()["name"] == "RVO"
    assert response.json()["region"] == "Nederland"
    assert_problem(
        patch(client, f"/api/v1/organisations/{rvo.id}", json={"name": None}), 422, "body.name"
    )
    url = f"/api/v1/organisations/{rvo.id}"
    # A municipality needs a CBS code and RVO has none stored: a conflict with its state.
    assert_problem(patch(client, url, json={"kind": "municipality"}), 409, "body.cbsCode")
    assert_problem(patch(client, url, json={"cbsCode": "GM0001"}), 409, "body.cbsCode")
    assert_problem(
        patch(client, url, json={"kind": "other", "cbsCode": "GM0001"}), 422, "body.cbsCode"
    )
    response = patch(client, url, json={"kind": "municipality", "cbsCode": "GM0001"})
    assert response.json()["cbsCode"] == "GM0001"
    # Becoming a non-municipal body again drops the code.
    assert patch(client, url, json={"kind": "agency"}).json()["cbsCode"] is None


def test_delete_organisation_and_refuse_while_member(client: TestClient, session: Session) -> None:
    rvo = factories.agency(session)
    member = factories.agency(session)
    factories.community(session, None, member)
    assert delete(client, f"/api/v1/organisations/{rvo.id}").status_code == 204
    assert_problem(client.get(f"/api/v1/organisations/{rvo.id}"), 404)
    assert_problem(delete(client, f"/api/v1/organisations/{member.id}"), 409)


def test_deleting_an_organisation_logs_the_deletion_of_its_people_and_their_tokens(
    client: TestClient, session: Session
) -> None:
    """The rows' cascade deleted them unseen: one event, "delete organisation"."""
    rvo = factories.agency(session)
    person = client.post(
        f"/api/v1/organisations/{rvo.id}/people",
        json={"name": "Sanne de Vries", "email": "sanne@rvo.example.org"},
    ).json()
    token = client.post(f"/api/v1/people/{person['id']}/tokens").json()
    assert delete(client, f"/api/v1/organisations/{rvo.id}").status_code == 204
    logged = session.execute(
        select(AuditEvent.action, AuditEvent.resource, AuditEvent.resource_id)
        .where(AuditEvent.action == "delete")
        .order_by(AuditEvent.id)
    ).all()
    assert logged == [
        ("delete", "token", token["id"]),
        ("delete", "person", person["id"]),
        ("delete", "organisation", rvo.id),
    ]
    assert_problem(client.get(f"/api/v1/people/{person['id']}"), 404)
    unknown = client.get("/api/v1/topics", headers={"Authorization": f"Bearer {token['token']}"})
    assert_problem(unknown, 401)


def test_people_of_an_organisation(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    url = f"/api/v1/organisations/{haarlem.id}/people"
    body = {
        "name": "Sanne de Vries",
        "email": "S.deVries@Haarlem.example.org",
        "department": "duurzaamheid",
        "jobTitle": "beleidsadviseur warmtetransitie",
    }
    response = client.post(url, json=body)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/api/v1/people/{created['id']}"
    assert created["email"] == "s.devries@haarlem.example.org"
    assert created["active"] is True
    assert created["organisationId"] == haarlem.id
    assert_problem(client.post(url, json={**body, "name": "Ander"}), 409, "body.email")
    assert_problem(client.post(url, json={**body, "email": "geen-adres"}), 422, "body.email")
    assert_problem(client.post("/api/v1/organisations/999999/people", json=body), 404)

    left = patch(client, f"/api/v1/people/{created['id']}", json={"active": False}).json()
    assert left["active"] is False
    assert client.get(url).json()["total"] == 1
    assert client.get(url, params={"active": "true"}).json()["total"] == 0


def test_deleting_a_person_erases_personal_data_but_keeps_answers(
    client: TestClient, session: Session
) -> None:
    haarlem = factories.municipality(session)
    sanne = factories.person(session, haarlem, name="Sanne de Vries")
    email = sanne.email
    cop = factories.community(session, None, haarlem)
    need = factories.need(session, cop, haarlem, personId=sanne.id)

    assert delete(client, f"/api/v1/people/{sanne.id}").status_code == 204
    assert_problem(client.get(f"/api/v1/people/{sanne.id}"), 404)
    assert_problem(delete(client, f"/api/v1/people/{sanne.id}"), 404)
    stored = client.get(f"/api/v1/communities/{cop.id}/needs/{need.id}").json()
    assert stored["text"] == "warmtenet in de wijk"
    assert stored["personId"] == sanne.id
    session.expire_all()
    row = session.scalars(select(Person).where(Person.id == sanne.id)).one()
    assert (row.name, row.email, row.department, row.active) == (None, None, None, False)
    assert session.scalar(select(Person.id).where(Person.email == email)) is None
