"""What an index fits on its own answers before it scores: each offer's hub floor and shift.

An offer worded so generally that it is close to many needs ("een klein collectief warmtenet")
would otherwise top many lists. Its **hubness** is the mean of its few highest cosines with
needs of other organisations; against the median offer's, it raises the offer's text floor
(:func:`scoring.hub_floor`) and shifts its semantic closeness (:func:`scoring.semantic_shift`).

Both passes compute every need × offer similarity, by blocks of needs worked out in parallel,
and keep what later steps need from them: the text pass each need's best offers by exact
cosine (its candidates on the large path) and, within a memory budget, the cosines themselves
(for reciprocity and the pair scores); the semantic pass each need's offers closest in meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from app.matching import parallel, scoring
from app.matching.shortlist import best_per_row
from app.matching.sides import Side

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Closest = dict[int, tuple[IntArray, IntArray]]
"""Each need's offers closest in meaning, by block start: (rows in the block, offer positions)."""


@dataclass(frozen=True, slots=True)
class TextPass:
    """What the text pass of :func:`fit_hub_floors` found; the floors themselves are written
    into the offers."""

    typical_hubness: float
    """The median offer's hubness, which a new offer's floor is measured against."""
    shortlist: tuple[IntArray, IntArray, FloatArray]
    """Each need's candidate offers: (need rows, offer positions, exact text cosines)."""
    cosines: list[FloatArray] | None
    """Every need × offer text cosine, by blocks of needs, when they fit the memory budget."""


def fit_semantic_shifts(
    needs: Side,
    offers: Side,
    *,
    block: int,
    closest_size: int,
    offer_closest_size: int = 0,
    kept: list[FloatArray] | None = None,
) -> tuple[float, Closest]:
    """Give every offer its semantic shift against the needs; returns the median hubness and
    each need's *closest_size* closest offers of other organisations (by block of *block*
    needs), which join its candidates: an answer can be close in meaning without sharing its
    words. So do each offer's *offer_closest_size* closest needs (see :func:`closest_needs`).
    Each block of need × offer embedding cosines is appended to *kept*, when given.

    hubness = mean of the offer's SEMANTIC_HUB_NEIGHBOURS highest embedding cosines with needs
    of other organisations; shift = semantic_shift(hubness, median hubness).
    """
    closest: Closest = {}

    def closeness(start: int, own: BoolArray) -> FloatArray:
        cosines: FloatArray = needs.embeddings[start : start + block] @ offers.embeddings.T
        rows, positions, _ = best_per_row(cosines, own, closest_size)
        closest[start] = (rows, positions)
        return cosines

    hubness, by_offer = offer_hubness(
        needs,
        offers,
        closeness,
        scoring.SEMANTIC_HUB_NEIGHBOURS,
        block,
        kept,
        closest_size=offer_closest_size,
    )
    rows, positions, _ = closest_needs(by_offer, offer_closest_size, len(offers.items))
    for start in closest:  # each pair joins the candidates of its need's block
        inside = (rows >= start) & (rows < start + block)
        block_rows, block_positions = closest[start]
        closest[start] = (
            np.concatenate([block_rows, rows[inside] - start]),
            np.concatenate([block_positions, positions[inside]]),
        )
    typical = float(np.median(hubness))
    offers.replace_items(
        [
            replace(
                item,
                semantic_shift=scoring.semantic_shift(value, typical, scoring.SEMANTIC_HUB_WEIGHT),
            )
            for item, value in zip(offers.items, hubness, strict=True)
        ]
    )
    return typical, closest


