"""Text similarity on its own: weights put everything on the text factor, no taxonomy."""

import pytest

from app.matching import MatchIndex, Weights, scoring
from app.matching.text import (
    analyse,
    are_cognates,
    compound_members,
    content_words,
    equivalent,
    fold,
    is_compound_part,
    is_member_word,
    is_typo_of,
    root,
    shared_terms,
    spelled,
    spellings,
)

from .factories import empty_taxonomy, need, offer, taxonomy

TEXT_ONLY = Weights(topic=0.0, text=1.0, region=0.0, reciprocity=0.0)
UNRELATED = "subsidieregeling voor zonnepanelen op daken"


def similarity(first: str, second: str, *, with_taxonomy: bool = False) -> float:
    """Score of *first* as a need against *second* as an offer, with only the text factor."""
    index = MatchIndex(
        taxonomy() if with_taxonomy else empty_taxonomy(),
        [need(1, 1, first)],
        [offer(1, 2, second), offer(2, 3, UNRELATED)],
        weights=TEXT_ONLY,
    )
    scores = {s.offer_id: s.score for s in index.score_need(need(1, 1, first), min_score=0.0)}
    return scores.get(1, 0.0)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("burgerparticipatie", "participatie"),
        ("warmtenetten", "warmtenet"),
        ("isoleren", "isolatie"),
        ("aquathermal", "aquathermie"),
        ("coöperatie", "cooperaties"),
    ],
)
def test_related_words_are_similar(first: str, second: str) -> None:
    assert similarity(first, second) > 0.3
    assert similarity(first, second) > similarity(first, UNRELATED) + 0.2


def test_stop_words_do_not_count() -> None:
    assert similarity("We need knowledge about the warmtenet", "warmtenet") == 1.0
    assert similarity("Wij hebben kennis nodig over het warmtenet", "Warmtenet!") == 1.0
    assert similarity("Wij hebben kennis nodig over de", "We kunnen kennis bieden over de") == 0.0


def test_accents_do_not_matter() -> None:
    assert similarity("coöperatie", "cooperatie") == 1.0
    assert similarity("Coöperatie", "COOPERATIE") == 1.0


def test_taxonomy_expansion_lets_abbreviation_meet_label() -> None:
    plain = similarity("TVW", "transitievisie warmte")
    expanded = similarity("TVW", "transitievisie warmte", with_taxonomy=True)
    assert plain == 0.0
    assert expanded > 0.5


def test_a_spelt_out_abbreviation_expands_to_its_own_phrase() -> None:
    # TEO is "thermische energie uit oppervlaktewater" in the test taxonomy; TEA is spelt out
    # by no term there, so it expands to the topic's labels only.
    surface_water = "warmte uit oppervlaktewater"
    teo = similarity("TEO", surface_water, with_taxonomy=True)
    tea = similarity("TEA", surface_water, with_taxonomy=True)
    assert teo > tea + 0.1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("VvE's en WUP's", ["vve", "wup"]),
        ("RES'en, TVW’s", ["res", "tvw"]),
        ("auto's van de gemeente", ["auto"]),
        ("'s-Hertogenbosch", ["s", "hertogenbosch"]),
        ("'t Gooi", ["t", "gooi"]),
    ],
)
def test_an_apostrophe_ending_is_not_a_word(text: str, expected: list[str]) -> None:
    assert content_words(text) == expected


def test_normalisation_helpers() -> None:
    assert fold("Coöperatie Één") == "cooperatie een"
    assert content_words("We need knowledge about the Warmtenet, 2024!") == ["warmtenet"]
    assert root("isoleren") == root("isolatie") == root("isolering") == "isol"
    assert root("participeren") == root("participatie") == "particip"
    assert root("warmtenetten") == root("warmtenet")
    assert root("leren") != "l"


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("burgerparticipatie", "participatie", ("participatie",)),
        ("warmtenetten en businesscases", "warmtenet businesscase", ("businesscase", "warmtenet")),
        ("isoleren", "isolatie", ("isolatie",)),
        ("aquathermal", "aquathermie", ("aquathermal",)),
        ("heating networks", "heat network", ("network", "heat")),
        ("warmtenet", "warmtepomp", ()),
        ("de wijk", "een wijk", ("wijk",)),
        ("dakisolatie", "isolatie", ("isolatie",)),
        ("zonnepanelen", "panelen", ("panelen",)),
        ("verenigingsgebouwen", "gebouwen", ("gebouwen",)),
        ("bodemwarmtevisie", "visie", ("visie",)),
        # The other member is no word: a fragment, not a member.
        ("wethouder", "ouder", ()),
        ("transport", "sport", ()),
        ("arbeidsmigranten", "grant", ()),
        ("Enkhuizen", "huizen", ()),
        # A first member written out whole, give or take an ending.
        ("overheid", "overheating", ()),
        ("warmte", "warmtenetten", ("warmte",)),
        # A prefix is no member, though "ver" is a word too: landlords are no tenants.
        ("verhuurders", "huurders", ()),
        ("herstel", "stel", ()),
        ("huurdersorganisatie", "huurders", ("huurders",)),
    ],
)
def test_shared_terms(first: str, second: str, expected: tuple[str, ...]) -> None:
    assert shared_terms(analyse(first), analyse(second)) == expected


