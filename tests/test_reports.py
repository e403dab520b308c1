"""The programme-plan report: every representation, its numbers against the JSON and the API,
content negotiation, languages, one member's page and who may read what, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import html as html_module
import io
from collections import defaultdict
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Community,
    FormatPreference,
    Membership,
    Need,
    Offer,
    Organisation,
    Person,
    Suggestion,
    SuggestionStatus,
)
from app.reports import tables
from app.reports.blocks import Document, Paragraph, Section, Subheading, Table
from app.reports.document import closest as closest_cell
from app.reports.document import working_group_rows
from app.reports.i18n import Lang, decimal, report_day, text
from app.reports.markdown import paragraph as markdown_paragraph
from app.reports.reasons import reasons_text
from app.reports.schemas import (
    AnswerRef,
    OrganisationRef,
    OrganisationReport,
    OwnFormatPreference,
    OwnNeed,
    OwnOffer,
    SuggestionRow,
)
from app.schemas import FormatPreferenceCreate, NeedCreate, OfferCreate, ReasonRead
from app.services import matching, tokens
from app.services.answers import create_answer
from app.services.demo import load_demo
from app.services.organisations import erase_person, load_municipalities
from app.services.reports import community_report, organisation_report, sections
from app.services.topics import taxonomy
from tests import factories
from tests.http import patch
from tests.problems import assert_problem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SECTIONS_NL = [
    "## Samenvatting",
    "## 1. Deelname",
    "## 2. Vraag en aanbod per thema",
    "## 3. Lacunes: kandidaten voor externe experts",
    "## 4. Voorgestelde werkgroepen",
    "## 5. Collegiale hulp",
    "## 6. Voorkeuren voor werkvormen",
    "## 7. Kennisborging",
]
SECTIONS_EN = [
    "## Summary",
    "## 1. Participation",
    "## 2. Demand and supply per theme",
    "## 3. Gaps: candidates for outside experts",
    "## 4. Suggested working groups",
    "## 5. Peer help",
    "## 6. Format preferences",
    "## 7. Knowledge retention",
]
SHEETS_NL = [
    "Samenvatting",
    "1 Deelname",
    "2 Vraag en aanbod",
    "3 Lacunes",
    "4 Werkgroepen",
    "5 Collegiale hulp",
    "6 Werkvormen",
    "7 Kennisborging",
]


class Plan:
    """Four member municipalities with every section of the plan filled in.

    Haarlem and Alkmaar need aquathermie with Hoorn (a working group); Zaanstad offers it. In
    Alkmaar someone left, in Hoorn someone was erased; Zaanstad's offers are all Kees's.
    """

    def __init__(self, session: Session) -> None:
        self.alkmaar = factories.municipality(session, "Alkmaar", "GM0361")
        self.haarlem = factories.municipality(session, "Haarlem", "GM0392")
        self.hoorn = factories.municipality(session, "Hoorn", "GM0405")
        self.zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        self.community = factories.community(
            session, "CoP Rapport", self.alkmaar, self.haarlem, self.hoorn, self.zaanstad
        )
        person = factories.person
        self.ellen = person(session, self.alkmaar, "Ellen Brouwer", "duurzaamheid")
        self.martijn = person(session, self.alkmaar, "Martijn Kok", "openbare ruimte")
        self.leaver = person(session, self.alkmaar, "Lies Vertrokken", "wonen")
        self.marieke = person(session, self.haarlem, "Marieke Verhoeven", "duurzaamheid")
        self.joost = person(session, self.haarlem, "Joost Bakker", "wonen")
        self.hanna = person(session, self.hoorn, "Hanna Hoorn", "duurzaamheid")
        self.erased = person(session, self.hoorn, "Eva Gewist", "wonen")
        self.kees = person(session, self.zaanstad, "Kees Mulder", "Duurzaamheid")

        c = self.community
        need, offer = self._need, self._offer
        self.haarlem_teo = need(
            session, c, self.haarlem, "Hoe pak je aquathermie (TEO) aan voor een wijk?",
            topics=["aquathermie"], personId=self.marieke.id, priority="high",
        )  # fmt: skip
        self.haarlem_vve = need(
            session, c, self.haarlem, "Hoe krijg je kleine VvE's in beweging?",
            topics=["vve-aanpak"], personId=self.joost.id,
        )  # fmt: skip
        self.alkmaar_teo = need(
            session, c, self.alkmaar, "Aquathermie uit de rwzi: wie heeft ervaring?",
            topics=["aquathermie"], personId=self.ellen.id,
        )  # fmt: skip
        self.alkmaar_left = need(
            session, c, self.alkmaar, "Warmtenet in de binnenstad combineren met riolering",
            topics=["warmtenetten"], personId=self.leaver.id,
        )  # fmt: skip
        self.hoorn_teo = need(
            session, c, self.hoorn, "TEO voor een nieuwbouwwijk, hoe begin je?",
            topics=["aquathermie"], personId=self.erased.id,
        )  # fmt: skip
        self.hoorn_hydrogen = need(
            session, c, self.hoorn, "Waterstof voor monumentale binnensteden?",
            topics=["waterstof"], personId=self.hanna.id,
        )  # fmt: skip
        self.zaanstad_teo = offer(
            session, c, self.zaanstad, "Ervaring met TEO uit de Zaan, haalbaarheidsstudie klaar",
            topics=["aquathermie"], personId=self.kees.id, capacity=1,
        )  # fmt: skip
        self.zaanstad_tender = offer(
            session, c, self.zaanstad, "Aanbesteding van een warmtebedrijf, bestek te deel",
            topics=["aanbesteding-staatssteun"], personId=self.kees.id,
        )  # fmt: skip
        self.haarlem_vve_offer = offer(
            session, c, self.haarlem, "Onze VvE-aanpak: stappenplan en MJOP-check",
            topics=["vve-aanpak"], personId=self.joost.id,
        )  # fmt: skip
        self.haarlem_desk = offer(
            session, c, self.haarlem, "Onze VvE-balie: spreekuur voor besturen",
            topics=["vve-aanpak"], personId=self.marieke.id,
        )  # fmt: skip
        self.alkmaar_study = offer(
            session, c, self.alkmaar, "Haalbaarheidsstudie aquathermie bij de rwzi",
            topics=["aquathermie"], personId=self.ellen.id,
        )  # fmt: skip
        self.alkmaar_left_offer = offer(
            session, c, self.alkmaar, "Aquathermie en het waterschap als partner",
            topics=["aquathermie"], personId=self.leaver.id,
        )  # fmt: skip
        self._format(session, self.haarlem, "learning-circle", "Maandelijks en fysiek")
        self._format(session, self.zaanstad, "learning-circle", None)
        self._format(session, self.alkmaar, "site-visit", None)
        self._format(session, self.hoorn, "knowledge-session", None, self.erased)
        # Score each need once the offers are in (the community's index is built only once).
        for created in (
            self.haarlem_teo,
            self.haarlem_vve,
            self.alkmaar_teo,
            self.alkmaar_left,
            self.hoorn_teo,
            self.hoorn_hydrogen,
        ):
            matching.refresh_need(session, created)

        self.leaver.active = False
        erase_person(session, self.erased)
        session.flush()
        self.url = f"/api/v1/communities/{c.id}/report"

    def _need(
        self, session: Session, of: Community, by: Organisation, text: str, **fields: Any
    ) -> Need:
        # Scored once, by the recompute at the end, as a bulk load does.
        body = {"organisationId": by.id, "text": text, **fields}
        created = create_answer(session, Need, of, NeedCreate.model_validate(body), refresh=False)
        assert isinstance(created, Need)
        return created

    def _offer(
        self, session: Session, of: Community, by: Organisation, text: str, **fields: Any
    ) -> Offer:
        body = {"organisationId": by.id, "text": text, **fields}
        created = create_answer(session, Offer, of, OfferCreate.model_validate(body), refresh=False)
        assert isinstance(created, Offer)
        return created

    def _format(
        self,
        session: Session,
        by: Organisation,
        name: str,
        note: str | None,
        author: Person | None = None,
    ) -> None:
        body: dict[str, Any] = {"organisationId": by.id, "format": name, "note": note}
        if author is not None:
            body["personId"] = author.id
        create_answer(
            session,
            FormatPreference,
            self.community,
            FormatPreferenceCreate.model_validate(body),
        )


@pytest.fixture
def plan(session: Session) -> Plan:
    return Plan(session)


class Bare:
    """A community whose two members have not answered yet."""

    def __init__(self, session: Session) -> None:
        self.haarlem = factories.municipality(session, "Haarlem", "GM0392")
        self.zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        self.community = factories.community(session, "CoP Leeg", self.haarlem, self.zaanstad)
        self.url = f"/api/v1/communities/{self.community.id}/report"


@pytest.fixture
def bare(session: Session) -> Bare:
    return Bare(session)


def get(client: TestClient, url: str, accept: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Accept": accept} if accept is not None else {}
    return client.get(url, headers=headers, params=params)


def report_json(client: TestClient, plan: Plan | Bare) -> dict[str, Any]:
    response = get(client, plan.url)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def items(client: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(url, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def label(slug: str, lang: str) -> str:
    """A theme's or topic's label, as the taxonomy has it."""
    data = taxonomy()
    found = {item.slug: item.label for item in data.themes}
    found.update({item.slug: item.label for item in data.topics})
    return found[slug][lang]


def today_or_yesterday() -> set[str]:
    # A request may straddle midnight (in the Netherlands, whose days reports are dated by).
    now = dt.datetime.now(dt.UTC)
    return {report_day(now), report_day(now - dt.timedelta(days=1))}


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        ("2026-12-05T22:59:00+00:00", "2026-12-05"),
        ("2026-12-05T23:30:00+00:00", "2026-12-06"),  # 00:30 in Amsterdam (winter, UTC+1)
        ("2026-06-30T22:30:00+00:00", "2026-07-01"),  # 00:30 in Amsterdam (summer, UTC+2)
    ],
)
def test_reports_are_dated_by_the_dutch_day(moment: str, day: str) -> None:
    assert report_day(dt.datetime.fromisoformat(moment)) == day


@pytest.mark.parametrize(
    ("value", "english", "dutch"),
    [
        (0.3158, "0.31", "0,31"),  # a gap's best score below 0.32 never reads as 0.32
        (0.3199999, "0.31", "0,31"),
        (0.32, "0.32", "0,32"),
        (0.3249, "0.32", "0,32"),
        (0.29, "0.29", "0,29"),  # binary 0.28999…: cut on the shortest decimal form
        (1.0, "1.00", "1,00"),
        (0.0, "0.00", "0,00"),
        (12.3456, "12.34", "12,34"),
    ],
)
def test_report_decimals_are_cut_off_after_two(value: float, english: str, dutch: str) -> None:
    assert (decimal(value, "en"), decimal(value, "nl")) == (english, dutch)


@pytest.mark.parametrize(
    ("key", "lang", "values", "expected"),
    [
        (
            "participation-note",
            "nl",
            {"organisations": 1, "people": 1, "departments": 4, "single": 0},
            "1 organisatie met 1 actieve deelnemer uit 4 afdelingen; bij 0 gemeenten neemt "
            "maar één afdeling deel.",
        ),
        (
            "participation-note",
            "en",
            {"organisations": 2, "people": 1, "departments": 1, "single": 1},
            "2 organisations with 1 active person from 1 department; at 1 municipality only one "
            "department takes part.",
        ),
        ("formats-note", "nl", {"organisations": 1}, "1 organisatie gaf een voorkeur op."),
        ("formats-note", "nl", {"organisations": 3}, "3 organisaties gaven een voorkeur op."),
        ("formats-note", "en", {"organisations": 1}, "1 organisation stated a preference."),
        ("untagged", "en", {"needs": 1, "offers": 2}, "Without topic: 1 need, 2 offers."),
        ("untagged", "nl", {"needs": 1, "offers": 2}, "Zonder onderwerp: 1 vraag, 2 aanbiedingen."),
        ("untagged", "nl", {"needs": 2, "offers": 1}, "Zonder onderwerp: 2 vragen, 1 aanbieding."),
        (
            "suggestions-note",
            "nl",
            {"per_need": 3, "shown": 1, "total": 1},
            "Per vraag de beste 3 (1 van 1 suggestie); de volledige tabel staat in de CSV- en "
            "Excel-versie.",
        ),
        (
            "allocation-note",
            "nl",
            {"assigned": 1, "candidates": 1, "score": "0,50"},
            "1 van 1 vraag met kandidaten toegewezen; totale score 0,50.",
        ),
    ],
)
def test_counts_take_the_word_that_goes_with_them(
    key: str, lang: Lang, values: dict[str, object], expected: str
) -> None:
    """ "1 organisaties gaven een voorkeur op." read in a community of one member."""
    assert text(key, lang, **values) == expected


@pytest.mark.parametrize(
    ("score", "nl", "en"),
    [(0.0, "geen", "none"), (0.0001, "Hoorn: TEO uit de Spaarne", "Hoorn: TEO uit de Spaarne")],
)
def test_an_answer_at_score_0_is_no_near_miss(score: float, nl: str, en: str) -> None:
    """A gap showed an offer it shares nothing with (0,00) as the one that came closest."""
    hoorn = OrganisationRef(id=1, name="Hoorn")
    answer = AnswerRef(id=3, organisation=hoorn, text="TEO uit de Spaarne")
    assert (closest_cell(answer, score, "nl"), closest_cell(answer, score, "en")) == (nl, en)
    assert closest_cell(None, score, "nl") == "geen"


# --- JSON ------------------------------------------------------------------------------------


def test_only_a_municipality_is_flagged_for_a_single_department(
    client: TestClient, session: Session
) -> None:
    """Found by review: the flag "the heat transition needs more departments" was also put on
    RVO, a national agency."""
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    rvo = factories.agency(session, "RVO")
    for organisation in (haarlem, rvo):
        factories.person(session, organisation, department="duurzaamheid")
    community = factories.community(session, "CoP Afdelingen", haarlem, rvo)
    url = f"/api/v1/communities/{community.id}/report"
    participation = get(client, url).json()["participation"]
    flags = {
        item["organisation"]["name"]: item["singleDepartment"] for item in participation["items"]
    }
    assert (flags, participation["singleDepartmentOrganisations"]) == (
        {"Haarlem": True, "RVO": False},
        1,
    )
    lines = get(client, url, "text/markdown").text.splitlines()
    flagged = {line.split(" | ")[0] for line in lines if line.startswith("| ") and "⚑" in line}
    assert flagged == {"| Haarlem"}


def test_json_participation_demand_formats_and_summary(client: TestClient, plan: Plan) -> None:
    body = report_json(client, plan)
    assert body["community"]["slug"] == "cop-rapport"
    participation = body["participation"]
    rows = {
        item["organisation"]["name"]: (
            [p["name"] for p in item["people"]],
            item["departments"],
            item["singleDepartment"],
            (item["needs"], item["offers"], item["formatPreferences"]),
        )
        for item in participation["items"]
    }
    assert list(rows) == ["Alkmaar", "Haarlem", "Hoorn", "Zaanstad"]
    assert rows == {
        "Alkmaar": (
            ["Ellen Brouwer", "Martijn Kok"],
            ["duurzaamheid", "openbare ruimte"],
            False,
            (2, 2, 1),
        ),
        "Haarlem": (
            ["Joost Bakker", "Marieke Verhoeven"],
            ["duurzaamheid", "wonen"],
            False,
            (2, 2, 1),
        ),
        "Hoorn": (["Hanna Hoorn"], ["duurzaamheid"], True, (2, 0, 1)),
        "Zaanstad": (["Kees Mulder"], ["Duurzaamheid"], True, (0, 2, 1)),
    }
    # "Duurzaamheid" and "duurzaamheid" are one department
    assert (participation["people"], participation["departments"]) == (6, 3)
    assert participation["singleDepartmentOrganisations"] == 2
    assert "email" not in participation["items"][0]["people"][0]

    formats = body["formatPreferences"]
    assert formats["organisations"] == 4
    assert [(f["format"], f["organisations"]) for f in formats["items"]] == [
        ("learning-circle", 2),
        ("knowledge-session", 1),
        ("site-visit", 1),
        ("peer-review", 0),
        ("one-to-one", 0),
        ("online-community", 0),
        ("regional-meeting", 0),
        ("serious-game", 0),
    ]
    assert formats["items"][0]["notes"] == [
        {
            "organisation": {"id": plan.haarlem.id, "name": "Haarlem"},
            "note": "Maandelijks en fysiek",
        }
    ]

    summary = body["summary"]
    assert summary == {
        "organisations": 4,
        "people": 6,
        "needs": 6,
        "offers": 6,
        "formatPreferences": 4,
        "suggestions": len(body["peerHelp"]["suggestions"]),
        "declinedSuggestions": 0,
        "gaps": body["gaps"]["total"],
        "workingGroups": len(body["workingGroups"]),
        "reciprocalPairs": len(body["peerHelp"]["reciprocalPairs"]),
    }
    _assert_demand_and_supply_counts_every_tag(client, plan, body)


def _assert_demand_and_supply_counts_every_tag(
    client: TestClient, plan: Plan, body: dict[str, Any]
) -> None:
    base = f"/api/v1/communities/{plan.community.id}"
    theme_of = {topic.slug: topic.theme for topic in taxonomy().topics}
    expected_topics: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    expected_themes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for side, kind in enumerate(("needs", "offers")):
        for answer in items(client, f"{base}/{kind}"):
            for slug in answer["topics"]:
                expected_topics[slug][side] += 1
            for theme in {theme_of[slug] for slug in answer["topics"]}:
                expected_themes[theme][side] += 1

    demand = body["demandSupply"]
    assert (demand["needs"], demand["offers"]) == (6, 6)
    assert (demand["untaggedNeeds"], demand["untaggedOffers"]) == (0, 0)
    assert [theme["slug"] for theme in demand["themes"]] == [t.slug for t in taxonomy().themes]
    found_themes = {t["slug"]: [t["needs"], t["offers"]] for t in demand["themes"]}
    assert found_themes == {t.slug: expected_themes[t.slug] for t in taxonomy().themes}
    found_topics = {
        topic["slug"]: [topic["needs"], topic["offers"]]
        for theme in demand["themes"]
        for topic in theme["topics"]
    }
    assert found_topics == dict(expected_topics)
    assert found_topics["aquathermie"] == [3, 3]
    aquathermie = next(
        topic for theme in demand["themes"] for topic in theme["topics"]
        if topic["slug"] == "aquathermie"
    )  # fmt: skip
    assert aquathermie["label"] == {
        "nl": label("aquathermie", "nl"),
        "en": label("aquathermie", "en"),
    }


def test_json_matching_sections_agree_with_the_matching_endpoints(
    client: TestClient, plan: Plan
) -> None:
    body = report_json(client, plan)
    base = f"/api/v1/communities/{plan.community.id}"
    peer = body["peerHelp"]

    stored = items(client, f"{base}/suggestions")
    assert [s["suggestionId"] for s in peer["suggestions"]] == [s["id"] for s in stored]
    assert [s["score"] for s in peer["suggestions"]] == [s["score"] for s in stored]
    first = peer["allocation"]["assignments"][0]["suggestionId"]
    introduced = patch(client, f"{base}/suggestions/{first}", {"status": "introduced"})
    assert introduced.status_code == 200
    body = report_json(client, plan)
    peer = body["peerHelp"]
    allocation = client.get(f"{base}/allocation").json()
    assigned = [a["suggestionId"] for a in allocation["assignments"]]
    assert [a["suggestionId"] for a in peer["allocation"]["assignments"]] == assigned
    # Which pairs are agreed already, as the endpoint says: the organiser tells them apart.
    statuses = [(a["suggestionId"], a["status"]) for a in peer["allocation"]["assignments"]]
    assert statuses == [(a["suggestionId"], a["status"]) for a in allocation["assignments"]]
    assert (first, "introduced") in statuses
    assert sorted(s["suggestionId"] for s in peer["suggestions"] if s["allocated"]) == sorted(
        assigned
    )
    assert peer["allocation"]["needsAssigned"] == allocation["needsAssigned"]
    assert peer["allocation"]["totalScore"] == allocation["totalScore"]
    pairs = items(client, f"{base}/reciprocal-pairs")
    assert [
        (p["firstOrganisation"]["id"], p["secondOrganisation"]["id"])
        for p in peer["reciprocalPairs"]
    ] == [(p["firstOrganisationId"], p["secondOrganisationId"]) for p in pairs]
    unmet = items(client, f"{base}/unmet-offers")
    assert [u["offerId"] for u in peer["unmetOffers"]] == [u["offerId"] for u in unmet]
    needs = {n["id"]: n for n in items(client, f"{base}/needs")}
    assert [u["bestNeed"] for u in peer["unmetOffers"]] == [
        closest(needs, u["bestNeedId"], body) for u in unmet
    ]

    groups = items(client, f"{base}/working-groups")
    assert [
        (g["topics"], [o["id"] for o in g["organisations"]], [o["id"] for o in g["hosts"]])
        for g in body["workingGroups"]
    ] == [(g["topics"], g["organisationIds"], g["hostOrganisationIds"]) for g in groups]
    aquathermie_group = next(g for g in body["workingGroups"] if "aquathermie" in g["topics"])
    assert {o["name"] for o in aquathermie_group["organisations"]} == {
        "Alkmaar",
        "Haarlem",
        "Hoorn",
    }

    gaps = items(client, f"{base}/gaps")
    assert body["gaps"]["total"] == len(gaps)
    assert body["gaps"]["threshold"] == client.get(f"{base}/gaps").json()["threshold"]
    grouped = [(g["topic"], item["needId"]) for g in body["gaps"]["groups"] for item in g["needs"]]
    assert sorted(grouped) == sorted(
        (topic, gap["needId"]) for gap in gaps for topic in gap["topics"]
    )
    hydrogen = next(g for g in body["gaps"]["groups"] if g["topic"] == "waterstof")
    assert [item["needId"] for item in hydrogen["needs"]] == [plan.hoorn_hydrogen.id]
    assert hydrogen["needs"][0]["organisation"] == {"id": plan.hoorn.id, "name": "Hoorn"}
    offers = {o["id"]: o for o in items(client, f"{base}/offers")}
    best_offers = {
        item["needId"]: item["bestOffer"] for g in body["gaps"]["groups"] for item in g["needs"]
    }
    assert best_offers == {gap["needId"]: closest(offers, gap["bestOfferId"], body) for gap in gaps}


def closest(answers: dict[int, Any], answer_id: int | None, body: dict[str, Any]) -> Any:
    """The report's reference to the need or offer that came closest (None for none)."""
    if answer_id is None:
        return None
    answer = answers[answer_id]
    members = [item["organisation"] for item in body["participation"]["items"]]
    organisation = next(member for member in members if member["id"] == answer["organisationId"])
    return {
        "id": answer_id,
        "organisation": organisation,
        "text": answer["text"],
    }


