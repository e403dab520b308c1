"""Needs, offers and format preferences through the HTTP API."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.schemas import SAYS_SOMETHING, SHOWS_SOMETHING, is_placeholder, shows_nothing
from app.services import tokens
from tests import factories
from tests.http import delete, patch
from tests.problems import assert_problem


def test_create_need_with_topics_person_and_meeting(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    sanne = factories.person(session, haarlem)
    cop = factories.community(session, None, haarlem)
    kick_off = factories.meeting(session, cop)
    url = f"/api/v1/communities/{cop.id}/needs"
    text = "  Hoe stel je een WUP op met bewoners?  "
    response = client.post(
        url,
        json={
            "organisationId": haarlem.id,
            "text": text,
            "topics": ["wijkuitvoeringsplan", "bewonersparticipatie", "wijkuitvoeringsplan"],
            "priority": "high",
            "personId": sanne.id,
            "meetingId": kick_off.id,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{url}/{body['id']}"
    assert body["text"] == text
    assert body["topics"] == ["bewonersparticipatie", "wijkuitvoeringsplan"]
    assert body["topicTags"] == [
        {"topic": "bewonersparticipatie", "source": "given"},
        {"topic": "wijkuitvoeringsplan", "source": "given"},
    ]
    assert (body["priority"], body["personId"], body["meetingId"]) == (
        "high",
        sanne.id,
        kick_off.id,
    )
    assert (body["communityId"], body["organisationId"]) == (cop.id, haarlem.id)


def test_need_defaults_and_text_bounds(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs"
    body = client.post(url, json={"organisationId": haarlem.id, "text": "x" * 2000}).json()
    assert (body["priority"], body["topics"], body["personId"]) == ("normal", [], None)
    too_long = {"organisationId": haarlem.id, "text": "x" * 2001}
    assert_problem(client.post(url, json=too_long), 422, "body.text")
    assert_problem(
        client.post(url, json={"organisationId": haarlem.id, "text": ""}), 422, "body.text"
    )
    assert_problem(
        client.post(url, json={"organisationId": haarlem.id, "text": " \n "}), 422, "body.text"
    )
    assert_problem(
        client.post(url, json={"organisationId": haarlem.id, "text": "a", "priority": "urgent"}),
        422,
        "body.priority",
    )
    assert_problem(client.post(url, json={"text": "a"}), 422, "body.organisationId")


def test_answers_only_from_members(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    outsider = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    for segment, extra in (
        ("needs", {"text": "a"}),
        ("offers", {"text": "a"}),
        ("format-preferences", {"format": "site-visit"}),
    ):
        url = f"/api/v1/communities/{cop.id}/{segment}"
        body = assert_problem(
            client.post(url, json={"organisationId": outsider.id, **extra}),
            409,
            "body.organisationId",
        )
        assert "not a member" in body["detail"]
        assert_problem(
            client.post(url, json={"organisationId": 999999, **extra}), 404, "body.organisationId"
        )
        assert client.get(url).json()["total"] == 0


def test_references_must_fit(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    zaanstad = factories.municipality(session)
    colleague_elsewhere = factories.person(session, zaanstad)
    cop = factories.community(session, None, haarlem, zaanstad)
    other_cop = factories.community(session, None, haarlem)
    foreign_meeting = factories.meeting(session, other_cop)
    url = f"/api/v1/communities/{cop.id}/offers"
    base = {"organisationId": haarlem.id, "text": "VvE-aanpak"}
    elsewhere = assert_problem(
        client.post(url, json={**base, "personId": colleague_elsewhere.id}), 409, "body.personId"
    )
    # Which organisation the person is of is not said: the caller may not see its people.
    assert elsewhere["detail"] == (
        f"person {colleague_elsewhere.id} is not a person of organisation {haarlem.id}"
    )
    assert_problem(client.post(url, json={**base, "personId": 999999}), 404, "body.personId")
    assert_problem(
        client.post(url, json={**base, "meetingId": foreign_meeting.id}), 404, "body.meetingId"
    )
    assert_problem(
        client.post(url, json={**base, "topics": ["vve-aanpak", "kernfusie"]}), 422, "body.topics"
    )
    assert_problem(client.post(url, json={**base, "topics": ["Not A Slug"]}), 422, "body.topics.0")
    assert client.get(url).json()["total"] == 0


def test_offer_capacity(client: TestClient, session: Session) -> None:
    zaanstad = factories.municipality(session)
    cop = factories.community(session, None, zaanstad)
    url = f"/api/v1/communities/{cop.id}/offers"
    body = client.post(url, json={"organisationId": zaanstad.id, "text": "TEO uit de Zaan"}).json()
    assert body["capacity"] == 3
    for bad in (0, 101, "veel"):
        assert_problem(
            client.post(url, json={"organisationId": zaanstad.id, "text": "a", "capacity": bad}),
            422,
            "body.capacity",
        )
    changed = patch(
        client, f"{url}/{body['id']}", json={"capacity": 5, "topics": ["aquathermie"]}
    ).json()
    assert (changed["capacity"], changed["topics"], changed["text"]) == (
        5,
        ["aquathermie"],
        "TEO uit de Zaan",
    )


def test_list_filters(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    zaanstad = factories.municipality(session)
    cop = factories.community(session, None, haarlem, zaanstad)
    first = factories.need(session, cop, haarlem, topics=["aquathermie"])
    second = factories.need(session, cop, zaanstad, topics=["vve-aanpak"], priority="high")
    third = factories.need(session, cop, zaanstad, topics=["aquathermie"])
    url = f"/api/v1/communities/{cop.id}/needs"

    def ids(**params: object) -> list[int]:
        response = client.get(url, params=params)
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [first.id, second.id, third.id]
    assert ids(organisationId=zaanstad.id) == [second.id, third.id]
    assert ids(topic="aquathermie") == [first.id, third.id]
    assert ids(topic="aquathermie", organisationId=zaanstad.id) == [third.id]
    assert ids(priority="high") == [second.id]
    assert_problem(client.get(url, params={"organisationId": "x"}), 400, "query.organisationId")
    assert_problem(client.get(url, params={"topic": "Geen Slug"}), 400, "query.topic")


@pytest.mark.parametrize(
    ("segment", "body", "other"),
    [
        ("needs", {"text": "Hulp bij de TVW"}, {"text": "Hulp bij het WUP"}),
        ("offers", {"text": "Ervaring met de TVW"}, {"text": "Ervaring met het WUP"}),
        ("format-preferences", {"format": "site-visit"}, {"format": "learning-circle"}),
    ],
)
def test_every_kind_of_answer_is_listed_by_meeting(
    client: TestClient, session: Session, segment: str, body: dict[str, str], other: dict[str, str]
) -> None:
    """The format preferences ignored ?meetingId= and listed every answer."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    kick_off = factories.meeting(session, cop)
    url = f"/api/v1/communities/{cop.id}/{segment}"
    there = client.post(url, json={**body, "organisationId": haarlem.id, "meetingId": kick_off.id})
    elsewhere = client.post(url, json={**other, "organisationId": haarlem.id})
    assert (there.status_code, elsewhere.status_code) == (201, 201)
    listed = client.get(url, params={"meetingId": kick_off.id}).json()
    assert ([item["id"] for item in listed["items"]], listed["total"]) == ([there.json()["id"]], 1)


