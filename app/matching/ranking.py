"""Ranking scored pairs into suggestions: each query's best targets, exactly, ties by target id.

A query is a need (ranking offers for it) or an offer (ranking needs); *need_side* says which.
Scores come in two precisions: raw (unrounded sums, from dense blocks or candidates) to find
who can make a list, and exact (the sum of the rounded contributions people see) to rank them.
Raw and exact scores differ by at most 5 · 0.00005 (one rounding per factor), so every pair
within ``ROUNDING_MARGIN`` of a cut is scored exactly: rounding can never change who makes the
list.

Suggestions get their reasons from the :class:`~app.matching.reasons.Explainer`; those ranked
without them keep their contributions in :attr:`Ranker.unexplained`, to be explained later
without scoring them again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

from app.matching import scoring
from app.matching.pairs import PairScorer
from app.matching.reasons import Explainer, pair_suggestion
from app.matching.shortlist import row_pointers
from app.matching.sides import Candidates, Prepared, Side
from app.matching.types import Suggestion

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ROUNDING_MARGIN = 5e-4
"""Raw scores within this of a cut are scored exactly (see the module docstring)."""


def blocked_pairs(need_side: bool, excluded: Collection[tuple[int, int]]) -> dict[int, set[int]]:
    """The (need id, offer id) pairs in *excluded* as {query id: target ids}."""
    blocked: dict[int, set[int]] = {}
    for need_id, offer_id in excluded:
        query_id, target_id = (need_id, offer_id) if need_side else (offer_id, need_id)
        blocked.setdefault(query_id, set()).add(target_id)
    return blocked


def _valid(
    raw: FloatArray,
    organisations: IntArray,
    position: dict[int, int],
    targets: Side,
    blocked: dict[int, set[int]],
) -> FloatArray:
    """*raw* (queries × targets) with −inf for pairs of one organisation and for declined pairs;
    *organisations* are the queries' codes, *position* their rows by id."""
    scores: FloatArray = np.where(
        organisations[:, None] != targets.organisations[None, :], raw, -np.inf
    )
    for query_id, target_ids in blocked.items():
        row = position.get(query_id)
        if row is not None:
            scores[row, np.isin(targets.ids, list(target_ids))] = -np.inf
    return scores


def ranking_order(
    query_rows: IntArray, scores: FloatArray, positions: IntArray, target_ids: IntArray
) -> IntArray:
    """The order of pairs by query row, then score (best first), then target id:
    ``np.lexsort((target_ids[positions], -scores, query_rows))`` for scores rounded to
    SCORE_DECIMALS, in one sort of one integer key where it fits in 62 bits.

    A rounded score is an exact number of units (scoring.to_units); where the target ids
    ascend with their positions (an index's sides), the position orders ties as the id does.
    """
    count = len(target_ids)
    if not len(scores):
        return np.zeros(0, dtype=np.int64)
    units = np.rint(scores * 10**scoring.SCORE_DECIMALS).astype(np.int64)
    best = int(units.max())
    span = best - int(units.min()) + 1
    fits = (int(query_rows.max()) + 1) * span * count < 2**62
    if not fits or not np.all(target_ids[1:] > target_ids[:-1]):
        order: IntArray = np.lexsort((target_ids[positions], -scores, query_rows))
        return order
    # A stable sort, as lexsort's: equal keys (the same pair twice) keep their order.
    key = (query_rows * span + (best - units)) * count + positions
    return np.argsort(key, kind="stable")


def _near_the_best(scores: FloatArray) -> tuple[IntArray, IntArray]:
    """(row, column) of the entries within ROUNDING_MARGIN of their row's best (finite) score:
    the only ones that can be the row's best once scored exactly."""
    best = scores.max(axis=1, initial=-np.inf)
    rows, columns = np.nonzero(scores >= best[:, None] - ROUNDING_MARGIN)
    finite = np.isfinite(best[rows])
    return rows[finite], columns[finite]