def test_json_knowledge_retention(client: TestClient, plan: Plan) -> None:
    retention = report_json(client, plan)["knowledgeRetention"]
    single = [
        (o["offerId"], o["person"]["name"], o["personStatus"])
        for o in retention["singlePersonOffers"]
    ]
    # Haarlem's VvE offers back each other; the leaver's offer has Ellen as active backer, but
    # Ellen's own offer is backed only by the leaver, so it rests on her alone.
    assert single == [
        (plan.zaanstad_teo.id, "Kees Mulder", "active"),
        (plan.zaanstad_tender.id, "Kees Mulder", "active"),
        (plan.alkmaar_study.id, "Ellen Brouwer", "active"),
    ]
    assert [
        (o["organisation"]["name"], o["offers"], o["person"]["name"])
        for o in retention["singleAuthorOrganisations"]
    ] == [("Zaanstad", 2, "Kees Mulder")]
    departed = [
        (
            d["organisation"]["name"],
            d["peopleLeft"],
            d["peopleErased"],
            [(a["kind"], a["id"], a["personStatus"], a["person"]["name"]) for a in d["answers"]],
        )
        for d in retention["departed"]
    ]
    hoorn_format = next(
        a for d in retention["departed"] for a in d["answers"] if a["kind"] == "formatPreference"
    )
    assert departed == [
        (
            "Alkmaar",
            1,
            0,
            [
                ("need", plan.alkmaar_left.id, "left", "Lies Vertrokken"),
                ("offer", plan.alkmaar_left_offer.id, "left", "Lies Vertrokken"),
            ],
        ),
        (
            "Hoorn",
            0,
            1,
            [
                ("need", plan.hoorn_teo.id, "erased", None),
                ("formatPreference", hoorn_format["id"], "erased", None),
            ],
        ),
    ]
    assert hoorn_format["text"] == "knowledge-session"


