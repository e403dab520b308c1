import math
import random
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from app.matching import (
    DEFAULT_WEIGHTS,
    Gap,
    MatchIndex,
    Need,
    Offer,
    Reason,
    Suggestion,
    UnmetOffer,
    suggest,
)
from app.matching import index as index_module
from app.matching.community import community_report
from app.matching.documents import cached_documents
from app.matching.reasons import named_terms
from app.matching.tagging import cached_tagger

from . import synthetic
from .evaluation import load_taxonomy
from .factories import empty_taxonomy, need, offer, taxonomy

NEEDS = [
    need(1, 10, "Hoe stellen we een TVW op en betrekken we de raad?", region="Kennemerland"),
    need(2, 10, "Kennis nodig over burgerparticipatie bij warmtenetten"),
    need(3, 20, "Wij zoeken ervaring met VvE's en isoleren van appartementen"),
    need(4, 30, "Businesscase voor een warmtenet met aquathermie (TEO)"),
    need(5, 40, "Hoe organiseren we een bewonersavond over participatie?"),
    need(6, 50, "Subsidies voor zonnepanelen op sportkantines"),
]
OFFERS = [
    offer(
        1,
        20,
        "Onze transitievisie warmte is net vastgesteld, we delen het proces",
        capacity=2,
        region="Kennemerland",
    ),
    offer(2, 30, "Ervaring met participatie van bewoners bij de aanleg van een warmtenet"),
    offer(3, 10, "Wij hebben een aanpak voor VvE-isolatie en na-isolatie", capacity=3),
    offer(4, 40, "Rekenmodel businesscase warmtenetten en thermische energie uit oppervlaktewater"),
    offer(5, 10, "Draaiboek bewonersavond participatie"),
    offer(6, 20, "Isolatie van corporatiewoningen"),
]


def index() -> MatchIndex:
    return MatchIndex(taxonomy(), NEEDS, OFFERS)


def test_suggestion_explains_its_score() -> None:
    [best, *_] = index().score_need(NEEDS[0])
    assert best == Suggestion(
        need_id=1,
        offer_id=1,
        need_organisation_id=10,
        offer_organisation_id=20,
        score=best.score,
        reasons=(
            Reason("topic", 0.1, "topic Transitievisie Warmte (TVW)"),
            best.reasons[1],
            Reason("region", 0.05, "both in region Kennemerland"),
            Reason("reciprocity", 0.05, "organisation 10 can help organisation 20 in return"),
        ),
        matched_topics=("transitievisie-warmte",),
    )
    # The need says "TVW", the offer "transitievisie warmte": no word in common, one topic.
    assert best.reasons[1].factor == "text"
    assert best.reasons[1].detail == "related terms of a shared topic"


def test_text_reason_names_the_shared_terms() -> None:
    suggestions = index().score_need(NEEDS[3])
    assert suggestions[0].offer_id == 4
    [text] = [reason for reason in suggestions[0].reasons if reason.factor == "text"]
    assert text.detail == "both mention *businesscase*, *warmtenet*"
    assert suggestions[0].matched_topics == ("aquathermie", "businesscase", "warmtenetten")


@pytest.mark.parametrize(
    ("terms", "named"),
    [
        (("businesscase", "warmtenet"), ["businesscase", "warmtenet"]),
        (("aanpak", "vve", "per", "s"), ["aanpak", "vve"]),
        (("via", "o", "a"), []),
        (("isolatie", "vve", "wup", "res", "tvw"), ["isolatie", "vve", "wup", "res"]),
        (("warmtenetten", "warmtenet", "analyse", "kosten"), ["warmtenetten", "analyse", "kosten"]),
        (("moeten", "halen", "gaan"), ["halen"]),
        (("mbt", "tbv", "tvw", "net"), ["tvw"]),
    ],
)
def test_a_text_reason_names_specific_words(terms: tuple[str, ...], named: list[str]) -> None:
    assert named_terms(terms) == named


