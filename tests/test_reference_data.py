"""Package data: the Noord-Holland municipalities, the taxonomy and the demo community."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Community, FormatPreference, Membership, Need, Offer, Organisation, Person
from app.services import topics
from app.services.demo import demo_data, load_demo
from app.services.organisations import load_municipalities, municipality_facts

REFERENCE = (
    Path(__file__).resolve().parent.parent
    / "app"
    / "data"
    / "municipalities-noord-holland-2023.csv"
)
THEMES = {
    "governance-organisation",
    "technology-heat-sources",
    "data-driven-planning",
    "participation-communication",
    "legal",
    "finance-costs",
    "linking-agendas",
}


def test_municipality_facts_match_the_cbs_list() -> None:
    with REFERENCE.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    facts = municipality_facts()
    assert len(facts) == 44
    assert [(f.cbs_code, f.name) for f in facts] == [(r["gm_code"], r["cbs_name"]) for r in rows]


def test_load_municipalities_is_idempotent(session: Session) -> None:
    first = load_municipalities(session)
    assert (first.created, first.updated, first.unchanged) == (44, 0, 0)
    haarlem = session.scalars(select(Organisation).where(Organisation.cbs_code == "GM0392")).one()
    assert (haarlem.name, haarlem.kind, haarlem.province, haarlem.region) == (
        "Haarlem",
        "municipality",
        "Noord-Holland",
        "Kennemerland",
    )
    haarlem.region = "elders"
    second = load_municipalities(session)
    assert (second.created, second.updated, second.unchanged) == (0, 1, 43)
    assert session.scalar(select(func.count()).select_from(Organisation)) == 44


def test_taxonomy_covers_the_seven_themes_with_known_abbreviations() -> None:
    data = topics.taxonomy()
    assert {theme.slug for theme in data.themes} == THEMES
    assert 30 <= len(data.topics) <= 40
    assert {t.theme for t in data.topics} == THEMES
    abbreviations = {a for t in data.topics for a in t.abbreviations}
    assert {"TVW", "WUP", "TEO", "TEA", "Wcw", "Wgiw", "VvE", "SpUk", "WIS"} <= abbreviations
    for topic in data.topics:
        texts = [topic.label["nl"], topic.label["en"], *topic.description.values()]
        assert [text for text in texts if not text.strip()] == [], topic.slug


def test_demo_loads_through_the_services_once(session: Session) -> None:
    load_municipalities(session)
    data = demo_data()
    members = data["members"]
    result = load_demo(session)
    assert result.created
    expected = {
        "members": len(members),
        "people": sum(len(m.get("people", [])) for m in members),
        "needs": sum(len(m.get("needs", [])) for m in members),
        "offers": sum(len(m.get("offers", [])) for m in members),
        "format_preferences": sum(len(m.get("formatPreferences", [])) for m in members),
    }
    counted = {
        "members": session.scalar(select(func.count()).select_from(Membership)),
        "people": session.scalar(select(func.count()).select_from(Person)),
        "needs": session.scalar(select(func.count()).select_from(Need)),
        "offers": session.scalar(select(func.count()).select_from(Offer)),
        "format_preferences": session.scalar(select(func.count()).select_from(FormatPreference)),
    }
    assert counted == expected
    assert (
        result.members,
        result.people,
        result.needs,
        result.offers,
        result.format_preferences,
    ) == tuple(expected.values())
    community = session.get_one(Community, result.community_id)
    assert community.name == "CoP Warmtetransitie Noord-Holland"
    # Several departments per organisation, as at the kick-off; the counts agree with the file.
    departments = Counter(
        organisation_id
        for organisation_id, _ in session.execute(
            select(Person.organisation_id, Person.department).distinct()
        )
    )
    wanted = [len({p["department"] for p in m["people"]}) for m in members if m.get("people")]
    assert sorted(departments.values()) == sorted(wanted)
    single_department_municipalities = [
        m["organisation"]
        for m in members
        if str(m["organisation"]).startswith("GM")
        and len({p["department"] for p in m["people"]}) == 1
    ]
    assert single_department_municipalities == ["GM0397"]  # Heemstede: flagged in the report

    again = load_demo(session)
    assert (again.created, again.community_id) == (False, result.community_id)
    assert session.scalar(select(func.count()).select_from(Need)) == expected["needs"]
