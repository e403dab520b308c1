import fastcluster
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from app.matching import (
    CANDIDATES_PER_NEED,
    FormatPreference,
    MatchIndex,
    Suggestion,
    match_community,
    reciprocal_pairs,
    suggest,
    working_groups,
)
from app.matching.community import GROUP_SIMILARITY

from . import synthetic
from .factories import empty_taxonomy, need, offer, taxonomy


def suggestion(
    need_id: int, offer_id: int, need_org: int, offer_org: int, score: float
) -> Suggestion:
    return Suggestion(need_id, offer_id, need_org, offer_org, score, (), ())


def test_reciprocal_pairs_need_both_directions() -> None:
    a_helps_b = suggestion(1, 11, need_org=2, offer_org=1, score=0.6)
    b_helps_a = suggestion(2, 12, need_org=1, offer_org=2, score=0.4)
    weaker_b_helps_a = suggestion(3, 13, need_org=1, offer_org=2, score=0.3)
    one_way = suggestion(4, 14, need_org=3, offer_org=1, score=0.9)
    too_weak = suggestion(5, 15, need_org=1, offer_org=3, score=0.1)
    pairs = reciprocal_pairs([one_way, weaker_b_helps_a, b_helps_a, a_helps_b, too_weak])
    assert len(pairs) == 1
    [pair] = pairs
    assert (pair.first_organisation_id, pair.second_organisation_id) == (1, 2)
    assert pair.first_helps_second == a_helps_b
    assert pair.second_helps_first == b_helps_a
    assert pair.score == 0.4
    assert reciprocal_pairs([one_way, too_weak], min_score=0.05)[0].score == 0.1


def test_reciprocal_pairs_strongest_first() -> None:
    pairs = reciprocal_pairs(
        [
            suggestion(1, 1, 1, 2, 0.5),
            suggestion(2, 2, 2, 1, 0.5),
            suggestion(3, 3, 3, 4, 0.9),
            suggestion(4, 4, 4, 3, 0.8),
        ]
    )
    assert [(p.first_organisation_id, p.second_organisation_id, p.score) for p in pairs] == [
        (3, 4, 0.8),
        (1, 2, 0.5),
    ]


GROUP_NEEDS = [
    # three organisations need aquathermie knowledge
    need(1, 1, "Aquathermie: thermische energie uit oppervlaktewater (TEO) in onze haven"),
    need(2, 2, "Kennis over TEO en aquathermie voor een wijk aan het water"),
    need(3, 3, "Aquathermie uit de rivier, thermische energie uit oppervlaktewater"),
    # two organisations need VvE knowledge: too few for a group
    need(4, 4, "Hoe krijgen we VvE's mee in de isolatie?"),
    need(5, 5, "Verenigingen van eigenaars en isolatie van appartementen"),
    # a chain: each similar to the next, not as a whole
    need(6, 6, "Businesscase warmtenet"),
    need(7, 1, "Participatie bij de TVW"),
]
GROUP_OFFERS = [
    offer(1, 4, "Wij hebben een TEO-installatie gebouwd"),
    offer(2, 5, "Onze aquathermie-pilot"),
    offer(3, 5, "Aquathermie haalbaarheidsstudie"),
    offer(4, 6, "VvE-aanpak", capacity=2),
]


def test_hosts_are_those_suggested_for_most_of_the_groups_needs_then_the_best() -> None:
    """Hosts were the organisations with an offer *tagged* with a group topic: a member asking
    for the help, and an offer sharing only a tag, hosted too."""
    index = MatchIndex(taxonomy(), GROUP_NEEDS, GROUP_OFFERS)
    suggested = [
        suggestion(1, 1, need_org=1, offer_org=4, score=0.40),
        suggestion(2, 2, need_org=2, offer_org=5, score=0.90),  # 5: one need, best score
        suggestion(1, 5, need_org=1, offer_org=7, score=0.35),  # 7 and 4 help two needs
        suggestion(3, 5, need_org=3, offer_org=7, score=0.35),
        suggestion(3, 1, need_org=3, offer_org=4, score=0.33),
        suggestion(1, 3, need_org=1, offer_org=3, score=0.50),  # a member helps another
        suggestion(4, 4, need_org=4, offer_org=6, score=0.99),  # not the group's need
    ]
    [group] = working_groups(index, suggestions=suggested)
    assert group.organisation_ids == (1, 2, 3)
    assert group.host_organisation_ids == (4, 7, 5, 3)
    [alone] = working_groups(index, suggestions=[])
    assert alone.host_organisation_ids == ()


