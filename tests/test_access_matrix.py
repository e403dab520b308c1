"""Who may do what: every role against the endpoints of a community, on both databases.

The world: community C with member municipalities A, B and H; an organiser of C (a person of
B); members of A, B and H; an outsider whose municipality X is only in another community. Each
cell states the expected status. A refused write leaves its object unchanged (same ETag), and a
refusal never carries the object's content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Community, Organisation, Person, Suggestion
from app.services import communities, matching, tokens
from tests import factories
from tests.conftest import ADMIN_TOKEN
from tests.http import delete, patch
from tests.problems import assert_problem

ROLES = ("admin", "organiser", "member_a", "member_b", "member_h", "outsider")
NEED_TEXT = "Hoe pak je aquathermie (TEO) aan voor een wijk met veel VvE's?"
OFFER_TEXT = "Ervaring met TEO uit de Zaan en de VvE-aanpak in een warmtenetwijk"


@dataclass
class World:
    community: int
    other_community: int
    organisations: dict[str, int]
    people: dict[str, int]
    headers: dict[str, dict[str, str]]
    need: int
    offer: int
    suggestion: int

    def url(self, path: str) -> str:
        return f"/api/v1/communities/{self.community}{path}"


@pytest.fixture
def world(session: Session) -> World:
    a = factories.municipality(session, "Haarlem", "GM0392")
    b = factories.municipality(session, "Zaanstad", "GM0479")
    h = factories.municipality(session, "Hoorn", "GM0405")
    x = factories.municipality(session, "Texel", "GM0448")
    community = factories.community(session, "CoP C", a, b, h)
    other = factories.community(session, "CoP D", x)
    people = {
        "organiser": factories.person(session, b, name="Olga Organisator"),
        "member_a": factories.person(session, a, name="Anna Haarlem"),
        "member_b": factories.person(session, b, name="Bram Zaanstad"),
        "member_h": factories.person(session, h, name="Hanna Hoorn"),
        "outsider": factories.person(session, x, name="Otto Texel"),
    }
    tokens.add_organiser(session, community, people["organiser"].id)
    headers = {"admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
    for role, person in people.items():
        issued = tokens.issue_token(session, person, lifetime_days=1)
        headers[role] = {"Authorization": f"Bearer {issued.token}"}
    need = factories.need(session, community, a, NEED_TEXT)
    offer = factories.offer(session, community, b, OFFER_TEXT)
    matching.recompute(session, community)
    suggestion = session.query(Suggestion).filter_by(need_id=need.id, offer_id=offer.id).one()
    return World(
        community=community.id,
        other_community=other.id,
        organisations={"a": a.id, "b": b.id, "h": h.id, "x": x.id},
        people={role: person.id for role, person in people.items()},
        headers=headers,
        need=need.id,
        offer=offer.id,
        suggestion=suggestion.id,
    )


READ_ALL = {
    "admin": 200,
    "organiser": 200,
    "member_a": 200,
    "member_b": 200,
    "member_h": 200,
    "outsider": 403,
}
MANAGERS_ONLY_READ = {
    "admin": 200,
    "organiser": 200,
    "member_a": 403,
    "member_b": 403,
    "member_h": 403,
    "outsider": 403,
}

READS: list[tuple[str, Callable[[World], str], dict[str, int]]] = [
    ("community", lambda w: w.url(""), READ_ALL),
    ("members", lambda w: w.url("/members"), READ_ALL),
    ("meetings", lambda w: w.url("/meetings"), READ_ALL),
    ("needs", lambda w: w.url("/needs"), READ_ALL),
    ("need", lambda w: w.url(f"/needs/{w.need}"), READ_ALL),
    ("offers", lambda w: w.url("/offers"), READ_ALL),
    ("format preferences", lambda w: w.url("/format-preferences"), READ_ALL),
    ("suggestions", lambda w: w.url("/suggestions"), READ_ALL),
    ("suggestion", lambda w: w.url(f"/suggestions/{w.suggestion}"), READ_ALL),
    ("allocation", lambda w: w.url("/allocation"), READ_ALL),
    ("reciprocal pairs", lambda w: w.url("/reciprocal-pairs"), READ_ALL),
    ("working groups", lambda w: w.url("/working-groups"), READ_ALL),
    ("gaps", lambda w: w.url("/gaps"), READ_ALL),
    ("unmet offers", lambda w: w.url("/unmet-offers"), READ_ALL),
    ("organisers", lambda w: w.url("/organisers"), READ_ALL),
    ("audit log", lambda w: w.url("/audit-log"), MANAGERS_ONLY_READ),
    ("programme-plan report", lambda w: w.url("/report"), MANAGERS_ONLY_READ),
    (
        "A's own report page",
        lambda w: f"/api/v1/organisations/{w.organisations['a']}/report?communityId={w.community}",
        {
            "admin": 200,
            "organiser": 200,
            "member_a": 200,
            "member_b": 403,
            "member_h": 403,
            "outsider": 403,
        },
    ),
    ("organisations", lambda w: "/api/v1/organisations", dict.fromkeys(ROLES, 200)),
    ("topics", lambda w: "/api/v1/topics", dict.fromkeys(ROLES, 200)),
    (
        "people of A",
        lambda w: f"/api/v1/organisations/{w.organisations['a']}/people",
        {
            "admin": 200,
            "organiser": 200,
            "member_a": 200,
            "member_b": 403,
            "member_h": 403,
            "outsider": 403,
        },
    ),
    (
        "person of A",
        lambda w: f"/api/v1/people/{w.people['member_a']}",
        {
            "admin": 200,
            "organiser": 200,
            "member_a": 200,
            "member_b": 403,
            "member_h": 403,
            "outsider": 403,
        },
    ),
    (
        "export of A's person",
        lambda w: f"/api/v1/people/{w.people['member_a']}/export",
        {
            "admin": 200,
            "organiser": 200,
            "member_a": 200,
            "member_b": 403,
            "member_h": 403,
            "outsider": 403,
        },
    ),
]


@pytest.mark.parametrize(("name", "url", "expected"), READS, ids=[r[0] for r in READS])
def test_reads(
    client: TestClient,
    world: World,
    name: str,
    url: Callable[[World], str],
    expected: dict[str, int],
) -> None:
    found = {
        role: client.get(url(world), headers=world.headers[role]).status_code for role in ROLES
    }
    assert found == expected


def test_community_list_shows_only_ones_own_communities(client: TestClient, world: World) -> None:
    def ids(role: str) -> list[int]:
        return [
            c["id"]
            for c in client.get("/api/v1/communities", headers=world.headers[role]).json()["items"]
        ]

    assert ids("admin") == [world.community, world.other_community]
    assert ids("organiser") == [world.community]
    assert ids("member_a") == [world.community]
    assert ids("outsider") == [world.other_community]


def test_answer_writes(client: TestClient, session: Session, world: World) -> None:
    created = {}
    for role in ROLES:
        response = client.post(
            world.url("/needs"),
            json={"organisationId": world.organisations["a"], "text": f"warmtenet {role}"},
            headers=world.headers[role],
        )
        created[role] = response.status_code
        if response.status_code != 201:
            assert "warmtenet" not in response.text
    assert created == {
        "admin": 201,
        "organiser": 201,
        "member_a": 201,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }

    changed = {}
    need_url = world.url(f"/needs/{world.need}")
    for role in ROLES:
        before = client.get(need_url).headers["etag"]
        response = patch(client, need_url, {"priority": "high"}, headers=world.headers[role])
        changed[role] = response.status_code
        if response.status_code != 200:
            assert client.get(need_url).headers["etag"] == before  # refused: unchanged
            assert NEED_TEXT not in response.text
    assert changed == {
        "admin": 200,
        "organiser": 200,
        "member_a": 200,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }

    deleted = {}
    for role in ROLES:
        victim = client.post(
            world.url("/needs"),
            json={"organisationId": world.organisations["a"], "text": "te verwijderen"},
        ).json()
        response = delete(client, world.url(f"/needs/{victim['id']}"), headers=world.headers[role])
        deleted[role] = response.status_code
        if response.status_code != 204:
            assert client.get(world.url(f"/needs/{victim['id']}")).status_code == 200
    assert deleted == {
        "admin": 204,
        "organiser": 204,
        "member_a": 204,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }


def test_suggestion_actions(client: TestClient, world: World) -> None:
    url = world.url(f"/suggestions/{world.suggestion}")
    found = {}
    for role in ("outsider", "member_h", "member_b", "admin", "organiser", "member_a"):
        before = client.get(url).headers["etag"]
        # A status kept as it is: a legal change for everyone who may act at all.
        response = patch(client, url, {"status": "proposed"}, headers=world.headers[role])
        found[role] = response.status_code
        if response.status_code != 200:
            assert client.get(url).headers["etag"] == before
    assert found == {
        "outsider": 403,
        "member_h": 403,
        "member_b": 200,
        "admin": 200,
        "organiser": 200,
        "member_a": 200,
    }


def test_each_side_its_own_part(client: TestClient, world: World) -> None:
    """The need side (Haarlem) accepted for the offering municipality and took a place of its
    capacity it could not give back; the offering side wrote the usefulness of its own help.
    Accepting is the offer side's, feedback the need side's, organisers do both."""
    url = world.url(f"/suggestions/{world.suggestion}")
    assert (
        patch(client, url, {"status": "introduced"}, world.headers["member_a"]).status_code == 200
    )

    before = client.get(url).headers["etag"]
    body = assert_problem(
        patch(client, url, {"status": "accepted"}, world.headers["member_a"]), 403, "body.status"
    )
    assert body["detail"] == (
        "only the offering organisation (or an organiser) accepts a suggestion: it gives one of "
        "its offer's places"
    )
    feedback = {"feedback": {"usefulness": 2}}
    body = assert_problem(
        patch(client, url, feedback, world.headers["member_b"]), 403, "body.feedback"
    )
    assert body["detail"] == (
        "feedback rates the help received: the organisation with the need (or an organiser) "
        "gives it"
    )
    assert client.get(url).headers["etag"] == before

    accepted = patch(client, url, {"status": "accepted"}, world.headers["member_b"])
    assert accepted.json()["status"] == "accepted"
    # Sent again by the need side, an unchanged status is no one's part.
    unchanged = patch(client, url, {"status": "accepted", **feedback}, world.headers["member_a"])
    assert unchanged.json()["feedback"] == {"usefulness": 2, "note": None}
    done = patch(client, url, {"status": "completed"}, world.headers["member_b"])
    assert done.json()["status"] == "completed"
    rated = patch(client, url, {"feedback": {"usefulness": 5}}, world.headers["organiser"])
    assert rated.json()["feedback"] == {"usefulness": 5, "note": None}


def test_management_writes(client: TestClient, session: Session, world: World) -> None:
    def post(role: str, path: str, body: dict[str, Any]) -> int:
        return client.post(world.url(path), json=body, headers=world.headers[role]).status_code

    meeting = {
        role: post(role, "/meetings", {"title": f"Werkbezoek {role}", "date": "2023-09-01"})
        for role in ROLES
    }
    assert meeting == {
        "admin": 201,
        "organiser": 201,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }

    recompute = {role: post(role, "/_recompute", {}) for role in ROLES}
    assert recompute == {
        "admin": 200,
        "organiser": 200,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }

    community_patch = {}
    for role in ROLES:
        before = client.get(world.url("")).headers["etag"]
        status = patch(
            client, world.url(""), {"description": role}, headers=world.headers[role]
        ).status_code
        community_patch[role] = status
        if status != 200:
            assert client.get(world.url("")).headers["etag"] == before
    assert community_patch == {
        "admin": 200,
        "organiser": 200,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }

    member = {}
    for role in ROLES:
        extra = factories.agency(session, f"Bureau {role}")
        member[role] = post(role, "/members", {"organisationId": extra.id})
    assert member == {
        "admin": 201,
        "organiser": 201,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }

    newcomer = factories.person(session, session.get_one(Organisation, world.organisations["h"]))
    organiser = {role: post(role, "/organisers", {"personId": newcomer.id}) for role in ROLES}
    # The first allowed call makes the newcomer organiser; the second allowed one finds them there.
    assert organiser == {
        "admin": 201,
        "organiser": 409,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }


def test_server_level_writes_are_for_admins(client: TestClient, world: World) -> None:
    def status(role: str, method: str, url: str, body: dict[str, Any] | None = None) -> int:
        return client.request(method, url, json=body, headers=world.headers[role]).status_code

    communities = {
        role: status(role, "POST", "/api/v1/communities", {"name": f"CoP {role}"}) for role in ROLES
    }
    assert communities == {
        "admin": 201,
        "organiser": 403,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }
    organisations = {
        role: status(
            role, "POST", "/api/v1/organisations", {"name": f"Bureau {role}", "kind": "agency"}
        )
        for role in ROLES
    }
    assert organisations == {
        "admin": 201,
        "organiser": 403,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }
    tokens_issued = {
        role: status(role, "POST", f"/api/v1/people/{world.people['member_a']}/tokens")
        for role in ROLES
    }
    assert tokens_issued == {
        "admin": 201,
        "organiser": 201,
        "member_a": 403,
        "member_b": 403,
        "member_h": 403,
        "outsider": 403,
    }


def test_an_organiser_issues_tokens_only_for_people_wholly_inside_their_communities(
    client: TestClient, session: Session, world: World
) -> None:
    """A token acts as its person in every community they take part in: an organiser may issue
    one only when they run all of those, or they would let themselves into the others."""
    member_a, outsider = world.people["member_a"], world.people["outsider"]

    def issued(role: str, person_id: int) -> int:
        url = f"/api/v1/people/{person_id}/tokens"
        return client.post(url, headers=world.headers[role]).status_code

    assert issued("organiser", member_a) == 201  # Haarlem takes part in CoP C only
    other = session.get_one(Community, world.other_community)
    communities.add_member(session, other, world.organisations["a"])  # now in CoP D as well
    assert (issued("organiser", member_a), issued("admin", member_a)) == (403, 201)
    # Nor someone whose organisation is a member of CoP C but who organises CoP D.
    communities.remove_member(session, other, world.organisations["a"])
    assert issued("organiser", member_a) == 201
    tokens.add_organiser(session, other, member_a)
    assert (issued("organiser", member_a), issued("admin", member_a)) == (403, 201)
    # Listing or revoking such a person's tokens follows the same rule.
    token_id = tokens.issue_token(session, session.get_one(Person, member_a), lifetime_days=1).id
    assert (
        client.delete(f"/api/v1/tokens/{token_id}", headers=world.headers["organiser"]).status_code
        == 403
    )
    assert issued("organiser", outsider) == 403  # Texel takes part in CoP D only


def test_an_organisers_token_stops_when_its_person_takes_part_beyond_the_organiser(
    client: TestClient, session: Session, world: World
) -> None:
    """The token rule held only when the token was issued: the organiser of CoP C issued one
    for a person of Haarlem (then in CoP C only), Haarlem joined CoP D, and the organiser's
    copy of the token read CoP D, which they do not run. Now such a token is revoked when its
    person comes to take part in a community its issuer does not run."""
    member_a, member_h = world.people["member_a"], world.people["member_h"]
    other = f"/api/v1/communities/{world.other_community}"

    def issue(role: str, person_id: int) -> dict[str, str]:
        response = client.post(f"/api/v1/people/{person_id}/tokens", headers=world.headers[role])
        assert response.status_code == 201
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def works(headers: dict[str, str]) -> int:
        return client.get("/api/v1/topics", headers=headers).status_code

    a_by_organiser, a_by_admin = issue("organiser", member_a), issue("admin", member_a)
    h_by_organiser = issue("organiser", member_h)
    joined = client.post(f"{other}/members", json={"organisationId": world.organisations["a"]})
    assert joined.status_code == 201  # by the admin
    assert [works(h) for h in (a_by_organiser, a_by_admin, h_by_organiser)] == [401, 200, 200]

    made = client.post(f"{other}/organisers", json={"personId": member_h})
    assert made.status_code == 201
    assert works(h_by_organiser) == 401

    # An organiser who runs every community the person takes part in keeps their token.
    client.post(f"{other}/organisers", json={"personId": world.people["organiser"]})
    session.expire_all()
    assert client.get("/api/v1/topics", headers=world.headers["organiser"]).status_code == 200
    h_again = issue("organiser", member_h)
    hoorn = {"organisationId": world.organisations["h"]}
    assert client.post(f"{other}/members", json=hoorn).status_code == 201
    assert works(h_again) == 200


def test_an_organiser_appoints_only_people_of_the_communities_they_run(
    client: TestClient, session: Session, world: World
) -> None:
    """The organiser of CoP C made Otto of Texel (in CoP D only) an organiser of C, and so
    revoked the token D's organiser had issued him. Now only an admin, or an organiser of every
    community the person takes part in, appoints them."""
    outsider = world.people["outsider"]
    body = assert_problem(
        client.post(
            world.url("/organisers"),
            json={"personId": outsider},
            headers=world.headers["organiser"],
        ),
        403,
    )
    assert body["detail"] == (
        f"person {outsider} takes part in a community you do not run: only admins and "
        "organisers of every community the person takes part in may make them an organiser"
    )
    assert client.get("/api/v1/topics", headers=world.headers["outsider"]).status_code == 200
    assert client.get(world.url(f"/organisers/{outsider}")).status_code == 404
    # People of C's members, and people who take part in no community yet, they may appoint.
    newcomer = factories.person(session, factories.agency(session, "RVO"))
    for person in (world.people["member_h"], newcomer.id):
        made = client.post(
            world.url("/organisers"), json={"personId": person}, headers=world.headers["organiser"]
        )
        assert made.status_code == 201, made.text
    assert client.post(world.url("/organisers"), json={"personId": outsider}).status_code == 201


def test_an_organisation_whose_people_organise_a_community_is_not_deleted_with_them(
    client: TestClient, session: Session, world: World
) -> None:
    """Deleting RVO took its organiser of CoP C with it through the rows' cascade: the token
    she had issued for Anna of Haarlem kept working, and the audit log never said she stopped
    organising. Now the organiser is removed first, which revokes that token."""
    rvo = factories.agency(session, "RVO")
    rita = factories.person(session, rvo)
    tokens.add_organiser(session, session.get_one(Community, world.community), rita.id)
    as_rita = {
        "Authorization": f"Bearer {tokens.issue_token(session, rita, lifetime_days=1).token}"
    }
    issued = client.post(f"/api/v1/people/{world.people['member_a']}/tokens", headers=as_rita)
    as_anna = {"Authorization": f"Bearer {issued.json()['token']}"}
    url = f"/api/v1/organisations/{rvo.id}"

    body = assert_problem(delete(client, url), 409)
    assert body["detail"] == (
        f"people of organisation {rvo.id} organise community(ies) {world.community}; remove "
        "them as organisers first"
    )
    assert client.get(world.url("/needs"), headers=as_anna).status_code == 200
    assert delete(client, world.url(f"/organisers/{rita.id}")).status_code == 204
    assert client.get(world.url("/needs"), headers=as_anna).status_code == 401
    assert delete(client, url).status_code == 204


def test_an_organisers_own_token_survives_their_organisation_joining_another_community(
    client: TestClient, world: World
) -> None:
    """No one but the organiser has seen a token they issued for themself: it is theirs as any
    other of their own, and goes on when their own part grows (it was revoked: a 401)."""

    def issue(role: str, person_id: int) -> dict[str, str]:
        response = client.post(f"/api/v1/people/{person_id}/tokens", headers=world.headers[role])
        assert response.status_code == 201
        return {"Authorization": f"Bearer {response.json()['token']}"}

    own, colleagues = (
        issue("organiser", world.people["organiser"]),
        issue("organiser", world.people["member_b"]),
    )
    zaanstad = {"organisationId": world.organisations["b"]}
    other = f"/api/v1/communities/{world.other_community}"
    assert client.post(f"{other}/members", json=zaanstad).status_code == 201  # by the admin
    works = [client.get("/api/v1/topics", headers=h).status_code for h in (own, colleagues)]
    assert works == [200, 401]


@pytest.mark.parametrize("shrinks", ["stops organising", "leaves", "is erased"])
def test_an_organisers_tokens_stop_when_the_organiser_stops_running_their_persons_communities(
    client: TestClient, session: Session, world: World, shrinks: str
) -> None:
    """The organiser has seen the tokens they issued: those stop when the organiser no longer
    runs every community the token's person takes part in, as they do when the person's part
    grows. The copies went on working: an organiser removed from CoP D, or one who left or was
    erased, still acted as those people."""
    zaanstad = session.get_one(Organisation, world.organisations["b"])
    nina = factories.person(session, zaanstad, name="Nina Zaanstad")
    tokens.add_organiser(session, session.get_one(Community, world.community), nina.id)
    tokens.add_organiser(session, session.get_one(Community, world.other_community), nina.id)
    ninas = {"Authorization": f"Bearer {tokens.issue_token(session, nina, lifetime_days=1).token}"}

    def issue(headers: dict[str, str], person_id: int) -> dict[str, str]:
        response = client.post(f"/api/v1/people/{person_id}/tokens", headers=headers)
        assert response.status_code == 201
        return {"Authorization": f"Bearer {response.json()['token']}"}

    member_a, outsider = world.people["member_a"], world.people["outsider"]
    a_by_nina, outsider_by_nina = issue(ninas, member_a), issue(ninas, outsider)  # CoP C; CoP D
    outsider_by_admin = issue(world.headers["admin"], outsider)

    if shrinks == "stops organising":
        url = f"/api/v1/communities/{world.other_community}/organisers/{nina.id}"
        assert client.delete(url).status_code == 204
    elif shrinks == "leaves":
        assert patch(client, f"/api/v1/people/{nina.id}", {"active": False}).status_code == 200
    else:
        assert delete(client, f"/api/v1/people/{nina.id}").status_code == 204

    works = [
        client.get("/api/v1/topics", headers=h).status_code
        for h in (a_by_nina, outsider_by_nina, outsider_by_admin)
    ]
    # Nina still runs CoP C, all Anna of Haarlem takes part in, unless she left or was erased.
    assert works == [200 if shrinks == "stops organising" else 401, 401, 200]


def test_deactivation_a_new_e_mail_and_erasure_follow_the_token_rule(
    client: TestClient, session: Session, world: World
) -> None:
    """They act on the person in every community they take part in, as a token does: only
    admins, the person themself and organisers who run all of those communities may. Other
    edits of a person keep the rule of personal data (colleagues and their organisers)."""
    haarlem = session.get_one(Organisation, world.organisations["a"])
    other = session.get_one(Community, world.other_community)
    emails = iter(range(1000))

    def outcome(role: str, action: str, *, organises_elsewhere: bool) -> int:
        # A fresh person of Haarlem (a member of CoP C) for every call: erasure is for good.
        person = factories.person(session, haarlem, name="Tessa Haarlem")
        if organises_elsewhere:
            tokens.add_organiser(session, other, person.id)
        own = tokens.issue_token(session, person, lifetime_days=1).token
        headers = {"Authorization": f"Bearer {own}"} if role == "self" else world.headers[role]
        url = f"/api/v1/people/{person.id}"
        before = client.get(url).headers["etag"]
        if action == "erase":
            response = delete(client, url, headers=headers)
        else:
            body: dict[str, Any] = {
                "deactivate": {"active": False},
                "new e-mail": {"email": f"nieuw{next(emails)}@example.org"},
                # The current values are no change: the rule of personal data applies.
                "other fields": {"department": "wonen", "active": True, "email": person.email},
            }[action]
            response = patch(client, url, body, headers=headers)
        if response.status_code >= 400:
            assert client.get(url).headers["etag"] == before
        return response.status_code

    roles = (*ROLES, "self")
    ok = {"deactivate": 200, "new e-mail": 200, "erase": 204, "other fields": 200}
    for action, done in ok.items():
        for elsewhere in (False, True):
            found = {role: outcome(role, action, organises_elsewhere=elsewhere) for role in roles}
            everywhere = action != "other fields"
            assert found == {
                "admin": done,
                # Runs CoP C, all a Haarlem person takes part in, unless they organise CoP D.
                "organiser": 403 if everywhere and elsewhere else done,
                "member_a": 403 if everywhere else done,  # a colleague
                "member_b": 403,
                "member_h": 403,
                "outsider": 403,
                "self": done,
            }, (action, elsewhere)


def test_an_import_tells_an_organiser_nothing_of_the_people_of_an_organisation_they_do_not_run(
    client: TestClient, world: World
) -> None:
    """Found by review: the organiser may not see Texel's people (403), yet a dry run told
    whose e-mail an address is (every row had a problem but the right organisation's) and
    whether someone of a given name works there (no problem where one did). Now every Texel
    row that names a person has the same problem, whoever the person is; an admin's does not."""
    email = client.get(f"/api/v1/people/{world.people['outsider']}", headers=world.headers["admin"])
    texel = [
        ["Texel", "need", "Hulp bij de TVW een", "", email.json()["email"]],
        ["Texel", "need", "Hulp bij de TVW twee", "Nieuwe Collega", "nieuw@texel.example.org"],
        ["Texel", "need", "Hulp bij de TVW drie", "Otto Texel", ""],
        ["Texel", "need", "Hulp bij de TVW vier", "Niemand Bekend", ""],
    ]
    rows = [["Organisation", "Kind", "Text", "Name", "E-mail"], *texel]
    data = "\n".join(",".join(row) for row in rows).encode()

    def dry_run(role: str) -> Any:
        response = client.post(
            world.url("/imports?dryRun=true"),
            files={"file": ("a.csv", data, "text/csv")},
            headers=world.headers[role],
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert_problem(
        client.get(
            f"/api/v1/people/{world.people['outsider']}", headers=world.headers["organiser"]
        ),
        403,
    )
    found = dry_run("organiser")
    message = (
        "'Texel' is in no community you organise yet, so its people are not looked up: leave "
        "name and e-mail empty in its rows, and give them in a later import, once this one has "
        "made it a member"
    )
    assert [(p["row"], p["column"], p["message"]) for p in found["problems"]] == [
        (2, "E-mail", message),
        (3, "E-mail", message),
        (4, "Name", message),
        (5, "Name", message),
    ]
    assert [p["row"] for p in dry_run("admin")["problems"]] == [5]  # nobody of that name
    texel_only = "\n".join(",".join(row[:3]) for row in rows).encode()
    without_people = client.post(
        world.url("/imports?dryRun=true"),
        files={"file": ("a.csv", texel_only, "text/csv")},
        headers=world.headers["organiser"],
    )
    assert (without_people.status_code, without_people.json()["problems"]) == (200, [])