# --- the other representations -----------------------------------------------------------------


def test_markdown_has_every_section_in_the_chosen_language(client: TestClient, plan: Plan) -> None:
    dutch = get(client, plan.url, "text/markdown")
    assert dutch.status_code == 200
    assert dutch.headers["content-type"] == "text/markdown; charset=utf-8; variant=GFM"
    assert dutch.headers["vary"] == "Accept"
    disposition = dutch.headers["content-disposition"]
    assert disposition in {
        f'inline; filename="cop-rapport-plan-{day}.md"' for day in today_or_yesterday()
    }
    lines = dutch.text.splitlines()
    assert lines[0] == "# Programmaplan CoP Rapport"
    assert [line for line in lines if line.startswith("## ")] == SECTIONS_NL
    assert "| Hoorn | gemeente | 1 | duurzaamheid | ⚑ | 2 | 0 | 1 |" in lines
    assert (
        f"| {label('technology-heat-sources', 'nl')} | {label('waterstof', 'nl')} | 1 | 0 |"
        in lines
    )

    english = get(client, plan.url, "text/markdown", lang="en")
    lines = english.text.splitlines()
    assert lines[0] == "# Programme plan CoP Rapport"
    assert [line for line in lines if line.startswith("## ")] == SECTIONS_EN
    assert (
        f"| {label('technology-heat-sources', 'en')} | {label('waterstof', 'en')} | 1 | 0 |"
        in lines
    )
    assert "Vraag" not in english.text
    # A gap's row names the offer that came closest, so organisers can judge a near miss.
    header = "| Topic | Organisation | Need | Priority | Closest offer | Best score |"
    gap_rows = lines[lines.index(header) + 2 :]
    gap_rows = gap_rows[: gap_rows.index("")]
    gaps = report_json(client, plan)["gaps"]["groups"]
    assert [(row.split(" | ")[2], row.split(" | ")[4]) for row in gap_rows] == [
        (item["text"], cell(item["bestOffer"])) for group in gaps for item in group["needs"]
    ]
    # Three needs are gaps; two are also tagged with a second topic their text names.
    assert (len(gap_rows), len({row.split(" | ")[2] for row in gap_rows})) == (5, 3)
    # Decimals as each language writes them: 0.32 in English, 0,32 in Dutch.
    scores = [decimal(item["bestScore"], "en") for group in gaps for item in group["needs"]]
    assert [row.split(" | ")[5].rstrip(" |") for row in gap_rows] == scores
    threshold = decimal(report_json(client, plan)["gaps"]["threshold"], "en")
    assert (
        f"Needs whose best suggestion scores below {threshold}. A need with several topics is "
        "listed under each of them; the summary counts it once."
    ) in lines
    dutch_lines = dutch.text.splitlines()
    comma = threshold.replace(".", ",")
    assert (
        f"Vragen waarvan de beste suggestie onder {comma} scoort. Een vraag met meer onderwerpen "
        "staat bij elk ervan; de samenvatting telt haar één keer."
    ) in dutch_lines
    section = dutch_lines[dutch_lines.index(SECTIONS_NL[3]) : dutch_lines.index(SECTIONS_NL[4])]
    dutch_rows = [line for line in section if line.startswith("| ")][2:]  # under the header
    assert [row.split(" | ")[5].rstrip(" |") for row in dutch_rows] == [
        score.replace(".", ",") for score in scores
    ]
    dutch_page = get(client, plan.url, "text/html").text
    assert f'<td class="num">{scores[0].replace(".", ",")}</td>' in dutch_page
    english_page = get(client, plan.url, "text/html", lang="en").text
    assert f'<td class="num">{scores[0]}</td>' in english_page