def test_working_groups_cluster_a_shared_need() -> None:
    index = MatchIndex(taxonomy(), GROUP_NEEDS, GROUP_OFFERS)
    formats = [
        FormatPreference(1, "site-visit"),
        FormatPreference(2, "site-visit"),
        FormatPreference(2, "learning-circle"),
        FormatPreference(9, "peer-review"),
    ]
    groups = working_groups(index, formats)
    assert len(groups) == 1
    [group] = groups
    assert group.topics == ("aquathermie",)
    assert group.need_ids == (1, 2, 3)
    assert group.organisation_ids == (1, 2, 3)
    # Both are suggested for all three needs; 4's TEO installation scores best (0.6591).
    assert group.host_organisation_ids == (4, 5)
    assert group.preferred_formats == (("site-visit", 2), ("learning-circle", 1))
    assert working_groups(index, formats, min_organisations=2)[1].need_ids == (4, 5)


def test_working_groups_do_not_chain_into_one_giant_group() -> None:
    # Each text shares a word with the next: connected components over similarity ≥ 0.15 would
    # make one group of six; average linkage keeps three pairs.
    texts = [
        "warmtepomp zonnepaneel",
        "zonnepaneel dakkapel",
        "dakkapel fietspad",
        "fietspad speeltuin",
        "speeltuin bibliotheek",
        "bibliotheek zwembad",
    ]
    needs = [need(i, i, text) for i, text in enumerate(texts, start=1)]
    index = MatchIndex(empty_taxonomy(), needs, [])
    similarity = index.need_similarities()
    assert all(similarity[i, i + 1] >= 0.15 for i in range(5))
    pairs = working_groups(index, min_similarity=0.15, min_organisations=2)
    assert sorted(group.need_ids for group in pairs) == [(1, 2), (3, 4), (5, 6)]
    assert working_groups(index, min_similarity=0.15) == ()
    assert working_groups(index, min_similarity=0.0)[0].need_ids == (1, 2, 3, 4, 5, 6)


def test_match_community_reports_everything_consistently() -> None:
    report = match_community(
        taxonomy(), GROUP_NEEDS, GROUP_OFFERS, [FormatPreference(1, "site-visit")]
    )
    assert all(s.score >= 0.15 for s in report.suggestions)
    assigned = {(s.need_id, s.offer_id) for s in report.allocation.assignments}
    candidates = suggest(GROUP_NEEDS, GROUP_OFFERS, taxonomy(), limit=CANDIDATES_PER_NEED)
    assert assigned <= {(s.need_id, s.offer_id) for s in candidates}
    assert len(assigned) == 5
    assert {g.need_id for g in report.gaps} == {6, 7}
    assert len(report.working_groups) == 1
    assert report.allocation.covered_organisations == (1, 2, 3, 4, 5)
    assert report.unmet_offers == ()


def test_working_groups_cluster_as_scipy_average_linkage_does() -> None:
    """fastcluster (which releases the GIL) merges the same clusters at the same heights as
    scipy's average linkage, so the groups are scipy's: on a province-sized community."""
    data = synthetic.community(44)
    index = MatchIndex(data.taxonomy, data.needs, data.offers)
    distances = index.need_distances()
    ours, scipys = index.need_linkage, linkage(distances, "average")
    assert np.array_equal(ours, fastcluster.linkage(distances, method="average"))
    # Worked out once per index and shared, read-only, by every reader of the index.
    assert index.need_linkage is ours
    assert not ours.flags.writeable
    assert np.array_equal(ours[:, [0, 1, 3]], scipys[:, [0, 1, 3]])
    assert np.abs(ours[:, 2] - scipys[:, 2]).max() < 1e-12
    cut = 1.0 - GROUP_SIMILARITY
    groups = working_groups(index)
    labels = fcluster(scipys, t=cut, criterion="distance")
    members = list(zip(index.needs, labels.tolist(), strict=True))
    expected = {
        tuple(sorted(need.id for need, label in members if label == cluster))
        for cluster in set(labels.tolist())
    }
    assert groups
    assert {group.need_ids for group in groups} <= expected
