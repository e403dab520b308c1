"""Allocation: one assignment of needs to offers that respects every offer's capacity.

The objective is lexicographic: first cover as many organisations as possible (an organisation
is covered when at least one of its needs gets a helper), then maximise the total score.
Each need gets at most one helper; an offer serves at most ``capacity`` needs.

Pairs already *committed* to (a suggestion that was introduced, accepted or completed) are part
of every allocation as they are: each takes one place of its offer's capacity, its need gets no
other helper (a need with several committed pairs keeps them all), and its organisation counts
as covered. The rest is solved around them.

Only the suggestions passed in are candidate edges (typically each need's top-k), which keeps the
problem sparse. It is solved exactly as a minimum-weight full bipartite matching
(:func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`, LAPJVsp) on a
capacity-expanded graph:

* rows are needs; an offer of capacity c becomes c identical *slot* columns;
* an organisation with k needs gets private *dummy* columns a need takes when it stays
  unassigned: k − 1 free ones on a path (need i reaches free columns i − 1 and i, so any k − 1
  of its needs fit, with 3k edges instead of k²) and one all its needs reach that carries a
  penalty M larger than any total score, so leaving every need of it unassigned costs M;
* a need–slot edge costs ``BASE − units(score)`` with scores in integer units of 10⁻⁴, a free
  dummy ``BASE`` and the penalty dummy ``BASE + M``. Every row is matched exactly once, so the
  constant BASE does not change the optimum; it only keeps every weight positive.

Minimising the matching's weight thus maximises ``M · covered + Σ units(score)``, which is the
lexicographic objective; integer costs make the result exact. Inputs are sorted by id before
the graph is built, so equal input gives the same allocation whatever its order (among equally
good allocations the solver's pick is deterministic, though not specifically the lowest ids).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from app.matching.scoring import SCORE_DECIMALS, to_units
from app.matching.types import Allocation, Offer, Suggestion

_UNIT = 10**SCORE_DECIMALS
_BASE = _UNIT + 1


def allocate(
    suggestions: Iterable[Suggestion],
    offers: Iterable[Offer],
    *,
    committed: Iterable[Suggestion] = (),
) -> Allocation:
    """Assign needs to offers: most organisations covered first, then the highest total score.

    *suggestions* are the candidate edges (suggestions with a score of 0 are ignored, and of
    duplicate need–offer pairs the best counts); *offers* supply the capacities. Suggestions for
    offers that are missing from *offers*, or have capacity 0, cannot be assigned. *committed*
    pairs (of offers in *offers*) are assigned whatever their score and the capacity left: the
    solve fills what they leave (see the module's docstring).
    """
    capacity = {offer.id: max(0, offer.capacity) for offer in offers}
    kept = _unique_pairs(s for s in committed if s.offer_id in capacity)
    committed_needs = {s.need_id for s in kept}
    for suggestion in kept:
        capacity[suggestion.offer_id] = max(0, capacity[suggestion.offer_id] - 1)
    scored = [s for s in suggestions if s.score > 0 and s.need_id not in committed_needs]
    # Every organisation with a candidate is covered or not, whether or not its candidates'
    # offers can take anyone.
    candidates = {s.need_organisation_id for s in (*scored, *kept)}
    solved = _solve(
        [s for s in scored if capacity.get(s.offer_id, 0) > 0],
        capacity,
        already_covered={s.need_organisation_id for s in kept},
    )
    assignments = sorted((*kept, *solved), key=lambda s: (s.need_id, s.offer_id))
    covered = sorted({suggestion.need_organisation_id for suggestion in assignments})
    uncovered = sorted(candidates - set(covered))
    total_units = sum(to_units(suggestion.score) for suggestion in assignments)
    return Allocation(
        assignments=tuple(assignments),
        covered_organisations=tuple(covered),
        uncovered_organisations=tuple(uncovered),
        total_score=round(total_units / _UNIT, SCORE_DECIMALS),
    )


def _unique_pairs(suggestions: Iterable[Suggestion]) -> list[Suggestion]:
    """One suggestion per need–offer pair (the best scored), in (need, offer) order."""
    best: dict[tuple[int, int], Suggestion] = {}
    for suggestion in suggestions:
        key = (suggestion.need_id, suggestion.offer_id)
        if key not in best or suggestion.score > best[key].score:
            best[key] = suggestion
    return [best[key] for key in sorted(best)]


def _solve(
    items: list[Suggestion], capacity: dict[int, int], *, already_covered: set[int]
) -> list[Suggestion]:
    """The optimal assignment over *items* (each of an offer with capacity left), where the
    organisations *already_covered* need no helper for coverage: their needs are assigned for
    score alone."""
    if not items:
        return []
    count = len(items)
    need_ids = np.fromiter((s.need_id for s in items), dtype=np.int64, count=count)
    offer_ids = np.fromiter((s.offer_id for s in items), dtype=np.int64, count=count)
    scores = np.fromiter((s.score for s in items), dtype=np.float64, count=count)
    units = np.rint(scores * _UNIT).astype(np.int64)  # same as to_units, vectorised
    # One edge per need–offer pair, the best score first among duplicates; then in id order.
    order = np.lexsort((-units, offer_ids, need_ids))
    first = np.ones(count, dtype=np.bool_)
    first[1:] = (np.diff(need_ids[order]) != 0) | (np.diff(offer_ids[order]) != 0)
    edges = order[first]
    need_ids, offer_ids, units = need_ids[edges], offer_ids[edges], units[edges]

    rows_need, edge_rows = np.unique(need_ids, return_inverse=True)
    unique_offers, edge_offers, candidates_per_offer = np.unique(
        offer_ids, return_inverse=True, return_counts=True
    )
    # An offer never needs more slots than it has candidate needs.
    slots = np.minimum(
        np.array([capacity[int(offer_id)] for offer_id in unique_offers], dtype=np.int64),
        candidates_per_offer,
    )
    first_slot = np.concatenate(([0], np.cumsum(slots)[:-1]))
    slot_columns = int(slots.sum())

    # Need–slot edges: each edge repeated over its offer's slots.
    repeats = slots[edge_offers]
    edge_starts = np.repeat(np.cumsum(repeats) - repeats, repeats)
    within = np.arange(int(repeats.sum())) - edge_starts
    rows = [np.repeat(edge_rows, repeats)]
    columns = [np.repeat(first_slot[edge_offers], repeats) + within]
    weights = [np.repeat(_BASE - units, repeats)]

    # Dummy columns per organisation: one penalty column all its needs reach, and k − 1 free
    # columns on a path (need i reaches free i − 1 and i), so any k − 1 needs can stay unassigned
    # for free while leaving all k unassigned costs the penalty. An organisation already
    # covered gets no penalty column but k free ones: need i reaches free i − 1 and i, with one
    # more column at the end of the path.
    organisation_of = {s.need_id: s.need_organisation_id for s in items}
    needs_of: dict[int, list[int]] = defaultdict(list)
    for row, need_id in enumerate(rows_need.tolist()):
        needs_of[organisation_of[need_id]].append(row)
    penalty = _UNIT * len(rows_need) + 1
    dummy_rows: list[int] = []
    dummy_columns: list[int] = []
    dummy_weights: list[int] = []
    column = slot_columns
    for organisation_id in sorted(needs_of):
        members = needs_of[organisation_id]
        covered = organisation_id in already_covered
        penalty_column, free_start = column, column + (0 if covered else 1)
        free_columns = len(members) - (0 if covered else 1)
        for position, row in enumerate(members):
            if not covered:
                dummy_rows.append(row)
                dummy_columns.append(penalty_column)
                dummy_weights.append(_BASE + penalty)
            for free in (position - 1, position):
                if 0 <= free < free_columns:
                    dummy_rows.append(row)
                    dummy_columns.append(free_start + free)
                    dummy_weights.append(_BASE)
        column = free_start + free_columns
    rows.append(np.array(dummy_rows, dtype=np.int64))
    columns.append(np.array(dummy_columns, dtype=np.int64))
    weights.append(np.array(dummy_weights, dtype=np.int64))

    graph = sparse.csr_matrix(
        (
            np.concatenate(weights).astype(np.float64),
            (np.concatenate(rows), np.concatenate(columns)),
        ),
        shape=(len(rows_need), column),
    )
    matched_rows, matched_columns = min_weight_full_bipartite_matching(graph)

    offer_of_column = np.repeat(np.arange(len(unique_offers), dtype=np.int64), slots)
    assigned = matched_columns < slot_columns
    assigned_rows = matched_rows[assigned].astype(np.int64)
    assigned_offers = offer_of_column[matched_columns[assigned]]
    # Edges are sorted by (need, offer), and so by (row, offer position): find each assigned
    # pair's edge by binary search on positions, which stay small whatever the ids are.
    span = len(unique_offers)
    keys = edge_rows.astype(np.int64) * span + edge_offers
    found = np.searchsorted(keys, assigned_rows * span + assigned_offers)
    return [items[int(edge)] for edge in edges[found]]
