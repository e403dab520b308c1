"""Plain factory functions and a small in-test taxonomy for the matching tests."""

from __future__ import annotations

from app.matching import Need, Offer, Taxonomy, Topic

TAXONOMY_MAPPING = {
    "version": 1,
    "themes": [
        {
            "slug": "governance-organisation",
            "label": {"nl": "Governance en organisatie", "en": "Governance and organisation"},
            "topics": [
                {
                    "slug": "transitievisie-warmte",
                    "label": {"nl": "Transitievisie Warmte", "en": "Heat transition vision"},
                    "abbreviations": ["TVW"],
                    "synonyms": ["warmtevisie", "heat transition vision"],
                },
                {
                    "slug": "wijkuitvoeringsplan",
                    "label": {
                        "nl": "Wijkuitvoeringsplan",
                        "en": "Neighbourhood implementation plan",
                    },
                    "abbreviations": ["WUP"],
                    "synonyms": ["uitvoeringsplan voor de wijk"],
                },
            ],
        },
        {
            "slug": "technology-heat-sources",
            "label": {"nl": "Techniek en warmtebronnen", "en": "Technology and heat sources"},
            "topics": [
                {
                    "slug": "aquathermie",
                    "label": {"nl": "Aquathermie", "en": "Aquathermal energy"},
                    "abbreviations": ["TEO", "TEA"],
                    "synonyms": ["thermische energie uit oppervlaktewater", "aquathermy"],
                },
                {
                    "slug": "warmtenetten",
                    "label": {"nl": "Warmtenetten", "en": "Heat networks"},
                    "abbreviations": [],
                    "synonyms": ["warmtenet", "district heating"],
                },
                {
                    "slug": "isolatie",
                    "label": {"nl": "Isolatie", "en": "Insulation"},
                    "synonyms": ["isolatie", "na-isolatie"],
                },
            ],
        },
        {
            "slug": "participation-communication",
            "label": {"nl": "Participatie en communicatie", "en": "Participation"},
            "topics": [
                {
                    "slug": "participatie",
                    "label": {"nl": "Participatie", "en": "Participation"},
                    "synonyms": ["participatie", "bewonersavond"],
                },
                {
                    "slug": "vve",
                    "label": {"nl": "Verenigingen van Eigenaars", "en": "Owners' associations"},
                    "abbreviations": ["VvE"],
                    "synonyms": ["vereniging van eigenaars"],
                },
            ],
        },
        {
            "slug": "finance-costs",
            "label": {"nl": "Financiering en kosten", "en": "Finance and costs"},
            "topics": [
                {
                    "slug": "businesscase",
                    "label": {"nl": "Businesscase", "en": "Business case"},
                    "synonyms": ["businesscase", "onrendabele top"],
                }
            ],
        },
    ],
}


def taxonomy() -> Taxonomy:
    """The small test taxonomy (8 topics over 4 themes)."""
    return Taxonomy.from_mapping(TAXONOMY_MAPPING)


def empty_taxonomy() -> Taxonomy:
    """A taxonomy without topics: text similarity alone, no expansion."""
    return Taxonomy(())


def topic(slug: str, *, theme: str = "theme", synonyms: tuple[str, ...] = ()) -> Topic:
    return Topic(slug, theme, slug.title(), slug.title(), (), synonyms)


def need(
    need_id: int,
    organisation_id: int,
    text: str,
    *,
    topics: tuple[str, ...] = (),
    region: str | None = None,
) -> Need:
    return Need(need_id, organisation_id, text, topics, "normal", region)


def offer(
    offer_id: int,
    organisation_id: int,
    text: str,
    *,
    topics: tuple[str, ...] = (),
    capacity: int = 1,
    region: str | None = None,
) -> Offer:
    return Offer(offer_id, organisation_id, text, topics, capacity, region)
