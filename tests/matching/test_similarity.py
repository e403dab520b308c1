"""Text similarity on its own: weights put everything on the text factor, no taxonomy."""

import pytest

from app.matching import MatchIndex, Weights
from app.matching.text import analyse, content_words, fold, root, shared_terms

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
    ],
)
def test_shared_terms(first: str, second: str, expected: tuple[str, ...]) -> None:
    assert shared_terms(analyse(first), analyse(second)) == expected
