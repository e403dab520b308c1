import pytest

from app.matching import Topic, TopicTag, tag_topics
from app.matching.tagging import Tagger

from . import synthetic
from .factories import taxonomy

TAGGER = Tagger(taxonomy())
ENGINE_TAXONOMY = synthetic.taxonomy()
"""The taxonomy the engine ships (app/data/topics.yaml)."""


def inferred(text: str) -> list[tuple[str, str, str]]:
    return [(tag.slug, tag.evidence, tag.matched_text) for tag in TAGGER.tag(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # abbreviations: whole tokens, as written or in capitals, plural / possessive s
        ("Hoe maak je een TVW?", [("transitievisie-warmte", "TVW", "TVW")]),
        ("onze TVW's en TVWs", [("transitievisie-warmte", "TVW", "TVW")]),
        ("WUP opstellen", [("wijkuitvoeringsplan", "WUP", "WUP")]),
        ("Het WUP-proces", [("wijkuitvoeringsplan", "WUP", "WUP")]),
        ("VvE benaderen", [("vve", "VvE", "VvE")]),
        ("de VVE", [("vve", "VvE", "VVE")]),
        ("TEO in de haven", [("aquathermie", "TEO", "TEO")]),
        ("de tvwerk-site", []),
        ("STVW", []),
        # ... but case-sensitively: lower-case spellings count only when listed as synonyms
        ("vve's in de wijk", []),
        ("een tvw", []),
        ("our team", []),
        ("Vve", []),
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
        ("thermische warmte uit oppervlaktewater", []),
        (
            "verenigingen van eigenaren",
            [("vve", "Verenigingen van Eigenaars", "verenigingen eigenaren")],
        ),
        ("de warmtevisie", [("transitievisie-warmte", "warmtevisie", "warmtevisie")]),
        (
            "Transitievisie warmte",
            [("transitievisie-warmte", "Transitievisie Warmte", "transitievisie warmte")],
        ),
        # compounds and inflections
        ("burgerparticipatie", [("participatie", "Participatie", "burgerparticipatie")]),
        ("warmtenetten aanleggen", [("warmtenetten", "Warmtenetten", "warmtenetten")]),
        ("buurtwarmtenet", [("warmtenetten", "warmtenet", "buurtwarmtenet")]),
        ("warmtenetaansluiting", [("warmtenetten", "warmtenet", "warmtenetaansluiting")]),
        # a term is a compound member only at the start or the end of a word
        ("informatieavond", []),
        ("burgerparticipatieplatform", []),
        # typos one edit away in long words, but not a word the taxonomy itself uses
        ("isloatie van daken", [("isolatie", "Isolatie", "isloatie")]),
        ("warmtnet", [("warmtenetten", "warmtenet", "warmtnet")]),
        ("bussinesscase", [("businesscase", "Businesscase", "bussinesscase")]),
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Common words one edit from a topic's word are spelt as meant.
        ("Goede contacten met bewoners", []),
        ("Liability for heat network failures", ["warmtenetten"]),
        # The word itself, and a real typo of it, still tag.
        ("contracten met aannemers", ["aanbesteding-staatssteun"]),
        ("contarcten met aannemers", ["aanbesteding-staatssteun"]),
        ("viability of the business case", ["businesscase-onrendabele-top"]),
    ],
)
def test_a_common_word_is_no_typo_of_a_topic_word(text: str, expected: list[str]) -> None:
    assert [tag.slug for tag in tag_topics(text, ENGINE_TAXONOMY)] == expected


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


def test_abbreviations_spelt_out_by_a_term() -> None:
    topic = Topic(
        "aquathermie",
        "technology",
        "Aquathermie",
        "Aquathermal energy",
        abbreviations=("TEO", "TEA", "VvE", "VvE's", "SpUk", "SPUK", "TVW"),
        synonyms=(
            "thermische energie uit oppervlaktewater",
            "thermische energie uit afvalwater",
            "vereniging van eigenaren",
            "specifieke uitkering",
            "transitievisie warmte",
        ),
    )
    assert dict(topic.abbreviation_phrases) == {
        "TEO": "thermische energie uit oppervlaktewater",
        "TEA": "thermische energie uit afvalwater",
        "VvE": "vereniging van eigenaren",
        "VvE's": "vereniging van eigenaren",
        "SpUk": "specifieke uitkering",
        "SPUK": "specifieke uitkering",
    }


def test_evidence_lists_every_match() -> None:
    assert TAGGER.evidence("TEO en thermische energie uit oppervlaktewater, TVW") == {
        ("aquathermie", "TEO"),
        ("aquathermie", "thermische energie uit oppervlaktewater"),
        ("transitievisie-warmte", "TVW"),
    }


@pytest.mark.parametrize(
    ("text", "given"),
    [
        ("TEO en thermische energie uit oppervlaktewater, TVW", ()),
        ("warmtenetten en dakisolatie in de VvE", ("vve",)),
        ("isloatie van de warmtenetaansluiting", ()),
        ("", ("warmtenetten",)),
    ],
)
def test_tag_with_evidence_is_tag_and_evidence_in_one_pass(
    text: str, given: tuple[str, ...]
) -> None:
    assert TAGGER.tag_with_evidence(text, given) == (
        TAGGER.tag(text, given),
        TAGGER.evidence(text),
    )


def test_a_word_tags_alike_the_first_time_and_from_the_tagger_memory() -> None:
    fresh = Tagger(taxonomy())
    text = "warmtenetten, isloatie en de aquathermal TVW"
    first = fresh.tag(text)
    assert fresh.tag(text) == first == TAGGER.tag(text)