def test_an_organisation_prefers_a_format_once(client: TestClient, session: Session) -> None:
    """A second preference for the same format was stored beside the first (the import counts
    them as one), and a member's page listed the format twice."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    url = f"/api/v1/communities/{cop.id}/format-preferences"
    first = client.post(url, json={"organisationId": haarlem.id, "format": "learning-circle"})
    second = client.post(url, json={"organisationId": haarlem.id, "format": "site-visit"})
    assert (first.status_code, second.status_code) == (201, 201)
    again = client.post(url, json={"organisationId": haarlem.id, "format": "learning-circle"})
    body = assert_problem(again, 409, "body.format")
    assert body["detail"] == (
        f"organisation {haarlem.id} already prefers learning-circle in this community "
        f"(format preference {first.json()['id']}); change that one"
    )
    moved = patch(client, f"{url}/{second.json()['id']}", json={"format": "learning-circle"})
    assert_problem(moved, 409, "body.format")
    note = patch(client, f"{url}/{first.json()['id']}", json={"note": "maandelijks"})
    assert note.status_code == 200  # its own format, unchanged


def test_patch_and_delete_need(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    sanne = factories.person(session, haarlem)
    cop = factories.community(session, None, haarlem)
    other_cop = factories.community(session, None, haarlem)
    need = factories.need(session, cop, haarlem, personId=sanne.id)
    url = f"/api/v1/communities/{cop.id}/needs/{need.id}"
    body = patch(
        client, url, json={"text": "warmtenetten", "personId": None, "priority": "low"}
    ).json()
    assert (body["text"], body["personId"], body["priority"]) == ("warmtenetten", None, "low")
    assert_problem(patch(client, url, json={"text": None}), 422, "body.text")
    assert_problem(patch(client, url, json={"organisationId": 5}), 422, "body.organisationId")
    assert_problem(client.get(f"/api/v1/communities/{other_cop.id}/needs/{need.id}"), 404)
    assert delete(client, url).status_code == 204
    assert_problem(client.get(url), 404)


def test_a_deleted_answers_id_and_etag_never_reach_a_newer_answer(
    client: TestClient, session: Session
) -> None:
    """SQLite gave the id of a deleted last row to the next insert: a PATCH with the deleted
    need's id and ETag changed the need written after it."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    url = f"/api/v1/communities/{cop.id}/needs"
    first = client.post(url, json={"organisationId": haarlem.id, "text": "Hulp bij de TVW"})
    assert delete(client, f"{url}/{first.json()['id']}").status_code == 204
    later = client.post(url, json={"organisationId": haarlem.id, "text": "Iets anders"}).json()
    assert later["id"] != first.json()["id"]

    stale = client.patch(
        f"{url}/{first.json()['id']}",
        json={"priority": "high"},
        headers={"If-Match": first.headers["etag"]},
    )
    assert_problem(stale, 404)
    assert client.get(f"{url}/{later['id']}").json()["priority"] == "normal"


