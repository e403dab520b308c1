from pathlib import Path

import pytest
import yaml

from app.matching import Taxonomy, TaxonomyError, Topic
from app.matching.tagging import Tagger

from .factories import TAXONOMY_MAPPING, taxonomy

TOPICS_FILE = Path(__file__).resolve().parents[2] / "app" / "data" / "topics.yaml"


def test_from_mapping_reads_topics_with_their_theme() -> None:
    parsed = taxonomy()
    assert len(parsed) == 8
    assert parsed["transitievisie-warmte"] == Topic(
        slug="transitievisie-warmte",
        theme="governance-organisation",
        label_nl="Transitievisie Warmte",
        label_en="Heat transition vision",
        abbreviations=("TVW",),
        synonyms=("warmtevisie", "heat transition vision"),
    )
    assert parsed["isolatie"].abbreviations == ()
    assert parsed.get("unknown") is None
    assert "vve" in parsed
    assert [topic.slug for topic in parsed][:2] == ["transitievisie-warmte", "wijkuitvoeringsplan"]


def test_display_shows_abbreviations() -> None:
    parsed = taxonomy()
    assert parsed["transitievisie-warmte"].display == "Transitievisie Warmte (TVW)"
    assert parsed["aquathermie"].display == "Aquathermie (TEO, TEA)"
    assert parsed["isolatie"].display == "Isolatie"


def _topic(label: str, *abbreviations: str) -> Topic:
    return Topic("t", "theme", label, "label", abbreviations)


@pytest.mark.parametrize(
    ("topic", "shown"),
    [
        (_topic("Transitievisie Warmte", "TVW", "TVW's"), "Transitievisie Warmte (TVW)"),
        (_topic("Wijkuitvoeringsplan", "WUP", "WUP's", "WUPs"), "Wijkuitvoeringsplan (WUP)"),
        (_topic("Wcw", "Wcw", "WCW", "ACM"), "Wcw (Wcw, ACM)"),
        (_topic("Opslag", "WKO", "ATES", "BTES"), "Opslag (WKO, ATES, BTES)"),
        (_topic("Aquathermie (TEO, TEA)", "TEO", "TEA", "RWZI"), "Aquathermie (TEO, TEA, RWZI)"),
        (_topic("VvE-aanpak (VvE's)", "VvE", "VVE", "VvEs", "MJOP"), "VvE-aanpak (VvE's, MJOP)"),
        (_topic("RES (RES)", "RES", "RES'en", "RSW"), "RES (RES, RSW)"),
        (_topic("Subsidies (o.a. ISDE)", "ISDE", "WIS"), "Subsidies (o.a. ISDE, WIS)"),
        (_topic("Riolering (koppelkansen)", "GRP"), "Riolering (koppelkansen) (GRP)"),
        (_topic("Opslag (WKO)", "WKO", "WKO's"), "Opslag (WKO)"),
        (_topic("Geothermie (aardwarmte)"), "Geothermie (aardwarmte)"),
        (_topic("Isolatie"), "Isolatie"),
    ],
)
def test_display_shows_each_abbreviation_once(topic: Topic, shown: str) -> None:
    assert topic.display == shown


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({}, "themes"),
        ({"themes": [{"topics": []}]}, "slug"),
        ({"themes": [{"slug": "t", "topics": [{"slug": "x"}]}]}, "label"),
        (
            {
                "themes": [
                    {
                        "slug": "t",
                        "topics": [
                            {"slug": "x", "label": {"nl": "X", "en": "X"}},
                            {"slug": "x", "label": {"nl": "X", "en": "X"}},
                        ],
                    }
                ]
            },
            "duplicate",
        ),
    ],
)
def test_from_mapping_rejects_malformed_data(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        Taxonomy.from_mapping(mapping)


def test_mapping_fixture_has_documented_shape() -> None:
    assert TAXONOMY_MAPPING["version"] == 1


def test_the_shipped_taxonomy_loads() -> None:
    parsed = Taxonomy.from_mapping(yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8")))
    themes = {topic.theme for topic in parsed}
    assert themes == {
        "governance-organisation",
        "technology-heat-sources",
        "data-driven-planning",
        "participation-communication",
        "legal",
        "finance-costs",
        "linking-agendas",
    }
    assert "transitievisie-warmte" in parsed
    assert parsed["transitievisie-warmte"].abbreviations[0] == "TVW"


@pytest.mark.parametrize(
    ("text", "not_tagged"),
    [
        ("Ons warmteplan voor de komende jaren", "warmtepompen"),
        ("De waterstand in de polder", "waterstof"),
        ("We ontwikkelen een warmtewijk", "wet-collectieve-warmtevoorziening"),
    ],
)
def test_the_shipped_taxonomy_tags_no_compound_as_a_cognate(text: str, not_tagged: str) -> None:
    """A shared prefix that ended inside the second member of two compounds made them cognates:
    "warmtep|lan" tagged heat pumps."""
    parsed = Taxonomy.from_mapping(yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8")))
    assert not_tagged in parsed
    assert not_tagged not in {tag.slug for tag in Tagger(parsed).tag(text)}