def cell(answer: dict[str, Any] | None) -> str:
    """How the Markdown plan (in English) shows the answer that came closest."""
    return "none" if answer is None else f"{answer['organisation']['name']}: {answer['text']}"


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def test_html_is_one_self_contained_page_with_svg_charts(client: TestClient, plan: Plan) -> None:
    body = report_json(client, plan)
    response = get(client, plan.url, "text/html", lang="en")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = parse_html(response.text)
    tags = [tag for tag, _ in page.tags]
    assert tags[0] == "html"
    assert dict(page.tags[0][1]) == {"lang": "en"}
    assert "script" not in tags
    assert "link" not in tags
    assert "img" not in tags
    for _, attrs in page.tags:
        for name in ("src", "href"):
            assert (attrs.get(name) or "#").startswith("#"), attrs  # nothing from elsewhere
    assert "@media print" in response.text

    charts = [attrs["id"] for tag, attrs in page.tags if tag == "svg"]
    assert charts == ["chart-demand", "chart-formats"]
    bars: dict[tuple[str | None, str | None], int] = {}
    for tag, attrs in page.tags:
        if tag == "rect" and attrs.get("class") == "bar":
            bars[(attrs["data-series"], attrs["data-category"])] = int(attrs["data-value"] or "")
    themes = body["demandSupply"]["themes"]
    for theme in themes:
        label = theme["label"]["en"]
        assert bars[("needs", label)] == theme["needs"]
        assert bars[("offers", label)] == theme["offers"]
    assert bars[("organisations", "Learning circle")] == 2
    assert bars[("organisations", "Serious game")] == 0
    assert len(bars) == 2 * len(themes) + 8
    headings = [attrs.get("id") for tag, attrs in page.tags if tag == "section"]
    assert headings == [
        "summary",
        "participation",
        "demand-supply",
        "gaps",
        "working-groups",
        "peer-help",
        "format-preferences",
        "knowledge-retention",
    ]