@pytest.mark.parametrize(
    ("need_text", "offer_text", "expected"),
    [
        # No single letters and general words ("via", "per"); capitals inside a word kept.
        (
            "Aanpak VvE's via de gemeente, per buurt",
            "Onze aanpak voor VvE's, per wijk",
            "both mention *aanpak*, *VvE*",
        ),
        # Accents and a name's capital kept, a sentence's first capital not.
        (
            "Warmtenet: hoe werkt de coöperatie met Liander?",
            "Ervaring met een warmtenet, een cooperatie en Liander",
            "both mention *coöperatie*, *warmtenet*, *Liander*",
        ),
        (
            "Wij willen meer weten over Aquathermie en het Warmtenet.",
            "Wij hebben ervaring met aquathermie en een warmtenet.",
            "both mention *aquathermie*, *warmtenet*",
        ),
        (
            "VERDUURZAMING VAN VVE'S IN HAARLEM",
            "Wij helpen bij verduurzaming van VvE's in Haarlem",
            "both mention *verduurzaming*, *Haarlem*, *VvE*",
        ),
        (
            "Wij zoeken partners in Hoorn voor het warmtenet.",
            "Wij bieden hulp in Hoorn bij warmtenetten.",
            "both mention *warmtenet*, *Hoorn*",
        ),
        # Found by review: a name after a colon is a name ("liander" before).
        (
            "Netcongestie: Liander meldt een wachtlijst.",
            "Vast maandelijks overleg met Liander over netcongestie",
            "both mention *netcongestie*, *Liander*",
        ),
        # Mixed case before capitals only, whichever answer writes which; "eerste" unnamed.
        (
            "Hoe krijg je VVE's mee in de eerste wijk?",
            "Onze VvE-aanpak in de eerste wijk",
            "both mention *wijk*, *VvE*",
        ),
    ],
)
def test_a_text_reason_names_words_as_the_answers_write_them(
    need_text: str, offer_text: str, expected: str
) -> None:
    for first, second in ((need_text, offer_text), (offer_text, need_text)):
        built = MatchIndex(load_taxonomy(), [need(1, 10, first)], [offer(1, 20, second)])
        [suggestion] = built.score_need(built.needs[0], min_score=0.0)
        [text] = [reason for reason in suggestion.reasons if reason.factor == "text"]
        assert text.detail == expected


def test_a_new_answer_gets_the_reason_it_gets_in_the_index() -> None:
    """A compound's other member counts as a word where the community writes it: also where
    the only text that does is a need the index has not seen yet."""
    written = need(1, 10, "Wij zoeken een riothermie project")
    offers = [offer(2, 20, "Wij hebben een riothermieproject gedaan"), offer(3, 30, "Isolatie")]
    holding = MatchIndex(empty_taxonomy(), [written], offers)
    other = MatchIndex(empty_taxonomy(), [need(9, 10, "Wij helpen met isolatie")], offers)

    def text_reason(built: MatchIndex) -> str:
        [best, *_] = built.score_need(written, min_score=0.0)
        return next(reason.detail for reason in best.reasons if reason.factor == "text")

    assert text_reason(holding) == text_reason(other) == "both mention *riothermie*, *project*"


def test_reasons_add_up_to_the_score() -> None:
    for suggestion in index().suggest(min_score=0.0, limit=10):
        assert round(sum(r.contribution for r in suggestion.reasons), 4) == suggestion.score
        assert 0.0 <= suggestion.score <= 1.0
        assert all(reason.contribution > 0 for reason in suggestion.reasons)


def test_never_the_same_organisation() -> None:
    suggestions = index().suggest(min_score=0.0, limit=10)
    assert len(suggestions) == 28  # 2·4 + 4 + 5 + 5 + 6 other-organisation offers
    assert all(s.need_organisation_id != s.offer_organisation_id for s in suggestions)


def test_declined_pairs_are_excluded() -> None:
    built = index()
    assert [s.offer_id for s in built.score_need(NEEDS[1], min_score=0.0)][:1] == [2]
    declined = [(2, 2)]
    ranked = built.score_need(NEEDS[1], excluded=declined, min_score=0.0, limit=10)
    assert 2 not in [s.offer_id for s in ranked]
    assert len(ranked) == 3
    everything = built.suggest(excluded=declined, min_score=0.0, limit=10)
    assert (2, 2) not in {(s.need_id, s.offer_id) for s in everything}
    mirrored = built.score_offer(OFFERS[1], excluded=declined, min_score=0.0, limit=10)
    assert 2 not in [s.need_id for s in mirrored]


def test_ranking_is_best_first_with_ties_broken_by_id() -> None:
    twins = [offer(i, 100 + i, "Draaiboek bewonersavond participatie") for i in (7, 3, 5)]
    built = MatchIndex(taxonomy(), NEEDS, twins)
    ranked = built.score_need(NEEDS[4], min_score=0.0)
    assert [s.offer_id for s in ranked] == [3, 5, 7]
    assert len({s.score for s in ranked}) == 1


