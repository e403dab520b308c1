"""The factors of need × offer pairs, for many pairs at once and for one by the scalar formulas.

A :class:`PairScorer` holds what a pair's components are worked out from besides the two
answers: the weights, the index's codes for topics, organisations and regions, and which
organisation can help which (the reciprocity relation, fitted once on the index's own answers).

Three paths give the same numbers to the bit, and tests hold them to it:

* :meth:`PairScorer.raw_scores` — items × every target, as dense blocks (unrounded sums);
* :meth:`PairScorer.pair_components` / :meth:`PairScorer.item_components` — the components of
  chosen pairs, indexed or with one (possibly new) item, turned into rounded contributions by
  :func:`scoring.contributions`;
* :meth:`PairScorer.scalar_contributions` — one pair by the scalar formulas of
  :mod:`app.matching.scoring`, the reference the vectorised paths equal.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

from app.matching import parallel, scoring
from app.matching.embedding import pair_closeness, row_closeness
from app.matching.sides import Prepared, Side, coded_regions, region_key
from app.matching.types import Factor

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class PairScorer:
    """Scores pairs of an index's needs and offers (and of answers new to it)."""

    def __init__(
        self,
        weights: scoring.Weights,
        semantic: bool,
        needs: Side,
        offers: Side,
        topic_columns: dict[str, int],
        organisation_codes: dict[int, int],
        region_codes: dict[str, int],
    ) -> None:
        self.weights = weights
        self.semantic = semantic
        self.needs = needs
        self.offers = offers
        self.topic_columns = topic_columns
        self.organisation_codes = organisation_codes
        self.region_codes = region_codes
        # helps[a, b]: organisation a has an offer that answers a need of organisation b.
        # The extra last row and column stand for organisations the index has not seen.
        size = len(organisation_codes) + 1
        self.helps = np.zeros((size, size), dtype=np.bool_)

    def relocated(self, needs: Side, offers: Side, region_codes: dict[str, int]) -> PairScorer:
        """This scorer for *needs* and *offers* with their regions coded by *region_codes*
        (see MatchIndex.relocated); who can help whom does not depend on a region."""
        scorer = copy.copy(self)
        scorer.needs, scorer.offers, scorer.region_codes = needs, offers, region_codes
        return scorer

    def organisation_code(self, item: Prepared) -> int:
        """The organisation's row in ``helps``; unknown organisations get the last, empty row."""
        return self.organisation_codes.get(item.organisation_id, len(self.organisation_codes))

    def fit_reciprocity(
        self,
        block: int,
        cosines: list[FloatArray] | None = None,
        closeness: list[FloatArray] | None = None,
    ) -> None:
        """Mark which organisations can help which (see ``helps``): an offer helps a need when
        their content score reaches RECIPROCITY_THRESHOLD. *cosines* are the text cosines of
        needs × offers in blocks of *block* needs, and *closeness* their embedding cosines,
        when the caller has them."""
        needs, offers = self.needs, self.offers

        def helping(number: int) -> tuple[IntArray, IntArray]:
            """(offer organisation, need organisation) of the block's pairs that help."""
            start = number * block
            content, _ = self.content(
                needs.items[start : start + block],
                needs.matrix[start : start + block],
                offers,
                cosine=None if cosines is None else cosines[number],
                closeness=None if closeness is None else closeness[number],
            )
            rows, columns = np.nonzero(content >= scoring.RECIPROCITY_THRESHOLD)
            return offers.organisations[columns], needs.organisations[start:][rows]

        blocks = range(-(-len(needs.items) // block))
        for helpers, helped in parallel.ordered_imap(helping, blocks):
            self.helps[helpers, helped] = True
        np.fill_diagonal(self.helps, False)

    def refitted(
        self,
        needs: Sequence[int],
        offers: Sequence[int],
        new_needs: Sequence[tuple[Prepared, sparse.csr_matrix]] = (),
        new_offers: Sequence[tuple[Prepared, sparse.csr_matrix]] = (),
    ) -> PairScorer:
        """This scorer with who can help whom fitted again for the organisations whose needs or
        offers at the positions *needs* and *offers* of its sides are gone (deleted, or
        rewritten, since): the row of each that lost an offer and the column of each that lost
        a need are worked out again from its answers as they are now: those left, and those of
        *new_needs* and *new_offers* (analysed, with their vectors) that are its own. A relation
        that rested only on a gone answer goes; one a rewritten answer makes comes."""
        scorer = copy.copy(self)
        scorer.helps = helps = self.helps.copy()
        gone_needs = np.zeros(len(self.needs.items), dtype=np.bool_)
        gone_needs[list(needs)] = True
        gone_offers = np.zeros(len(self.offers.items), dtype=np.bool_)
        gone_offers[list(offers)] = True
        for code in np.unique(self.offers.organisations[gone_offers]).tolist():
            own = [item for item in new_offers if self.organisation_code(item[0]) == code]
            helps[code] = self._helped_by(
                self.offers, self.needs, code, gone_offers, gone_needs, own
            )
        for code in np.unique(self.needs.organisations[gone_needs]).tolist():
            own = [item for item in new_needs if self.organisation_code(item[0]) == code]
            helps[:, code] = self._helped_by(
                self.needs, self.offers, code, gone_needs, gone_offers, own
            )
        return scorer

    def _helped_by(
        self,
        side: Side,
        targets: Side,
        code: int,
        gone: npt.NDArray[np.bool_],
        gone_targets: npt.NDArray[np.bool_],
        new: Sequence[tuple[Prepared, sparse.csr_matrix]],
    ) -> npt.NDArray[np.bool_]:
        """Per organisation (code), whether one of the answers of organisation *code*, those on
        *side* that are not *gone* and its *new* ones, reaches RECIPROCITY_THRESHOLD with one of
        the *targets* that are not *gone_targets* (the organisation itself excluded)."""
        found = np.zeros(len(self.helps), dtype=np.bool_)
        positions = np.flatnonzero((side.organisations == code) & ~gone).tolist()
        items = [*(side.items[position] for position in positions), *(item for item, _ in new)]
        if items:
            vectors = sparse.vstack(
                [side.matrix[positions], *(vector for _, vector in new)], format="csr"
            )
            content, _ = self.content(items, vectors, targets)
            reached = (content >= scoring.RECIPROCITY_THRESHOLD).any(axis=0) & ~gone_targets
            found[targets.organisations[reached]] = True
        found[code] = False
        return found

    # ----------------------------------------------------------------- items × all targets

    def content(
        self,
        items: Sequence[Prepared],
        vectors: sparse.csr_matrix,
        targets: Side,
        *,
        cosine: FloatArray | None = None,
        closeness: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """w_topic · topic + w_text · text (+ w_semantic · semantic) of *items* × targets
        (unrounded), and the text cosines (*cosine*, when the caller has them already; so
        *closeness*, the embedding cosines)."""
        if cosine is None:
            cosine = (vectors @ targets.matrix_t).toarray()
        # text_component with a floor per pair: TEXT_FLOOR plus the offer's hubness floor.
        item_floors = np.array([item.text_floor for item in items], dtype=np.float64)
        floor = scoring.TEXT_FLOOR + item_floors[:, None] + targets.text_floors[None, :]
        # A floor of 1 or more (an offer worded as five needs are, where most offers share
        # no words with any need) makes the component 0, as text_component says; divided,
        # it gave NaN, or clipped to 1 for every pair. The largest floor is that of the two
        # largest parts (the same additions, and rounding is monotonic).
        highest = scoring.TEXT_FLOOR + item_floors.max(initial=0.0)
        beyond = floor >= 1.0 if highest + targets.text_floors.max(initial=0.0) >= 1.0 else None
        # Each step in place: at community scale these are arrays of ~100 MB, and allocating
        # (and first touching) a fresh one per step cost more than the arithmetic.
        text = np.subtract(cosine, floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(text, np.subtract(1.0, floor, out=floor), out=text)
        if beyond is not None:
            text[beyond] = 0.0
        np.clip(text, 0.0, 1.0, out=text)
        rows = [row for row, item in enumerate(items) for _ in item.topics]
        columns = [self.topic_columns.get(slug, -1) for item in items for slug in item.topics]
        known = [column >= 0 for column in columns]
        topic_rows = sparse.csr_matrix(
            (
                np.ones(sum(known)),
                (np.array(rows)[known], np.array(columns)[known]),
            ),
            shape=(len(items), len(self.topic_columns)),
        )
        sizes = np.array([len(item.topics) for item in items], dtype=np.float64)
        topic = scoring.ochiai_overlaps(
            (topic_rows @ targets.topics_t).toarray(), sizes, targets.topic_sizes, buffer=floor
        )
        content: FloatArray = np.multiply(topic, self.weights.topic, out=topic)
        content += np.multiply(text, self.weights.text, out=text)
        if self.semantic:
            content += self.weights.semantic * self._semantic(items, targets, closeness)
        return content, cosine

    def _semantic(
        self, items: Sequence[Prepared], targets: Side, closeness: FloatArray | None = None
    ) -> FloatArray:
        """semantic_component of *items* × targets, vectorised (the shift is the offer's), from
        their embedding cosines (*closeness*, when the caller has them)."""
        if not items or not targets.items:
            return np.zeros((len(items), len(targets.items)))
        if closeness is None:
            embeddings = np.array([item.embedding for item in items], dtype=np.float64)
            closeness = embeddings @ targets.embeddings.T
        shift = (
            np.array([item.semantic_shift for item in items])[:, None]
            + targets.semantic_shifts[None, :]
        )
        return scoring.semantic_components(closeness - shift)

    def raw_scores(
        self,
        items: Sequence[Prepared],
        vectors: sparse.csr_matrix,
        targets: Side,
        *,
        need_side: bool,
        cosine: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Unrounded scores of *items* (needs when *need_side*, else offers) × targets, and the
        cosines they came from (*cosine*, when the caller has them already)."""
        raw, cosine = self.content(items, vectors, targets, cosine=cosine)
        regions = coded_regions(items, self.region_codes)
        same_region = (regions[:, None] == targets.regions[None, :]) & (regions[:, None] >= 0)
        codes = np.array([self.organisation_code(item) for item in items], dtype=np.int64)
        if need_side:
            helps_back = self.helps[np.ix_(codes, targets.organisations)]
        else:
            helps_back = self.helps[np.ix_(targets.organisations, codes)].T
        raw = raw + self.weights.region * same_region + self.weights.reciprocity * helps_back
        return raw, cosine

    # ----------------------------------------------------------------- chosen pairs

    def raw_of(self, components: FloatArray) -> FloatArray:
        """Σ weight · component of each pair (column of *components*), added in
        scoring.FACTOR_ORDER as raw_scores adds them."""
        raw = np.zeros(components.shape[1])
        for factor, row in zip(scoring.FACTOR_ORDER, components, strict=True):
            raw = raw + getattr(self.weights, factor) * row
        return raw

    def pair_components(
        self, need_rows: IntArray, offer_rows: IntArray, cosine: FloatArray
    ) -> FloatArray:
        """Components (rows in scoring.FACTOR_ORDER) of individual indexed (need, offer) pairs,
        bit for bit those of the scalar formulas (:meth:`scalar_contributions`)."""
        needs, offers = self.needs, self.offers
        shared = np.asarray(
            needs.topics[need_rows].multiply(offers.topics[offer_rows]).sum(axis=1)
        ).ravel()
        components = np.zeros((len(scoring.FACTOR_ORDER), len(need_rows)))
        components[0] = scoring.topic_overlaps(
            shared, needs.topic_sizes[need_rows] * offers.topic_sizes[offer_rows]
        )
        components[1] = scoring.text_components(
            cosine,
            scoring.TEXT_FLOOR + needs.text_floors[need_rows] + offers.text_floors[offer_rows],
        )
        if self.semantic:
            closeness = pair_closeness(needs.embeddings, need_rows, offers.embeddings, offer_rows)
            components[2] = scoring.semantic_components(
                closeness - offers.semantic_shifts[offer_rows]
            )
        regions = needs.regions[need_rows]
        components[3] = (regions == offers.regions[offer_rows]) & (regions >= 0)
        components[4] = self.helps[needs.organisations[need_rows], offers.organisations[offer_rows]]
        return components

    def item_components(
        self,
        item: Prepared,
        need_side: bool,
        targets: Side,
        positions: IntArray,
        cosine: FloatArray,
    ) -> FloatArray:
        """Components of *item* (a need when *need_side*, else an offer; it may be new to the
        index) with the targets at *positions*, as :meth:`pair_components` gives them."""
        known = np.array(
            [self.topic_columns[slug] for slug in item.topics if slug in self.topic_columns],
            dtype=np.int64,
        )
        shared = targets.topics_dense[np.ix_(positions, known)].sum(axis=1)
        components = np.zeros((len(scoring.FACTOR_ORDER), len(positions)))
        components[0] = scoring.topic_overlaps(
            shared.astype(np.float64), float(len(item.topics)) * targets.topic_sizes[positions]
        )
        floors = targets.text_floors[positions]
        floor = (
            scoring.TEXT_FLOOR + item.text_floor + floors
            if need_side
            else scoring.TEXT_FLOOR + floors + item.text_floor
        )
        components[1] = scoring.text_components(cosine, floor)
        if self.semantic and item.embedding is not None:
            closeness = row_closeness(
                np.broadcast_to(item.embedding, (len(positions), len(item.embedding))),
                targets.embeddings[positions],
            )
            shift = targets.semantic_shifts[positions] if need_side else item.semantic_shift
            components[2] = scoring.semantic_components(closeness - shift)
        region = self.region_codes.get(region_key(item.region), -1)
        components[3] = (targets.regions[positions] == region) & (region >= 0)
        code = self.organisation_code(item)
        components[4] = (
            self.helps[code, targets.organisations[positions]]
            if need_side
            else self.helps[targets.organisations[positions], code]
        )
        return components

    # ----------------------------------------------------------------- one pair, scalar

    def helps_back(self, need: Prepared, offer: Prepared) -> bool:
        """Can the need's organisation help the offer's organisation in return?"""
        return bool(self.helps[self.organisation_code(need), self.organisation_code(offer)])

    def scalar_contributions(self, need: Prepared, offer: Prepared, cosine: float) -> list[float]:
        """The contributions of one pair (in scoring.FACTOR_ORDER) by the scalar formulas."""
        return [
            scoring.contribution(weight, component)
            for _, weight, component in self.scalar_components(need, offer, cosine)
        ]

    def scalar_components(
        self, need: Prepared, offer: Prepared, cosine: float
    ) -> tuple[tuple[Factor, float, float], ...]:
        """(factor, weight, component) of one pair, by the scalar formulas."""
        weights = self.weights
        components: tuple[tuple[Factor, float, float], ...] = (
            ("topic", weights.topic, scoring.topic_overlap(need.topics, offer.topics)),
            (
                "text",
                weights.text,
                scoring.text_component(
                    cosine, scoring.TEXT_FLOOR + need.text_floor + offer.text_floor
                ),
            ),
            ("semantic", weights.semantic, self._semantic_pair(need, offer)),
            ("region", weights.region, scoring.region_match(need.region, offer.region)),
            (
                "reciprocity",
                weights.reciprocity,
                scoring.reciprocity(self.helps_back(need, offer)),
            ),
        )
        return components

    def _semantic_pair(self, need: Prepared, offer: Prepared) -> float:
        """semantic_component of one pair (0 in an index without embeddings)."""
        if need.embedding is None or offer.embedding is None:
            return 0.0
        closeness = float(row_closeness(need.embedding[None, :], offer.embedding[None, :])[0])
        return scoring.semantic_component(
            closeness, offer.semantic_shift, scoring.SEMANTIC_LOW, scoring.SEMANTIC_HIGH
        )
