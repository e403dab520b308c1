"""Suggestions and the views derived from them, end to end through the HTTP API."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, update
from sqlalchemy import delete as delete_rows
from sqlalchemy.orm import Session

from app.lru import LRU
from app.matching.community import community_report
from app.matching.scoring import HUB_MIN_NEEDS
from app.models import (
    Community,
    Membership,
    Need,
    Offer,
    Organisation,
    Suggestion,
    SuggestionStatus,
)
from app.services import communities, matching, suggestion_versions
from app.services.demo import load_demo
from app.services.matching import embeddings as embeddings_module
from app.services.matching import index as index_module
from app.services.matching import suggestions as suggestions_module
from app.services.matching import views as views_module
from app.services.organisations import load_municipalities
from tests import factories
from tests.http import delete, every_page, patch
from tests.problems import assert_problem

AQUATHERMIE_NEED = "Hoe pak je aquathermie uit oppervlaktewater (TEO) aan voor een wijk?"
TEO_OFFER = "Ervaring met TEO: warmte uit de Zaan via een warmtenet, haalbaarheidsstudie klaar"
HYDROGEN_NEED = "waterstof in de gebouwde omgeving voor monumentale binnensteden"
SOLAR_OFFER = "zonnepanelen op sporthallen en gemeentelijk vastgoed"
VVE_OFFER = "Onze VvE-aanpak: appartementencomplexen met Verenigingen van Eigenaars verduurzamen"
VVE_NEED = "Hoe krijg je VvE's mee in de isolatieaanpak van appartementen?"
LABELLED_SET = Path(__file__).parent / "matching" / "data" / "labelled_set.yaml"


class Cop:
    """A small community: three municipalities, all members."""

    def __init__(self, session: Session) -> None:
        self.haarlem = factories.municipality(session, "Haarlem", "GM0392")
        self.zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        self.alkmaar = factories.municipality(session, "Alkmaar", "GM0361")
        self.community: Community = factories.community(
            session, "CoP test", self.haarlem, self.zaanstad, self.alkmaar
        )
        self.url = f"/api/v1/communities/{self.community.id}"


@pytest.fixture
def cop(session: Session) -> Cop:
    return Cop(session)


def post(client: TestClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def suggestions(client: TestClient, cop: Cop, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{cop.url}/suggestions", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def answer(
    client: TestClient, cop: Cop, kind: str, by: Organisation, text: str, **extra: Any
) -> dict[str, Any]:
    return post(client, f"{cop.url}/{kind}", {"organisationId": by.id, "text": text, **extra})


def test_a_new_need_is_tagged_and_matched_right_away(client: TestClient, cop: Cop) -> None:
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    own_offer = answer(client, cop, "offers", cop.haarlem, "TEO-ervaring in Haarlem")
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)

    assert {"topic": "aquathermie", "source": "inferred"} in need["topicTags"]
    assert "aquathermie" in need["topics"]
    found = suggestions(client, cop, needId=need["id"])
    assert [s["offerId"] for s in found] == [offer["id"]]  # never the own organisation's offer
    best = found[0]
    assert best["offerId"] != own_offer["id"]
    assert (best["needOrganisationId"], best["offerOrganisationId"]) == (
        cop.haarlem.id,
        cop.zaanstad.id,
    )
    assert best["status"] == "proposed"
    assert best["feedback"] is None
    assert "aquathermie" in best["matchedTopics"]
    assert 0 < best["score"] <= 1
    assert round(sum(r["contribution"] for r in best["reasons"]), 4) == best["score"]
    assert {r["factor"] for r in best["reasons"]} >= {"topic", "text"}
    assert all(r["detail"] for r in best["reasons"])


def test_a_new_offer_reaches_existing_needs(client: TestClient, cop: Cop) -> None:
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    assert suggestions(client, cop, needId=need["id"]) == []
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    assert [s["offerId"] for s in suggestions(client, cop, needId=need["id"])] == [offer["id"]]
    assert [s["needId"] for s in suggestions(client, cop, offerId=offer["id"])] == [need["id"]]


def test_an_offer_written_reaches_every_need_it_is_among_the_best_for(
    client: TestClient, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each need keeps its STORED_PER_ANSWER best offers, whichever side was written last: an
    offer that is the best for three needs is stored for all three, not for its own best one."""
    monkeypatch.setattr(suggestions_module, "STORED_PER_ANSWER", 1)
    needs = [
        answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED),
        answer(client, cop, "needs", cop.alkmaar, AQUATHERMIE_NEED),
        answer(client, cop, "needs", cop.alkmaar, TEO_OFFER),
    ]
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    reached = {s["needId"] for s in suggestions(client, cop, offerId=offer["id"])}
    assert reached == {need["id"] for need in needs}
    patch(client, f"{cop.url}/offers/{offer['id']}", json={"text": f"{TEO_OFFER}."})
    reached = {s["needId"] for s in suggestions(client, cop, offerId=offer["id"])}
    assert reached == {need["id"] for need in needs}
    # A second offer, better for two of the needs, takes the first one's place there only: the
    # need keeps its best one, as a recompute would.
    better = answer(client, cop, "offers", cop.zaanstad, AQUATHERMIE_NEED)
    stored = sorted((s["needId"], s["offerId"]) for s in suggestions(client, cop))
    assert stored == [
        (needs[0]["id"], better["id"]),
        (needs[1]["id"], better["id"]),
        (needs[2]["id"], offer["id"]),
    ]


STRONG_OFFERS = (
    "Hoe pak je aquathermie uit oppervlaktewater (TEO) aan voor een wijk? Wij deden het.",
    "Aquathermie uit oppervlaktewater (TEO) voor een wijk: zo pakten wij het aan",
)
WEAK_OFFERS = (
    "TEO in een wijk: onze haalbaarheidsstudie",
    "aquathermie",
    "warmte uit oppervlaktewater voor een warmtenet",
)