def test_csv_has_one_row_per_suggestion(client: TestClient, plan: Plan) -> None:
    suggestions = report_json(client, plan)["peerHelp"]["suggestions"]
    response = get(client, plan.url, "text/csv", lang="en")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    assert response.headers["content-disposition"] in {
        f'attachment; filename="cop-rapport-suggestions-{day}.csv"' for day in today_or_yesterday()
    }
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "Suggestion",
        "Need id",
        "Asking organisation",
        "Need",
        "Offer id",
        "Offering organisation",
        "Offer",
        "Topics",
        "Score",
        "Reasons",
        "Status",
        "Allocated",
    ]
    assert len(rows) - 1 == len(suggestions)
    assert [
        (int(row[0]), int(row[1]), int(row[4]), row[8], row[11] == "yes") for row in rows[1:]
    ] == [
        (s["suggestionId"], s["needId"], s["offerId"], f"{s['score']:.4f}", s["allocated"])
        for s in suggestions
    ]
    assert {row[10] for row in rows[1:]} == {"proposed"}
    dutch = list(csv.reader(io.StringIO(get(client, plan.url, "text/csv").text)))
    assert dutch[0][:4] == ["Suggestie", "Vraag-id", "Vragende organisatie", "Vraag"]
    # The reasons in the report's language, as plain text (the API's details are English,
    # with the shared words marked *so*).
    first = suggestions[0]
    assert rows[1][9] == reasons_text(SuggestionRow.model_validate(first), "en")
    assert dutch[1][9] == reasons_text(SuggestionRow.model_validate(first), "nl")
    assert "*" not in response.text
    assert dutch[1][9].startswith("onderwerp"), dutch[1][9]


@pytest.mark.parametrize(
    ("factor", "detail", "nl", "en"),
    [
        (
            "topic",
            "topic Aquathermie (TEO, TEA, TED, RWZI)",
            "onderwerp Aquathermie (TEO, TEA, TED)",
            "topic Aquathermal energy (TEO, TEA, TED)",
        ),
        ("text", "both mention *vve*, *wup*", "beide noemen vve, wup", "both mention vve, wup"),
        ("text", "similar wording", "vergelijkbare bewoording", "similar wording"),
        (
            "text",
            "related terms of a shared topic",
            "verwante termen van een gedeeld onderwerp",
            "related terms of a shared topic",
        ),
        ("semantic", "close in meaning", "verwant in betekenis", "close in meaning"),
        ("region", "both in region IJmond", "beide in regio IJmond", "both in region IJmond"),
        (
            "reciprocity",
            "organisation 3 can help organisation 7 in return",
            "Haarlem kan Zaanstad ook helpen",
            "Haarlem can help Zaanstad in return",
        ),
    ],
)
def test_each_reason_in_the_reports_language(factor: str, detail: str, nl: str, en: str) -> None:
    row = SuggestionRow.model_validate(
        {
            "suggestionId": 1,
            "needId": 1,
            "needOrganisation": {"id": 3, "name": "Haarlem"},
            "needText": "",
            "offerId": 1,
            "offerOrganisation": {"id": 7, "name": "Zaanstad"},
            "offerText": "",
            "topics": ["aquathermie"],
            "score": 0.5,
            "reasons": [{"factor": factor, "contribution": 0.5, "detail": detail}],
            "status": "proposed",
            "allocated": False,
        }
    )
    assert (reasons_text(row, "nl"), reasons_text(row, "en")) == (nl, en)


def sheet_table(rows: list[tuple[Any, ...]], header: list[str]) -> list[tuple[Any, ...]]:
    """The rows under ``header`` in a sheet, up to the first empty row."""
    start = next(i for i, row in enumerate(rows) if list(row[: len(header)]) == header)
    found = []
    for row in rows[start + 1 :]:
        if row[0] is None:
            break
        found.append(row[: len(header)])
    return found


def test_xlsx_has_a_sheet_per_section_with_the_json_numbers(client: TestClient, plan: Plan) -> None:
    body = report_json(client, plan)
    response = get(client, plan.url, XLSX)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] in {
        f'attachment; filename="cop-rapport-plan-{day}.xlsx"' for day in today_or_yesterday()
    }
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    assert workbook.sheetnames == SHEETS_NL

    demand = list(workbook["2 Vraag en aanbod"].iter_rows(values_only=True))
    themes = sheet_table(demand, ["Thema", "Vragen", "Aanbod"])
    assert themes == [
        (t["label"]["nl"], t["needs"], t["offers"]) for t in body["demandSupply"]["themes"]
    ]
    help_rows = list(workbook["5 Collegiale hulp"].iter_rows(values_only=True))
    suggestions = sheet_table(
        help_rows,
        [
            "Vragende organisatie",
            "Vraag",
            "Aanbiedende organisatie",
            "Aanbod",
            "Score",
            "Status",
            "Redenen",
        ],
    )
    assert len(suggestions) == len(body["peerHelp"]["suggestions"])  # all of them, not 3 per need
    assert [row[4] for row in suggestions] == [s["score"] for s in body["peerHelp"]["suggestions"]]
    formats = sheet_table(
        list(workbook["6 Werkvormen"].iter_rows(values_only=True)),
        ["Werkvorm", "Organisaties"],
    )
    assert formats[:2] == [("Leerkring", 2), ("Kennissessie", 1)]
    participation = sheet_table(
        list(workbook["1 Deelname"].iter_rows(values_only=True)),
        ["Organisatie", "Soort", "Mensen"],
    )
    assert participation == [
        ("Alkmaar", "gemeente", 2),
        ("Haarlem", "gemeente", 2),
        ("Hoorn", "gemeente", 1),
        ("Zaanstad", "gemeente", 1),
    ]


def test_texts_that_look_like_formulas_stay_text(
    client: TestClient, session: Session, bare: Bare
) -> None:
    need_text = '=HYPERLINK("http://example.org") aquathermie TEO voor de wijk'
    offer_text = "@TEO: ervaring met aquathermie uit de Zaan"
    need = factories.need(session, bare.community, bare.haarlem, need_text, topics=["aquathermie"])
    factories.offer(session, bare.community, bare.zaanstad, offer_text, topics=["aquathermie"])
    rows = list(csv.reader(io.StringIO(get(client, bare.url, "text/csv").text)))
    assert [(int(row[1]), row[3], row[6]) for row in rows[1:]] == [
        (need.id, f"'{need_text}", f"'{offer_text}")
    ]
    workbook = load_workbook(io.BytesIO(get(client, bare.url, XLSX).content))
    found = [
        cell
        for row in workbook["5 Collegiale hulp"].iter_rows()
        for cell in row
        if cell.value in (need_text, offer_text)
    ]
    assert len(found) == 4  # allocation and suggestions, need and offer
    assert {cell.data_type for cell in found} == {"s"}