def test_limit_and_min_score() -> None:
    built = index()
    assert len(built.score_need(NEEDS[1], limit=2, min_score=0.0)) == 2
    assert built.score_need(NEEDS[1], limit=0) == ()
    assert built.score_need(NEEDS[5], min_score=0.99) == ()
    for s in built.score_need(NEEDS[1], min_score=0.3, limit=10):
        assert s.score >= 0.3


def test_shuffled_input_gives_the_same_output() -> None:
    expected = suggest(NEEDS, OFFERS, taxonomy(), min_score=0.0, limit=10)
    rng = random.Random(7)
    for _ in range(3):
        needs, offers = NEEDS[:], OFFERS[:]
        rng.shuffle(needs)
        rng.shuffle(offers)
        assert suggest(needs, offers, taxonomy(), min_score=0.0, limit=10) == expected


def test_a_new_need_scores_like_an_indexed_one() -> None:
    built = index()
    indexed = built.score_need(NEEDS[1], min_score=0.0, limit=10)
    copy = need(99, NEEDS[1].organisation_id, NEEDS[1].text)
    fresh = built.score_need(copy, min_score=0.0, limit=10)
    assert [(s.offer_id, s.score, s.reasons) for s in fresh] == [
        (s.offer_id, s.score, s.reasons) for s in indexed
    ]
    other_organisation = built.score_need(need(98, 30, NEEDS[1].text), min_score=0.0, limit=10)
    assert sorted(s.offer_id for s in other_organisation) == [1, 3, 4, 5, 6]  # not its own 2


def _worded_as_five_needs(text: str, *, extra_need: Need | None, extra_offer: Offer) -> MatchIndex:
    """An offer worded as six needs of other organisations are, where most offers and needs
    share no character n-gram: its hubness, 1, is far above the median (0), and so its text
    floor (found by review). With the shipped taxonomy (its synonyms are in the documents),
    where the floor comes out at exactly 1, or a hair above it."""
    needs = [need(number, number, text, region="Noord") for number in range(1, 7)]
    needs += [need(100 + number, 50 + number, f"zqx{number}yv") for number in range(20)]
    offers = [offer(1, 99, text)] + [
        offer(10 + number, 60 + number, f"kwp{number}jf") for number in range(4)
    ]
    return MatchIndex(
        load_taxonomy(), [*needs, *([extra_need] if extra_need else [])], [*offers, extra_offer]
    )


def test_a_text_floor_of_one_gives_a_text_component_of_0_not_nan() -> None:
    """With a floor of exactly 1 the raw score was NaN: the best offer was left out of every
    ranking, and suggest (which dropped the need's whole list at limit 1) disagreed with
    score_need."""
    text = "samen met buurgemeenten één warmtevisie opstellen in plaats van ieder apart"
    built = _worded_as_five_needs(
        text, extra_need=None, extra_offer=offer(2, 98, "qqq", region="Noord")
    )
    first = built.needs[0]
    exact = [(s.offer_id, s.score) for s in built.score_pairs([(first, built.offers[0])])]
    suggested = [
        (s.offer_id, s.score) for s in built.suggest(limit=1, min_score=0.0) if s.need_id == 1
    ]
    scored = [(s.offer_id, s.score) for s in built.score_need(first, limit=1, min_score=0.0)]
    assert suggested == scored == exact
    assert exact[0][0] == 1
    (gap,) = [gap for gap in built.gaps() if gap.need_id == 1]
    assert (gap.best_offer_id, gap.best_score) == exact[0]


def test_a_text_floor_above_one_makes_no_organisation_a_helper_of_all() -> None:
    """With a floor a hair above 1, 1 − floor was a tiny negative number, every unrelated
    pair's text component clipped to 1, and the offer's organisation "could help" everyone:
    a reciprocity reason on an unrelated suggestion."""
    text = "samenwerking tussen afdelingen bij de wijkaanpak, iedereen werkt nu langs elkaar heen"
    business_case = "businesscase van een warmtenet doorrekenen"
    built = _worded_as_five_needs(
        text,
        extra_need=need(500, 99, business_case),
        extra_offer=offer(20, 50, f"{business_case} met onrendabele top"),
    )
    (pair,) = [
        s for s in built.suggest(limit=10, min_score=0.0) if s.need_id == 500 and s.offer_id == 20
    ]
    assert [reason.factor for reason in pair.reasons] == ["topic", "text"]


def test_score_offer_mirrors_score_need() -> None:
    built = index()
    by_need = {(s.need_id, s.offer_id): s for s in built.suggest(min_score=0.0, limit=10)}
    for item in OFFERS:
        for s in built.score_offer(item, min_score=0.0, limit=10):
            assert by_need[(s.need_id, s.offer_id)] == s