def test_a_need_keeps_its_best_offers_when_one_of_them_goes(
    client: TestClient, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A need keeps its STORED_PER_ANSWER best offers when one of them is deleted, declined or
    rewritten to score lower: the next best takes its place, as a recompute would store it,
    also beside an acted-on suggestion that better offers pushed out of the best."""
    monkeypatch.setattr(suggestions_module, "STORED_PER_ANSWER", 2)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    weak = [
        answer(client, cop, "offers", by, text)["id"]
        for by, text in zip((cop.zaanstad, cop.alkmaar, cop.alkmaar), WEAK_OFFERS, strict=True)
    ]

    def stored() -> list[tuple[int, str]]:
        return sorted((s["offerId"], s["status"]) for s in suggestions(client, cop))

    def as_a_recompute_stores(expected: list[tuple[int, str]]) -> None:
        assert stored() == sorted(expected)
        assert client.post(f"{cop.url}/_recompute").status_code == 200
        assert stored() == sorted(expected)

    as_a_recompute_stores([(weak[0], "proposed"), (weak[1], "proposed")])
    (row,) = suggestions(client, cop, offerId=weak[1])
    patch(client, f"{cop.url}/suggestions/{row['id']}", json={"status": "introduced"})
    strong = [
        answer(client, cop, "offers", by, text)["id"]
        for by, text in zip((cop.zaanstad, cop.alkmaar), STRONG_OFFERS, strict=True)
    ]
    as_a_recompute_stores(
        [(strong[0], "proposed"), (strong[1], "proposed"), (weak[1], "introduced")]
    )

    assert delete(client, f"{cop.url}/offers/{strong[0]}").status_code == 204
    as_a_recompute_stores([(strong[1], "proposed"), (weak[0], "proposed"), (weak[1], "introduced")])

    (row,) = suggestions(client, cop, offerId=strong[1])
    patch(client, f"{cop.url}/suggestions/{row['id']}", json={"status": "declined"})
    as_a_recompute_stores([(strong[1], "declined"), (weak[0], "proposed"), (weak[1], "introduced")])

    patch(client, f"{cop.url}/offers/{weak[0]}", json={"text": "aquathermie voor een warmtenet"})
    as_a_recompute_stores([(strong[1], "declined"), (weak[1], "introduced"), (weak[2], "proposed")])


def test_offers_deleted_one_after_another_reuse_the_index_and_leave_them_out(
    client: TestClient, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index of the recompute serves the deletes that follow each other, a decline and a
    new need: it still holds the deleted offers, which are never suggested again."""
    monkeypatch.setattr(suggestions_module, "STORED_PER_ANSWER", 2)
    monkeypatch.setattr(index_module, "_indexes", index_module._IndexCache(4))
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    offers = [
        answer(client, cop, "offers", by, text)["id"]
        for by, text in zip(
            (cop.zaanstad, cop.alkmaar, cop.zaanstad, cop.alkmaar, cop.alkmaar),
            (*STRONG_OFFERS, *WEAK_OFFERS),
            strict=True,
        )
    ]
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    built: list[int] = []
    real = index_module.matching.MatchIndex

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(index_module.matching, "MatchIndex", Counted)
    for offer_id in offers[:2]:
        assert delete(client, f"{cop.url}/offers/{offer_id}").status_code == 204
    (row,) = suggestions(client, cop, offerId=offers[2])
    patch(client, f"{cop.url}/suggestions/{row['id']}", json={"status": "declined"})
    need = answer(client, cop, "needs", cop.alkmaar, AQUATHERMIE_NEED)
    assert built == []  # the recompute's index served them all
    found = {(s["needId"], s["offerId"]) for s in suggestions(client, cop)}
    assert {offer for _, offer in found} <= set(offers[2:])
    assert {need_id for need_id, _ in found} == {row["needId"], need["id"]}


def test_changing_and_deleting_answers_updates_suggestions(client: TestClient, cop: Cop) -> None:
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    assert len(suggestions(client, cop)) == 1
    changed = patch(client, f"{cop.url}/needs/{need['id']}", json={"text": HYDROGEN_NEED})
    assert changed.status_code == 200
    assert "aquathermie" not in changed.json()["topics"]
    assert suggestions(client, cop) == []
    patch(client, f"{cop.url}/needs/{need['id']}", json={"text": AQUATHERMIE_NEED})
    assert len(suggestions(client, cop)) == 1
    assert delete(client, f"{cop.url}/offers/{offer['id']}").status_code == 204
    assert suggestions(client, cop) == []


@pytest.mark.parametrize("kind", ["needs", "offers"])
def test_a_patch_that_sends_back_what_it_read_re_scores_nothing(
    client: TestClient, cop: Cop, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    written = answer(
        client,
        cop,
        kind,
        cop.alkmaar,
        "TEO of TEA: aquathermie voor een nieuwbouwwijk",
        topics=["aquathermie"],
    )
    url = f"{cop.url}/{kind}/{written['id']}"
    page = client.get(f"{cop.url}/suggestions")
    rescored: list[int] = []
    for name in ("refresh_need", "refresh_offer"):
        monkeypatch.setattr(
            matching, name, lambda session, item, *_, **__: rescored.append(item.id)
        )

    same = patch(client, url, {"text": written["text"], "topics": ["aquathermie"]})

    assert (same.status_code, same.headers["etag"]) == (200, '"1"')
    assert same.json()["topics"] == written["topics"]  # the inferred ones too
    assert rescored == []
    again = client.get(f"{cop.url}/suggestions")
    assert (again.json(), again.headers["etag"]) == (page.json(), page.headers["etag"])
    # A change of the given topics alone is matched again.
    assert patch(client, url, {"topics": []}).status_code == 200
    assert rescored == [written["id"]]


def test_lifecycle_and_feedback(client: TestClient, cop: Cop) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    (suggestion,) = suggestions(client, cop)
    item = f"{cop.url}/suggestions/{suggestion['id']}"
    assert client.get(item).json() == suggestion

    assert_problem(patch(client, item, json={"feedback": {"usefulness": 4}}), 409, "body.feedback")
    body = assert_problem(patch(client, item, json={"status": "completed"}), 409, "body.status")
    assert body["detail"] == (
        "the suggestion is proposed and cannot become completed; allowed: declined, introduced"
    )
    assert patch(client, item, json={"status": "introduced"}).json()["status"] == "introduced"
    assert patch(client, item, json={"status": "accepted"}).json()["status"] == "accepted"
    done = patch(
        client,
        item,
        json={
            "status": "completed",
            "feedback": {"usefulness": 5, "note": "Werkbezoek aan de Zaan"},
        },
    ).json()
    assert (done["status"], done["feedback"]) == (
        "completed",
        {"usefulness": 5, "note": "Werkbezoek aan de Zaan"},
    )
    assert_problem(patch(client, item, json={"status": "proposed"}), 409, "body.status")
    assert_problem(
        patch(client, item, json={"feedback": {"usefulness": 6}}), 422, "body.feedback.usefulness"
    )
    assert_problem(patch(client, item, json={"status": "maybe"}), 422, "body.status")
    assert_problem(
        patch(client, f"{cop.url}/suggestions/999999", json={"status": "introduced"}), 404
    )

    # Acted-on suggestions survive a full recompute.
    response = client.post(f"{cop.url}/_recompute")
    assert response.json() == {"suggestions": 1}
    assert client.get(item).json()["status"] == "completed"


def test_declined_pairs_are_never_suggested_again(client: TestClient, cop: Cop) -> None:
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    (suggestion,) = suggestions(client, cop)
    patch(client, f"{cop.url}/suggestions/{suggestion['id']}", json={"status": "declined"})

    patch(client, f"{cop.url}/needs/{need['id']}", json={"text": AQUATHERMIE_NEED + " Graag snel."})
    patch(client, f"{cop.url}/offers/{offer['id']}", json={"text": TEO_OFFER + " en TEA"})
    client.post(f"{cop.url}/_recompute")
    assert [(s["id"], s["status"]) for s in suggestions(client, cop)] == [
        (suggestion["id"], "declined")
    ]
    assert suggestions(client, cop, status="proposed") == []
    assert client.get(f"{cop.url}/allocation").json()["assignments"] == []


def test_a_declined_pair_stays_declined_when_its_answers_are_given_again(
    client: TestClient, cop: Cop
) -> None:
    """The decline lived only in the suggestion row, which went with its need: Haarlem deleted
    the need, typed it in again, and was suggested the offer it had turned down."""
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    (suggestion,) = suggestions(client, cop)
    patch(client, f"{cop.url}/suggestions/{suggestion['id']}", json={"status": "declined"})

    assert delete(client, f"{cop.url}/needs/{need['id']}").status_code == 204
    again = answer(client, cop, "needs", cop.haarlem, "  " + AQUATHERMIE_NEED.upper() + " ")
    assert suggestions(client, cop, needId=again["id"]) == []
    assert delete(client, f"{cop.url}/offers/{offer['id']}").status_code == 204
    offered_again = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    client.post(f"{cop.url}/_recompute")
    assert suggestions(client, cop, needId=again["id"]) == []
    assert client.get(f"{cop.url}/gaps").json()["items"][0]["needId"] == again["id"]

    # Another organisation's same need, and Haarlem's need said otherwise, are not declined.
    alkmaar = answer(client, cop, "needs", cop.alkmaar, AQUATHERMIE_NEED)
    other = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED + " Graag snel.")
    assert [s["offerId"] for s in suggestions(client, cop, needId=alkmaar["id"])] == [
        offered_again["id"]
    ]
    assert [s["offerId"] for s in suggestions(client, cop, needId=other["id"])] == [
        offered_again["id"]
    ]


def test_declining_a_pair_declines_its_twins_at_once(client: TestClient, cop: Cop) -> None:
    """Haarlem gave one need twice: declining Zaanstad's offer for one left it suggested for the
    other until a recompute took it away, unasked."""
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    first = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    second = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    found = {s["needId"]: s for s in suggestions(client, cop)}
    assert set(found) == {first["id"], second["id"]}
    declined = found[first["id"]]
    patch(client, f"{cop.url}/suggestions/{declined['id']}", json={"status": "declined"})
    assert [(s["needId"], s["status"]) for s in suggestions(client, cop)] == [
        (first["id"], "declined")
    ]
    gaps = client.get(f"{cop.url}/gaps").json()["items"]
    assert sorted(g["needId"] for g in gaps) == [first["id"], second["id"]]


def test_an_answer_with_help_in_progress_is_not_deleted(client: TestClient, cop: Cop) -> None:
    """The delete took the other organisation's accepted suggestion and its feedback with it,
    unseen. While introduced or accepted, it is a 409; completed or declined, it goes."""
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    (suggestion,) = suggestions(client, cop)
    item = f"{cop.url}/suggestions/{suggestion['id']}"
    offer_url, need_url = f"{cop.url}/offers/{offer['id']}", f"{cop.url}/needs/{need['id']}"
    for status in ("introduced", "accepted"):
        assert patch(client, item, {"status": status}).status_code == 200
        for url, kind, ident in ((offer_url, "offer", offer["id"]), (need_url, "need", need["id"])):
            body = assert_problem(delete(client, url), 409)
            assert body["detail"] == (
                f"{kind} {ident} has help in progress with another organisation (suggestion(s) "
                f"{suggestion['id']}, introduced or accepted); complete them, or decline those "
                f"only introduced, before deleting the {kind}"
            )
    done = patch(client, item, {"status": "completed", "feedback": {"usefulness": 4}})
    assert done.status_code == 200
    assert delete(client, offer_url).status_code == 204
    assert_problem(client.get(item), 404)


def test_filters(client: TestClient, cop: Cop) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    answer(client, cop, "needs", cop.alkmaar, "TEO of TEA: aquathermie voor een nieuwbouwwijk")
    everything = suggestions(client, cop)
    assert len(everything) == 2
    assert [s["score"] for s in everything] == sorted(
        (s["score"] for s in everything), reverse=True
    )
    assert {
        s["needOrganisationId"] for s in suggestions(client, cop, organisationId=cop.alkmaar.id)
    } == {cop.alkmaar.id}
    assert len(suggestions(client, cop, organisationId=cop.zaanstad.id)) == 2
    assert suggestions(client, cop, minScore=1) == []
    assert_problem(
        client.get(f"{cop.url}/suggestions", params={"minScore": 2}), 400, "query.minScore"
    )
    assert_problem(
        client.get(f"{cop.url}/suggestions", params={"status": "x"}), 400, "query.status"
    )
    assert_problem(client.get("/api/v1/communities/999999/suggestions"), 404)


def test_allocation_respects_capacity_and_covers_organisations(
    client: TestClient, cop: Cop
) -> None:
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER, capacity=1)
    first = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    second = answer(
        client, cop, "needs", cop.alkmaar, "TEO of TEA: aquathermie voor een nieuwbouwwijk"
    )
    result = client.get(f"{cop.url}/allocation").json()
    assert len(result["assignments"]) == 1
    assert result["assignments"][0]["offerId"] == offer["id"]
    assert result["needsWithCandidates"] == 2
    assert result["needsAssigned"] == 1
    assigned_org = result["assignments"][0]["needOrganisationId"]
    assert result["coveredOrganisationIds"] == [assigned_org]
    assert result["uncoveredOrganisationIds"] == sorted(
        {cop.haarlem.id, cop.alkmaar.id} - {assigned_org}
    )
    assert {first["id"], second["id"]} >= {result["assignments"][0]["needId"]}

    patch(client, f"{cop.url}/offers/{offer['id']}", json={"capacity": 2})
    result = client.get(f"{cop.url}/allocation").json()
    assert sorted(a["needId"] for a in result["assignments"]) == sorted([first["id"], second["id"]])
    assert result["uncoveredOrganisationIds"] == []
    assert result["totalScore"] == pytest.approx(sum(a["score"] for a in result["assignments"]))