def test_declined_suggestions_are_counted_apart(client: TestClient, plan: Plan) -> None:
    """The summary counted a declined suggestion among the suggestions, and the note said
    "53 of 55" while the table hid the declined one."""
    before = report_json(client, plan)
    first = before["peerHelp"]["suggestions"][0]
    url = f"/api/v1/communities/{plan.community.id}/suggestions/{first['suggestionId']}"
    assert patch(client, url, {"status": "declined"}).status_code == 200
    body = report_json(client, plan)
    total = before["summary"]["suggestions"]
    assert (body["summary"]["suggestions"], body["summary"]["declinedSuggestions"]) == (
        total - 1,
        1,
    )
    markdown = get(client, plan.url, "text/markdown").text
    assert "| Afgewezen suggesties | 1 |" in markdown
    assert f" van {total - 1} suggesties)" in markdown


def test_an_empty_community_still_has_a_plan(client: TestClient, bare: Bare) -> None:
    body = report_json(client, bare)
    assert body["summary"] == {
        "organisations": 2,
        "people": 0,
        "needs": 0,
        "offers": 0,
        "formatPreferences": 0,
        "suggestions": 0,
        "declinedSuggestions": 0,
        "gaps": 0,
        "workingGroups": 0,
        "reciprocalPairs": 0,
    }
    markdown = get(client, bare.url, "text/markdown").text
    assert [line for line in markdown.splitlines() if line.startswith("## ")] == SECTIONS_NL
    assert markdown.count("Geen.") == 10  # every table but the themes and formats
    page = parse_html(get(client, bare.url, "text/html").text)
    assert [attrs["id"] for tag, attrs in page.tags if tag == "svg"] == [
        "chart-demand",
        "chart-formats",
    ]
    assert {
        attrs["data-value"]
        for tag, attrs in page.tags
        if tag == "rect" and attrs.get("class") == "bar"
    } == {"0"}
    rows = list(csv.reader(io.StringIO(get(client, bare.url, "text/csv").text)))
    assert len(rows) == 1
    workbook = load_workbook(io.BytesIO(get(client, bare.url, XLSX).content))
    assert workbook.sheetnames == SHEETS_NL


# --- negotiation and errors --------------------------------------------------------------------

NEGOTIATION = [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("application/*", "application/json"),
    ("text/*", "text/markdown; charset=utf-8; variant=GFM"),
    (
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "text/html; charset=utf-8",
    ),
    ("text/csv;q=0.5, text/markdown", "text/markdown; charset=utf-8; variant=GFM"),
    ("TEXT/CSV", "text/csv; charset=utf-8; header=present"),
    ("text/html;q=0, */*;q=0.1", "application/json"),
    (f"{XLSX};q=1, application/json;q=0.9", XLSX),
    ("image/png", None),
    ("application/xml", None),
    ("text/html;q=0", None),
    ("application/pdf, text/plain", None),
    ("*/*;q=0", None),
    # A range with a parameter the representation lacks does not match it, in either order;
    # one naming a parameter it has is more specific than the bare type.
    ("text/html;level=1;q=0.2, text/html;q=0.9, text/markdown;q=0.5", "text/html; charset=utf-8"),
    ("text/html;q=0.9, text/html;level=1;q=0.2, text/markdown;q=0.5", "text/html; charset=utf-8"),
    ("text/html;level=1, text/markdown;q=0.5", "text/markdown; charset=utf-8; variant=GFM"),
    (
        'text/markdown;q=0.4, text/markdown;variant="gfm";q=0.9, text/html;q=0.5',
        "text/markdown; charset=utf-8; variant=GFM",
    ),
    ("text/markdown;variant=CommonMark", None),
    ("application/json; charset=utf-8", "application/json"),
    ('application/json;charset="UTF-8", text/html;q=0.5', "application/json"),
    ("text/csv; charset=UTF-8", "text/csv; charset=utf-8; header=present"),
    ("application/json; charset=iso-8859-1", None),
]


def test_accept_picks_the_representation_or_406(client: TestClient, bare: Bare) -> None:
    for accept, media_type in NEGOTIATION:
        response = get(client, bare.url, accept)
        if media_type is None:
            body = assert_problem(response, 406, "header.Accept")
            assert "text/markdown" in body["detail"]
        else:
            assert response.status_code == 200, (accept, response.text)
            assert response.headers["content-type"] == media_type, accept
        assert response.headers["vary"] == "Accept", accept  # caches keep them apart


def test_invalid_language_and_unknown_community(client: TestClient, bare: Bare) -> None:
    assert_problem(get(client, bare.url, "text/markdown", lang="fr"), 400, "query.lang")
    assert_problem(get(client, "/api/v1/communities/999999/report"), 404)
    assert_problem(get(client, "/api/v1/communities/0/report"), 400, "path.communityId")


# --- one organisation's page -------------------------------------------------------------------


def org_url(organisation: Organisation) -> str:
    return f"/api/v1/organisations/{organisation.id}/report"


def test_organisation_page_lists_helpers_and_askers(client: TestClient, plan: Plan) -> None:
    base = f"/api/v1/communities/{plan.community.id}"
    response = get(client, org_url(plan.haarlem), communityId=plan.community.id)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    page = response.json()
    assert page["organisation"] == {"id": plan.haarlem.id, "name": "Haarlem"}
    assert [p["name"] for p in page["people"]] == ["Joost Bakker", "Marieke Verhoeven"]
    assert [n["needId"] for n in page["needs"]] == [plan.haarlem_teo.id, plan.haarlem_vve.id]
    for need in page["needs"]:
        assert [s["suggestionId"] for s in need["helpers"]] == [
            s["id"] for s in items(client, f"{base}/suggestions", needId=need["needId"])
        ]
        assert need["gap"] == (
            need["needId"] in {g["needId"] for g in items(client, f"{base}/gaps")}
        )
    teo = page["needs"][0]
    assert teo["priority"] == "high"
    assert {s["offerOrganisation"]["name"] for s in teo["helpers"]} == {"Alkmaar", "Zaanstad"}
    assert [o["offerId"] for o in page["offers"]] == [
        plan.haarlem_vve_offer.id,
        plan.haarlem_desk.id,
    ]
    unmet = {u["offerId"] for u in items(client, f"{base}/unmet-offers")}
    for offer in page["offers"]:
        assert [s["suggestionId"] for s in offer["askedBy"]] == [
            s["id"] for s in items(client, f"{base}/suggestions", offerId=offer["offerId"])
        ]
        assert offer["unmet"] == (offer["offerId"] in unmet)
    assert page["formatPreferences"] == [
        {"format": "learning-circle", "note": "Maandelijks en fysiek"}
    ]
    assert [g["topics"] for g in page["workingGroups"]] == [
        g["topics"] for g in report_json(client, plan)["workingGroups"]
        if plan.haarlem.id in {o["id"] for o in g["organisations"] + g["hosts"]}
    ]  # fmt: skip

    markdown = get(client, org_url(plan.haarlem), "text/markdown", communityId=plan.community.id)
    assert markdown.headers["content-disposition"] in {
        f'inline; filename="cop-rapport-haarlem-{day}.md"' for day in today_or_yesterday()
    }
    assert [line for line in markdown.text.splitlines() if line.startswith("## ")] == [
        "## Deelnemers",
        "## Onze vragen en wie kan helpen",
        "## Ons aanbod en wie erom vroeg",
        "## Onze voorkeuren voor werkvormen",
        "## Werkgroepen waarin wij zitten",
        "## Organisaties waarmee we elkaar kunnen helpen",
    ]
    english = get(
        client, org_url(plan.haarlem), "text/html", communityId=plan.community.id, lang="en"
    )
    assert english.headers["content-type"] == "text/html; charset=utf-8"
    html = parse_html(english.text)
    assert "Overview for Haarlem" in "".join(html.text)
    assert "script" not in [tag for tag, _ in html.tags]