@pytest.mark.parametrize(
    ("rest", "known", "expected"),
    [
        ("dak", (), True),
        ("verenigings", (), True),  # a linking s
        ("zonne", (), True),  # a linking e, the doubled n undone: zon
        ("bodemwarmte", (), True),  # two words
        ("warmtetransitie", (), False),  # "transitie" is rare in subtitles
        ("warmtetransitie", ("transitie",), True),
        ("weth", (), False),
        ("tran", (), False),  # counted 113 times: below KNOWN_WORD_COUNT
        ("arbeidsmi", (), False),
        ("aquathermie", (), False),
        ("aquathermie", ("aquathermie",), True),  # a taxonomy word
    ],
)
def test_is_member_word(rest: str, known: tuple[str, ...], expected: bool) -> None:
    assert is_member_word(rest, known) is expected


def test_taxonomy_words_are_members_in_reasons() -> None:
    first, second = analyse("aquathermieproject"), analyse("project")
    assert shared_terms(first, second) == ()
    assert shared_terms(first, second, ("aquathermie",)) == ("project",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hulp bij de TVW", (("tvw", "TVW"),)),  # content words only
        ("VvE's; een vve of een VvE", (("vve", "VvE"),)),
        # First in a sentence: the case says nothing.
        ("Warmtenet? Warmtenet!", ()),
        # A name is capitalised inside a sentence and no common word.
        ("met Liander en HHNK", (("liander", "Liander"), ("hhnk", "HHNK"))),
        ("met Lokale Isolatie", (("lokale", "Lokale"), ("isolatie", "Isolatie"))),
        # In capitals only: no case to go by, accents kept.
        ("VERDUURZAMING VAN VVE'S IN HAARLEM", ()),
        ("COÖPERATIE", (("cooperatie", "coöperatie"),)),
        ("met Liander, met liander", ()),  # in lower case too: no name
        ("- Coöperatie\n- de coöperatie", (("cooperatie", "coöperatie"),)),
        ("de ACM-tarieven", (("acm", "ACM"),)),
        # After a colon a capital may be a name's, or start what follows.
        ("Netcongestie: Liander meldt een wachtlijst", (("liander", "Liander"),)),
        ("Doel: Inzicht in de kosten; Kosten in beeld", ()),
        ("Doel: inzicht", ()),
        ("Vraag: Kostenvergelijking van zonnepanelen", ()),  # a compound of common words
        # Mixed case before capitals only (found by review: "beide noemen VVE").
        ("Hoe krijg je VVE's mee? Elke VvE is anders", (("vve", "VvE"),)),
    ],
)
def test_spellings_say_how_a_text_writes_its_words(
    text: str, expected: tuple[tuple[str, str], ...]
) -> None:
    assert tuple(spellings(text).items()) == expected  # in text order


@pytest.mark.parametrize(
    ("known", "expected"),
    [
        (((), ()), "vve"),
        (((("vve", "VvE"),), ()), "VvE"),
        (((("vve", "Vve"),), (("vve", "VVE"),)), "VVE"),  # capitals inside win
        (((("vve", "VvE"),), (("vve", "VVE"),)), "VvE"),  # the first text's first
        (((("vve", "Vve"),), (("vve", "vvé"),)), "vvé"),  # lower case over a name's capital
        (((("vve", "Vve"),), ()), "Vve"),
    ],
)
def test_spelled_prefers_capitals_inside_then_accents_then_names(
    known: tuple[tuple[tuple[str, str], ...], ...], expected: str
) -> None:
    assert spelled("vve", *map(dict, known)) == expected


@pytest.mark.parametrize(
    ("word", "known", "expected"),
    [
        # A capital of a common or a topic's word only where every text writes it so.
        ("hoorn", ({"hoorn": "Hoorn"}, {"hoorn": "Hoorn"}), "Hoorn"),
        ("hoorn", ({"hoorn": "Hoorn"}, {}), "hoorn"),
        ("aquathermie", ({"aquathermie": "Aquathermie"}, {}), "aquathermie"),
        ("liander", ({"liander": "Liander"}, {}), "Liander"),
    ],
)
def test_spelled_keeps_a_common_words_capital_where_every_text_writes_it(
    word: str, known: tuple[dict[str, str], ...], expected: str
) -> None:
    assert spelled(word, *known, words=("aquathermie",)) == expected


