import pytest

from app.matching import TopicTag, tag_topics
from app.matching.tagging import Tagger

from .factories import taxonomy

TAGGER = Tagger(taxonomy())


def inferred(text: str) -> list[tuple[str, str, str]]:
    return [(tag.slug, tag.evidence, tag.matched_text) for tag in TAGGER.tag(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # abbreviations: whole tokens, case-insensitive, plural / possessive s
        ("Hoe maak je een TVW?", [("transitievisie-warmte", "TVW", "TVW")]),
        ("onze TVW's en TVWs", [("transitievisie-warmte", "TVW", "TVW")]),
        ("WUP opstellen", [("wijkuitvoeringsplan", "WUP", "WUP")]),
        ("Het WUP-proces", [("wijkuitvoeringsplan", "WUP", "WUP")]),
        ("VvE benaderen", [("vve", "VvE", "VvE")]),
        ("de VVE", [("vve", "VvE", "VVE")]),
        ("vve's in de wijk", [("vve", "VvE", "vve")]),
        ("TEO in de haven", [("aquathermie", "TEO", "TEO")]),
        ("de tvwerk-site", []),
        ("STVW", []),
        # labels and synonyms after normalisation
        ("Vereniging van Eigenaars", [("vve", "vereniging van eigenaars", "vereniging eigenaars")]),
        (
            "thermische energie uit oppervlaktewater",
            [
                (
                    "aquathermie",
                    "thermische energie uit oppervlaktewater",
                    "thermische energie oppervlaktewater",
                )
            ],
        ),
        ("energie uit oppervlaktewater", []),
        ("de warmtevisie", [("transitievisie-warmte", "warmtevisie", "warmtevisie")]),
        (
            "Transitievisie warmte",
            [("transitievisie-warmte", "Transitievisie Warmte", "transitievisie warmte")],
        ),
        # compounds and inflections
        ("burgerparticipatie", [("participatie", "Participatie", "burgerparticipatie")]),
        ("warmtenetten aanleggen", [("warmtenetten", "Warmtenetten", "warmtenetten")]),
        ("buurtwarmtenet", [("warmtenetten", "Warmtenetten", "buurtwarmtenet")]),
        ("woningen isoleren", [("isolatie", "Isolatie", "isoleren")]),
        ("isolering van daken", [("isolatie", "Isolatie", "isolering")]),
        ("spouwmuurisolatie", [("isolatie", "Isolatie", "spouwmuurisolatie")]),
        ("businesscases", [("businesscase", "Businesscase", "businesscases")]),
        # accents and case
        ("BÚSINESSCASE", [("businesscase", "Businesscase", "businesscase")]),
        ("participatié", [("participatie", "Participatie", "participatie")]),
        # English meets Dutch
        ("aquathermal pilots", [("aquathermie", "Aquathermie", "aquathermal")]),
        ("heat network operators", [("warmtenetten", "Heat networks", "heat network")]),
        ("heating networks", [("warmtenetten", "Heat networks", "heating networks")]),
        ("insulation of homes", [("isolatie", "Insulation", "insulation")]),
        # nothing to find
        ("", []),
        ("we hebben een plan", []),
        ("warmtepomp", []),
    ],
)
def test_inferred_tags(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert inferred(text) == expected


def test_several_topics_come_sorted_by_slug() -> None:
    text = "TVW en burgerparticipatie bij warmtenetten in VvE's"
    assert [tag.slug for tag in TAGGER.tag(text)] == [
        "participatie",
        "transitievisie-warmte",
        "vve",
        "warmtenetten",
    ]


def test_given_topics_keep_source_given_with_evidence_when_also_found() -> None:
    assert TAGGER.tag("Hoe pakken we de TVW aan?", given=["transitievisie-warmte", "isolatie"]) == (
        TopicTag("isolatie", "given", "", ""),
        TopicTag("transitievisie-warmte", "given", "TVW", "TVW"),
    )


def test_inferred_tags_have_source_inferred() -> None:
    assert TAGGER.tag("warmtenet") == (
        TopicTag("warmtenetten", "inferred", "warmtenet", "warmtenet"),
    )


def test_tag_topics_function_matches_the_tagger() -> None:
    text = "na-isolatie in de VvE"
    assert tag_topics(text, taxonomy()) == TAGGER.tag(text)