def test_format_preferences(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    zaanstad = factories.municipality(session)
    cop = factories.community(session, None, haarlem, zaanstad)
    url = f"/api/v1/communities/{cop.id}/format-preferences"
    created = client.post(
        url, json={"organisationId": haarlem.id, "format": "learning-circle", "note": "Leer Lab"}
    )
    assert created.status_code == 201
    assert created.json()["format"] == "learning-circle"
    client.post(url, json={"organisationId": zaanstad.id, "format": "site-visit"})
    assert_problem(
        client.post(url, json={"organisationId": haarlem.id, "format": "borrel"}),
        422,
        "body.format",
    )
    assert [
        p["organisationId"]
        for p in client.get(url, params={"format": "site-visit"}).json()["items"]
    ] == [zaanstad.id]
    item = f"{url}/{created.json()['id']}"
    assert patch(client, item, json={"format": "peer-review"}).json()["format"] == "peer-review"
    assert delete(client, item).status_code == 204
    assert client.get(url).json()["total"] == 1


@pytest.mark.parametrize(
    "text",
    [
        "   ",
        "\u200b",  # zero-width space
        "\ufeff",  # byte-order mark
        "\u200b\u200c\u200d\u2060 ",  # zero-width (non-)joiners, word joiner
        "\u3164",  # Hangul filler: a letter that shows nothing
        "\u2800\u00a0",  # blank braille pattern, no-break space
        "\u00ad\ufe0f\u202e",  # soft hyphen, variation selector, direction override
    ],
)
def test_a_text_or_name_that_shows_nothing_is_refused(
    client: TestClient, session: Session, text: str
) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    needs = f"/api/v1/communities/{cop.id}/needs"
    body = assert_problem(
        client.post(needs, json={"organisationId": haarlem.id, "text": text}), 422, "body.text"
    )
    assert body["invalidParams"][0]["reason"] == (
        "Value error, must contain more than white space and invisible characters"
    )
    assert_problem(client.post("/api/v1/communities", json={"name": text}), 422, "body.name")
    assert client.get(needs).json()["total"] == 0
    # Visible text with invisible characters inside it is kept exactly as written.
    kept = client.post(needs, json={"organisationId": haarlem.id, "text": "\u200bWUP\u0301"})
    assert (kept.status_code, kept.json()["text"]) == (201, "\u200bWUP\u0301")


@pytest.mark.parametrize(
    "text",
    [
        "n.v.t.",
        "NVT",
        " Geen ",
        "zie boven",
        "N.V.T",
        "Niet van toepassing",
        # Marks alone: an empty cell's.
        "-",
        "?",
        "...",
        "\u2026 ",  # ellipsis
        "\u2013",  # en dash
        "\u2713",  # check mark
        "\u2022 -",  # bullet
    ],
)
def test_a_placeholder_is_no_need_or_offer(client: TestClient, session: Session, text: str) -> None:
    """Found by review: "n.v.t." needs and "n.v.t." offers of other organisations were
    suggested to each other (0.8, "similar wording"); so were "-" and "-", and "?" and "?"
    (0.49 and 0.50, "close in meaning")."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    url = f"/api/v1/communities/{cop.id}"
    refused = client.post(f"{url}/offers", json={"organisationId": haarlem.id, "text": text})
    body = assert_problem(refused, 422, "body.text")
    assert body["invalidParams"][0]["reason"] == (
        f"Value error, {text.strip()!r} is a placeholder, not a need or offer: leave it out, "
        "or say what is meant"
    )
    # Within an answer, those words are words like any other.
    said = f"{text.strip()}: geen idee hoe een WUP te schrijven"
    kept = client.post(f"{url}/needs", json={"organisationId": haarlem.id, "text": said})
    assert kept.status_code == 201


def test_the_documented_pattern_of_answer_texts_agrees_with_their_validation() -> None:
    """Every character alone, and some texts: the pattern matches where the text is neither
    blank nor a placeholder (what a client or fuzzer generates from it is accepted)."""
    documented = re.compile(SAYS_SOMETHING)
    texts = [chr(code) for code in range(sys.maxunicode + 1) if code != 0]
    texts += ["-- ?", "a-", "- a", "\u2026\u200b", "5", "n.v.t.", "WUP?", "\u2713 ja"]
    disagree = [
        text
        for text in texts
        if (documented.search(text) is not None) == (shows_nothing(text) or is_placeholder(text))
    ]
    # "n.v.t." is a placeholder by its words, which no pattern spells out.
    assert disagree == ["n.v.t."]
    assert [
        text for text in "-?!.,;:*#/\u2014\u2026\u2022\u20ac\u2713" if not is_placeholder(text)
    ] == []


def test_every_white_space_character_shows_nothing_and_the_documented_pattern_agrees() -> None:
    spaces = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    assert len(spaces) == 29
    assert [space for space in spaces if not shows_nothing(space)] == []
    documented = re.compile(SHOWS_SOMETHING)
    for value in ["a", " a\u200b", "\u0301", "Ĳssel", *spaces, "\u200b\u3164", "a\x00"]:
        valid = documented.search(value) is not None
        assert valid == (not shows_nothing(value) and "\x00" not in value), repr(value)


def test_body_types_are_strict_and_nul_is_refused(client: TestClient, session: Session) -> None:
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    offers = f"/api/v1/communities/{cop.id}/offers"
    meetings = f"/api/v1/communities/{cop.id}/meetings"
    assert_problem(
        client.post(offers, json={"organisationId": str(haarlem.id), "text": "a"}),
        422,
        "body.organisationId",
    )
    assert_problem(
        client.post(offers, json={"organisationId": haarlem.id, "text": "a", "capacity": "3"}),
        422,
        "body.capacity",
    )
    assert_problem(
        client.post(offers, json={"organisationId": haarlem.id, "text": "a", "capacity": 2.5}),
        422,
        "body.capacity",
    )
    assert_problem(
        client.post(offers, json={"organisationId": haarlem.id, "text": "warmte\u0000net"}),
        422,
        "body.text",
    )
    assert_problem(client.post(meetings, json={"title": "Kick-off", "date": 0}), 422, "body.date")
    assert client.get(offers).json()["total"] == 0
    assert client.get(meetings).json()["total"] == 0
    whole = client.post(
        offers, json={"organisationId": float(haarlem.id), "text": "a", "capacity": 2.0}
    )
    assert (whole.status_code, whole.json()["capacity"]) == (201, 2)


def test_an_answer_a_member_types_in_is_theirs_unless_they_say_otherwise(
    client: TestClient, session: Session
) -> None:
    """It was stored without a person, so the plan's knowledge retention never counted it."""
    haarlem, zaanstad = factories.municipality(session), factories.municipality(session)
    cop = factories.community(session, None, haarlem, zaanstad)
    sanne, organiser = factories.person(session, haarlem), factories.person(session, zaanstad)
    tokens.add_organiser(session, cop, organiser.id)

    def as_(person: Any) -> dict[str, str]:
        issued = tokens.issue_token(session, person, lifetime_days=1)
        return {"Authorization": f"Bearer {issued.token}"}

    url = f"/api/v1/communities/{cop.id}/needs"
    mine = {"organisationId": haarlem.id, "text": "Hulp bij de TVW"}

    def person_of(body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()["personId"]

    assert person_of(mine, as_(sanne)) == sanne.id
    assert person_of({**mine, "personId": None}, as_(sanne)) is None
    # An organiser of another organisation, and an admin, type in for someone else.
    assert person_of(mine, as_(organiser)) is None
    assert person_of(mine, {}) is None