def test_spelled_keeps_accents() -> None:
    assert spelled("cooperatie", {}, {"cooperatie": "coöperatie"}) == "coöperatie"


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        ("participatie", "burgerparticipatie", True),
        ("warmtenet", "buurtwarmtenetten", True),
        ("warmtenet", "warmtenetaansluiting", True),
        ("isolatie", "spouwmuurisolatie", True),
        ("formatie", "formatieberekening", True),
        ("formatie", "informatiemarkt", False),
        ("formatie", "participatieplatform", False),
        ("formatie", "format", False),
        ("warmtetransitievisie", "warmtetransitie", False),
        ("warmte", "warmte", False),
        ("net", "warmtenet", False),
    ],
)
def test_is_compound_part(part: str, whole: str, expected: bool) -> None:
    [part_word], [whole_word] = analyse(part), analyse(whole)
    assert is_compound_part(part_word, whole_word) is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("aquathermal", "aquathermie", True),
        ("organisation", "organisatie", True),
        ("warmtetransitie", "warmtetransitievisie", False),
        ("energie", "energiearm", False),
        ("heat", "heating", False),
        ("collectief", "collective", True),
        ("capaciteit", "capacity", True),
        ("aanbesteden", "aanbesteding", True),
        ("dorpsraad", "dorpsraden", True),
        # A shared prefix that ends inside the next member of two compounds: no cognates.
        ("warmteplan", "warmtepomp", False),
        ("warmtewijk", "warmtewet", False),
        ("waterstand", "waterstof", False),
        ("participants", "participatie", False),
        ("gemeentegrens", "gemeentegrond", False),
    ],
)
def test_are_cognates(first: str, second: str, expected: bool) -> None:
    assert are_cognates(first, second) is expected
    assert are_cognates(second, first) is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("aquatermie", "aquathermie", True),
        ("isloatie", "isolatie", True),
        ("geothemie", "geothermie", True),
        ("warmtnet", "warmtenet", True),
        ("isolatie", "isolatie", False),
        ("isolatie", "isolatiex", True),
        ("warmte", "warmt", False),
        ("isolatie", "isoleren", False),
        ("participatie", "partisipasie", False),
    ],
)
def test_is_typo_of(first: str, second: str, expected: bool) -> None:
    assert is_typo_of(first, second) is expected
    assert is_typo_of(second, first) is expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("dakisolatie", ("dak", "isolatie")),
        ("raadsinformatieavonden", ("raad", "informatieavonden")),
        ("warmtenetaansluiting", ("warmtenet", "aansluiting")),
        ("informatiemarkt", ()),
        ("isolatie", ()),
        ("netwerk", ()),
    ],
)
def test_compound_members(word: str, expected: tuple[str, ...]) -> None:
    known = {"isolatie", "informatieavonden", "warmtenet", "aansluiting", "formatie", "net"}
    assert compound_members(word, known) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("buurten", "wijk"),
        ("wijk", "wijk"),
        ("neighbourhood", "wijk"),
        ("inwoners", "bewoner"),
        ("residents", "bewoner"),
        ("herijking", "herziening"),
        ("updating", "herziening"),
        ("warmtenet", None),
    ],
)
def test_equivalent_words(word: str, expected: str | None) -> None:
    assert equivalent(word) == expected


def test_plain_language_synonyms_meet() -> None:
    assert similarity("volgorde van buurten", "volgorde van wijken") > similarity(
        "volgorde van buurten", "volgorde van gebouwen"
    )


def _hub_index() -> MatchIndex:
    """Enough needs (one organisation each) for hubness: a general and a specific offer."""
    texts = [f"warmtenet voor wijk {name}" for name in "abcdefghijklmnopqrstuvwxy"]
    needs = [need(number, number, text) for number, text in enumerate(texts, start=1)]
    offers = [
        offer(1, 100, "warmtenet wijk"),
        offer(2, 101, "warmtenet voor wijk q en uitbreiding"),
        offer(3, 102, UNRELATED),
    ]
    return MatchIndex(empty_taxonomy(), needs, offers, weights=TEXT_ONLY)


def test_hub_offers_get_a_floor_and_both_directions_agree() -> None:
    built = _hub_index()
    assert len(built.needs) >= scoring.HUB_MIN_NEEDS
    floors = {item.id: item.text_floor for item in built._offer_side.items}
    assert floors[1] > 0.0
    assert floors[3] == 0.0
    by_need = {(s.need_id, s.offer_id): s for s in built.suggest(min_score=0.0, limit=10)}
    for item in built.offers:
        for s in built.score_offer(item, min_score=0.0, limit=30):
            assert by_need[(s.need_id, s.offer_id)] == s
    # A new offer with the same text gets the same floor, so the same scores.
    fresh = built.score_offer(offer(9, 100, "warmtenet wijk"), min_score=0.0, limit=30)
    indexed = built.score_offer(built.offers[0], min_score=0.0, limit=30)
    assert [(s.need_id, s.score) for s in fresh] == [(s.need_id, s.score) for s in indexed]


def test_few_needs_give_no_hub_floor() -> None:
    index = MatchIndex(empty_taxonomy(), [need(1, 1, "warmtenet")], [offer(1, 2, "warmtenet")])
    assert [item.text_floor for item in index._offer_side.items] == [0.0]