class Ranker:
    """Ranks an index's pairs with its scorer and explainer."""

    def __init__(self, scorer: PairScorer, explainer: Explainer) -> None:
        self.scorer = scorer
        self.explainer = explainer
        self.unexplained: dict[tuple[int, int], list[float]] = {}
        """The contributions (FACTOR_ORDER) of pairs ranked without their reasons, by (need id,
        offer id)."""

    def _top_by_score(
        self,
        queries: Sequence[Prepared],
        targets: Side,
        need_side: bool,
        query_rows: IntArray,
        positions: IntArray,
        contributions: FloatArray,
        limit: int,
        min_score: float,
        explained: int | None,
    ) -> list[tuple[Suggestion, ...]]:
        """Each query's best *limit* candidate pairs by exact score (ties by target id), none
        below *min_score*; the first *explained* (None: all) of each get their reasons.

        The pairs are (queries[query_rows[k]], targets.items[positions[k]]), with the factors'
        contributions in column k of *contributions* (:func:`scoring.contributions`)."""
        scores = scoring.sums(contributions)
        keep = scores >= min_score
        query_rows, positions, scores = query_rows[keep], positions[keep], scores[keep]
        order = ranking_order(query_rows, scores, positions, targets.ids)
        query_rows, positions, scores = query_rows[order], positions[order], scores[order]
        pairs = np.flatnonzero(keep)[order]
        rank = np.arange(len(query_rows)) - row_pointers(query_rows, len(queries))[query_rows]
        top = rank < limit
        explain = limit if explained is None else explained
        ranked: list[list[Suggestion]] = [[] for _ in queries]
        # A query's pairs with reasons come first in its list, then those without: each kind
        # is made in one pass, in order, and appended to its query's list.
        for kind, with_reasons in (
            (top & (rank < explain), True),
            (top & (rank >= explain), False),
        ):
            rows = query_rows[kind].tolist()
            oriented = [
                (query, target) if need_side else (target, query)
                for query, target in zip(
                    (queries[row] for row in rows),
                    (targets.items[position] for position in positions[kind].tolist()),
                    strict=True,
                )
            ]
            # Each pair's contributions as a list, in one conversion for all of them.
            values = contributions[:, pairs[kind]].T.tolist()
            if with_reasons:
                made = self.explainer.suggestions(oriented, values)
            else:
                made = self._without_reasons(oriented, values, scores[kind].tolist())
            for row, suggestion in zip(rows, made, strict=True):
                ranked[row].append(suggestion)
        return [tuple(found) for found in ranked]

    def _without_reasons(
        self,
        pairs: Sequence[tuple[Prepared, Prepared]],
        contributions: Sequence[list[float]],
        scores: Sequence[float],
    ) -> list[Suggestion]:
        """Suggestions of (need, offer) *pairs* with their exact *scores* but no reasons; their
        *contributions* are kept in :attr:`unexplained` to explain them later."""
        found = []
        for (need, offer), values, score in zip(pairs, contributions, scores, strict=True):
            self.unexplained[need.id, offer.id] = values
            found.append(pair_suggestion(need, offer, score))
        return found

    def _top_of_pairs(
        self,
        queries: Side,
        targets: Side,
        need_side: bool,
        query_rows: IntArray,
        positions: IntArray,
        cosine: FloatArray,
        limit: int,
        min_score: float,
        explained: int | None,
    ) -> list[tuple[Suggestion, ...]]:
        """_top_by_score of indexed query × target pairs, scored by scoring.contributions."""
        need_rows, offer_rows = (query_rows, positions) if need_side else (positions, query_rows)
        contributions = scoring.contributions(
            self.scorer.weights, self.scorer.pair_components(need_rows, offer_rows, cosine)
        )
        return self._top_by_score(
            queries.items,
            targets,
            need_side,
            query_rows,
            positions,
            contributions,
            limit,
            min_score,
            explained,
        )

    def rank_dense(
        self,
        queries: Side,
        targets: Side,
        need_side: bool,
        raw: FloatArray,
        cosine: FloatArray,
        blocked: dict[int, set[int]],
        limit: int,
        min_score: float,
        explained: int | None,
    ) -> list[tuple[Suggestion, ...]]:
        """rank_one for every query at once, from the raw scores and cosines of every pair
        (query × target): the cuts are vectorised."""
        if limit <= 0 or not targets.items:
            return [()] * len(queries.items)
        scores = _valid(raw, queries.organisations, queries.position, targets, blocked)
        cut = np.full(len(queries.items), min_score)
        if limit < scores.shape[1]:
            kth = np.partition(scores, scores.shape[1] - limit, axis=1)[:, scores.shape[1] - limit]
            cut = np.maximum(cut, kth)
        # Finite: a pair of one organisation or a declined one is −inf, which a cut of −inf
        # (min_score −inf, "everything") would let through.
        rows, columns = np.nonzero(
            np.isfinite(scores) & (scores >= (cut - ROUNDING_MARGIN)[:, None])
        )
        pair_cosine = cosine[rows, columns]
        return self._top_of_pairs(
            queries, targets, need_side, rows, columns, pair_cosine, limit, min_score, explained
        )

    def rank_candidates(
        self,
        queries: Side,
        targets: Side,
        need_side: bool,
        candidates: Candidates,
        blocked: dict[int, set[int]],
        limit: int,
        min_score: float,
        explained: int | None,
        skipped: BoolArray | None = None,
    ) -> list[tuple[Suggestion, ...]]:
        """The best *limit* candidates of each query (none for queries *skipped*)."""
        if limit <= 0 or not targets.items:
            return [()] * len(queries.items)
        rows = np.repeat(np.arange(len(queries.items)), np.diff(candidates.pointers))
        positions = candidates.positions
        valid = queries.organisations[rows] != targets.organisations[positions]
        if skipped is not None:
            valid &= ~skipped[rows]
        if blocked:
            # One key per (query row, target position): all declined pairs found in one pass.
            span = len(targets.items)
            declined = [
                queries.position[query_id] * span + targets.position[target_id]
                for query_id, target_ids in blocked.items()
                if query_id in queries.position
                for target_id in target_ids
                if target_id in targets.position
            ]
            valid &= ~np.isin(rows * span + positions, declined)
        valid &= candidates.raw >= min_score - ROUNDING_MARGIN
        return self._top_by_score(
            queries.items,
            targets,
            need_side,
            rows[valid],
            positions[valid],
            candidates.contributions[:, valid],
            limit,
            min_score,
            explained,
        )

    def best_dense(
        self,
        queries: Side,
        targets: Side,
        need_side: bool,
        raw: FloatArray,
        cosine: FloatArray,
        blocked: dict[int, set[int]],
    ) -> list[Suggestion | None]:
        """Every query's best suggestion (rank_one with limit 1 and no minimum), from the raw
        scores and cosines of every pair (query × target).

        Only targets within the rounding margin of a query's best raw score can be its best
        suggestion; those few are scored exactly.
        """
        scores = _valid(raw, queries.organisations, queries.position, targets, blocked)
        rows, columns = _near_the_best(scores)
        pair_cosine = cosine[rows, columns]
        ranked = self._top_of_pairs(
            queries, targets, need_side, rows, columns, pair_cosine, 1, 0.0, 0
        )
        return [found[0] if found else None for found in ranked]

    def best_of_rows(
        self,
        queries: Side,
        targets: Side,
        need_side: bool,
        rows: IntArray,
        blocked: dict[int, set[int]],
    ) -> list[Suggestion | None]:
        """The best suggestion of each query at *rows* against every target, scored from the
        query's own vectors (best_dense for a few queries, without the pair scores)."""
        items = [queries.items[row] for row in rows.tolist()]
        raw, cosine = self.scorer.raw_scores(
            items, queries.matrix[rows], targets, need_side=need_side
        )
        position = {item.id: offset for offset, item in enumerate(items)}
        scores = _valid(raw, queries.organisations[rows], position, targets, blocked)
        local, columns = _near_the_best(scores)
        ranked = self._top_of_pairs(
            queries, targets, need_side, rows[local], columns, cosine[local, columns], 1, 0.0, 0
        )
        return [ranked[row][0] if ranked[row] else None for row in rows.tolist()]

    def rank_one(
        self,
        item: Prepared,
        raw: FloatArray,
        cosine: FloatArray,
        targets: Side,
        need_side: bool,
        blocked: set[int],
        limit: int,
        min_score: float,
    ) -> tuple[Suggestion, ...]:
        """The best *limit* targets of one *item* (possibly new to the index), from its raw
        scores and cosines against every target.

        Only the candidates that can make the top *limit* (raw and exact scores differ by less
        than the margin) are scored exactly, then ranked.
        """
        if limit <= 0 or not targets.items:
            return ()
        valid: BoolArray = targets.organisations != self.scorer.organisation_code(item)
        if blocked:
            valid &= ~np.isin(targets.ids, list(blocked))
        scores = np.where(valid, raw, -np.inf)
        candidates = np.flatnonzero(valid & (scores >= min_score - ROUNDING_MARGIN))
        if limit < len(candidates):
            kth = np.partition(scores[candidates], len(candidates) - limit)[len(candidates) - limit]
            candidates = candidates[scores[candidates] >= kth - ROUNDING_MARGIN]
        components = self.scorer.item_components(
            item, need_side, targets, candidates, cosine[candidates]
        )
        return self._top_by_score(
            [item],
            targets,
            need_side,
            np.zeros(len(candidates), dtype=np.int64),
            candidates,
            scoring.contributions(self.scorer.weights, components),
            limit,
            min_score,
            None,
        )[0]