def fit_hub_floors(
    needs: Side,
    offers: Side,
    closest: Closest,
    *,
    block: int,
    shortlist_size: int,
    memory_budget: int,
    offer_shortlist_size: int = 0,
) -> TextPass:
    """Give every offer its hubness floor against the needs.

    hubness = mean of the offer's HUB_NEIGHBOURS highest text cosines with needs of other
    organisations; floor = hub_floor(hubness, median hubness of all offers). Each need's
    *shortlist_size* best offers by exact cosine, with those *closest* in meaning, are kept as
    its candidates, and so is every offer's *offer_shortlist_size* best needs by exact cosine
    (an offer no need shortlists would otherwise never be suggested, though a need with room
    for it scores it above the threshold); the cosines themselves, when they take at most
    *memory_budget* bytes.
    """
    kept: list[FloatArray] | None = (
        [] if len(needs.items) * len(offers.items) * 8 <= memory_budget else None
    )
    # Each need's candidates, by block start, as the blocks are worked out in parallel.
    best: dict[int, tuple[IntArray, IntArray, FloatArray]] = {}

    def cosines(start: int, own: BoolArray) -> FloatArray:
        values: FloatArray = (needs.matrix[start : start + block] @ offers.matrix_t).toarray()
        rows, positions, found = best_per_row(values, own, shortlist_size)
        if start in closest:
            close_rows, close_positions = closest[start]
            width = values.shape[1]
            new = ~np.isin(close_rows * width + close_positions, rows * width + positions)
            rows = np.concatenate([rows, close_rows[new]])
            positions = np.concatenate([positions, close_positions[new]])
            found = np.concatenate([found, values[close_rows[new], close_positions[new]]])
            order = np.argsort(rows, kind="stable")
            rows, positions, found = rows[order], positions[order], found[order]
        best[start] = (rows + start, positions, found)
        return values

    hubness, by_offer = offer_hubness(
        needs,
        offers,
        cosines,
        scoring.HUB_NEIGHBOURS,
        block,
        kept,
        closest_size=offer_shortlist_size,
    )
    starts = sorted(best)
    typical = float(np.median(hubness))
    offers.replace_items(
        [
            replace(item, text_floor=scoring.hub_floor(value, typical))
            for item, value in zip(offers.items, hubness, strict=True)
        ]
    )
    parts = [
        *(best[start] for start in starts),
        closest_needs(by_offer, offer_shortlist_size, len(offers.items)),
    ]
    rows, positions, found = (np.concatenate([part[i] for part in parts]) for i in range(3))
    # Each pair once (an offer's best need often shortlists it too), by need, in the order
    # the need's own candidates came.
    _, first = np.unique(rows * len(offers.items) + positions, return_index=True)
    first.sort()
    first = first[np.argsort(rows[first], kind="stable")]
    return TextPass(typical, (rows[first], positions[first], found[first]), kept)