def test_fast_single_transform_equals_sklearn() -> None:
    built = index()
    for text in ("TVW en warmtenetten", "aquathermal business case", "", "ÉÉn coöperatie"):
        document = built._prepare(need(1, 1, text)).document
        expected = built.vectorizer.transform([document]).toarray()
        assert np.allclose(built._vectorise_one(document).toarray(), expected, atol=1e-12)


def test_gaps_and_unmet_offers() -> None:
    built = index()
    assert built.gaps() == (
        Gap(
            need_id=6,
            organisation_id=50,
            best_score=built.gaps()[0].best_score,
            best_offer_id=built.gaps()[0].best_offer_id,
        ),
    )
    assert built.gaps()[0].best_score < 0.15
    assert built.gaps(threshold=0.0) == ()
    assert built.unmet_offers(threshold=0.0) == ()
    unmet = built.unmet_offers(threshold=1.0)
    assert [u.offer_id for u in unmet] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(u, UnmetOffer) and u.best_need_id is not None for u in unmet)


@pytest.mark.parametrize("exact", [True, False])
def test_gaps_and_unmet_offers_among_chosen_answers(
    exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not exact:
        monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    data = synthetic.community(6)
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    every_need = {gap.need_id: gap for gap in built.gaps(threshold=math.inf)}
    every_offer = {item.offer_id: item for item in built.unmet_offers(threshold=math.inf)}
    assert sorted(every_need) == sorted(need.id for need in data.needs)
    chosen = sorted(random.Random(5).sample(sorted(every_need), 7))
    assert built.gaps(threshold=math.inf, among=chosen) == tuple(every_need[i] for i in chosen)
    offers = sorted(random.Random(6).sample(sorted(every_offer), 7))
    assert built.unmet_offers(threshold=math.inf, among=offers) == tuple(
        every_offer[i] for i in offers
    )
    # Among chosen answers, the threshold still applies.
    assert built.gaps(among=chosen) == tuple(g for g in built.gaps() if g.need_id in chosen)
    assert built.gaps(among=[]) == ()


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate need id 1"):
        MatchIndex(taxonomy(), [NEEDS[0], NEEDS[0]], OFFERS)


def test_empty_sides() -> None:
    assert MatchIndex(taxonomy(), [], []).suggest() == ()
    assert MatchIndex(taxonomy(), NEEDS, []).suggest() == ()
    assert MatchIndex(taxonomy(), [], []).score_need(NEEDS[0]) == ()
    assert MatchIndex(taxonomy(), [], OFFERS).score_need(NEEDS[0])[0].offer_id == 1
    assert len(MatchIndex(taxonomy(), NEEDS, []).gaps()) == len(NEEDS)


def test_default_weights_are_used() -> None:
    assert index().weights == DEFAULT_WEIGHTS


def test_a_rebuilt_index_analyses_only_the_texts_it_has_not_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = taxonomy()
    first = MatchIndex(shared, NEEDS, OFFERS)
    documents = cached_documents(shared)
    analyse = documents._analyse
    analysed: list[str] = []

    def counted(text: str, given: tuple[str, ...]) -> object:
        analysed.append(text)
        return analyse(text, given)

    monkeypatch.setattr(documents, "_analyse", counted)
    added = need(99, 12, "Hoe maak je een businesscase voor een warmtenet?")
    regiven = need(1, 10, NEEDS[0].text, topics=("participatie",), region="Kennemerland")
    rebuilt = MatchIndex(shared, [regiven, *NEEDS[1:], added], OFFERS)
    # The added text, and the first need again: its given topics changed.
    assert analysed == [NEEDS[0].text, added.text]
    monkeypatch.undo()
    cached_documents.cache_clear()
    cached_tagger.cache_clear()
    fresh = MatchIndex(shared, [regiven, *NEEDS[1:], added], OFFERS)
    assert rebuilt.suggest(limit=10) == fresh.suggest(limit=10)
    assert rebuilt.need_topics() == fresh.need_topics()
    assert first.need_topics()[1:] == rebuilt.need_topics()[1:-1]


@pytest.mark.parametrize("embedded", [False, True])
def test_scoring_many_needs_at_once_gives_what_each_gets_alone(
    embedded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """score_needs (a delete re-scores many needs) is score_need per need, to the bit: indexed
    needs and new ones, each with its own exclusions, across blocks of products."""
    data = synthetic.community(4, per_organisation=8, seed=3)
    if embedded:
        data = synthetic.with_embeddings(data, seed=3)
    built = MatchIndex(data.taxonomy, data.needs[:-4], data.offers)
    assert built.semantic is embedded
    asked = [*data.needs[-4:], *data.needs[:5]]  # four new needs, five indexed ones
    excluded = {(asked[0].id, data.offers[0].id), (asked[5].id, data.offers[3].id)}
    monkeypatch.setattr(index_module, "_BLOCK", 4)

    together = built.score_needs(asked, excluded=excluded, limit=20, min_score=0.0)

    alone = tuple(
        built.score_need(need, excluded=excluded, limit=20, min_score=0.0) for need in asked
    )
    assert together == alone
    assert [len(found) for found in together] == [20] * len(asked)
    blocked = {(s.need_id, s.offer_id) for found in together for s in found} & excluded
    assert blocked == set()


@pytest.mark.parametrize("embedded", [False, True])
def test_scoring_many_offers_at_once_gives_what_each_gets_alone(
    embedded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """score_offers (the unmet offers ask it of each offer left out) is score_offer per offer,
    to the bit, as score_needs is score_need: indexed offers and new ones, across blocks."""
    data = synthetic.community(4, per_organisation=8, seed=3)
    if embedded:
        data = synthetic.with_embeddings(data, seed=3)
    built = MatchIndex(data.taxonomy, data.needs, data.offers[:-4])
    assert built.semantic is embedded
    asked = [*data.offers[-4:], *data.offers[:5]]  # four new offers, five indexed ones
    excluded = {(data.needs[0].id, asked[0].id), (data.needs[3].id, asked[5].id)}
    monkeypatch.setattr(index_module, "_BLOCK", 4)

    together = built.score_offers(asked, excluded=excluded, limit=20, min_score=0.0)

    alone = tuple(
        built.score_offer(offer, excluded=excluded, limit=20, min_score=0.0) for offer in asked
    )
    assert together == alone
    assert [len(found) for found in together] == [20] * len(asked)
    assert [{s.offer_id for s in found} for found in together] == [{o.id} for o in asked]
    blocked = {(s.need_id, s.offer_id) for found in together for s in found} & excluded
    assert blocked == set()


@pytest.mark.parametrize("embedded", [False, True])
def test_a_pair_scored_alone_gets_what_the_ranking_gives_it(embedded: bool) -> None:
    """score_pairs (a suggestion acted on, no longer among its need's best) gives each pair the
    suggestion the ranking gives it, to the bit, reasons included: for indexed needs and offers
    and for new ones, on a semantic and a lexical index."""
    data = synthetic.community(4, per_organisation=8, seed=5)
    if embedded:
        data = synthetic.with_embeddings(data, seed=5)
    built = MatchIndex(data.taxonomy, data.needs[:-3], data.offers[:-3])
    assert built.semantic is embedded
    needs = {need.id: need for need in data.needs}
    offers = {offer.id: offer for offer in data.offers}
    ranked = [
        *built.suggest(limit=8, min_score=0.0),
        *(s for need in data.needs[-3:] for s in built.score_need(need, limit=8, min_score=0.0)),
        *(
            s
            for offer in data.offers[-3:]
            for s in built.score_offer(offer, limit=8, min_score=0.0)
        ),
    ]
    assert len(ranked) == (len(data.needs) - 3) * 8 + 6 * 8
    pairs = [(needs[s.need_id], offers[s.offer_id]) for s in ranked]

    assert built.score_pairs(pairs) == tuple(ranked)
    assert built.score_pairs(pairs[::-1]) == tuple(ranked[::-1])
    assert built.score_pairs([]) == ()


def test_a_pair_of_one_organisation_is_no_suggestion() -> None:
    built = index()
    need = next(need for need in NEEDS if need.organisation_id == OFFERS[0].organisation_id)
    with pytest.raises(ValueError, match=f"need {need.id} and offer {OFFERS[0].id}"):
        built.score_pairs([(need, OFFERS[0])])


@pytest.mark.parametrize("exact", [True, False], ids=["every-pair", "shortlists"])
@pytest.mark.parametrize("embedded", [False, True])
def test_an_index_relocated_scores_as_one_built_on_the_new_regions(
    embedded: bool, exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """relocated (an organisation changed its region) gives what an index built on the moved
    answers gives, to the bit: suggestions with their reasons, gaps, unmet offers, a new need
    and an indexed offer scored, the whole report; however much the old index had worked out
    with the old regions. The old index is left as it was."""
    if not exact:
        monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    data = synthetic.community(6, per_organisation=8, seed=11)
    if embedded:
        data = synthetic.with_embeddings(data, seed=11)
    regions = {item.organisation_id: item.region for item in data.needs}
    assert regions[3] == regions[4] != regions[2]
    old = MatchIndex(data.taxonomy, data.needs[:-1], data.offers)
    assert old.semantic is embedded
    before = community_report(old, data.formats)
    moves = {
        1: regions[2],  # into another organisation's region: pairs gain the region factor
        2: None,  # out of any region: pairs lose it
        6: "Nieuwland",  # a region nobody else is in
        4: regions[4].upper(),  # the same region, written otherwise (reasons show it so)
        99: "Elders",  # an organisation the index does not hold: nothing
    }

    def moved(item: Any) -> Any:
        return replace(item, region=moves.get(item.organisation_id, item.region))

    needs, offers = tuple(map(moved, data.needs)), tuple(map(moved, data.offers))
    relocated = old.relocated(moves)
    built = MatchIndex(data.taxonomy, needs[:-1], offers)

    assert relocated.needs == built.needs
    assert relocated.offers == built.offers
    assert relocated.suggest(limit=20, min_score=0.0) == built.suggest(limit=20, min_score=0.0)
    assert community_report(relocated, data.formats) == community_report(built, data.formats)
    assert relocated.gaps(threshold=0.5) == built.gaps(threshold=0.5)
    assert relocated.unmet_offers(threshold=0.5) == built.unmet_offers(threshold=0.5)
    new_need = needs[-1]
    assert relocated.score_need(new_need, min_score=0.0) == built.score_need(
        new_need, min_score=0.0
    )
    assert relocated.score_offer(offers[0], min_score=0.0) == built.score_offer(
        offers[0], min_score=0.0
    )
    region_reasons = {
        reason.detail
        for suggestion in relocated.suggest(limit=20, min_score=0.0)
        for reason in suggestion.reasons
        if reason.factor == "region"
    }
    assert f"both in region {regions[4].upper()}" in region_reasons
    assert community_report(old, data.formats) == before
    assert old.relocated({}) is old
    assert old.relocated({1: regions[1], 99: "Elders"}) is old


def helping(built: MatchIndex) -> set[tuple[int, int]]:
    """(helper, helped) of every two organisations *built* says can help each other."""
    organisations = {item.organisation_id for item in (*built.needs, *built.offers)} | {99}
    return {
        (helper, helped)
        for helper in organisations
        for helped in organisations
        if built.can_help(helper, helped)
    }


def scored_without_reciprocity(
    was: Suggestion, dropped: set[tuple[int, int]], weight: float = DEFAULT_WEIGHTS.reciprocity
) -> Suggestion:
    """*was* as it scores once the relation between its organisations is in *dropped*, where
    reciprocity weighs *weight*."""
    if (was.need_organisation_id, was.offer_organisation_id) not in dropped:
        return was
    reasons = tuple(reason for reason in was.reasons if reason.factor != "reciprocity")
    assert len(reasons) == len(was.reasons) - 1
    return replace(was, score=round(was.score - weight, 4), reasons=reasons)


@pytest.mark.parametrize(
    ("gone", "dropped"),
    [
        # Organisation 10's VvE insulation offer is all it can help organisation 20 with...
        ({"gone_offer_ids": {3}}, {(10, 20)}),
        # ...and organisation 20's VvE need all that organisation 10 can help it with.
        ({"gone_need_ids": {3}}, {(10, 20)}),
        # Organisation 40's residents' evening: two organisations' only help to it.
        ({"gone_need_ids": {5}}, {(10, 40), (30, 40)}),
        ({"gone_need_ids": {4, 99}, "gone_offer_ids": {2}}, {(30, 10), (30, 40), (40, 30)}),
    ],
)
def test_an_index_without_an_answer_no_longer_says_what_rested_on_it(
    gone: dict[str, set[int]], dropped: set[tuple[int, int]]
) -> None:
    """reciprocity_refitted (answers deleted or changed since the index was built) drops the
    relations between organisations that rested on those answers alone; every pair scores as
    before but for the reciprocity it lost, in the ranking too. The old index is unchanged."""
    old = index()
    before = helping(old)
    assert before == {(10, 20), (10, 40), (20, 10), (30, 10), (30, 40), (40, 30)}
    ranked_before = old.score_need(NEEDS[0], min_score=0.0, limit=6)
    pairs = [(n, o) for n in NEEDS for o in OFFERS if n.organisation_id != o.organisation_id]
    scored_before = old.score_pairs(pairs)

    without = old.reciprocity_refitted(**gone)

    assert helping(without) == before - dropped
    assert without.score_pairs(pairs) == tuple(
        scored_without_reciprocity(was, dropped) for was in scored_before
    )
    ranked = without.score_need(NEEDS[0], min_score=0.0, limit=6)
    assert sorted(ranked, key=lambda s: s.offer_id) == sorted(
        (scored_without_reciprocity(was, dropped) for was in ranked_before),
        key=lambda s: s.offer_id,
    )
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
    assert helping(old) == before
    assert old.score_pairs(pairs) == scored_before


def test_an_index_without_answers_nothing_rested_on_is_the_same_index() -> None:
    old = index()
    assert old.reciprocity_refitted() is old
    # Organisation 20's corporation-housing offer and 50's sports-canteen need help nobody.
    assert old.reciprocity_refitted(gone_need_ids={6}, gone_offer_ids={6}) is old
    assert old.reciprocity_refitted(gone_need_ids={99}, gone_offer_ids={99}) is old
    assert not old.can_help(10, 99)
    assert not old.can_help(99, 10)


def test_an_index_refitted_with_rewritten_answers_counts_them() -> None:
    """A rewritten answer (gone as the index holds it, given as it reads now) counts for its
    organisation's relations: found by review, a need's typo fixed dropped a relation its new
    text still makes."""
    old = index()
    fixed = replace(NEEDS[2], text=NEEDS[2].text.replace("isoleren", "isolatie"))
    assert helping(old.reciprocity_refitted(gone_need_ids={3}, needs=[fixed])) == helping(old)
    # Organisation 50's need, rewritten to a residents' evening: 10 and 30 can help it now.
    text = "Hoe organiseren we een bewonersavond over participatie?"
    evening = replace(NEEDS[5], text=text)
    new_of_20 = need(7, 20, text)
    refitted = old.reciprocity_refitted(gone_need_ids={6}, needs=[evening, new_of_20])
    assert helping(refitted) == helping(old) | {(10, 50), (30, 50)}
    # A new need of organisation 20, none of whose answers went, waits for a new index...
    assert not refitted.can_help(30, 20)
    # ...unless one of its answers went too: its relations are fitted on all its answers.
    both = old.reciprocity_refitted(gone_need_ids={3}, needs=[fixed, new_of_20])
    assert helping(both) == helping(old) | {(30, 20)}


@pytest.mark.parametrize("exact", [True, False], ids=["every-pair", "shortlists"])
@pytest.mark.parametrize("embedded", [False, True])
def test_an_index_without_answers_fits_reciprocity_on_the_answers_left(
    embedded: bool, exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which organisation can help which, after reciprocity_refitted, is what the index's own
    content scores of the answers left say (RECIPROCITY_THRESHOLD), to the bit; its ranking
    is worked out again, even where the old index had ranked everything already."""
    if not exact:
        monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    data = synthetic.community(8, per_organisation=6, seed=3)
    if embedded:
        data = synthetic.with_embeddings(data, seed=3)
    old = MatchIndex(data.taxonomy, data.needs, data.offers)
    assert old.semantic is embedded
    suggested = old.suggest(limit=10, min_score=0.0)
    # Every offer of organisation 1 and need of organisation 2 (all they help or are helped
    # with goes), and some others.
    rng = random.Random(3)
    gone_needs = {n.id for n in data.needs if n.organisation_id == 2}
    gone_needs |= set(rng.sample([need.id for need in data.needs], 4))
    gone_offers = {o.id for o in data.offers if o.organisation_id == 1}
    gone_offers |= set(rng.sample([offer.id for offer in data.offers], 4))
    needs, offers = old._need_side, old._offer_side
    content, _ = old._scorer.content(needs.items, needs.matrix, offers)
    reached = content >= index_module.scoring.RECIPROCITY_THRESHOLD
    reached[[needs.position[ident] for ident in gone_needs]] = False
    reached[:, [offers.position[ident] for ident in gone_offers]] = False
    rows, columns = np.nonzero(reached)
    expected = {
        (offers.items[column].organisation_id, needs.items[row].organisation_id)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True)
    } - {(organisation, organisation) for organisation in range(1, 9)}

    without = old.reciprocity_refitted(gone_needs, gone_offers)

    dropped = helping(old) - expected
    assert helping(without) == expected
    assert {(1, helped) for helped in range(2, 9)} & helping(old) <= dropped
    assert {(helper, 2) for helper in range(1, 9)} & helping(old) <= dropped
    # Some relations went though their organisations kept other answers.
    assert {(helper, helped) for helper, helped in dropped if helper != 1 and helped != 2}
    assert without.suggest(limit=10, min_score=0.0) != suggested
    by_id = {need.id: need for need in data.needs}, {offer.id: offer for offer in data.offers}
    ranked = without.suggest(limit=10, min_score=0.0)
    pairs = [(by_id[0][s.need_id], by_id[1][s.offer_id]) for s in ranked]
    assert without.score_pairs(pairs) == tuple(ranked)
    assert without.score_pairs(pairs) == tuple(
        scored_without_reciprocity(was, dropped, old.weights.reciprocity)
        for was in old.score_pairs(pairs)
    )


def test_the_needs_in_regions_are_those_the_region_factor_pairs() -> None:
    data = synthetic.community(6, per_organisation=2, seed=11)
    by_region = {need.id: need.region for need in data.needs}
    assert by_region[1] == "Amsterdam-Amstelland"
    assert by_region[11] == "Kennemerland"

    found = MatchIndex.needs_in_regions(
        data.needs, [" amsterdam-AMSTELLAND ", "Kennemerland", None, "  "]
    )

    assert found == {1, 2, 5, 6, 7, 8, 11, 12}
    assert MatchIndex.needs_in_regions(data.needs, [None, "", "Elders"]) == frozenset()


@pytest.mark.parametrize("exact_pair_limit", [0, 10**9])
def test_a_minimum_score_of_minus_infinity_still_leaves_out_own_and_declined_pairs(
    monkeypatch: pytest.MonkeyPatch, exact_pair_limit: int
) -> None:
    """Such pairs were marked −inf, which a cut at −inf ("everything") let through."""
    monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", exact_pair_limit)
    built = index()
    declined = {(2, 2)}
    lowest = -math.inf

    everything = built.suggest(excluded=declined, limit=100, min_score=lowest)
    alone = built.score_need(NEEDS[1], excluded=declined, limit=100, min_score=lowest)
    mirrored = built.score_offer(OFFERS[1], excluded=declined, limit=100, min_score=lowest)

    own = [s for s in everything if s.need_organisation_id == s.offer_organisation_id]
    assert (own, [s for s in everything if (s.need_id, s.offer_id) in declined]) == ([], [])
    assert [s.offer_id for s in alone] == [s.offer_id for s in everything if s.need_id == 2]
    assert {s.offer_organisation_id for s in alone} & {10} == set()
    assert 2 not in {s.need_id for s in mirrored}
    assert {s.need_organisation_id for s in mirrored} & {30} == set()
    with pytest.raises(ValueError, match="NaN"):
        built.suggest(min_score=math.nan)
    with pytest.raises(ValueError, match="NaN"):
        built.score_need(NEEDS[1], min_score=math.nan)


def test_an_embedding_that_is_not_finite_leaves_the_index_scoring_on_words() -> None:
    """One NaN embedding made every centred vector NaN, and every suggestion vanished."""
    data = synthetic.with_embeddings(synthetic.community(4, per_organisation=8, seed=3), seed=3)
    broken = np.full(len(np.frombuffer(data.needs[0].embedding or b"", dtype="<f4")), np.nan)
    needs = [replace(data.needs[0], embedding=broken.astype("<f4").tobytes()), *data.needs[1:]]
    assert MatchIndex(data.taxonomy, data.needs, data.offers).semantic

    built = MatchIndex(data.taxonomy, needs, data.offers)

    assert not built.semantic
    assert not MatchIndex.scores_semantically(needs, data.offers)
    assert built.suggest(min_score=0.0, limit=3) != ()
    semantic = MatchIndex(data.taxonomy, data.needs[1:], data.offers)
    with pytest.raises(ValueError, match="finite values"):
        semantic.score_need(replace(needs[0], id=10_000))


def test_the_topic_reason_separates_labels_that_hold_commas() -> None:
    """ "topics Aanbesteding, staatssteun en contracten, Aquathermie (TEO, TEA, TED)" read as
    four topics or more."""
    topics = ("aanbesteding-staatssteun", "aquathermie")
    built = MatchIndex(
        shared_taxonomy := synthetic.community(2).taxonomy,  # the shipped one
        [need(1, 10, "Aanbesteding van een aquathermiesysteem", topics=topics)],
        [offer(2, 20, "Wij besteedden een TEO-installatie aan", topics=topics)],
    )
    [found] = built.suggest(min_score=0.0)
    [reason] = [reason for reason in found.reasons if reason.factor == "topic"]
    labels = [shared_taxonomy[slug].display for slug in topics]
    assert all("," in label for label in labels)
    assert reason.detail == "topics " + "; ".join(labels)
