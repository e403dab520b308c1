"""Communities, their members and meetings through the HTTP API."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Meeting, Membership, Need
from app.schemas import SLUG_PATTERN
from tests import factories
from tests.http import delete, patch
from tests.problems import assert_problem


def test_create_community_derives_slug(client: TestClient) -> None:
    response = client.post(
        "/api/v1/communities",
        json={"name": "CoP Warmtetransitie Noord-Holland", "region": "Noord-Holland"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "cop-warmtetransitie-noord-holland"
    assert response.headers["location"] == f"/api/v1/communities/{body['id']}"
    assert client.get("/api/v1/communities").json()["total"] == 1


def test_a_long_name_is_cut_to_a_valid_slug(client: TestClient) -> None:
    # The cut at 90 characters falls just after a hyphen.
    names = ["a" * 89 + " beta", "a" * 89 + " gamma"]
    slugs = [client.post("/api/v1/communities", json={"name": n}).json()["slug"] for n in names]
    assert slugs == ["a" * 89, "a" * 89 + "-2"]
    assert all(re.fullmatch(SLUG_PATTERN, slug) for slug in slugs)


def test_duplicate_slug_is_a_conflict(client: TestClient) -> None:
    assert (
        client.post("/api/v1/communities", json={"name": "Één", "slug": "cop"}).status_code == 201
    )
    assert_problem(
        client.post("/api/v1/communities", json={"name": "Twee", "slug": "cop"}), 409, "body.slug"
    )
    assert_problem(
        client.post("/api/v1/communities", json={"name": "Twee", "slug": "Co P"}), 422, "body.slug"
    )
    derived = client.post("/api/v1/communities", json={"name": "!!!"}).json()["slug"]
    assert derived == "community"
    assert client.post("/api/v1/communities", json={"name": "???"}).json()["slug"] == "community-2"
    assert client.post("/api/v1/communities", json={"name": "cop"}).json()["slug"] == "cop-2"


def test_patch_and_delete_community_cascades(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, "CoP A", haarlem)
    factories.meeting(session, cop)
    factories.need(session, cop, haarlem)
    response = patch(client, f"/api/v1/communities/{cop.id}", json={"description": "Leerkring"})
    assert response.json()["description"] == "Leerkring"
    assert_problem(
        patch(client, f"/api/v1/communities/{cop.id}", json={"slug": None}), 422, "body.slug"
    )

    assert delete(client, f"/api/v1/communities/{cop.id}").status_code == 204
    assert_problem(client.get(f"/api/v1/communities/{cop.id}"), 404)
    for model in (Membership, Meeting, Need):
        assert session.scalar(select(func.count()).select_from(model)) == 0
    assert client.get(f"/api/v1/organisations/{haarlem.id}").status_code == 200


def test_deleting_a_community_deletes_its_audit_log(client: TestClient, session: Session) -> None:
    """Audit events name their community by id only: they outlived it, and a new community
    that got its id showed them as its own."""
    haarlem = factories.municipality(session)
    old = client.post("/api/v1/communities", json={"name": "CoP Oud"}).json()
    url = f"/api/v1/communities/{old['id']}"
    client.post(f"{url}/members", json={"organisationId": haarlem.id})
    client.post(f"{url}/needs", json={"organisationId": haarlem.id, "text": "Warmtenet"})
    assert client.get(f"{url}/audit-log").json()["total"] == 3

    assert delete(client, url).status_code == 204
    kept = session.execute(
        select(AuditEvent.action, AuditEvent.resource, AuditEvent.resource_id).where(
            AuditEvent.community_id == old["id"]
        )
    ).all()
    assert kept == [("delete", "community", old["id"])]  # who deleted it, and when
    new = client.post("/api/v1/communities", json={"name": "CoP Nieuw"}).json()
    assert new["id"] != old["id"]
    log = client.get(f"/api/v1/communities/{new['id']}/audit-log").json()
    assert [(e["action"], e["resource"], e["resourceId"]) for e in log["items"]] == [
        ("create", "community", new["id"])
    ]


def test_members(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    cop = factories.community(session)
    url = f"/api/v1/communities/{cop.id}/members"

    response = client.post(url, json={"organisationId": haarlem.id})
    assert response.status_code == 201
    assert response.headers["location"] == f"{url}/{haarlem.id}"
    assert response.json()["organisation"]["name"] == "Haarlem"
    assert response.json()["organisationId"] == haarlem.id
    assert_problem(
        client.post(url, json={"organisationId": haarlem.id}), 409, "body.organisationId"
    )
    assert_problem(client.post(url, json={"organisationId": 999999}), 404, "body.organisationId")
    assert_problem(client.post(url, json={"organisationId": 0}), 422, "body.organisationId")
    assert_problem(
        client.post("/api/v1/communities/999999/members", json={"organisationId": haarlem.id}), 404
    )
    assert [m["organisationId"] for m in client.get(url).json()["items"]] == [haarlem.id]
    assert client.get(f"{url}/{haarlem.id}").json()["organisationId"] == haarlem.id

    assert delete(client, f"{url}/{haarlem.id}").status_code == 204
    assert_problem(delete(client, f"{url}/{haarlem.id}"), 404)
    assert client.get(url).json()["total"] == 0


def test_member_with_answers_cannot_be_removed(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    need = factories.need(session, cop, haarlem)
    url = f"/api/v1/communities/{cop.id}/members/{haarlem.id}"
    body = assert_problem(delete(client, url), 409)
    assert "1 answer" in body["detail"]
    assert body["detail"].endswith(
        "(complete any help in progress with them, or decline it while only introduced)"
    )
    assert delete(client, f"/api/v1/communities/{cop.id}/needs/{need.id}").status_code == 204
    assert delete(client, url).status_code == 204


def test_meetings(client: TestClient, session: Session) -> None:
    cop = factories.community(session)
    other = factories.community(session)
    url = f"/api/v1/communities/{cop.id}/meetings"
    later = client.post(url, json={"title": "Werkbezoek", "date": "2023-09-20"})
    kick_off = client.post(
        url, json={"title": "Kick-off", "date": "2023-06-14", "location": "Seinwezen, Haarlem"}
    )
    assert kick_off.status_code == 201
    assert kick_off.json()["date"] == "2023-06-14"
    assert [m["title"] for m in client.get(url).json()["items"]] == ["Kick-off", "Werkbezoek"]
    assert_problem(client.post(url, json={"title": "X", "date": "14-06-2023"}), 422, "body.date")
    assert_problem(client.post(url, json={"date": "2023-06-14"}), 422, "body.title")

    meeting_id = later.json()["id"]
    moved = patch(client, f"{url}/{meeting_id}", json={"date": "2023-10-01", "location": None})
    assert moved.json()["date"] == "2023-10-01"
    assert_problem(client.get(f"/api/v1/communities/{other.id}/meetings/{meeting_id}"), 404)
    assert delete(client, f"{url}/{meeting_id}").status_code == 204
    assert client.get(url).json()["total"] == 1


def test_deleting_a_meeting_changes_the_version_of_the_answers_given_there(
    client: TestClient, session: Session
) -> None:
    """Their meetingId is cleared: a new ETag and updatedAt, and the old ETag is refused."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    meeting = factories.meeting(session, cop)
    base = f"/api/v1/communities/{cop.id}"
    answers = {
        "needs": {"text": "warmtenet in een dorpskern"},
        "offers": {"text": "ervaring met een klein warmtenet"},
        "format-preferences": {"format": "one-to-one"},
    }
    before = {}
    for kind, body in answers.items():
        created = client.post(
            f"{base}/{kind}",
            json={**body, "organisationId": haarlem.id, "meetingId": meeting.id},
        )
        assert created.status_code == 201, created.text
        before[kind] = created

    assert delete(client, f"{base}/meetings/{meeting.id}").status_code == 204
    logged = session.execute(
        select(AuditEvent.action, AuditEvent.resource)
        .where(AuditEvent.community_id == cop.id, AuditEvent.action != "create")
        .order_by(AuditEvent.id)
    ).all()
    assert sorted(logged) == [
        ("delete", "meeting"),
        ("update", "format-preference"),
        ("update", "need"),
        ("update", "offer"),
    ]

    for kind, created in before.items():
        url = f"{base}/{kind}/{created.json()['id']}"
        now = client.get(url)
        assert now.json()["meetingId"] is None
        assert now.headers["etag"] != created.headers["etag"]
        assert now.json()["updatedAt"] > created.json()["updatedAt"]
        stale = client.patch(url, json={}, headers={"If-Match": created.headers["etag"]})
        assert_problem(stale, 412)


def test_the_members_page_costs_the_same_queries_for_any_number_of_members(
    client: TestClient, session: Session
) -> None:
    """Each member carries its organisation: loaded with the page, not one query per member."""
    organisations = [
        factories.municipality(session, f"Gemeente {n}", f"GM{n:04d}") for n in range(1, 7)
    ]
    cop = factories.community(session, "CoP", *organisations)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]).lstrip().split(None, 1)[0].upper())

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        page = client.get(f"/api/v1/communities/{cop.id}/members")
    finally:
        event.remove(connection, "before_cursor_execute", record)
    assert page.status_code == 200
    assert [m["organisation"]["name"] for m in page.json()["items"]] == [
        f"Gemeente {n}" for n in range(1, 7)
    ]
    # The community with the caller's access, the count, the page with its organisations.
    assert [s for s in statements if s == "SELECT"] == ["SELECT"] * 3