def test_organisation_page_leaves_declined_pairs_out(client: TestClient, plan: Plan) -> None:
    base = f"/api/v1/communities/{plan.community.id}"
    helper = items(client, f"{base}/suggestions", needId=plan.haarlem_teo.id)[0]
    declined = patch(client, f"{base}/suggestions/{helper['id']}", json={"status": "declined"})
    assert declined.status_code == 200, declined.text
    page = get(client, org_url(plan.haarlem), communityId=plan.community.id).json()
    teo = next(need for need in page["needs"] if need["needId"] == plan.haarlem_teo.id)
    assert helper["id"] not in [s["suggestionId"] for s in teo["helpers"]]
    assert [s["suggestionId"] for s in teo["helpers"]] == [
        s["id"]
        for s in items(client, f"{base}/suggestions", needId=plan.haarlem_teo.id)
        if s["status"] != "declined"
    ]
    # Nor is it on the helper's page under whose needs its offer answers.
    helper_page = get(
        client,
        org_url(
            plan.zaanstad if helper["offerOrganisationId"] == plan.zaanstad.id else plan.alkmaar
        ),
        communityId=plan.community.id,
    ).json()
    asked = [s["suggestionId"] for o in helper_page["offers"] for s in o["askedBy"]]
    assert helper["id"] not in asked


def test_an_offer_without_a_known_author_does_not_hide_a_single_author(
    client: TestClient, session: Session, plan: Plan
) -> None:
    factories.offer(session, plan.community, plan.zaanstad, "Een wijkwarmtenet in Assendelft")
    retention = report_json(client, plan)["knowledgeRetention"]
    assert [
        (o["organisation"]["name"], o["offers"], o["person"]["name"])
        for o in retention["singleAuthorOrganisations"]
    ] == [("Zaanstad", 2, "Kees Mulder")]


def test_organisation_page_errors(client: TestClient, session: Session, bare: Bare) -> None:
    outsider = factories.municipality(session, "Texel", "GM0448")
    url = org_url(bare.haarlem)
    community = bare.community.id
    assert get(client, url, communityId=community).json()["needs"] == []
    assert_problem(get(client, url), 400, "query.communityId")
    assert_problem(get(client, url, communityId="x"), 400, "query.communityId")
    assert_problem(get(client, url, "text/csv", communityId=community), 406, "header.Accept")
    assert_problem(get(client, "/api/v1/organisations/999999/report", communityId=community), 404)
    assert_problem(get(client, url, communityId=999999), 404, "query.communityId")
    body = assert_problem(
        get(client, org_url(outsider), communityId=community), 404, "query.communityId"
    )
    assert body["detail"] == f"organisation {outsider.id} is not a member of community {community}"


# --- who may read ------------------------------------------------------------------------------


def test_the_plan_is_for_organisers_and_a_page_for_its_own_people(
    client: TestClient, session: Session, plan: Plan
) -> None:
    tokens.add_organiser(session, plan.community, plan.kees.id)
    headers = {
        name: {"Authorization": f"Bearer {tokens.issue_token(session, p, lifetime_days=1).token}"}
        for name, p in (("organiser", plan.kees), ("haarlem", plan.joost), ("hoorn", plan.hanna))
    }
    haarlem_page = f"{org_url(plan.haarlem)}?communityId={plan.community.id}"
    found = {
        name: (
            client.get(plan.url, headers=h).status_code,
            client.get(haarlem_page, headers=h).status_code,
        )
        for name, h in headers.items()
    }
    assert found == {"organiser": (200, 200), "haarlem": (403, 200), "hoorn": (403, 403)}
    # Who may not read a page learns that before which formats it comes in (it was a 406).
    csv = {**headers["hoorn"], "Accept": "text/csv"}
    assert_problem(client.get(haarlem_page, headers=csv), 403)
    assert_problem(client.get(plan.url, headers=csv), 403)
    anonymous = {"Authorization": ""}
    assert_problem(client.get(plan.url, headers=anonymous), 401)
    assert_problem(client.get(haarlem_page, headers=anonymous), 401)
    refused = client.get(haarlem_page, headers=headers["hoorn"])
    assert "Joost" not in refused.text


@pytest.mark.parametrize(
    "value",
    [
        "2023. Start van de CoP",
        "1) eerst de TVW",
        "- eerste punt",
        "+ tweede punt",
        "---",
        "===",
        "R&amp;D en R&D",
        "*nadruk* en _ook_ [link](x) `code` <b>",
        "a | b # c ~ d",
        "gewoon  een\nzin",
    ],
)
def test_markdown_text_reads_as_it_was_written(value: str) -> None:
    rendered = MarkdownIt("commonmark").render(markdown_paragraph(value))
    assert rendered.startswith("<p>"), rendered  # one paragraph: no list, rule or heading
    assert html_module.unescape(rendered.removeprefix("<p>").removesuffix("</p>\n")) == " ".join(
        value.split()
    )


def test_a_text_longer_than_an_excel_cell_is_cut_to_fit() -> None:
    assert tables._fitting("x" * 40_000) == "x" * (tables.XLSX_CELL_MAX - 1) + "…"
    assert tables._fitting("kort") == "kort"


def test_the_workbook_holds_each_block_as_written_with_its_style() -> None:
    document = Document(
        lang="nl",
        title="Programmaplan",
        subtitle="",
        generated="2026-12-06",
        sections=(
            Section(
                key="gaps",
                heading="Witte vlekken",
                sheet="7 Witte vlekken",
                blocks=(
                    Paragraph("Een toelichting.", note=True),
                    Subheading("Warmtenetten"),
                    Table(
                        key="t",
                        headers=("Vraag", "Score", "Aantal"),
                        rows=(
                            ("=SOM(A1)\x07 kort", 0.4567, 3),
                            ("lang " * 12, "", 0),
                            ("x" * 40_000, 1.0, None),
                            ("oneindig", float("inf"), float("nan")),
                        ),
                    ),
                ),
            ),
        ),
    )
    workbook = load_workbook(io.BytesIO(tables.render_xlsx(document)))
    assert workbook.sheetnames == ["7 Witte vlekken"]
    assert workbook.properties.title == "Programmaplan"
    assert workbook.properties.creator == "copmatch"
    sheet = workbook["7 Witte vlekken"]
    assert [tuple(row) for row in sheet.iter_rows(values_only=True)] == [
        ("Witte vlekken", None, None),
        (None, None, None),
        ("Een toelichting.", None, None),
        (None, None, None),
        ("Warmtenetten", None, None),
        ("Vraag", "Score", "Aantal"),
        ("=SOM(A1) kort", 0.4567, 3),
        ("lang " * 12, None, 0),
        ("x" * (tables.XLSX_CELL_MAX - 1) + "…", 1, None),
        ("oneindig", None, None),
    ]
    assert (sheet["A1"].font.b, sheet["A1"].font.sz) == (True, 14)
    assert sheet["A3"].font.i is True
    assert (sheet["A5"].font.b, sheet["A5"].font.sz) == (True, 12)
    header = [sheet.cell(row=6, column=column) for column in (1, 2, 3)]
    assert {(cell.font.b, cell.fill.fgColor.rgb) for cell in header} == {(True, "FFF0F4F8")}
    assert sheet["A7"].data_type == "s"  # never a formula
    assert (sheet["B7"].number_format, sheet["C7"].number_format) == ("0.0000", "General")
    assert (sheet["A7"].alignment.wrap_text, sheet["A8"].alignment.wrap_text) == (None, True)
    assert sheet["A8"].alignment.vertical == "top"
    # Widths as Excel stores them (characters plus padding); B and C share one <col> range.
    widths = {(d.min, d.max, round(d.width, 2)) for d in sheet.column_dimensions.values()}
    assert widths == {(1, 1, 60.71), (2, 3, 8.71)}


