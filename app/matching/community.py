"""Community-level views built on suggestions: reciprocal pairs, working groups, one-call report.

Working groups use average-linkage agglomerative clustering of needs on the content similarity
of :meth:`MatchIndex.need_similarities` (condensed: :meth:`MatchIndex.need_distances`), cut at
``GROUP_SIMILARITY``. Average linkage (rather than connected components over a threshold, which
chain everything into one giant group) keeps a group together only when its needs are similar
*on average*. A cluster becomes a group when its needs come from at least ``min_organisations``
different organisations.

The clustering is fastcluster's (Müllner's nearest-neighbour-chain average linkage, the
algorithm scipy's ``linkage`` is derived from): at Netherlands scale it takes half scipy's time
and, unlike scipy's, releases the GIL, so the suggestions computed beside it in
:func:`community_report` are not held up for its duration.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import replace
from operator import attrgetter

from scipy.cluster.hierarchy import fcluster

from app.matching import parallel, scoring
from app.matching.allocation import allocate
from app.matching.index import MAX_SUGGESTIONS, MatchIndex
from app.matching.parallel import collector_paused
from app.matching.taxonomy import Taxonomy
from app.matching.types import (
    CommunityReport,
    FormatPreference,
    Need,
    Offer,
    ReciprocalPair,
    Suggestion,
    WorkingGroup,
)

GROUP_SIMILARITY = 0.30
"""Average content similarity (0–1) from which needs cluster into one working group."""

MIN_GROUP_ORGANISATIONS = 3
"""A working group needs at least this many organisations."""

CANDIDATES_PER_NEED = 20
"""Each need's best suggestions (at the gap threshold or above) that the allocation and the
reciprocal pairs of :func:`match_community` choose from: sparse candidate edges. A service that
stores this many per need gives the same allocation and pairs from what it stores."""


def suggest(
    needs: Iterable[Need],
    offers: Iterable[Offer],
    taxonomy: Taxonomy,
    *,
    excluded: Collection[tuple[int, int]] = (),
    weights: scoring.Weights | None = None,
    limit: int = MAX_SUGGESTIONS,
    min_score: float | None = None,
) -> tuple[Suggestion, ...]:
    """Suggestions for every need, best first per need; builds a :class:`MatchIndex` once."""
    index = MatchIndex(taxonomy, needs, offers, weights=weights)
    return index.suggest(excluded=excluded, limit=limit, min_score=min_score)


def reciprocal_pairs(
    suggestions: Iterable[Suggestion], *, min_score: float = scoring.GAP_THRESHOLD
) -> tuple[ReciprocalPair, ...]:
    """Organisation pairs where each can help the other, strongest pair first.

    For each direction the best suggestion at or above *min_score* counts; the pair's score is
    the weaker direction's. Ties are broken by the organisation ids.
    """
    best: dict[tuple[int, int], Suggestion] = {}
    for suggestion in suggestions:
        if suggestion.score < min_score:
            continue
        # key: (helper, helped)
        key = (suggestion.offer_organisation_id, suggestion.need_organisation_id)
        known = best.get(key)
        # A lower score is never better: most suggestions are settled without the tie-break.
        if known is None or (suggestion.score >= known.score and _better(suggestion, known)):
            best[key] = suggestion
    pairs: list[ReciprocalPair] = []
    for (helper, helped), forward in best.items():
        backward = best.get((helped, helper))
        if helper < helped and backward is not None:
            pairs.append(
                ReciprocalPair(
                    first_organisation_id=helper,
                    second_organisation_id=helped,
                    first_helps_second=forward,
                    second_helps_first=backward,
                    score=min(forward.score, backward.score),
                )
            )
    pairs.sort(key=lambda p: (-p.score, p.first_organisation_id, p.second_organisation_id))
    return tuple(pairs)


def working_groups(
    index: MatchIndex,
    formats: Iterable[FormatPreference] = (),
    *,
    suggestions: Iterable[Suggestion] | None = None,
    min_similarity: float = GROUP_SIMILARITY,
    min_organisations: int = MIN_GROUP_ORGANISATIONS,
) -> tuple[WorkingGroup, ...]:
    """Clusters of needs shared by at least *min_organisations* organisations, largest first.

    Each group lists its topics (those of at least half its needs, else the most common one),
    its hosts (see :func:`_with_hosts`: the organisations whose offers are in *suggestions* for
    its needs; by default the index's suggestions at its gap threshold) and the formats its
    members prefer.
    """
    groups = _clusters(index, formats, min_similarity, min_organisations)
    if not groups:
        return ()
    if suggestions is None:
        suggestions = index.suggest(min_score=index.gap_threshold)
    return _with_hosts(groups, suggestions)


def _with_hosts(
    groups: Iterable[WorkingGroup], suggestions: Iterable[Suggestion]
) -> tuple[WorkingGroup, ...]:
    """*groups* with their hosts: the organisations whose offers are in *suggestions* for the
    group's needs, those suggested for most of its needs first, then by their best score, ties
    by id. A member hosts where its offer is suggested for another member's need (never for its
    own: no organisation is suggested its own offer).

    Hosts were the organisations with an offer *tagged* with one of the group's topics, which
    made a member that asks for the help a host, and an offer sharing only a tag (a data portal
    "on" insulation through its energy labels) one too."""
    by_need: dict[int, list[Suggestion]] = defaultdict(list)
    for suggestion in suggestions:
        by_need[suggestion.need_id].append(suggestion)
    hosted: list[WorkingGroup] = []
    for group in groups:
        helped: dict[int, set[int]] = defaultdict(set)
        best: dict[int, float] = defaultdict(float)
        for need_id in group.need_ids:
            for suggestion in by_need.get(need_id, ()):
                host = suggestion.offer_organisation_id
                helped[host].add(need_id)
                best[host] = max(best[host], suggestion.score)
        hosts = sorted(helped, key=lambda host: (-len(helped[host]), -best[host], host))
        hosted.append(replace(group, host_organisation_ids=tuple(hosts)))
    return tuple(hosted)


def _clusters(
    index: MatchIndex,
    formats: Iterable[FormatPreference],
    min_similarity: float,
    min_organisations: int,
) -> list[WorkingGroup]:
    """working_groups without their hosts, largest first."""
    needs = index.needs
    if len(needs) < 2:
        return []
    tree = index.need_linkage
    labels = fcluster(tree, t=1.0 - min_similarity, criterion="distance")

    clusters: dict[int, list[int]] = defaultdict(list)
    for position, label in enumerate(labels.tolist()):
        clusters[label].append(position)
    need_topics = index.need_topics()
    formats_of: dict[int, set[str]] = defaultdict(set)
    for preference in formats:
        formats_of[preference.organisation_id].add(preference.format)

    groups: list[WorkingGroup] = []
    for positions in clusters.values():
        members = sorted({needs[position].organisation_id for position in positions})
        if len(members) < min_organisations:
            continue
        topics = _group_topics([need_topics[position] for position in positions])
        format_counts: Counter[str] = Counter(
            name for member in members for name in formats_of.get(member, ())
        )
        groups.append(
            WorkingGroup(
                topics=tuple(sorted(topics)),
                need_ids=tuple(sorted(needs[position].id for position in positions)),
                organisation_ids=tuple(members),
                host_organisation_ids=(),
                preferred_formats=tuple(
                    sorted(format_counts.items(), key=lambda item: (-item[1], item[0]))
                ),
            )
        )
    groups.sort(key=lambda group: (-len(group.organisation_ids), group.need_ids))
    return groups


def match_community(
    taxonomy: Taxonomy,
    needs: Iterable[Need],
    offers: Iterable[Offer],
    formats: Iterable[FormatPreference] = (),
    *,
    excluded: Collection[tuple[int, int]] = (),
    weights: scoring.Weights | None = None,
) -> CommunityReport:
    """Everything for one community in one pass: suggestions, allocation, pairs, groups, gaps."""
    index = MatchIndex(taxonomy, needs, offers, weights=weights)
    return community_report(index, formats, excluded=excluded)


def community_report(
    index: MatchIndex,
    formats: Iterable[FormatPreference] = (),
    *,
    excluded: Collection[tuple[int, int]] = (),
) -> CommunityReport:
    """match_community on an index that is already built (the recompute after the build).

    The working groups (need × need similarities and their clustering) are worked out in a
    second thread beside the suggestions, gaps and unmet offers (see parallel): they share the
    index's arrays, which nothing changes. At Netherlands scale the two take about as long.
    """
    with (
        collector_paused(),
        parallel.in_background(
            lambda: _clusters(index, formats, GROUP_SIMILARITY, MIN_GROUP_ORGANISATIONS)
        ) as groups,
    ):
        # Only the suggestions shown get their reasons now; candidates further down that the
        # allocation or a reciprocal pair picks get them afterwards.
        candidates = index._suggest(
            excluded, CANDIDATES_PER_NEED, index.gap_threshold, explained=MAX_SUGGESTIONS
        )
        # Each need's candidates follow one another, best first: its first few are shown.
        shown = [
            suggestion
            for _, ranked in itertools.groupby(candidates, key=attrgetter("need_id"))
            for suggestion in itertools.islice(ranked, MAX_SUGGESTIONS)
        ]
        allocation = allocate(candidates, index.offers)
        pairs = reciprocal_pairs(candidates, min_score=index.gap_threshold)
        unexplained = [
            suggestion
            for suggestion in (
                *allocation.assignments,
                *(pair.first_helps_second for pair in pairs),
                *(pair.second_helps_first for pair in pairs),
            )
            if suggestion.score > 0 and not suggestion.reasons
        ]
        if unexplained:
            full = index._explained(unexplained)

            def explained(suggestion: Suggestion) -> Suggestion:
                return full.get((suggestion.need_id, suggestion.offer_id), suggestion)

            allocation = replace(
                allocation, assignments=tuple(map(explained, allocation.assignments))
            )
            # Made directly: dataclasses.replace costs several times a constructor call.
            pairs = tuple(
                ReciprocalPair(
                    first_organisation_id=pair.first_organisation_id,
                    second_organisation_id=pair.second_organisation_id,
                    first_helps_second=explained(pair.first_helps_second),
                    second_helps_first=explained(pair.second_helps_first),
                    score=pair.score,
                )
                for pair in pairs
            )
        # A need or offer with a candidate is settled: candidates reach the gap threshold.
        gaps = index._gaps(excluded, None, {suggestion.need_id for suggestion in candidates})
        unmet_offers = index._unmet_offers(
            excluded, None, {suggestion.offer_id for suggestion in candidates}
        )
        return CommunityReport(
            suggestions=tuple(shown),
            allocation=allocation,
            reciprocal_pairs=pairs,
            working_groups=_with_hosts(groups.result(), shown),
            gaps=gaps,
            unmet_offers=unmet_offers,
        )


def _better(first: Suggestion, second: Suggestion) -> bool:
    return (-first.score, first.need_id, first.offer_id) < (
        -second.score,
        second.need_id,
        second.offer_id,
    )


def _group_topics(topic_sets: list[frozenset[str]]) -> frozenset[str]:
    counts: Counter[str] = Counter(slug for slugs in topic_sets for slug in slugs)
    if not counts:
        return frozenset()
    shared = frozenset(slug for slug, count in counts.items() if 2 * count >= len(topic_sets))
    if shared:
        return shared
    top = max(counts.values())
    return frozenset({min(slug for slug, count in counts.items() if count == top)})