def closest_needs(
    blocks: dict[int, tuple[IntArray, IntArray, FloatArray]], size: int, width: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Each of *width* offers' *size* highest values over all blocks of needs (as
    :func:`offer_hubness` found them per block), ties by the lower need row: (need rows, offer
    positions, values), by offer."""
    parts = [blocks[start] for start in sorted(blocks)]
    if size <= 0 or not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    # A column per offer, its blocks' candidates stacked down it in block order (each block's
    # by value and then row): a stable sort of each column by value keeps, of equal values,
    # the lower row first.
    values = np.full((size * len(parts), width), -np.inf)
    needs = np.zeros((size * len(parts), width), dtype=np.int64)
    for number, (rows, positions, found) in enumerate(parts):
        rank = np.arange(len(positions)) - np.searchsorted(positions, positions)
        values[number * size + rank, positions] = found
        needs[number * size + rank, positions] = rows
    order = np.argsort(-values, axis=0, kind="stable")[:size]
    chosen = np.take_along_axis(values, order, axis=0)
    taken = np.isfinite(chosen)
    positions = np.broadcast_to(np.arange(width), chosen.shape)
    rows = np.take_along_axis(needs, order, axis=0)
    # By offer, then value (best first).
    by_offer = np.argsort(positions[taken], kind="stable")
    return rows[taken][by_offer], positions[taken][by_offer], chosen[taken][by_offer]


def new_offer_floor(cosines: FloatArray, own: BoolArray, typical: float) -> float:
    """The hub floor of an offer new to the index, from its text cosines with the needs (*own*:
    those of its organisation), as :func:`fit_hub_floors` gives each indexed offer its floor."""
    return scoring.hub_floor(scoring.hubness(cosines[~own].tolist()), typical)


def new_offer_shift(closeness: FloatArray, own: BoolArray, typical: float) -> float:
    """The semantic shift of an offer new to the index, from its embedding cosines with the
    needs, as :func:`fit_semantic_shifts` gives each indexed offer its shift."""
    hubness = scoring.hubness(closeness[~own].tolist(), scoring.SEMANTIC_HUB_NEIGHBOURS)
    return scoring.semantic_shift(hubness, typical, scoring.SEMANTIC_HUB_WEIGHT)


def offer_hubness(
    needs: Side,
    offers: Side,
    cosines: Callable[[int, BoolArray], FloatArray],
    neighbours: int,
    block: int,
    kept: list[FloatArray] | None = None,
    *,
    closest_size: int = 0,
) -> tuple[list[float], dict[int, tuple[IntArray, IntArray, FloatArray]]]:
    """scoring.hubness of every offer: its *neighbours* highest cosines with needs of other
    organisations, where ``cosines(start, own)`` gives needs[start:start + block] × offers
    (*own*: which of those pairs are of one organisation); and, by block start, each offer's
    *closest_size* highest positive cosines in the block (need rows, offer positions, values;
    ties by the lower row), for :func:`closest_needs`.

    The blocks are worked out in parallel (parallel.ordered_imap), each with its own
    *neighbours* best per offer; the best of those are the best of all. Each block is
    appended to *kept*, when given. One partition of a block serves both.
    """
    by_offer: dict[int, tuple[IntArray, IntArray, FloatArray]] = {}

    def block_and_best(start: int) -> tuple[FloatArray, FloatArray]:
        same = needs.organisations[start : start + block, None] == offers.organisations[None]
        values = cosines(start, same)
        best = np.where(same, -np.inf, values)
        height = len(best)
        # The block's top rows of each column, by one partition of the block; the hubness's
        # and the closest needs' cuts are found among those few.
        depth = max(neighbours, closest_size)
        top = (
            np.partition(best, height - depth, axis=0)[height - depth :] if depth < height else best
        )

        def highest(size: int) -> FloatArray:
            """Each column's *size* highest values of the block (all, if it has fewer)."""
            if size >= len(top):
                return top
            highest: FloatArray = np.partition(top, len(top) - size, axis=0)[len(top) - size :]
            return highest

        if closest_size > 0:
            cut = highest(closest_size).min(axis=0) if closest_size < height else -np.inf
            rows, positions = np.nonzero((best >= cut) & (best > 0))
            found = best[rows, positions]
            order = np.lexsort((rows, -found, positions))
            rows, positions, found = rows[order], positions[order], found[order]
            rank = np.arange(len(positions)) - np.searchsorted(positions, positions)
            keep = rank < closest_size
            by_offer[start] = (rows[keep] + start, positions[keep], found[keep])
        return values, highest(neighbours)

    best = np.full((0, len(offers.items)), -np.inf)
    for values, block_best in parallel.ordered_imap(
        block_and_best, range(0, len(needs.items), block)
    ):
        if kept is not None:
            kept.append(values)
        best = np.vstack([best, block_best])
        if len(best) > neighbours:
            best = np.partition(best, len(best) - neighbours, axis=0)[-neighbours:]
    # Largest first, as a full sort of each offer's cosines gives them.
    best = -np.sort(-best, axis=0)
    hubness = [
        scoring.hubness(column[np.isfinite(column)].tolist(), neighbours) for column in best.T
    ]
    return hubness, by_offer