def test_the_views_read_the_stored_suggestions_once_per_version(
    client: TestClient, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At Netherlands scale each read of the allocation, reciprocal pairs or working groups
    spent a second reading the community's 68,000 stored suggestions. They are read once per
    suggestions version now; a write that changes them is seen at once."""
    monkeypatch.setattr(views_module, "_shared", LRU(4))
    reads: list[int] = []
    read_stored = views_module._read_stored

    def counted(session: Session, community: Community) -> Any:
        reads.append(community.id)
        return read_stored(session, community)

    monkeypatch.setattr(views_module, "_read_stored", counted)
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    views = ("allocation", "reciprocal-pairs", "working-groups")

    first = {view: client.get(f"{cop.url}/{view}").json() for view in views}
    again = {view: client.get(f"{cop.url}/{view}").json() for view in views}
    assert (again, len(reads)) == (first, 1)
    assert [a["needId"] for a in first["allocation"]["assignments"]] == [need["id"]]

    (suggestion,) = suggestions(client, cop, needId=need["id"])
    patch(client, f"{cop.url}/suggestions/{suggestion['id']}", {"status": "declined"})
    assert client.get(f"{cop.url}/allocation").json()["assignments"] == []
    assert len(reads) == 2


def test_a_transaction_that_changed_suggestions_keeps_its_view_to_itself(
    session: Session, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read before its commit bumps the version, what a writing transaction sees would be
    shared under the version other transactions still read."""
    shared = LRU(4)
    monkeypatch.setattr(views_module, "_shared", shared)
    factories.offer(session, cop.community, cop.zaanstad, TEO_OFFER)
    factories.need(session, cop.community, cop.haarlem, AQUATHERMIE_NEED)
    session.commit()
    _, committed = matching.allocation(session, cop.community)
    (key,) = shared  # committed: shared
    stored = session.scalars(select(Suggestion)).one()
    stored.status = SuggestionStatus.DECLINED.value
    session.flush()

    allocation, seen = matching.allocation(session, cop.community)

    assert (allocation.assignments, seen.suggestions) == ((), ())
    assert list(shared) == [key]
    assert shared.get(key) is committed


def test_rows_read_after_a_newer_version_was_committed_are_not_shared(
    client: TestClient, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that reads each statement's latest commit (PostgreSQL's READ COMMITTED, as
    outside the API's one-snapshot reads) may read the version, then rows a later commit wrote:
    shared under the older version, readers of that version would get newer rows."""
    shared = LRU(4)
    monkeypatch.setattr(views_module, "_shared", shared)
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    version_now = views_module._version_now
    later: list[int] = []  # what a commit between the two reads of the version adds

    def read(session: Session, community: Community) -> int | None:
        found = version_now(session, community)
        return None if found is None else found + len(later)

    monkeypatch.setattr(views_module, "_version_now", read)
    read_stored = views_module._read_stored

    def committed_meanwhile(session: Session, community: Community) -> Any:
        later.append(1)
        return read_stored(session, community)

    monkeypatch.setattr(views_module, "_read_stored", committed_meanwhile)
    assert client.get(f"{cop.url}/allocation").status_code == 200
    assert len(shared) == 0

    monkeypatch.setattr(views_module, "_read_stored", read_stored)
    later.clear()
    assert client.get(f"{cop.url}/allocation").status_code == 200
    assert len(shared) == 1


def test_allocation_keeps_the_pairs_acted_on(client: TestClient, cop: Cop) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER, capacity=1)
    answer(client, cop, "offers", cop.alkmaar, "aquathermie: TEO uit een vaart", capacity=1)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    best, weaker = suggestions(client, cop, needId=need["id"])
    result = client.get(f"{cop.url}/allocation").json()
    assert [(a["suggestionId"], a["status"]) for a in result["assignments"]] == [
        (best["id"], "proposed")
    ]

    url = f"{cop.url}/suggestions/{weaker['id']}"
    for status in ("introduced", "accepted", "completed"):
        assert patch(client, url, {"status": status}).status_code == 200
        result = client.get(f"{cop.url}/allocation").json()
        # The pair acted on stands: the need keeps that helper and gets no other.
        assert [(a["suggestionId"], a["status"]) for a in result["assignments"]] == [
            (weaker["id"], status)
        ]
        assert (result["needsAssigned"], result["totalScore"]) == (1, weaker["score"])

    # It takes its offer's one place: another need that both offers suit gets the other one.
    other = answer(client, cop, "needs", cop.haarlem, "TEO of TEA: aquathermie voor een wijk")
    assert {s["offerId"] for s in suggestions(client, cop, needId=other["id"])} == {
        best["offerId"],
        weaker["offerId"],
    }
    result = client.get(f"{cop.url}/allocation").json()
    assert [(a["needId"], a["offerId"]) for a in result["assignments"]] == [
        (need["id"], weaker["offerId"]),
        (other["id"], best["offerId"]),
    ]


def test_an_offer_is_introduced_to_no_more_peers_than_its_capacity(
    client: TestClient, cop: Cop
) -> None:
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER, capacity=1)
    offer_url = f"{cop.url}/offers/{offer['id']}"
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    answer(client, cop, "needs", cop.alkmaar, "TEO of TEA: aquathermie voor een nieuwbouwwijk")
    first, second = suggestions(client, cop, offerId=offer["id"])
    first_url, second_url = (f"{cop.url}/suggestions/{s['id']}" for s in (first, second))
    assert patch(client, first_url, {"status": "introduced"}).status_code == 200

    # Its one place is taken: the second introduction is refused, and changes nothing.
    before = client.get(second_url)
    body = assert_problem(patch(client, second_url, {"status": "introduced"}), 409, "body.status")
    assert body["detail"] == (
        f"offer {offer['id']} can help 1 peer(s) and 1 already took its places (introduced, "
        "accepted or completed); raise its capacity, or decline one that is only introduced, first"
    )
    after = client.get(second_url)
    assert (after.json(), after.headers["etag"]) == (before.json(), before.headers["etag"])
    assignments = client.get(f"{cop.url}/allocation").json()["assignments"]
    assert [(a["suggestionId"], a["status"]) for a in assignments] == [(first["id"], "introduced")]

    # Accepting and completing the first takes no second place.
    for status in ("accepted", "completed"):
        assert patch(client, first_url, {"status": status}).status_code == 200
    # With room for two, the second is introduced; then the capacity cannot go below two.
    assert patch(client, offer_url, {"capacity": 2}).status_code == 200
    assert patch(client, second_url, {"status": "introduced"}).status_code == 200
    body = assert_problem(patch(client, offer_url, {"capacity": 1}), 409, "body.capacity")
    assert body["detail"] == (
        "2 peer(s) were introduced to this offer (introduced, accepted or completed "
        "suggestions); its capacity cannot go below 2"
    )
    assert client.get(offer_url).json()["capacity"] == 2
    assignments = client.get(f"{cop.url}/allocation").json()["assignments"]
    assert sorted((a["suggestionId"], a["status"]) for a in assignments) == sorted(
        [(first["id"], "completed"), (second["id"], "introduced")]
    )

    # A decline gives its place back.
    assert patch(client, second_url, {"status": "declined"}).status_code == 200
    assert patch(client, offer_url, {"capacity": 1}).status_code == 200


def test_reciprocal_pairs(client: TestClient, session: Session, cop: Cop) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    answer(client, cop, "offers", cop.haarlem, VVE_OFFER)
    answer(client, cop, "needs", cop.zaanstad, VVE_NEED)
    page = client.get(f"{cop.url}/reciprocal-pairs").json()
    assert page["total"] == 1
    (pair,) = page["items"]
    assert {pair["firstOrganisationId"], pair["secondOrganisationId"]} == {
        cop.haarlem.id,
        cop.zaanstad.id,
    }
    assert pair["score"] == min(
        pair["firstHelpsSecond"]["score"], pair["secondHelpsFirst"]["score"]
    )

    # Reciprocity is a factor of the score itself once the community is scored as a whole.
    client.post(f"{cop.url}/_recompute")
    (aquathermie,) = [
        s
        for s in suggestions(client, cop)
        if (s["needOrganisationId"], s["offerOrganisationId"]) == (cop.haarlem.id, cop.zaanstad.id)
    ]
    reciprocity = [r["detail"] for r in aquathermie["reasons"] if r["factor"] == "reciprocity"]
    assert reciprocity == ["Haarlem can help Zaanstad in return"]

    def reciprocity_details() -> list[str]:
        reasons = [r for s in suggestions(client, cop) for r in s["reasons"]]
        return sorted(r["detail"] for r in reasons if r["factor"] == "reciprocity")

    # The reason names the organisations as they are called now.
    patch(client, f"/api/v1/organisations/{cop.haarlem.id}", json={"name": "Gemeente Haarlem"})
    assert reciprocity_details() == [
        "Gemeente Haarlem can help Zaanstad in return",
        "Zaanstad can help Gemeente Haarlem in return",
    ]
    # So does loading the reference data, which gives each municipality its CBS name back.
    session.expire_all()  # the API renamed Haarlem in a session of its own
    result = load_municipalities(session)
    session.commit()  # as the CLI's unit of work does: the commit bumps the suggestions' version
    assert (result.created, result.updated, result.unchanged) == (41, 3, 0)
    assert reciprocity_details() == [
        "Haarlem can help Zaanstad in return",
        "Zaanstad can help Haarlem in return",
    ]


def reciprocity_reasons(client: TestClient, cop: Cop) -> list[tuple[int, str]]:
    """(offer id, detail) of every stored reciprocity reason."""
    return sorted(
        (s["offerId"], r["detail"])
        for s in suggestions(client, cop)
        for r in s["reasons"]
        if r["factor"] == "reciprocity"
    )


@pytest.mark.parametrize(
    "change",
    ["delete the offer", "delete the need", "rewrite the offer", "rewrite the need"],
)
def test_a_reciprocity_reason_goes_with_the_answers_it_rested_on(
    client: TestClient, cop: Cop, change: str
) -> None:
    """ "Haarlem can help Zaanstad in return", on Haarlem's aquathermie need and Zaanstad's
    TEO offer, rests on Haarlem's VvE offer and Zaanstad's VvE need: once either is deleted or
    rewritten to something else, no suggestion says so, in the API or the programme plan, nor
    does a need written after it (on the index cached before the change), as a recompute."""
    teo = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)["id"]
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    vve_offer = answer(client, cop, "offers", cop.haarlem, VVE_OFFER)["id"]
    vve_need = answer(client, cop, "needs", cop.zaanstad, VVE_NEED)["id"]
    assert client.post(f"{cop.url}/_recompute").status_code == 200

    def reciprocity() -> list[tuple[int, str]]:
        return reciprocity_reasons(client, cop)

    def report() -> str:
        response = client.get(f"{cop.url}/report", headers={"Accept": "text/markdown"})
        assert response.status_code == 200, response.text
        return response.text

    assert reciprocity() == [
        (teo, "Haarlem can help Zaanstad in return"),
        (vve_offer, "Zaanstad can help Haarlem in return"),
    ]
    assert "Haarlem kan Zaanstad ook helpen" in report()

    if change == "delete the offer":
        assert delete(client, f"{cop.url}/offers/{vve_offer}").status_code == 204
    elif change == "delete the need":
        assert delete(client, f"{cop.url}/needs/{vve_need}").status_code == 204
    elif change == "rewrite the offer":
        patch(client, f"{cop.url}/offers/{vve_offer}", json={"text": SOLAR_OFFER})
    else:
        patch(client, f"{cop.url}/needs/{vve_need}", json={"text": HYDROGEN_NEED})
    later = answer(client, cop, "needs", cop.haarlem, "warmte uit oppervlaktewater (TEO)")["id"]

    assert [offer for offer, _ in reciprocity()] == []
    assert "Haarlem kan Zaanstad ook helpen" not in report()
    assert [s["offerId"] for s in suggestions(client, cop, needId=later)] == [teo]
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert reciprocity() == []


def test_a_reciprocity_reason_stays_when_a_priority_or_capacity_changes(
    client: TestClient, cop: Cop
) -> None:
    """Found by review: after a PATCH of a need's priority or an offer's capacity, the next
    write counted that answer as rewritten and dropped "Haarlem can help Zaanstad in return",
    which rests on its unchanged text, from the suggestions it re-scored or stored."""
    teo = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)["id"]
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    vve_offer = answer(client, cop, "offers", cop.haarlem, VVE_OFFER)["id"]
    vve_need = answer(client, cop, "needs", cop.zaanstad, VVE_NEED)["id"]
    answer(client, cop, "needs", cop.haarlem, HYDROGEN_NEED)
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    helps_back = [
        (teo, "Haarlem can help Zaanstad in return"),
        (vve_offer, "Zaanstad can help Haarlem in return"),
    ]
    assert reciprocity_reasons(client, cop) == helps_back

    patch(client, f"{cop.url}/needs/{vve_need}", json={"priority": "high"})
    answer(client, cop, "needs", cop.haarlem, "warmte uit oppervlaktewater (TEO)")
    patch(client, f"{cop.url}/offers/{vve_offer}", json={"capacity": 5})
    hydrogen = answer(client, cop, "offers", cop.zaanstad, f"{HYDROGEN_NEED}: onze ervaring")["id"]
    stored = reciprocity_reasons(client, cop)

    assert (hydrogen, "Haarlem can help Zaanstad in return") in stored
    assert stored.count((teo, "Haarlem can help Zaanstad in return")) == 2
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert reciprocity_reasons(client, cop) == stored


@pytest.mark.parametrize("kind", ["needs", "offers"])
def test_a_reciprocity_reason_stays_when_its_answer_is_rewritten_to_say_the_same(
    client: TestClient, cop: Cop, kind: str
) -> None:
    """Found by review: fixing a typo in Zaanstad's VvE need dropped "Haarlem can help Zaanstad
    in return", which its new text still earns, until the next recompute."""
    teo = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)["id"]
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    vve_offer = answer(client, cop, "offers", cop.haarlem, VVE_OFFER)["id"]
    vve_need = answer(client, cop, "needs", cop.zaanstad, VVE_NEED)["id"]
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    before = reciprocity_reasons(client, cop)
    assert (teo, "Haarlem can help Zaanstad in return") in before

    rewritten, text = (vve_need, VVE_NEED) if kind == "needs" else (vve_offer, VVE_OFFER)
    patch(client, f"{cop.url}/{kind}/{rewritten}", json={"text": text.rstrip("?") + "."})

    assert reciprocity_reasons(client, cop) == before


def test_working_groups_gaps_and_unmet_offers(
    client: TestClient, session: Session, cop: Cop
) -> None:
    purmerend = factories.municipality(session, "Purmerend", "GM0439")
    client.post(f"{cop.url}/members", json={"organisationId": purmerend.id})
    for org in (cop.haarlem, cop.alkmaar, purmerend):
        answer(
            client,
            cop,
            "needs",
            org,
            "bewonersparticipatie bij het opstellen van een wijkuitvoeringsplan (WUP)",
        )
        post(
            client,
            f"{cop.url}/format-preferences",
            {"organisationId": org.id, "format": "learning-circle"},
        )
    answer(
        client,
        cop,
        "offers",
        cop.zaanstad,
        "Wij hebben een WUP opgesteld met intensieve bewonersparticipatie",
    )
    gap = answer(client, cop, "needs", cop.alkmaar, HYDROGEN_NEED)
    unmet = answer(client, cop, "offers", cop.haarlem, SOLAR_OFFER)

    groups = client.get(f"{cop.url}/working-groups").json()
    assert groups["total"] == 1
    (group,) = groups["items"]
    assert group["organisationIds"] == sorted([cop.haarlem.id, cop.alkmaar.id, purmerend.id])
    assert group["hostOrganisationIds"] == [cop.zaanstad.id]
    assert "wijkuitvoeringsplan" in group["topics"]
    assert group["preferredFormats"] == [{"format": "learning-circle", "organisations": 3}]

    gaps = client.get(f"{cop.url}/gaps").json()
    assert [g["needId"] for g in gaps["items"]] == [gap["id"]]
    (found,) = gaps["items"]
    assert found["text"] == HYDROGEN_NEED
    assert found["organisationId"] == cop.alkmaar.id
    assert found["bestScore"] < gaps["threshold"]
    unmet_page = client.get(f"{cop.url}/unmet-offers").json()
    assert [u["offerId"] for u in unmet_page["items"]] == [unmet["id"]]
    assert unmet_page["items"][0]["bestScore"] < unmet_page["threshold"]


def test_answers_are_embedded_when_written_and_again_when_their_text_changes(
    client: TestClient, cop: Cop, session: Session, embedder: Any
) -> None:
    from sqlalchemy import select

    from app.models import NeedEmbedding, OfferEmbedding
    from app.services.matching import text_hash

    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    stored = session.scalars(select(NeedEmbedding)).all()
    assert [(row.need_id, row.model, row.text_hash) for row in stored] == [
        (need["id"], embedder.model, text_hash(AQUATHERMIE_NEED))
    ]
    assert stored[0].vector == embedder.needs([AQUATHERMIE_NEED])[0]
    [offer_row] = session.scalars(select(OfferEmbedding)).all()
    assert offer_row.vector == embedder.offers([TEO_OFFER])[0]

    patch(client, f"{cop.url}/needs/{need['id']}", {"text": HYDROGEN_NEED})
    session.expire_all()
    [changed] = session.scalars(select(NeedEmbedding)).all()
    assert changed.text_hash == text_hash(HYDROGEN_NEED)
    assert changed.vector == embedder.needs([HYDROGEN_NEED])[0]

    delete(client, f"{cop.url}/offers/{offer['id']}")
    session.expire_all()
    assert session.scalars(select(OfferEmbedding)).all() == []


def test_a_write_embeds_its_own_answer_and_the_rest_only_where_embeddings_are_missing(
    client: TestClient, cop: Cop, session: Session, embedder: Any, monkeypatch: Any
) -> None:
    from sqlalchemy import select

    from app.models import Need, NeedEmbedding, Offer, OfferEmbedding
    from app.schemas import NeedCreate, OfferCreate
    from app.services.answers import create_answer

    # A bulk load stores answers without embedding them (its closing recompute does that).
    bulk_need = create_answer(
        session, Need, cop.community, NeedCreate(organisationId=cop.alkmaar.id, text=HYDROGEN_NEED),
        refresh=False,
    )  # fmt: skip
    bulk_offer = create_answer(
        session, Offer, cop.community, OfferCreate(organisationId=cop.haarlem.id, text=SOLAR_OFFER),
        refresh=False,
    )  # fmt: skip
    session.commit()
    embedded: list[str] = []
    for kind in ("needs", "offers"):
        original = getattr(embedder, kind)

        def counting(texts: list[str], original: Any = original) -> list[bytes]:
            embedded.extend(texts)
            result: list[bytes] = original(texts)
            return result

        monkeypatch.setattr(embedder, kind, counting)

    # The first write finds answers without embeddings and embeds them all.
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    assert sorted(embedded) == sorted([AQUATHERMIE_NEED, HYDROGEN_NEED, SOLAR_OFFER])
    session.expire_all()
    assert sorted(row.need_id for row in session.scalars(select(NeedEmbedding))) == sorted(
        [need["id"], bulk_need.id]
    )
    assert [row.offer_id for row in session.scalars(select(OfferEmbedding))] == [bulk_offer.id]

    # Once every answer has one, a write embeds its own text only, and a write that leaves the
    # text as it was embeds nothing.
    embedded.clear()
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    assert embedded == [TEO_OFFER]
    embedded.clear()
    patch(client, f"{cop.url}/offers/{offer['id']}", {"capacity": 3})
    assert embedded == []
    patch(client, f"{cop.url}/needs/{need['id']}", {"text": "Aquathermie voor een wijk"})
    assert embedded == ["Aquathermie voor een wijk"]


class _WordEmbedder:
    """Vectors made from a text's last word (shared by texts that end alike) and its own
    noise; *model* and *seed* stand for a model and its version."""

    def __init__(self, model: str, seed: int) -> None:
        self.model, self._seed = model, seed

    def _vectors(self, texts: list[str], side: str) -> list[bytes]:
        import hashlib

        import numpy as np

        from app.matching.embedding import to_bytes

        def seeded(*parts: object) -> np.random.Generator:
            digest = hashlib.sha256(repr(parts).encode()).digest()
            return np.random.default_rng(int.from_bytes(digest[:8], "little"))

        return [
            to_bytes(
                seeded(self._seed, text.split()[-1]).normal(size=8)
                + 0.8 * seeded(self._seed, side, text).normal(size=8)
            )
            for text in texts
        ]

    def needs(self, texts: list[str]) -> list[bytes]:
        return self._vectors(texts, "need")

    def offers(self, texts: list[str]) -> list[bytes]:
        return self._vectors(texts, "offer")


def _scored_on_meaning(
    session: Session, monkeypatch: pytest.MonkeyPatch, current: list[Any]
) -> tuple[list[Organisation], Community]:
    """A community of four members with enough needs and offers to be scored on meaning, by
    the embedder ``current[0]`` (replace it to change the model; None: no extra)."""
    from app import matching as engine

    monkeypatch.setattr(engine, "load_embedder", lambda: current[0])
    monkeypatch.setattr(index_module, "_indexes", index_module._IndexCache(4))
    members = [factories.municipality(session) for _ in range(4)]
    community = factories.community(session, None, *members)
    words = ("warmtenet", "aquathermie", "isolatie", "participatie", "subsidie", "WUP", "TVW")
    for number in range(HUB_MIN_NEEDS + 2):
        factories.need(
            session, community, members[number % 4], f"vraag {number} {words[number % 7]}"
        )
        factories.offer(
            session,
            community,
            members[(number + 1) % 4],
            f"aanbod {number} {words[number * 3 % 7]}",
        )
    return members, community


def test_the_first_write_under_a_new_model_re_scores_the_whole_community(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an upgrade that changes the model (or the need adapter), every stored vector is
    of the old one: the first write embeds the community again and re-scores all of it, so no
    stored suggestion keeps a score of the old vectors."""
    from sqlalchemy import select

    current: list[Any] = [_WordEmbedder("model-1", 1)]
    members, community = _scored_on_meaning(session, monkeypatch, current)

    def stored() -> list[tuple[int, int, float]]:
        session.flush()
        rows = session.execute(
            select(Suggestion.need_id, Suggestion.offer_id, Suggestion.score).where(
                Suggestion.community_id == community.id
            )
        )
        return sorted((need, offer, score) for need, offer, score in rows)

    before = stored()
    current[0] = _WordEmbedder("model-2", 2)
    factories.need(session, community, members[0], "vraag 99 warmtenet")
    after_the_write = stored()
    matching.recompute(session, community)

    assert community.scored_semantically is True
    assert after_the_write == stored()
    assert {pair[:2] for pair in before} != {pair[:2] for pair in after_the_write}


class _CountingEmbedder(_WordEmbedder):
    """A _WordEmbedder that records the texts it embeds."""

    def __init__(self, model: str, seed: int) -> None:
        super().__init__(model, seed)
        self.embedded: list[str] = []

    def _vectors(self, texts: list[str], side: str) -> list[bytes]:
        self.embedded += texts
        return super()._vectors(texts, side)


def test_a_recompute_stores_the_vectors_embedded_ahead_and_embeds_only_later_writes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's recompute embeds before its writing transaction (embed_ahead); the recompute
    then stores those vectors, embedding under its lock only a text written in between, and
    stores what a recompute that embeds everything itself stores."""
    from sqlalchemy import select

    current: list[Any] = [_WordEmbedder("model-1", 1)]
    _, community = _scored_on_meaning(session, monkeypatch, current)
    counting = _CountingEmbedder("model-2", 2)
    current[0] = counting
    stale = matching.read_stale(session, community)
    assert stale is not None
    ahead = matching.embed_ahead(stale)
    answers = 2 * (HUB_MIN_NEEDS + 2)
    assert len(counting.embedded) == answers
    changed = session.scalars(
        select(Need).where(Need.community_id == community.id).order_by(Need.id)
    ).first()
    assert changed is not None
    changed.text = "vraag 0 geothermie"  # written after the vectors were made
    session.flush()
    counting.embedded.clear()

    matching.recompute(session, community, ahead=ahead)

    assert counting.embedded == ["vraag 0 geothermie"]
    vectors = {
        kind: dict(
            session.execute(
                select(key, link.vector)
                .join(kind, kind.id == key)
                .where(kind.community_id == community.id, link.model == "model-2")
            ).all()
        )
        for kind, (link, key) in embeddings_module._EMBEDDINGS.items()
    }
    assert sum(len(found) for found in vectors.values()) == answers
    for kind, found in vectors.items():
        texts = dict(
            session.execute(
                select(kind.id, kind.text).where(kind.community_id == community.id)
            ).all()
        )
        fresh = _WordEmbedder("model-2", 2)
        embed = fresh.needs if kind is Need else fresh.offers
        assert found == dict(zip(texts, embed(list(texts.values())), strict=True))
    counting.embedded.clear()
    matching.recompute(session, community)  # nothing left to embed, nothing to re-score
    assert counting.embedded == []


def test_a_decline_when_the_answers_are_scored_otherwise_re_scores_the_whole_community(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the extra (or with a new model) no stored vector counts: a decline then
    re-scores the community on words and topics, not its one need beside semantic scores."""
    from sqlalchemy import select

    current: list[Any] = [_WordEmbedder("model-1", 1)]
    _, community = _scored_on_meaning(session, monkeypatch, current)
    assert community.scored_semantically is True
    current[0] = None  # the extra removed
    declined = session.scalars(
        select(Suggestion).where(Suggestion.community_id == community.id).order_by(Suggestion.id)
    ).first()
    assert declined is not None

    matching.update_suggestion(session, declined, status=SuggestionStatus.DECLINED, feedback=None)

    assert community.scored_semantically is False
    reasons = session.scalars(  # the declined one keeps the reasons it was declined with
        select(Suggestion.reasons).where(
            Suggestion.community_id == community.id, Suggestion.id != declined.id
        )
    ).all()
    assert not any(reason["factor"] == "semantic" for row in reasons for reason in row)


def test_a_community_of_twenty_needs_and_offers_is_matched_on_meaning_too(
    client: TestClient, cop: Cop, embedder: Any
) -> None:
    from app.matching.scoring import HUB_MIN_NEEDS, SEMANTIC_GAP_THRESHOLD

    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    for number in range(HUB_MIN_NEEDS - 1):
        answer(client, cop, "needs", cop.alkmaar, f"Vraag {number} over de gemeentelijke begroting")
        answer(client, cop, "offers", cop.alkmaar, f"Ervaring {number} met het sociaal domein")
    before = suggestions(client, cop, offerId=offer["id"])
    assert {r["factor"] for s in before for r in s["reasons"]} <= {
        "topic",
        "text",
        "region",
        "reciprocity",
    }
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    found = suggestions(client, cop, needId=need["id"])
    assert found[0]["offerId"] == offer["id"]
    assert "semantic" in {r["factor"] for r in found[0]["reasons"]}
    assert round(sum(r["contribution"] for r in found[0]["reasons"]), 4) == found[0]["score"]
    gaps = client.get(f"{cop.url}/gaps").json()
    assert gaps["threshold"] == SEMANTIC_GAP_THRESHOLD


def _scored(client: TestClient, cop: Cop) -> list[tuple[int, int, float, list[Any]]]:
    """Every stored suggestion of the community: need, offer, score and reasons."""
    found: list[tuple[int, int, float, list[Any]]] = []
    while page := suggestions(client, cop, limit=100, offset=len(found)):
        found += [(s["needId"], s["offerId"], s["score"], s["reasons"]) for s in page]
    return sorted(found, key=lambda item: item[:2])


def test_the_write_that_makes_a_community_score_semantically_rescores_all_of_it(
    client: TestClient, cop: Cop, embedder: Any
) -> None:
    """Scores with and without the semantic factor are not comparable: the 20th need (with 20
    offers) re-scores every stored pair, and deleting it again does too, so the stored
    suggestions are at each step what a full recompute stores."""
    from app.matching.scoring import HUB_MIN_NEEDS

    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    for number in range(HUB_MIN_NEEDS - 1):
        answer(client, cop, "needs", cop.alkmaar, f"Vraag {number} over aquathermie en TEO")
        answer(client, cop, "offers", cop.haarlem, f"Ervaring {number} met warmtenetten")
    lexical = _scored(client, cop)
    assert {r["factor"] for *_, reasons in lexical for r in reasons} == {"topic", "text"}

    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    semantic = _scored(client, cop)
    assert len(semantic) > len(lexical)
    assert all(any(r["factor"] == "semantic" for r in reasons) for *_, reasons in semantic)
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert _scored(client, cop) == semantic

    delete(client, f"{cop.url}/needs/{need['id']}")
    again = _scored(client, cop)
    assert {r["factor"] for *_, reasons in again for r in reasons} == {"topic", "text"}
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert _scored(client, cop) == again


def test_a_community_scored_before_its_formula_was_recorded_is_rescored_at_the_next_write(
    client: TestClient, cop: Cop, session: Session
) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    # As a database migrated from before the formula was recorded, with a score of its time.
    session.execute(
        update(Suggestion).where(Suggestion.community_id == cop.community.id).values(score=0.0123)
    )
    session.execute(
        update(Community).where(Community.id == cop.community.id).values(scored_semantically=None)
    )
    session.flush()
    answer(client, cop, "offers", cop.alkmaar, SOLAR_OFFER)
    rescored = _scored(client, cop)
    assert 0.0123 not in [score for _, _, score, _ in rescored]
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert _scored(client, cop) == rescored
    session.expire_all()
    assert session.get_one(Community, cop.community.id).scored_semantically is False


def test_a_rescored_suggestion_gets_a_new_version_and_an_unchanged_one_keeps_its_own(
    client: TestClient, cop: Cop
) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    (first,) = suggestions(client, cop)
    url = f"{cop.url}/suggestions/{first['id']}"
    before = client.get(url)
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    same = client.get(url)
    assert (same.headers["etag"], same.json()) == (before.headers["etag"], before.json())

    answer(client, cop, "offers", cop.alkmaar, SOLAR_OFFER)  # other word weights
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    after = client.get(url)
    assert after.json()["score"] != before.json()["score"]
    # One version later. (Which version the first recompute left depends on whether the need
    # was scored on the index the offer's write cached, or on one built with the need in it.)
    version = int(before.headers["etag"].strip('"'))
    assert after.headers["etag"] == f'"{version + 1}"'
    assert after.json()["updatedAt"] > before.json()["updatedAt"]
    assert after.json()["createdAt"] == before.json()["createdAt"]


def test_a_recompute_that_changes_nothing_writes_nothing(
    client: TestClient, cop: Cop, session: Session, engine: Engine
) -> None:
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER, topics=["aquathermie"])
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    answer(client, cop, "needs", cop.alkmaar, "Zon op dak van sporthallen")
    matching.recompute(session, cop.community)
    written: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            written.append(statement.split("(")[0][:40])

    event.listen(engine, "before_cursor_execute", note)
    try:
        count = matching.recompute(session, cop.community)
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert (count, written) == (1, [])


def test_a_new_region_re_scores_the_pairs_of_the_organisation(client: TestClient, cop: Cop) -> None:
    """The region is a factor of each pair: when an organisation moves to another region, its
    stored suggestions get the score and reasons a recompute gives them, not the old region's."""
    for member, region in ((cop.haarlem, "Kennemerland"), (cop.zaanstad, "Kennemerland")):
        url = f"/api/v1/organisations/{member.id}"
        assert patch(client, url, {"region": region}).status_code == 200
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    ((_, _, together, reasons),) = _scored(client, cop)
    assert {
        "factor": "region",
        "contribution": 0.05,
        "detail": "both in region Kennemerland",
    } in reasons

    url = f"/api/v1/organisations/{cop.zaanstad.id}"
    assert patch(client, url, {"region": "Zaanstreek-Waterland"}).status_code == 200
    moved = _scored(client, cop)
    ((_, _, apart, reasons),) = moved
    assert "region" not in {reason["factor"] for reason in reasons}
    assert apart < together
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert _scored(client, cop) == moved


class _Regions:
    """Five municipalities, two of them in one region, each with two needs and two offers."""

    REGIONS = ("Kennemerland", "Kennemerland", "Zaanstreek-Waterland", None, "Noord-Holland Noord")
    NEEDS = (AQUATHERMIE_NEED, "Hoe maak je een businesscase voor een warmtenet in een wijk?")
    OFFERS = (TEO_OFFER, "Wij hebben de businesscase van ons warmtenet net rond, met de VvE's")

    def __init__(self, session: Session, client: TestClient) -> None:
        self.members = [factories.municipality(session) for _ in self.REGIONS]
        self.community = factories.community(session, "CoP regio's", *self.members)
        self.url = f"/api/v1/communities/{self.community.id}"
        for member, region in zip(self.members, self.REGIONS, strict=True):
            member.region = region
            for kind, texts in (("needs", self.NEEDS), ("offers", self.OFFERS)):
                for text in texts:
                    post(client, f"{self.url}/{kind}", {"organisationId": member.id, "text": text})
        session.flush()
        assert client.post(f"{self.url}/_recompute").status_code == 200


def test_a_region_change_re_scores_only_the_needs_whose_pairs_it_changes(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An organisation that joins a region changes the pairs of its own needs and of the needs
    in that region (with its offers): those needs are re-scored, on the index moved to the
    new region rather than rebuilt, and what is stored is what a recompute stores (nothing was
    written since the last one: the index's fit is the recompute's)."""
    community = _Regions(session, client)
    before = _scored(client, community)  # type: ignore[arg-type]
    rescored: list[int] = []
    rescore = suggestions_module._rescore_needs

    def counted(*args: Any, **kwargs: Any) -> None:
        rescored.extend(sorted(args[3]))
        rescore(*args, **kwargs)

    def not_built(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the community was scored whole")

    class NotBuilt(index_module.matching.MatchIndex):
        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            raise AssertionError("the index was built again")

    monkeypatch.setattr(suggestions_module, "_rescore_needs", counted)
    with monkeypatch.context() as inside:
        inside.setattr(suggestions_module, "recompute", not_built)
        inside.setattr(index_module.matching, "MatchIndex", NotBuilt)
        zaanstreek, moving = community.members[2], community.members[3]
        url = f"/api/v1/organisations/{moving.id}"
        assert patch(client, url, {"region": "Zaanstreek-Waterland"}).status_code == 200
    needs = {
        need.id: need.organisation_id
        for need in session.scalars(select(Need).where(Need.community_id == community.community.id))
    }
    offers = {
        offer.id: offer.organisation_id
        for offer in session.scalars(
            select(Offer).where(Offer.community_id == community.community.id)
        )
    }
    assert {needs[need_id] for need_id in rescored} == {zaanstreek.id, moving.id}
    assert len(rescored) == 4
    moved = _scored(client, community)  # type: ignore[arg-type]
    together = {
        (need_id, offer_id)
        for need_id, offer_id, _, reasons in moved
        if {
            "factor": "region",
            "contribution": 0.05,
            "detail": "both in region Zaanstreek-Waterland",
        }
        in reasons
    }
    assert {(needs[need], offers[offer]) for need, offer in together} == {
        (zaanstreek.id, moving.id),
        (moving.id, zaanstreek.id),
    }
    assert moved != before
    assert client.post(f"{community.url}/_recompute").status_code == 200
    assert _scored(client, community) == moved  # type: ignore[arg-type]


def test_a_region_change_after_a_need_was_written_reuses_the_index_of_the_offers(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached index holds the needs of before a new need was written: its offers are as
    they are, which is all a region change needs, as a need write does (the new need is scored
    as one new to the index)."""
    community = _Regions(session, client)
    nhn = community.members[4]
    written = post(
        client, f"{community.url}/needs", {"organisationId": nhn.id, "text": HYDROGEN_NEED}
    )
    rescored: list[int] = []

    class NotBuilt(index_module.matching.MatchIndex):
        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            raise AssertionError("the index was built again")

    monkeypatch.setattr(index_module.matching, "MatchIndex", NotBuilt)
    monkeypatch.setattr(
        suggestions_module, "_rescore_needs", lambda *args, **_: rescored.extend(args[3])
    )
    url = f"/api/v1/organisations/{community.members[3].id}"
    assert patch(client, url, {"region": "Noord-Holland Noord"}).status_code == 200
    assert written["id"] in rescored
    assert len(rescored) == 5  # its own two needs, and the three of Noord-Holland Noord


def test_a_region_change_of_an_organisation_without_answers_here_re_scores_nothing_here(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load-municipalities moves many organisations at once: in each community, only those
    with answers there name the regions whose needs are re-scored."""
    community = _Regions(session, client)
    elsewhere = factories.municipality(session)
    rescored: list[int] = []

    def whole(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the community was scored whole")

    monkeypatch.setattr(suggestions_module, "recompute", whole)
    monkeypatch.setattr(
        suggestions_module, "_rescore_needs", lambda *args, **_: rescored.extend(args[3])
    )
    matching.relocate(
        session, community.community, {elsewhere.id: ("Kennemerland", "Noord-Holland Noord")}
    )
    assert rescored == []


SOLAR_PLACES = (
    "scholen",
    "het gemeentehuis",
    "zwembaden",
    "parkeergarages",
    "bibliotheken",
    "brandweerkazernes",
    "gemeentewerven",
    "buurthuizen",
    "musea",
    "theaters",
    "kinderopvang",
    "sportparken",
    "milieustraten",
    "stadskantoren",
    "daken van woningen",
    "bedrijventerreinen",
    "geluidsschermen",
    "carports",
    "waterzuiveringen",
    "stadions",
    "loodsen",
    "sporthallen",
)


def test_a_suggestion_acted_on_keeps_following_the_engine_beyond_its_needs_best(
    client: TestClient, cop: Cop
) -> None:
    """An introduced suggestion stays when its need is rewritten away from it, with the score
    its pair now earns, not the one it was introduced with: so a new offer later takes one
    place among the need's best and pushes out one proposed suggestion, as a recompute stores
    them (with the old score it pushed out two)."""
    teo_text = "Ervaring met TEO: aquathermie uit oppervlaktewater via een warmtenet in de wijk"
    teo = answer(client, cop, "offers", cop.zaanstad, teo_text)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    (introduced,) = suggestions(client, cop, needId=need["id"])
    url = f"{cop.url}/suggestions/{introduced['id']}"
    assert patch(client, url, {"status": "introduced"}).status_code == 200
    solar = "zonnepanelen op daken van sporthallen en gemeentelijk vastgoed"
    # Offers that answer the rewritten need less well the more they add: a spread of scores,
    # some below the one the introduced suggestion had.
    for place in SOLAR_PLACES:
        answer(client, cop, "offers", cop.alkmaar, f"{solar}, ook {place}")
    need_url = f"{cop.url}/needs/{need['id']}"
    assert patch(client, need_url, {"text": solar}).status_code == 200

    def stored() -> dict[int, tuple[str, float]]:
        rows = suggestions(client, cop, needId=need["id"], limit=100)
        return {row["offerId"]: (row["status"], row["score"]) for row in rows}

    rewritten = stored()
    assert rewritten[teo["id"]][0] == "introduced"
    assert [status for status, _ in rewritten.values()].count("proposed") == 20
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert stored()[teo["id"]] == rewritten[teo["id"]]  # the score a recompute gives it

    answer(client, cop, "offers", cop.zaanstad, f"{solar}, veel ervaring")
    written = stored()
    assert [status for status, _ in written.values()].count("proposed") == 20
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    assert stored().keys() == written.keys()


def test_only_a_region_that_scores_or_reads_otherwise_re_scores(
    client: TestClient, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blank region is no region, as before: setting one re-scores nothing; a region that
    names a place (or is written otherwise, as its reasons show it) re-scores the community."""
    answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    recomputed: list[int] = []
    monkeypatch.setattr(
        matching, "relocate", lambda _session, community, _moved: recomputed.append(community.id)
    )
    url = f"/api/v1/organisations/{cop.zaanstad.id}"
    assert patch(client, url, {"region": "  "}).status_code == 200
    assert recomputed == []
    assert patch(client, url, {"region": "Zaanstreek"}).status_code == 200
    assert patch(client, url, {"region": "zaanstreek"}).status_code == 200
    assert recomputed == [cop.community.id, cop.community.id]


def _empty_copy_of_the_demo(session: Session) -> tuple[Community, list[Need | Offer]]:
    """A community with the demo's members and no answers yet, and the demo's answers (needs,
    then offers) to type into it."""
    load_municipalities(session)
    demo = load_demo(session)
    copy = factories.community(session, "copy")
    for organisation_id in session.scalars(
        select(Membership.organisation_id).where(Membership.community_id == demo.community_id)
    ):
        communities.add_member(session, copy, organisation_id)
    answers: list[Need | Offer] = [
        *session.scalars(select(Need).where(Need.community_id == demo.community_id)),
        *session.scalars(select(Offer).where(Offer.community_id == demo.community_id)),
    ]
    return copy, answers


def test_gaps_and_unmet_offers_agree_with_the_stored_suggestions(
    client: TestClient, session: Session, embedder: object
) -> None:
    """Answers typed in one at a time keep scores that lag a recompute (each write scores on
    the index of its moment); gaps and unmet offers are read from the same stored suggestions,
    so no need is a gap while a suggestion above the threshold is shown for it."""
    copy, answers = _empty_copy_of_the_demo(session)
    rows = list(answers)
    random.Random(1).shuffle(rows)
    url = f"/api/v1/communities/{copy.id}"
    for row in rows:
        body: dict[str, Any] = {"organisationId": row.organisation_id, "text": row.text}
        kind = "needs" if isinstance(row, Need) else "offers"
        post(client, f"{url}/{kind}", body)

    shown = every_page(client, f"{url}/suggestions")  # those at the threshold or above
    gaps = client.get(f"{url}/gaps", params={"limit": 100}).json()
    assert {item["score"] >= gaps["threshold"] for item in shown} == {True}
    need_ids = session.scalars(
        select(Need.id).where(Need.community_id == copy.id).order_by(Need.id)
    ).all()
    helped = {item["needId"] for item in shown}
    assert [gap["needId"] for gap in gaps["items"]] == [n for n in need_ids if n not in helped]
    assert len(gaps["items"]) == gaps["total"] > 0
    unmet = client.get(f"{url}/unmet-offers", params={"limit": 100}).json()["items"]
    offer_ids = session.scalars(
        select(Offer.id).where(Offer.community_id == copy.id).order_by(Offer.id)
    ).all()
    asked = {item["offerId"] for item in shown}
    assert [item["offerId"] for item in unmet] == [o for o in offer_ids if o not in asked]
    report = client.get(f"{url}/report").json()
    # (A need is listed under each of its topics.)
    assert {need["needId"] for group in report["gaps"]["groups"] for need in group["needs"]} == {
        gap["needId"] for gap in gaps["items"]
    }


def test_the_views_agree_with_the_engines_report_of_the_same_answers(
    client: TestClient, session: Session
) -> None:
    """The engine's report chose its allocation and reciprocal pairs from each need's 10 best
    suggestions, the API from the 20 it stores: here B's offer is Haarlem's 11th (ten equal
    offers in Haarlem's region), so the report had no pair where the API had Haarlem and B. Both
    choose from the same 20 now."""
    haarlem, b, *others = (factories.municipality(session) for _ in range(12))
    for organisation in (haarlem, *others):
        organisation.region = "Zuid-Kennemerland"  # they score a region bonus with Haarlem
    community = factories.community(session, "CoP", haarlem, b, *others)
    businesscase = "Ervaring met de businesscase van een warmtenet"
    factories.need(session, community, haarlem, "Hulp bij de businesscase van een warmtenet")
    for organisation in others:
        factories.offer(session, community, organisation, businesscase)
    factories.offer(session, community, b, businesscase)
    factories.need(session, community, b, "Hoe isoleren we met een VvE?")
    factories.offer(session, community, haarlem, "Isoleren met een VvE: onze aanpak")
    matching.recompute(session, community)
    data, index = index_module.community_index(session, community)
    report = community_report(index, excluded=data.declined)
    url = f"/api/v1/communities/{community.id}"

    allocation = client.get(f"{url}/allocation").json()
    assert sorted((a["needId"], a["offerId"]) for a in allocation["assignments"]) == [
        (a.need_id, a.offer_id) for a in report.allocation.assignments
    ]
    assert allocation["totalScore"] == report.allocation.total_score
    pairs = every_page(client, f"{url}/reciprocal-pairs")
    assert [(p["firstOrganisationId"], p["secondOrganisationId"]) for p in pairs] == [
        (p.first_organisation_id, p.second_organisation_id) for p in report.reciprocal_pairs
    ]
    assert [(p["firstOrganisationId"], p["secondOrganisationId"]) for p in pairs] == [
        (haarlem.id, b.id)
    ]


def test_the_first_gaps_read_after_writes_of_needs_builds_no_index(
    client: TestClient, session: Session, cop: Cop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gaps were scored on an index of the whole community as it is: the first read after a
    need was written rebuilt it (3-5 s at Netherlands scale). A gap's closest offer is scored
    as a write scores its need now, on the index of the offers as they are; unmet offers the
    same way on the needs."""
    from app import matching as engine

    answer(client, cop, "offers", cop.zaanstad, SOLAR_OFFER)
    answer(client, cop, "needs", cop.haarlem, HYDROGEN_NEED)
    assert client.get(f"{cop.url}/gaps").status_code == 200
    built: list[int] = []

    class Counted(engine.MatchIndex):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(engine, "MatchIndex", Counted)
    need = answer(client, cop, "needs", cop.alkmaar, "Warmtepompen in de sociale huur")

    gaps = client.get(f"{cop.url}/gaps").json()
    assert built == []
    data, index = index_module.community_index(session, cop.community, same="offers")
    assert built == []
    scored = {n.id: index.score_need(n, limit=1, min_score=0.0) for n in data.needs}
    assert [(g["needId"], g["bestScore"], g["bestOfferId"]) for g in gaps["items"]] == [
        (n, best[0].score, best[0].offer_id) for n, best in sorted(scored.items())
    ]
    assert need["id"] in scored
    unmet = client.get(f"{cop.url}/unmet-offers").json()["items"]
    assert [u["offerId"] for u in unmet] == [o.id for o in data.offers]


def test_an_offer_a_need_reaches_is_not_unmet_beyond_the_needs_20_best(
    client: TestClient, cop: Cop
) -> None:
    """Found by review: an offer above the threshold for a need, but 21st in its list, was
    listed as unmet ("nobody asked for it") with a best score above the threshold."""
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    offers = [
        answer(
            client,
            cop,
            "offers",
            cop.zaanstad if number % 2 else cop.alkmaar,
            f"{TEO_OFFER} ({number})",
        )
        for number in range(21)
    ]
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    stored = suggestions(client, cop, needId=need["id"], limit=100)
    assert len(stored) == 20
    unmet = client.get(f"{cop.url}/unmet-offers", params={"limit": 100}).json()
    assert (unmet["items"], unmet["total"]) == ([], 0)
    # Its member's page says so too: not unmet, suggested to no one.
    (left_out,) = {offer["id"] for offer in offers} - {s["offerId"] for s in stored}
    by = next(offer["organisationId"] for offer in offers if offer["id"] == left_out)
    url = f"/api/v1/organisations/{by}/report"
    page = client.get(url, params={"communityId": cop.community.id}).json()
    (own,) = [offer for offer in page["offers"] if offer["offerId"] == left_out]
    assert (own["unmet"], own["askedBy"]) == (False, [])
    markdown = client.get(
        url,
        params={"communityId": cop.community.id, "lang": "en"},
        headers={"Accept": "text/markdown"},
    ).text
    assert "not suggested: the needs it suits have better offers" in markdown


def test_a_gaps_closest_offer_is_never_one_deleted_since(client: TestClient, cop: Cop) -> None:
    """Found by review: a gap's closest offer is scored on the cached index of the offers,
    which may still hold offers deleted since; the deleted offer was named as the closest, at
    a score above the threshold (and the community report would look it up)."""
    need = answer(client, cop, "needs", cop.haarlem, "Ervaring met een warmtenet in een wijk")
    kept = answer(client, cop, "offers", cop.zaanstad, "Laadpalen voor elektrische deelauto's")
    close = answer(client, cop, "offers", cop.zaanstad, "Aanleg van een warmtenet in een wijk")
    assert [s["offerId"] for s in suggestions(client, cop, needId=need["id"])] == [close["id"]]

    assert delete(client, f"{cop.url}/offers/{close['id']}").status_code == 204

    gaps = client.get(f"{cop.url}/gaps").json()["items"]
    assert [(gap["needId"], gap["bestOfferId"]) for gap in gaps] == [(need["id"], kept["id"])]
    report = client.get(f"{cop.url}/report", headers={"Accept": "application/json"})
    assert report.status_code == 200


def test_the_20th_need_rescores_the_community_with_hub_floors_and_deleting_it_without(
    client: TestClient, cop: Cop
) -> None:
    """Found by review: from HUB_MIN_NEEDS needs on, an index fits the offers' hub floors, for
    every pair; the 20th need was scored with them (on a new index) or without (on the cached
    one), and the 19 others kept their scores without, which a recompute then changed: 13 pairs
    stored where a recompute stores 3. Deleting it again left the opposite."""
    labelled = yaml.safe_load(LABELLED_SET.read_text(encoding="utf-8"))
    answered = [need for need in labelled["needs"] if need.get("relevant")]
    offer_ids = sorted({offer for need in answered[:HUB_MIN_NEEDS] for offer in need["relevant"]})
    offer_texts = {offer["id"]: offer["text"] for offer in labelled["offers"]}
    members = (cop.haarlem, cop.zaanstad, cop.alkmaar)
    for number, offer_id in enumerate(offer_ids[:12]):
        answer(client, cop, "offers", members[number % 3], offer_texts[offer_id])
    needs = [
        answer(client, cop, "needs", members[(number + 1) % 3], need["text"])
        for number, need in enumerate(answered[: HUB_MIN_NEEDS - 1])
    ]

    def stored() -> list[tuple[int, int, float]]:
        items = every_page(client, f"{cop.url}/suggestions", minScore=0)
        return sorted((s["needId"], s["offerId"], s["score"]) for s in items)

    def recomputed() -> list[tuple[int, int, float]]:
        assert client.post(f"{cop.url}/_recompute").status_code == 200
        return stored()

    recomputed()  # the earlier writes' scores lag the words they added (documented)
    twentieth = answer(client, cop, "needs", cop.haarlem, answered[HUB_MIN_NEEDS - 1]["text"])
    with_floors = stored()
    assert with_floors == recomputed()
    assert delete(client, f"{cop.url}/needs/{twentieth['id']}").status_code == 204
    without = stored()
    assert without == recomputed()
    # The floors change the 19 needs' scores: both writes re-scored them.
    assert {pair for pair in with_floors if pair[0] != twentieth["id"]} != set(without)
    assert {need for need, _, _ in without} <= {need["id"] for need in needs}


def test_a_need_with_a_helper_acted_on_is_no_gap(client: TestClient, cop: Cop) -> None:
    offer = answer(client, cop, "offers", cop.zaanstad, TEO_OFFER)
    need = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    (found,) = suggestions(client, cop, needId=need["id"])
    url = f"{cop.url}/suggestions/{found['id']}"
    assert patch(client, url, {"status": "introduced"}).status_code == 200
    # The offer is rewritten into something else: the pair acted on stays, scored below 0.32.
    patch(client, f"{cop.url}/offers/{offer['id']}", json={"text": SOLAR_OFFER})
    kept = client.get(url).json()
    assert (kept["status"], kept["score"] < 0.32) == ("introduced", True)
    gaps = client.get(f"{cop.url}/gaps").json()
    assert need["id"] not in [gap["needId"] for gap in gaps["items"]]
    unmet = client.get(f"{cop.url}/unmet-offers").json()
    assert offer["id"] not in [item["offerId"] for item in unmet["items"]]


# Demo answers in an order whose single writes leave the offer ORDER[15] out of every stored
# suggestion although the need ORDER[13] has room: scores that lag a recompute (found by review).
LAGGING_ORDER = (
    "Historische binnenstad Edam: aardgasvrij en monumenten, hoe combineer je dat?",
    "Koppeling RSW uit de RES met herziening van onze TVW",
    "Concept-WUP voor onze eerste wijk ligt er: opzet, inhoudsopgave en raadsvoorstel delen we "
    "graag.",
    "Prestatieafspraken met corporaties over aardgasvrij en isolatie, ons format kan iedereen "
    "gebruiken.",
    "Spreekuur over ISDE en subsidies voor VvE's, ook voor vragen van inwoners via de gemeente.",
    "TVW herijken met een heel klein team: waar begin je, en hoe gebruik je de startanalyse?",
    "Input van gemeenten over lokale warmtebronnen voor de regionale warmtestrategie.",
    "Warmtenet in de binnestad: hoe combineer je dat met rioolvervanging en houd je de drukke "
    "ondergrond (K&L, bomen) beheersbaar?",
    "Ervaring met wijkaanpak in ruim tien buurten, waaronder een PAW-proeftuin: procesaanpak, "
    "planning en valkuilen.",
    "Nationaal Isolatieprogramma: voorbeelden van lokale isolatieaanpak en hulp bij de opzet.",
    "Monitoring voortgang TVW: welke indicatoren en databronnen gebruiken anderen?",
    "Interferentie tussen WKO's in nieuwbouwwijk. Wie heeft een masterplan bodemenergie?",
    "Onze energiecoaches zijn overbelast. Hoe organiseren anderen het energieloket?",
    "VvE's in naoorlogse flats: hoe krijg je een meerderheid op de ALV voor isolatie?",
    "Kernboodschap voor inwoners die nog helemaal niet met warmte bezig zijn. Hoe maak je het "
    "concreet?",
    "Isolatieaanpak met collectieve inkoop en wijkacties, goed bereik onder koopwoningen.",
    "Na de herindeling twee TVW's samenvoegen tot één warmteprogramma, hoe pakken anderen dat aan?",
    "WUP Oudkarspel: welke rol heeft de raad en hoe leg je de financiering vast?",
    "Happy to share our neighbourhood approach playbook, also in English.",
    "Veel kleine VVE's in IJmuiden zonder actief bestuur (slapende VvE). Tips?",
    "Onrendabele top warmtenet bestaande bouw: wie heeft een sluitende businesscase zonder extra "
    "rijksgeld?",
    "Ervaring met TEO/aquathermie uit de Zaan: haalbaarheidsstudie, samenwerking met waterschap, "
    "aanbesteding.",
    "Warmtenet Hoofddorp: publiek warmtebedrijf of marktpartij? Hulp bij governance-keuze.",
)


def test_an_offer_left_out_by_lagging_scores_is_unmet_not_crowded_out(
    client: TestClient, session: Session, embedder: object
) -> None:
    copy, answers = _empty_copy_of_the_demo(session)
    rows = {row.text: row for row in answers}
    url = f"/api/v1/communities/{copy.id}"
    made = {}
    for text in LAGGING_ORDER:
        kind = "needs" if isinstance(rows[text], Need) else "offers"
        made[text] = post(
            client, f"{url}/{kind}", {"organisationId": rows[text].organisation_id, "text": text}
        )
    offer, need = made[LAGGING_ORDER[15]], made[LAGGING_ORDER[13]]
    stored = every_page(client, f"{url}/suggestions")
    assert [s for s in stored if s["offerId"] == offer["id"]] == []  # suggested to no one
    assert len([s for s in stored if s["needId"] == need["id"]]) < 20  # though there is room

    unmet = client.get(f"{url}/unmet-offers", params={"limit": 100}).json()
    (item,) = [u for u in unmet["items"] if u["offerId"] == offer["id"]]
    assert (item["bestNeedId"], item["bestScore"] >= unmet["threshold"]) == (need["id"], True)
    page = f"/api/v1/organisations/{offer['organisationId']}/report"
    params = {"communityId": copy.id, "lang": "en"}
    (own,) = [
        o for o in client.get(page, params=params).json()["offers"] if o["offerId"] == offer["id"]
    ]
    assert (own["unmet"], own["askedBy"]) == (True, [])
    markdown = client.get(page, params=params, headers={"Accept": "text/markdown"}).text
    assert "better offers" not in markdown
    # A recompute stores the pair: the offer was unmet only while the scores lagged.
    assert client.post(f"{url}/_recompute").status_code == 200
    assert need["id"] in {
        s["needId"] for s in every_page(client, f"{url}/suggestions") if s["offerId"] == offer["id"]
    }
    assert offer["id"] not in {
        u["offerId"]
        for u in client.get(f"{url}/unmet-offers", params={"limit": 100}).json()["items"]
    }


def test_an_offer_crowded_out_of_one_need_but_not_of_another_is_unmet(
    client: TestClient, session: Session, cop: Cop
) -> None:
    """Found by review: only the offer's closest need was checked for room."""
    first = answer(client, cop, "needs", cop.haarlem, AQUATHERMIE_NEED)
    for number in range(20):
        answer(client, cop, "offers", cop.alkmaar, f"{TEO_OFFER} ({number})")
    offer = answer(client, cop, "offers", cop.zaanstad, f"{TEO_OFFER} (20)")
    second = answer(client, cop, "needs", cop.alkmaar, AQUATHERMIE_NEED + " Graag tips.")
    assert client.post(f"{cop.url}/_recompute").status_code == 200
    stored = every_page(client, f"{cop.url}/suggestions")
    assert len([s for s in stored if s["needId"] == first["id"]]) == 20  # full
    assert {s["needId"] for s in stored if s["offerId"] == offer["id"]} == {second["id"]}
    # Scores that lag a recompute: the second need's pair with the offer is not stored (yet).
    session.execute(
        delete_rows(Suggestion).where(
            Suggestion.need_id == second["id"], Suggestion.offer_id == offer["id"]
        )
    )
    suggestion_versions.mark_changed(session, cop.community.id)
    unmet = client.get(f"{cop.url}/unmet-offers", params={"limit": 100}).json()["items"]
    assert [u["offerId"] for u in unmet] == [offer["id"]]
    page = f"/api/v1/organisations/{cop.zaanstad.id}/report"
    params = {"communityId": cop.community.id, "lang": "en"}
    (own,) = [
        o for o in client.get(page, params=params).json()["offers"] if o["offerId"] == offer["id"]
    ]
    assert (own["unmet"], own["askedBy"]) == (True, [])
    markdown = client.get(page, params=params, headers={"Accept": "text/markdown"}).text
    assert "better offers" not in markdown