def _page_from_the_plan(
    session: Session, community: Community, organisation: Organisation, now: dt.datetime
) -> OrganisationReport:
    """A member's page cut out of the whole programme plan: what the page must equal."""
    plan = community_report(session, community, now=now)
    gap_ids = {item.need_id for group in plan.gaps.groups for item in group.needs}
    unmet_ids = {item.offer_id for item in plan.peer_help.unmet_offers}
    participant = next(
        item for item in plan.participation.items if item.organisation.id == organisation.id
    )
    own = organisation.id
    offered = [s for s in plan.peer_help.suggestions if s.status != "declined"]
    preferences = session.scalars(
        select(FormatPreference)
        .where(
            FormatPreference.community_id == community.id,
            FormatPreference.organisation_id == own,
        )
        .order_by(FormatPreference.id)
    )
    return OrganisationReport(
        organisation=participant.organisation,
        kind=participant.kind,
        community=plan.community,
        generated_at=plan.generated_at,
        people=participant.people,
        needs=[
            OwnNeed(
                need_id=need.id,
                text=need.text,
                topics=need.topics,
                priority=need.priority,
                gap=need.id in gap_ids,
                helpers=[s for s in offered if s.need_id == need.id],
            )
            for need in session.scalars(
                select(Need).where(Need.community_id == community.id).order_by(Need.id)
            )
            if need.organisation_id == own
        ],
        offers=[
            OwnOffer(
                offer_id=offer.id,
                text=offer.text,
                topics=offer.topics,
                capacity=offer.capacity,
                unmet=offer.id in unmet_ids,
                asked_by=[s for s in offered if s.offer_id == offer.id],
            )
            for offer in session.scalars(
                select(Offer).where(Offer.community_id == community.id).order_by(Offer.id)
            )
            if offer.organisation_id == own
        ],
        format_preferences=[OwnFormatPreference(format=p.format, note=p.note) for p in preferences],
        working_groups=[
            group
            for group in plan.working_groups
            if own in {o.id for o in group.organisations} | {o.id for o in group.hosts}
        ],
        reciprocal_partners=[
            pair
            for pair in plan.peer_help.reciprocal_pairs
            if own in (pair.first_organisation.id, pair.second_organisation.id)
        ],
    )


@pytest.mark.parametrize("community_of", ["plan", "demo"])
def test_a_members_page_is_the_plan_seen_from_that_member(
    session: Session, community_of: str
) -> None:
    if community_of == "plan":
        community = Plan(session).community
    else:
        load_municipalities(session)
        community = session.get_one(Community, load_demo(session).community_id)
    # A declined pair, to be left out of both sides' pages.
    declined = session.scalars(
        select(Suggestion)
        .where(Suggestion.community_id == community.id)
        .order_by(Suggestion.score.desc(), Suggestion.id)
    ).first()
    assert declined is not None
    matching.update_suggestion(session, declined, status=SuggestionStatus.DECLINED, feedback=None)
    members = session.scalars(
        select(Organisation)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.community_id == community.id)
        .order_by(Organisation.id)
    ).all()
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    pages = [organisation_report(session, community, member, now=now) for member in members]
    assert pages == [_page_from_the_plan(session, community, m, now) for m in members]
    # The rows themselves, checked apart from the report's own reading of them.
    stored = {
        row.id: row
        for row in session.scalars(
            select(Suggestion).where(Suggestion.community_id == community.id)
        )
    }
    result, view = matching.allocation(session, community)
    allocated = {view.ids[a.need_id, a.offer_id] for a in result.assignments}
    rows = [
        *(row for page in pages for need in page.needs for row in need.helpers),
        *(row for page in pages for offer in page.offers for row in offer.asked_by),
    ]
    assert [(row.reasons, row.topics, row.status, row.score, row.allocated) for row in rows] == [
        (
            [ReasonRead.model_validate(reason) for reason in stored[row.suggestion_id].reasons],
            list(stored[row.suggestion_id].matched_topics),
            stored[row.suggestion_id].status,
            stored[row.suggestion_id].score,
            row.suggestion_id in allocated,
        )
        for row in rows
    ]
    assert any(row.allocated for row in rows)
    # The pages say something: helpers, askers and groups appear on them.
    assert sum(len(need.helpers) for page in pages for need in page.needs) > 0
    assert sum(len(offer.asked_by) for page in pages for offer in page.offers) > 0
    assert sum(len(page.working_groups) for page in pages) > 0
    assert all(
        declined.id not in {s.suggestion_id for need in page.needs for s in need.helpers}
        for page in pages
    )
    # A page numbers its groups as the plan does: "group 3" is one group to everybody.
    numbers = [[row[0] for row in working_group_rows(page.working_groups, "nl")] for page in pages]
    plan_numbers = {
        tuple(g.topics): g.number for g in community_report(session, community).working_groups
    }
    assert numbers == [
        [plan_numbers[tuple(g.topics)] for g in page.working_groups] for page in pages
    ]
    if community_of == "demo":  # where a member's first group is not the plan's first
        assert any(page_numbers[:1] not in ([], [1]) for page_numbers in numbers)


def test_reports_are_made_with_the_collector_paused_and_leave_it_running(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tens of thousands of rows: the cyclic collector is off while they are made (it took 60%
    of a Netherlands-scale plan's time) and on again afterwards, also after an error."""
    plan = Plan(session)
    running: list[bool] = []
    real = sections.active_people

    def noting(data: Any, organisation_id: int) -> Any:
        running.append(gc.isenabled())
        return real(data, organisation_id)

    monkeypatch.setattr(sections, "active_people", noting)
    community_report(session, plan.community)
    organisation_report(session, plan.community, plan.haarlem)
    assert (set(running), gc.isenabled()) == ({False}, True)

    def failing(data: Any, organisation_id: int) -> Any:
        raise RuntimeError("a section failed")

    monkeypatch.setattr(sections, "active_people", failing)
    with pytest.raises(RuntimeError):
        organisation_report(session, plan.community, plan.haarlem)
    assert gc.isenabled()


def test_members_and_people_are_in_name_order_whatever_the_databases_collation(
    client: TestClient, session: Session
) -> None:
    """Case and accents aside (SQLite's binary order put "de Rijp" after "Zaanstad" and "Édam"
    last, PostgreSQL's follows the cluster's locale), the same on every database."""
    names = ["Zaanstad", "de Rijp", "Édam-Volendam", "Den Helder", "Alkmaar"]
    members = [factories.agency(session, name) for name in names]
    community = factories.community(session, "CoP volgorde", *members)
    for name in ("Bert", "anna", "Carla"):
        factories.person(session, members[0], name=name)

    response = get(client, f"/api/v1/communities/{community.id}/report")
    assert response.status_code == 200, response.text
    items = response.json()["participation"]["items"]
    assert [item["organisation"]["name"] for item in items] == [
        "Alkmaar",
        "de Rijp",
        "Den Helder",
        "Édam-Volendam",
        "Zaanstad",
    ]
    assert [person["name"] for person in items[-1]["people"]] == ["anna", "Bert", "Carla"]
