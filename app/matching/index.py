"""The match index: built once over a community's needs and offers, then queried cheaply.

Building a :class:`MatchIndex` tags every text, fits one TF-IDF vectoriser (character n-grams,
``char_wb`` 3–5, sublinear tf) on the taxonomy's own words plus every need and offer, and works
out which organisation can help which (for the reciprocity factor).

**New answers.** :meth:`MatchIndex.score_need` and :meth:`MatchIndex.score_offer` accept items
that are not in the index: the text is tagged and transformed with the already fitted vectoriser
(n-grams it never saw are ignored, the idf stays as fitted), then compared with one sparse
matrix-vector product against the other side — one new need costs one row, not a rescore of
the whole community. Because the vocabulary and idf were fitted on the taxonomy as well as the
corpus, the topic words a new answer uses are known. A full recompute (nightly, or after many
new answers) builds a new index, which refits the vectoriser and the reciprocity relation.

**Texts are expanded** before vectorising (:mod:`app.matching.documents`): with the roots of
their words, the members of their compounds, plain-language equivalents and the labels and
abbreviations of their topics, so "TVW" meets "transitievisie warmte" and "isoleren" meets
"isolatie".

**Hub offers.** An offer worded so generally that it is close to many needs ("een klein
collectief warmtenet") would otherwise top many lists. Every indexed offer gets a text floor from
its hubness (:func:`scoring.hub_floor`: the mean of its ``HUB_NEIGHBOURS`` best cosines with needs
of other organisations, against the median offer), and its text component is measured from that
floor. A new offer gets its floor from its one vector against the indexed needs, so
``score_offer`` and ``score_need`` still mirror each other.

**Large communities.** Up to ``EXACT_PAIR_LIMIT`` need × offer pairs, every pair is scored once
(the scores are kept for suggestions, gaps and unmet offers alike). Beyond it, each need's
``SHORTLIST_SIZE`` best offers by text cosine are its candidates, scored exactly: the build
computes every cosine for the hub floors anyway and keeps each need's best offers from them
(where no hub floors are fitted, or another number is asked for, the best by pruned cosine
are found with chunked sparse products and re-scored, :mod:`app.matching.shortlist`). Gaps and
unmet offers are checked against every pair wherever the candidates do not settle them, so
they stay exact.
"""

from __future__ import annotations

import gc
import itertools
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from app.matching import parallel, scoring
from app.matching.documents import cached_documents
from app.matching.embedding import from_bytes, pair_closeness, row_closeness
from app.matching.reasons import Explainer
from app.matching.shortlist import best_per_row, exact_cosines, row_pointers, shortlist
from app.matching.sides import Candidates, Prepared, Side, region_key
from app.matching.tagging import cached_tagger
from app.matching.taxonomy import Taxonomy
from app.matching.types import (
    Factor,
    Gap,
    Need,
    Offer,
    Suggestion,
    TopicTag,
    UnmetOffer,
)
from app.matching.vectors import (
    DocumentColumns,
    fit_transform,
    symmetric_from_upper_blocks,
    upper_gram_blocks,
)

MAX_SUGGESTIONS = 5
"""Suggestions returned per need (or offer) unless the caller asks for another number."""

_BLOCK = 256  # rows per dense block when scoring many items at once
COSINE_MEMORY_BUDGET = 256 * 2**20
"""Bytes of need × offer text cosines an index keeps while it is built (3,420 × 3,420 take
94 MB), so reciprocity reuses the hub floors' product instead of computing it again."""

# Raw (unrounded) scores differ from rounded ones by at most 4 · 0.00005; candidates within this
# margin of the cut are scored exactly so rounding can never change who makes the list.
_ROUNDING_MARGIN = 5e-4

EXACT_PAIR_LIMIT = 2_000_000
"""Communities with at most this many need × offer pairs score every pair (exact ranking).

Larger ones rank each need's shortlist (:mod:`app.matching.shortlist`): the SHORTLIST_SIZE
offers with the highest pruned cosine, re-scored exactly. Gaps and unmet offers stay exact."""

SHORTLIST_SIZE = 40
"""Candidate offers per need in a large community (at least twice the requested limit)."""

SEMANTIC_SHORTLIST_SIZE = 20
"""Offers closest in meaning (embedding cosine) that join each need's candidates in a large
community that scores the semantic factor, when its text does not already bring them."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Item = TypeVar("_Item", Need, Offer)
BoolArray = npt.NDArray[np.bool_]


class MatchIndex:
    """Needs and offers of one community, analysed and vectorised for fast scoring."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        needs: Iterable[Need],
        offers: Iterable[Offer],
        *,
        weights: scoring.Weights | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.tagger = cached_tagger(taxonomy)
        self.needs: tuple[Need, ...] = _unique_by_id(needs, "need")
        self.offers: tuple[Offer, ...] = _unique_by_id(offers, "offer")
        embedded = _embedded(self.needs, self.offers)
        if weights is None:
            semantic = self.scores_semantically(self.needs, self.offers)
            weights = scoring.SEMANTIC_WEIGHTS if semantic else scoring.DEFAULT_WEIGHTS
        elif weights.semantic > 0 and not embedded:
            raise ValueError("a semantic weight needs an embedding of one size on every answer")
        self.semantic = embedded and weights.semantic > 0
        """Does the index score the semantic factor? By default: see scores_semantically."""
        self.weights = weights
        # Each side's mean embedding, taken off its vectors in _prepare (see _centred).
        self._mean_embedding: dict[type, FloatArray] = {}
        if self.semantic:
            for kind, items in ((Need, self.needs), (Offer, self.offers)):
                vectors = from_bytes([item.embedding for item in items if item.embedding])
                if len(vectors):
                    self._mean_embedding[kind] = vectors.astype(np.float64).mean(axis=0)
        self._documents = cached_documents(taxonomy)
        need_items = [self._prepare(need) for need in self.needs]
        offer_items = [self._prepare(offer) for offer in self.offers]

        topic_slugs = {topic.slug for topic in taxonomy}
        for item in (*need_items, *offer_items):
            topic_slugs |= item.topics
        self._topic_columns = {slug: column for column, slug in enumerate(sorted(topic_slugs))}
        organisations = sorted({item.organisation_id for item in (*need_items, *offer_items)})
        self._organisation_codes = {
            organisation: code for code, organisation in enumerate(organisations)
        }
        regions = sorted({region_key(item.region) for item in (*need_items, *offer_items)} - {""})
        self._region_codes = {region: code for code, region in enumerate(regions)}

        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, dtype=np.float64
        )
        taxonomy_documents = [
            self._documents.expansion(frozenset({topic.slug})) for topic in taxonomy
        ]
        # One pass fits the vocabulary and idf and vectorises every item (see vectors.py).
        matrix = fit_transform(
            self.vectorizer,
            [*taxonomy_documents, *(item.document for item in (*need_items, *offer_items))]
            or ["empty"],
        )
        self._analyzer = self.vectorizer.build_analyzer()
        self._document_columns = DocumentColumns(self.vectorizer)
        self._vocabulary: dict[str, int] = self.vectorizer.vocabulary_
        self._idf: FloatArray = self.vectorizer.idf_
        first_need = len(taxonomy_documents)
        first_offer = first_need + len(need_items)
        self._need_side = self._side(need_items, matrix[first_need:first_offer])
        self._offer_side = self._side(
            offer_items, matrix[first_offer : first_offer + len(offer_items)]
        )
        self._typical_hubness = 0.0
        self._hub_fitted = False
        # Suggestions with their reasons, from the contributions ranking works out.
        self._explainer = Explainer(
            taxonomy, lambda: (item.words for item in (*need_items, *offer_items))
        )
        # The table of the words the answers share (for the reasons) is Python; the passes
        # below are matrix products that release the GIL. Worked out side by side, the table
        # costs the build little of its time.
        with parallel.in_background(lambda: self._explainer.shared_terms) as shared_terms:
            # The hub floors and reciprocity both need every need × offer text cosine: the
            # floors' pass keeps them for reciprocity when they fit in COSINE_MEMORY_BUDGET.
            # The semantic shifts' pass finds each need's closest offers in meaning, by block
            # of needs (local rows, offer positions), for the hub floors' pass to add to the
            # candidates (see _shortlisted).
            self._typical_semantic_hubness = 0.0
            closest = self._fit_semantic_shifts()
            # Each need's candidate offers (rows, offer positions, exact text cosines), when
            # the hub floors' pass computed every cosine (see _shortlisted).
            self._built_shortlist: tuple[IntArray, IntArray, FloatArray] | None = None
            cosines = self._fit_hub_floors(closest)
            # helps[a, b]: organisation a has an offer that answers a need of organisation b.
            # The extra last row and column stand for organisations the index has not seen.
            size = len(organisations) + 1
            self._helps = np.zeros((size, size), dtype=np.bool_)
            self._fit_reciprocity(cosines)
            # An index that scores every pair scores them from these same blocks (see
            # _pair_scores): the report need not compute the product again.
            self._built_cosines = cosines if self._exact else None
        shared_terms.result()
        # The contributions (FACTOR_ORDER) of pairs ranked without their reasons, by (need id,
        # offer id): _explained completes them from these instead of scoring them again.
        self._unexplained: dict[tuple[int, int], list[float]] = {}
        # Each need's shortlisted offers, exactly re-scored, by shortlist size (large path).
        self._shortlists: dict[int, Candidates] = {}
        self._shortlists_lock = threading.Lock()

    # ----------------------------------------------------------------- public queries

    def score_need(
        self,
        need: Need,
        *,
        excluded: Collection[tuple[int, int]] = (),
        limit: int = MAX_SUGGESTIONS,
        min_score: float | None = None,
    ) -> tuple[Suggestion, ...]:
        """The best offers of other organisations for *need*, which may be new to the index.

        Best first, ties by offer id; at most *limit*, none below *min_score* (default
        :attr:`gap_threshold`), and no (need id, offer id) pair in *excluded*.
        """
        min_score = self.gap_threshold if min_score is None else min_score
        item, vector = self._prepared(need, self.needs, self._need_side)
        blocked = {offer_id for need_id, offer_id in excluded if need_id == need.id}
        raw, cosine = self._raw_scores([item], vector, self._offer_side, need_side=True)
        return self._select(
            item, raw[0], cosine[0], self._offer_side, True, blocked, limit, min_score
        )

    def score_offer(
        self,
        offer: Offer,
        *,
        excluded: Collection[tuple[int, int]] = (),
        limit: int = MAX_SUGGESTIONS,
        min_score: float | None = None,
    ) -> tuple[Suggestion, ...]:
        """The needs of other organisations that *offer* answers best (mirror of score_need)."""
        min_score = self.gap_threshold if min_score is None else min_score
        item, vector = self._prepared(offer, self.offers, self._offer_side)
        blocked = {need_id for need_id, offer_id in excluded if offer_id == offer.id}
        raw, cosine = self._raw_scores([item], vector, self._need_side, need_side=False)
        return self._select(
            item, raw[0], cosine[0], self._need_side, False, blocked, limit, min_score
        )

    def suggest(
        self,
        *,
        excluded: Collection[tuple[int, int]] = (),
        limit: int = MAX_SUGGESTIONS,
        min_score: float | None = None,
    ) -> tuple[Suggestion, ...]:
        """score_need for every indexed need, ordered by need id then rank.

        Exact up to EXACT_PAIR_LIMIT pairs; beyond, each need's shortlist is ranked exactly.
        """
        min_score = self.gap_threshold if min_score is None else min_score
        return self._suggest(excluded, limit, min_score, explained=None)

    def _suggest(
        self,
        excluded: Collection[tuple[int, int]],
        limit: int,
        min_score: float,
        explained: int | None,
    ) -> tuple[Suggestion, ...]:
        """suggest, with reasons for only the first *explained* of each need (None: all).

        The others carry their exact score but no reasons; :meth:`_explained` completes them.
        """
        with collector_paused():
            ranked_all = self._rank_all(True, excluded, limit, min_score, explained)
        return tuple(suggestion for ranked in ranked_all for suggestion in ranked)

    def _explained(self, suggestions: Iterable[Suggestion]) -> dict[tuple[int, int], Suggestion]:
        """The full suggestion (with reasons) of every (need id, offer id) in *suggestions*.

        Scored as ranking scores (:meth:`_pair_components`, :func:`scoring.contributions`),
        which gives the scalar formulas' scores to the bit (:meth:`_suggestion`); pairs that
        ranking scored without their reasons are not scored again.
        """
        needs, offers = self._need_side, self._offer_side
        pairs = sorted({(s.need_id, s.offer_id) for s in suggestions})
        # Pairs that ranking scored without explaining them kept their contributions.
        contributions = {
            pair: self._unexplained[pair] for pair in pairs if pair in self._unexplained
        }
        missing = [pair for pair in pairs if pair not in contributions]
        if missing:
            rows = np.array([needs.position[need_id] for need_id, _ in missing], dtype=np.int64)
            columns = np.array(
                [offers.position[offer_id] for _, offer_id in missing], dtype=np.int64
            )
            cosines = exact_cosines(needs.matrix, offers.matrix, rows, columns)
            computed = scoring.contributions(
                self.weights, self._pair_components(rows, columns, cosines)
            ).T.tolist()
            contributions.update(zip(missing, computed, strict=True))
        return {
            (need_id, offer_id): self._explainer.suggestion(
                needs.items[needs.position[need_id]],
                offers.items[offers.position[offer_id]],
                contributions[need_id, offer_id],
            )
            for need_id, offer_id in pairs
        }

    def gaps(
        self,
        *,
        excluded: Collection[tuple[int, int]] = (),
        threshold: float | None = None,
    ) -> tuple[Gap, ...]:
        """Needs whose best suggestion scores below *threshold* (default :attr:`gap_threshold`),
        or that have none, by id."""
        return self._gaps(excluded, threshold)

    def _gaps(
        self,
        excluded: Collection[tuple[int, int]],
        threshold: float | None,
        settled: Collection[int] = frozenset(),
    ) -> tuple[Gap, ...]:
        """gaps, told that the needs with ids in *settled* reach the threshold (a suggestion
        at or above it is known): only the others are looked at."""
        return tuple(
            Gap(
                need_id=item.id,
                organisation_id=item.organisation_id,
                best_score=best.score if best else 0.0,
                best_offer_id=best.offer_id if best else None,
            )
            for item, best in self._below(True, excluded, threshold, settled)
        )

    def unmet_offers(
        self,
        *,
        excluded: Collection[tuple[int, int]] = (),
        threshold: float | None = None,
    ) -> tuple[UnmetOffer, ...]:
        """Offers that no need of another organisation reaches *threshold* with (default
        :attr:`gap_threshold`), by id."""
        return self._unmet_offers(excluded, threshold)

    def _unmet_offers(
        self,
        excluded: Collection[tuple[int, int]],
        threshold: float | None,
        settled: Collection[int] = frozenset(),
    ) -> tuple[UnmetOffer, ...]:
        """unmet_offers, told that the offers with ids in *settled* are met (see _gaps)."""
        return tuple(
            UnmetOffer(
                offer_id=item.id,
                organisation_id=item.organisation_id,
                best_score=best.score if best else 0.0,
                best_need_id=best.need_id if best else None,
            )
            for item, best in self._below(False, excluded, threshold, settled)
        )

    def _below(
        self,
        need_side: bool,
        excluded: Collection[tuple[int, int]],
        threshold: float | None,
        settled: Collection[int],
    ) -> Iterator[tuple[Prepared, Suggestion | None]]:
        """(item, its best suggestion or None) of each need (*need_side*) or offer, in id
        order, that is not in *settled* and whose best suggestion scores below *threshold*
        (default :attr:`gap_threshold`)."""
        threshold = self.gap_threshold if threshold is None else threshold
        with collector_paused():
            best_all = self._best_all(need_side, excluded, threshold, settled)
        items = (self._need_side if need_side else self._offer_side).items
        for item, best in zip(items, best_all, strict=True):
            if item.id not in settled and (best is None or best.score < threshold):
                yield item, best

    @staticmethod
    def scores_semantically(needs: Sequence[Need], offers: Sequence[Offer]) -> bool:
        """Would an index of these answers, with default weights, score the semantic factor?

        Yes when every need and offer has an embedding (all of one size) and there are at least
        HUB_MIN_NEEDS needs and as many offers: embedding cosines only mean something against
        the community's own spread (each side's mean, the hubness shift), which a handful of
        answers cannot give.
        """
        enough = min(len(needs), len(offers)) >= scoring.HUB_MIN_NEEDS
        return enough and _embedded(needs, offers)

    @property
    def gap_threshold(self) -> float:
        """Score below which a need is a gap and a suggestion is not shown: GAP_THRESHOLD, or
        SEMANTIC_GAP_THRESHOLD in an index that scores the semantic factor."""
        return scoring.SEMANTIC_GAP_THRESHOLD if self.semantic else scoring.GAP_THRESHOLD

    def tags(self, text: str, given: Iterable[str] = ()) -> tuple[TopicTag, ...]:
        """Topic tags of *text* with this index's tagger."""
        return self.tagger.tag(text, given)

    def need_similarities(self) -> FloatArray:
        """Dense need × need content similarity in [0, 1], in need-id order.

        similarity = (w_topic · topic_overlap + w_text · text_component) / (w_topic + w_text)
        """
        return symmetric_from_upper_blocks(
            len(self._need_side.items), self._need_similarity_blocks()
        )

    def need_distances(self) -> FloatArray:
        """Condensed need × need distance (scipy's order: pairs (0, 1), (0, 2), …, (1, 2), …).

        distance = 1 − similarity of :meth:`need_similarities`, clipped to [0, 1]. Built a
        block of rows at a time: the dense need × need arrays it replaces (94 MB each at
        Netherlands scale) cost more to touch for the first time than to compute.
        """
        count = len(self._need_side.items)
        distance = np.empty(count * (count - 1) // 2)
        offset = 0
        for _, block in self._need_similarity_blocks():
            np.subtract(1.0, block, out=block)
            np.clip(block, 0.0, 1.0, out=block)
            # Row r of the block holds columns start.., so its pairs (r, later needs) lie right
            # of its diagonal; a boolean mask takes them row by row, in scipy's order.
            rows, width = block.shape
            upper = np.arange(width)[None, :] > np.arange(rows)[:, None]
            taken = block[upper]
            distance[offset : offset + len(taken)] = taken
            offset += len(taken)
        return distance

    def _need_similarity_blocks(self) -> Iterator[tuple[int, FloatArray]]:
        """need_similarities by blocks of rows, upper triangle: (start, rows start:stop ×
        needs start:n), as :func:`upper_gram_blocks` gives the cosines.

        The product is symmetric, so the upper triangle is all there is to compute. Each value
        comes from the same operations as in :meth:`_content`, with fewer passes over the
        block: the text floor is one number when no need has a floor of its own (needs have
        no hubness floor), and topic overlap is worked out only for the pairs that share a
        topic (elsewhere it is 0, and adding 0 changes nothing).
        """
        side = self._need_side
        weight = self.weights.topic + self.weights.text
        topics_t = side.topics_t
        floors = side.text_floors
        # The floor of every pair, TEXT_FLOOR + 0 + 0, when no need has one of its own.
        common_floor = None if floors.any() else scoring.TEXT_FLOOR + 0.0 + 0.0
        for start, text in upper_gram_blocks(side.matrix):
            stop = start + text.shape[0]
            if common_floor is None:
                floor = scoring.TEXT_FLOOR + floors[start:stop, None] + floors[None, start:]
                np.subtract(text, floor, out=text)
                np.divide(text, np.subtract(1.0, floor, out=floor), out=text)
            elif common_floor != 0.0:  # (cosine − 0) / (1 − 0) is the cosine itself
                np.subtract(text, common_floor, out=text)
                np.divide(text, 1.0 - common_floor, out=text)
            np.clip(text, 0.0, 1.0, out=text)
            content: FloatArray = np.multiply(text, self.weights.text, out=text)
            shared = sparse.csr_matrix(side.topics[start:stop] @ topics_t[:, start:])
            rows = np.repeat(np.arange(shared.shape[0]), np.diff(shared.indptr))
            columns = shared.indices
            sizes = side.topic_sizes[start + rows] * side.topic_sizes[start + columns]
            topic = shared.data / np.sqrt(sizes)
            # Each pair once (a product has no duplicates), so a fancy-index add is exact.
            content[rows, columns] += topic * self.weights.topic
            if weight > 0:
                np.divide(content, weight, out=content)
            else:
                content[:] = 0.0
            yield start, content

    def need_topics(self) -> tuple[frozenset[str], ...]:
        """Topic slugs (given and inferred) of each indexed need, in need-id order."""
        return tuple(item.topics for item in self._need_side.items)

    def offer_topics(self) -> tuple[frozenset[str], ...]:
        """Topic slugs (given and inferred) of each indexed offer, in offer-id order."""
        return tuple(item.topics for item in self._offer_side.items)

    # ----------------------------------------------------------------- preparation

    def _prepare(self, item: Need | Offer) -> Prepared:
        """The analysed item (see documents.Documents), with its centred embedding in an
        index that scores the semantic factor."""
        return self._documents.prepare(item, self._centred(item) if self.semantic else None)

    def _prepared(
        self, item: Need | Offer, indexed: Sequence[Need | Offer], side: Side
    ) -> tuple[Prepared, sparse.csr_matrix]:
        """The analysed item and its vector: from the index when it holds this exact item."""
        position = side.position.get(item.id)
        if position is not None and indexed[position] == item:
            return side.items[position], side.matrix[position]
        prepared = self._prepare(item)
        vector = self._vectorise_one(prepared.document)
        if isinstance(item, Offer) and self._hub_fitted:
            cosines = (vector @ self._need_side.matrix_t).toarray()[0]
            other = self._need_side.organisations != self._organisation_code(prepared)
            floor = scoring.hub_floor(
                scoring.hubness(cosines[other].tolist()), self._typical_hubness
            )
            prepared = replace(prepared, text_floor=floor)
        if self.semantic:
            prepared = self._with_embedding(prepared, item)
        return prepared, vector

    def _centred(self, item: Need | Offer) -> FloatArray | None:
        """The item's embedding minus its side's mean embedding in this index, unit length.

        Embeddings of short texts share a large common component (and one per language), so
        raw cosines of any two answers are high; taking each side's mean off leaves what tells
        answers apart (all-but-the-top, Mu & Viswanath 2018). None for a missing embedding or
        one of another size.
        """
        mean = self._mean_embedding.get(type(item))
        if item.embedding is None or mean is None or len(item.embedding) != 4 * len(mean):
            return None
        vector: FloatArray = from_bytes([item.embedding])[0].astype(np.float64) - mean
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def _with_embedding(self, prepared: Prepared, item: Need | Offer) -> Prepared:
        """A new answer's embedding (required in a semantic index) and, for an offer, its shift."""
        if prepared.embedding is None or len(prepared.embedding) != self._dimensions:
            raise ValueError(
                f"{type(item).__name__.lower()} {item.id} needs an embedding of "
                f"{self._dimensions} values in this index"
            )
        if isinstance(item, Offer) and self._typical_semantic_hubness:
            cosines = self._need_side.embeddings @ prepared.embedding
            other = self._need_side.organisations != self._organisation_code(prepared)
            hubness = scoring.hubness(cosines[other].tolist(), scoring.SEMANTIC_HUB_NEIGHBOURS)
            shift = scoring.semantic_shift(
                hubness, self._typical_semantic_hubness, scoring.SEMANTIC_HUB_WEIGHT
            )
            prepared = replace(prepared, semantic_shift=shift)
        return prepared

    @property
    def _dimensions(self) -> int:
        return int(self._offer_side.embeddings.shape[1] or self._need_side.embeddings.shape[1])

    def _vectorise_one(self, document: str) -> sparse.csr_matrix:
        """vectorizer.transform([document]) without sklearn's batch overhead (same numbers).

        tf = 1 + ln(count) (sublinear), times the fitted idf, then L2-normalised.
        """
        columns, counts = np.unique(
            np.array(self._document_columns(document), dtype=np.int64), return_counts=True
        )
        values = np.log(counts.astype(np.float64)) + 1.0
        values *= self._idf[columns]
        norm = float(np.sqrt(values @ values))
        if norm > 0:
            values /= norm
        return sparse.csr_matrix(
            (values, columns, np.array([0, len(columns)])), shape=(1, len(self._vocabulary))
        )

    def _side(self, items: Sequence[Prepared], matrix: sparse.csr_matrix) -> Side:
        return Side(
            items,
            matrix,
            self._topic_columns,
            self._organisation_codes,
            self._region_codes,
        )

    def _fit_hub_floors(
        self, closest: dict[int, tuple[IntArray, IntArray]]
    ) -> list[FloatArray] | None:
        """Give every indexed offer its hubness floor against the indexed needs.

        hubness = mean of the offer's HUB_NEIGHBOURS highest cosines with needs of other
        organisations; floor = hub_floor(hubness, median hubness of all offers).
        Returns the text cosines of needs × offers in blocks of _BLOCK needs, when they fit in
        COSINE_MEMORY_BUDGET (else None).
        """
        needs, offers = self._need_side, self._offer_side
        if not offers.items or len(needs.items) < scoring.HUB_MIN_NEEDS:
            return None
        self._hub_fitted = True
        kept: list[FloatArray] | None = (
            [] if len(needs.items) * len(offers.items) * 8 <= COSINE_MEMORY_BUDGET else None
        )

        # Each need's candidates, taken from the same blocks (see _shortlisted): its
        # SHORTLIST_SIZE best offers by exact cosine and those closest in meaning, by block
        # start, as the blocks are worked out in parallel.
        best: dict[int, tuple[IntArray, IntArray, FloatArray]] = {}

        def cosines(start: int, own: BoolArray) -> FloatArray:
            block: FloatArray = (needs.matrix[start : start + _BLOCK] @ offers.matrix_t).toarray()
            rows, positions, values = best_per_row(block, own, SHORTLIST_SIZE)
            if start in closest:
                close_rows, close_positions = closest[start]
                width = block.shape[1]
                new = ~np.isin(close_rows * width + close_positions, rows * width + positions)
                rows = np.concatenate([rows, close_rows[new]])
                positions = np.concatenate([positions, close_positions[new]])
                values = np.concatenate([values, block[close_rows[new], close_positions[new]]])
                order = np.argsort(rows, kind="stable")
                rows, positions, values = rows[order], positions[order], values[order]
            best[start] = (rows + start, positions, values)
            return block

        hubness = self._offer_hubness(cosines, scoring.HUB_NEIGHBOURS, kept)
        starts = sorted(best)
        self._built_shortlist = (
            np.concatenate([best[start][0] for start in starts]),
            np.concatenate([best[start][1] for start in starts]),
            np.concatenate([best[start][2] for start in starts]),
        )
        self._typical_hubness = float(np.median(hubness))
        offers.replace_items(
            [
                replace(item, text_floor=scoring.hub_floor(value, self._typical_hubness))
                for item, value in zip(offers.items, hubness, strict=True)
            ]
        )
        return kept

    def _offer_hubness(
        self,
        cosines: Callable[[int, BoolArray], FloatArray],
        neighbours: int,
        kept: list[FloatArray] | None = None,
    ) -> list[float]:
        """scoring.hubness of every offer: its *neighbours* highest cosines with needs of other
        organisations, where ``cosines(start, own)`` gives needs[start:start + _BLOCK] ×
        offers (*own*: which of those pairs are of one organisation).

        The blocks are worked out in parallel (parallel.ordered_imap), each with its own
        *neighbours* best per offer; the best of those are the best of all. Each block is
        appended to *kept*, when given.
        """
        needs, offers = self._need_side, self._offer_side

        def block_and_best(start: int) -> tuple[FloatArray, FloatArray]:
            same = needs.organisations[start : start + _BLOCK, None] == offers.organisations[None]
            block = cosines(start, same)
            best = np.where(same, -np.inf, block)
            if len(best) > neighbours:
                best = np.partition(best, len(best) - neighbours, axis=0)[-neighbours:]
            return block, best

        best = np.full((0, len(offers.items)), -np.inf)
        for block, block_best in parallel.ordered_imap(
            block_and_best, range(0, len(needs.items), _BLOCK)
        ):
            if kept is not None:
                kept.append(block)
            best = np.vstack([best, block_best])
            if len(best) > neighbours:
                best = np.partition(best, len(best) - neighbours, axis=0)[-neighbours:]
        # Largest first, as a full sort of each offer's cosines gives them.
        best = -np.sort(-best, axis=0)
        return [
            scoring.hubness(column[np.isfinite(column)].tolist(), neighbours) for column in best.T
        ]

    def _fit_semantic_shifts(self) -> dict[int, tuple[IntArray, IntArray]]:
        """Give every indexed offer its semantic shift against the indexed needs.

        hubness = mean of the offer's SEMANTIC_HUB_NEIGHBOURS highest embedding cosines with
        needs of other organisations; shift = semantic_shift(hubness, median hubness).
        Returns each need's SEMANTIC_SHORTLIST_SIZE closest offers, which join its candidates
        (see _shortlisted: an answer can be close in meaning without sharing its words), by
        block of _BLOCK needs: {block start: (rows in the block, offer positions)}.
        """
        needs, offers = self._need_side, self._offer_side
        closest: dict[int, tuple[IntArray, IntArray]] = {}
        if not self.semantic or not offers.items or len(needs.items) < scoring.HUB_MIN_NEEDS:
            return closest

        def closeness(start: int, own: BoolArray) -> FloatArray:
            block: FloatArray = needs.embeddings[start : start + _BLOCK] @ offers.embeddings.T
            rows, positions, _ = best_per_row(block, own, SEMANTIC_SHORTLIST_SIZE)
            closest[start] = (rows, positions)
            return block

        hubness = self._offer_hubness(closeness, scoring.SEMANTIC_HUB_NEIGHBOURS)
        self._typical_semantic_hubness = float(np.median(hubness))
        offers.replace_items(
            [
                replace(
                    item,
                    semantic_shift=scoring.semantic_shift(
                        value, self._typical_semantic_hubness, scoring.SEMANTIC_HUB_WEIGHT
                    ),
                )
                for item, value in zip(offers.items, hubness, strict=True)
            ]
        )
        return closest

    def _fit_reciprocity(self, cosines: list[FloatArray] | None = None) -> None:
        """Mark which organisations can help which (see _helps); *cosines* are the text
        cosines of needs × offers in blocks of _BLOCK needs, when the caller has them."""
        needs, offers = self._need_side, self._offer_side

        def helping(number: int) -> tuple[IntArray, IntArray]:
            """(offer organisation, need organisation) of the block's pairs that help."""
            start = number * _BLOCK
            content, _ = self._content(
                needs.items[start : start + _BLOCK],
                needs.matrix[start : start + _BLOCK],
                offers,
                cosine=None if cosines is None else cosines[number],
            )
            rows, columns = np.nonzero(content >= scoring.RECIPROCITY_THRESHOLD)
            return offers.organisations[columns], needs.organisations[start:][rows]

        blocks = range(-(-len(needs.items) // _BLOCK))
        for helpers, helped in parallel.ordered_imap(helping, blocks):
            self._helps[helpers, helped] = True
        np.fill_diagonal(self._helps, False)

    # ----------------------------------------------------------------- scoring

    def _content(
        self,
        items: Sequence[Prepared],
        vectors: sparse.csr_matrix,
        targets: Side,
        *,
        semantic: bool = True,
        cosine: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """w_topic · topic + w_text · text (+ w_semantic · semantic) of *items* × targets
        (unrounded), and the text cosines (*cosine*, when the caller has them already)."""
        if cosine is None:
            cosine = (vectors @ targets.matrix_t).toarray()
        # text_component with a floor per pair: TEXT_FLOOR plus the offer's hubness floor.
        floor = (
            scoring.TEXT_FLOOR
            + np.array([item.text_floor for item in items])[:, None]
            + targets.text_floors[None, :]
        )
        # Each step in place: at community scale these are arrays of ~100 MB, and allocating
        # (and first touching) a fresh one per step cost more than the arithmetic.
        text = np.subtract(cosine, floor)
        np.divide(text, np.subtract(1.0, floor, out=floor), out=text)
        np.clip(text, 0.0, 1.0, out=text)
        rows = [row for row, item in enumerate(items) for _ in item.topics]
        columns = [self._topic_columns.get(slug, -1) for item in items for slug in item.topics]
        known = [column >= 0 for column in columns]
        topic_rows = sparse.csr_matrix(
            (
                np.ones(sum(known)),
                (np.array(rows)[known], np.array(columns)[known]),
            ),
            shape=(len(items), len(self._topic_columns)),
        )
        sizes = np.array([len(item.topics) for item in items], dtype=np.float64)
        topic = scoring.ochiai_overlaps(
            (topic_rows @ targets.topics_t).toarray(), sizes, targets.topic_sizes, buffer=floor
        )
        content: FloatArray = np.multiply(topic, self.weights.topic, out=topic)
        content += np.multiply(text, self.weights.text, out=text)
        if semantic and self.semantic:
            content += self.weights.semantic * self._semantic(items, targets)
        return content, cosine

    def _semantic(self, items: Sequence[Prepared], targets: Side) -> FloatArray:
        """semantic_component of *items* × targets, vectorised (the shift is the offer's)."""
        if not items or not targets.items:
            return np.zeros((len(items), len(targets.items)))
        embeddings = np.array([item.embedding for item in items], dtype=np.float64)
        shift = (
            np.array([item.semantic_shift for item in items])[:, None]
            + targets.semantic_shifts[None, :]
        )
        return scoring.semantic_components(embeddings @ targets.embeddings.T - shift)

    def _raw_scores(
        self,
        items: Sequence[Prepared],
        vectors: sparse.csr_matrix,
        targets: Side,
        *,
        need_side: bool,
        cosine: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Unrounded scores of *items* × targets, and the cosines they came from (*cosine*,
        when the caller has them already)."""
        raw, cosine = self._content(items, vectors, targets, cosine=cosine)
        regions = np.array(
            [self._region_codes.get(region_key(item.region), -1) for item in items],
            dtype=np.int64,
        )
        same_region = (regions[:, None] == targets.regions[None, :]) & (regions[:, None] >= 0)
        codes = np.array([self._organisation_code(item) for item in items], dtype=np.int64)
        if need_side:
            helps_back = self._helps[np.ix_(codes, targets.organisations)]
        else:
            helps_back = self._helps[np.ix_(targets.organisations, codes)].T
        raw = raw + self.weights.region * same_region + self.weights.reciprocity * helps_back
        return raw, cosine

    def _organisation_code(self, item: Prepared) -> int:
        """The organisation's row in ``_helps``; unknown organisations get the last, empty row."""
        return self._organisation_codes.get(item.organisation_id, len(self._organisation_codes))

    @property
    def _exact(self) -> bool:
        """Score every pair (True) or rank shortlists (False)?"""
        return len(self._need_side.items) * len(self._offer_side.items) <= EXACT_PAIR_LIMIT

    @parallel.computed_once
    def _pair_scores(self) -> tuple[FloatArray, FloatArray]:
        """Raw scores and cosines of every need × offer, computed once (exact path only)."""
        needs, offers = self._need_side, self._offer_side
        raw = np.empty((len(needs.items), len(offers.items)))
        cosine = np.empty_like(raw)
        # The build's text cosines, by the same blocks of _BLOCK needs, when it kept them.
        built, self._built_cosines = self._built_cosines, None
        for number, start in enumerate(range(0, len(needs.items), _BLOCK)):
            stop = start + _BLOCK
            raw[start:stop], cosine[start:stop] = self._raw_scores(
                needs.items[start:stop],
                needs.matrix[start:stop],
                offers,
                need_side=True,
                cosine=None if built is None else built[number],
            )
        return raw, cosine

    @parallel.computed_once
    def _pair_scores_by_offer(self) -> tuple[FloatArray, FloatArray]:
        """_pair_scores transposed: offer × need (the cosines are the same numbers)."""
        raw, cosine = self._pair_scores
        return np.ascontiguousarray(raw.T), np.ascontiguousarray(cosine.T)

    def _need_candidates(self, size: int) -> Candidates:
        """Each need's *size* candidate offers with their exact scores (see _shortlisted),
        worked out once per size, even when two threads ask at once."""
        with self._shortlists_lock:
            if size not in self._shortlists:
                self._shortlists[size] = self._shortlisted(size)
            return self._shortlists[size]

    def _shortlisted(self, size: int) -> Candidates:
        """Each need's *size* candidate offers with their exact scores.

        The index build computed every need × offer cosine for the hub floors and kept each
        need's SHORTLIST_SIZE best offers by exact cosine, with its SEMANTIC_SHORTLIST_SIZE
        closest in meaning in an index that scores the semantic factor: those are the
        candidates when that size is asked for. Otherwise (another size, or no hub floors)
        the offers with the highest pruned cosine are shortlisted and re-scored
        (:mod:`app.matching.shortlist`).
        """
        needs, offers = self._need_side, self._offer_side
        if size == SHORTLIST_SIZE and self._built_shortlist is not None:
            rows, positions, cosine = self._built_shortlist
        else:
            found = shortlist(
                needs.matrix,
                offers.matrix,
                size,
                query_groups=needs.organisations,
                target_groups=offers.organisations,
            )
            rows, positions = found.pairs()
            cosine = exact_cosines(needs.matrix, offers.matrix, rows, positions)
        components = self._pair_components(rows, positions, cosine)
        return Candidates(
            row_pointers(rows, len(needs.items)),
            positions,
            self._raw_of(components),
            cosine,
            scoring.contributions(self.weights, components),
        )

    def _offer_candidates(self, size: int) -> Candidates:
        """The need shortlists turned around: per offer, the needs that shortlisted it."""
        by_need = self._need_candidates(size)
        rows = np.repeat(np.arange(len(by_need.pointers) - 1), np.diff(by_need.pointers))
        order = np.lexsort((rows, by_need.positions))
        return Candidates(
            row_pointers(by_need.positions[order], len(self._offer_side.items)),
            rows[order],
            by_need.raw[order],
            by_need.cosine[order],
            by_need.contributions[:, order],
        )

    def _raw_of(self, components: FloatArray) -> FloatArray:
        """Σ weight · component of each pair (column of *components*), added in
        scoring.FACTOR_ORDER as _raw_scores adds them."""
        raw = np.zeros(components.shape[1])
        for factor, row in zip(scoring.FACTOR_ORDER, components, strict=True):
            raw = raw + getattr(self.weights, factor) * row
        return raw

    def _pair_components(
        self, need_rows: IntArray, offer_rows: IntArray, cosine: FloatArray
    ) -> FloatArray:
        """Components (rows in scoring.FACTOR_ORDER) of individual indexed (need, offer) pairs,
        bit for bit those of the scalar formulas in :meth:`_components`."""
        needs, offers = self._need_side, self._offer_side
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
        components[4] = self._helps[
            needs.organisations[need_rows], offers.organisations[offer_rows]
        ]
        return components

    def _item_components(
        self,
        item: Prepared,
        need_side: bool,
        targets: Side,
        positions: IntArray,
        cosine: FloatArray,
    ) -> FloatArray:
        """Components of *item* (a need when *need_side*, else an offer; it may be new to the
        index) with the targets at *positions*, as :meth:`_pair_components` gives them."""
        known = np.array(
            [self._topic_columns[slug] for slug in item.topics if slug in self._topic_columns],
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
        region = self._region_codes.get(region_key(item.region), -1)
        components[3] = (targets.regions[positions] == region) & (region >= 0)
        code = self._organisation_code(item)
        components[4] = (
            self._helps[code, targets.organisations[positions]]
            if need_side
            else self._helps[targets.organisations[positions], code]
        )
        return components

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
        order = np.lexsort((targets.ids[positions], -scores, query_rows))
        query_rows, positions, scores = query_rows[order], positions[order], scores[order]
        pairs = np.flatnonzero(keep)[order]
        rank = np.arange(len(query_rows)) - row_pointers(query_rows, len(queries))[query_rows]
        top = rank < limit
        explain = limit if explained is None else explained
        ranked: list[list[Suggestion]] = [[] for _ in queries]
        # Each pair's contributions as a list, in one conversion for all of them.
        pair_contributions = contributions[:, pairs[top]].T.tolist()
        for row, position, values, score, place in zip(
            query_rows[top].tolist(),
            positions[top].tolist(),
            pair_contributions,
            scores[top].tolist(),
            rank[top].tolist(),
            strict=True,
        ):
            query, target = queries[row], targets.items[position]
            need, offer = (query, target) if need_side else (target, query)
            if place < explain:
                ranked[row].append(self._explainer.suggestion(need, offer, values))
                continue
            self._unexplained[need.id, offer.id] = values
            ranked[row].append(
                Suggestion(
                    need_id=need.id,
                    offer_id=offer.id,
                    need_organisation_id=need.organisation_id,
                    offer_organisation_id=offer.organisation_id,
                    score=score,
                    reasons=(),
                    matched_topics=(),
                )
            )
        return [tuple(found) for found in ranked]

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
            self.weights, self._pair_components(need_rows, offer_rows, cosine)
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

    def _sides(self, need_side: bool) -> tuple[Side, Side]:
        return (
            (self._need_side, self._offer_side)
            if need_side
            else (self._offer_side, self._need_side)
        )

    def _blocked(
        self, need_side: bool, excluded: Collection[tuple[int, int]]
    ) -> dict[int, set[int]]:
        blocked: dict[int, set[int]] = {}
        for need_id, offer_id in excluded:
            query_id, target_id = (need_id, offer_id) if need_side else (offer_id, need_id)
            blocked.setdefault(query_id, set()).add(target_id)
        return blocked

    def _rank_all(
        self,
        need_side: bool,
        excluded: Collection[tuple[int, int]],
        limit: int,
        min_score: float,
        explained: int | None = None,
    ) -> list[tuple[Suggestion, ...]]:
        """The best *limit* targets of every query (needs or offers), in query order."""
        queries, targets = self._sides(need_side)
        blocked = self._blocked(need_side, excluded)
        if self._exact:
            return self._rank_dense(
                queries, targets, need_side, blocked, limit, min_score, explained
            )
        size = max(SHORTLIST_SIZE, 2 * limit)
        candidates = self._need_candidates(size) if need_side else self._offer_candidates(size)
        return self._rank_candidates(
            queries, targets, need_side, candidates, blocked, limit, min_score, explained
        )

    def _rank_dense(
        self,
        queries: Side,
        targets: Side,
        need_side: bool,
        blocked: dict[int, set[int]],
        limit: int,
        min_score: float,
        explained: int | None,
    ) -> list[tuple[Suggestion, ...]]:
        """_select for every query at once from the pair scores: the cuts are vectorised."""
        if limit <= 0 or not targets.items:
            return [()] * len(queries.items)
        raw, cosine = self._pair_scores if need_side else self._pair_scores_by_offer
        scores = self._valid_scores(queries, targets, raw, blocked)
        cut = np.full(len(queries.items), min_score)
        if limit < scores.shape[1]:
            kth = np.partition(scores, scores.shape[1] - limit, axis=1)[:, scores.shape[1] - limit]
            cut = np.maximum(cut, kth)
        rows, columns = np.nonzero(scores >= (cut - _ROUNDING_MARGIN)[:, None])
        pair_cosine = cosine[rows, columns]
        return self._top_of_pairs(
            queries, targets, need_side, rows, columns, pair_cosine, limit, min_score, explained
        )

    def _valid_scores(
        self, queries: Side, targets: Side, raw: FloatArray, blocked: dict[int, set[int]]
    ) -> FloatArray:
        """*raw* with −inf for pairs of one organisation and for declined pairs."""
        codes = np.array([self._organisation_code(item) for item in queries.items])
        scores: FloatArray = np.where(
            codes[:, None] != targets.organisations[None, :], raw, -np.inf
        )
        for query_id, target_ids in blocked.items():
            row = queries.position.get(query_id)
            if row is not None:
                scores[row, np.isin(targets.ids, list(target_ids))] = -np.inf
        return scores

    def _rank_candidates(
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
        valid &= candidates.raw >= min_score - _ROUNDING_MARGIN
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

    def _best_all(
        self,
        need_side: bool,
        excluded: Collection[tuple[int, int]],
        threshold: float,
        settled: Collection[int] = frozenset(),
    ) -> list[Suggestion | None]:
        """Every query's best suggestion, exact wherever it scores below *threshold*.

        Large path: the shortlists settle every query that reaches *threshold* there; the
        others are scored against all targets, so gaps and unmet offers are always exact.
        Queries with ids in *settled* are known to reach it and are skipped there (None).
        """
        queries, targets = self._sides(need_side)
        blocked = self._blocked(need_side, excluded)
        if self._exact:
            return self._best_dense(queries, targets, need_side, blocked)
        candidates = (
            self._need_candidates(SHORTLIST_SIZE)
            if need_side
            else self._offer_candidates(SHORTLIST_SIZE)
        )
        skipped = np.isin(queries.ids, np.fromiter(settled, dtype=np.int64, count=len(settled)))
        best = [
            ranked[0] if ranked else None
            for ranked in self._rank_candidates(
                queries, targets, need_side, candidates, blocked, 1, 0.0, 0, skipped
            )
        ]
        unsettled = [
            row
            for row, found in enumerate(best)
            if not skipped[row] and (found is None or found.score < threshold)
        ]
        for start in range(0, len(unsettled), _BLOCK):
            rows = np.array(unsettled[start : start + _BLOCK], dtype=np.int64)
            items = [queries.items[row] for row in rows.tolist()]
            raw, cosine = self._raw_scores(
                items, queries.matrix[rows], targets, need_side=need_side
            )
            # _select(limit=1, min_score=0) for the whole block at once, as _best_dense does.
            scores: FloatArray = np.where(
                queries.organisations[rows][:, None] != targets.organisations[None, :],
                raw,
                -np.inf,
            )
            for offset, item in enumerate(items):
                if item.id in blocked:
                    scores[offset, np.isin(targets.ids, list(blocked[item.id]))] = -np.inf
            best_raw = scores.max(axis=1, initial=-np.inf)
            local, columns = np.nonzero(scores >= best_raw[:, None] - _ROUNDING_MARGIN)
            finite = np.isfinite(best_raw[local])
            local, columns = local[finite], columns[finite]
            ranked = self._top_of_pairs(
                queries, targets, need_side, rows[local], columns, cosine[local, columns], 1, 0.0, 0
            )
            for row in rows.tolist():
                best[row] = ranked[row][0] if ranked[row] else None
        return best

    def _best_dense(
        self, queries: Side, targets: Side, need_side: bool, blocked: dict[int, set[int]]
    ) -> list[Suggestion | None]:
        """_select(limit=1, min_score=0) for every query at once, from the pair scores.

        Only targets within the rounding margin of a query's best raw score can be its best
        suggestion; those few are scored exactly.
        """
        raw, cosine = self._pair_scores if need_side else self._pair_scores_by_offer
        scores = self._valid_scores(queries, targets, raw, blocked)
        best_raw = scores.max(axis=1, initial=-np.inf)
        rows, columns = np.nonzero(scores >= best_raw[:, None] - _ROUNDING_MARGIN)
        finite = np.isfinite(best_raw[rows])
        rows, columns = rows[finite], columns[finite]
        pair_cosine = cosine[rows, columns]
        ranked = self._top_of_pairs(
            queries, targets, need_side, rows, columns, pair_cosine, 1, 0.0, 0
        )
        return [found[0] if found else None for found in ranked]

    def _select(
        self,
        item: Prepared,
        raw: FloatArray,
        cosine: FloatArray,
        targets: Side,
        need_side: bool,
        blocked: set[int],
        limit: int,
        min_score: float,
        positions: IntArray | None = None,
        explained: int | None = None,
    ) -> tuple[Suggestion, ...]:
        """Exactly score the candidates that can make the top *limit*, then rank them.

        *raw* and *cosine* hold every target, or the targets at *positions*. Candidates are
        scored exactly in order of raw score, and scoring stops once no candidate left can
        reach the current top *limit* (raw and exact scores differ by less than the margin).
        Only the first *explained* (default: all) get their reasons.
        """
        if limit <= 0 or not targets.items:
            return ()
        at = np.arange(len(targets.items)) if positions is None else positions
        valid: BoolArray = targets.organisations[at] != self._organisation_code(item)
        if blocked:
            valid &= ~np.isin(targets.ids[at], list(blocked))
        scores = np.where(valid, raw, -np.inf)
        candidates = np.flatnonzero(scores >= min_score - _ROUNDING_MARGIN)
        if limit < len(candidates):
            kth = np.partition(scores[candidates], len(candidates) - limit)[len(candidates) - limit]
            candidates = candidates[scores[candidates] >= kth - _ROUNDING_MARGIN]
        positions = at[candidates]
        pair_cosine = cosine[candidates]
        contributions = scoring.contributions(
            self.weights, self._item_components(item, need_side, targets, positions, pair_cosine)
        )
        return self._top_by_score(
            [item],
            targets,
            need_side,
            np.zeros(len(positions), dtype=np.int64),
            positions,
            contributions,
            limit,
            min_score,
            explained,
        )[0]

    def _helps_back(self, need: Prepared, offer: Prepared) -> bool:
        """Can the need's organisation help the offer's organisation in return?"""
        return bool(self._helps[self._organisation_code(need), self._organisation_code(offer)])

    def _suggestion(self, need: Prepared, offer: Prepared, cosine: float) -> Suggestion:
        """Score one pair with the scalar formulas and explain every contribution.

        Ranking (and :meth:`_explained`) scores many pairs at once
        (:meth:`_pair_components`, :func:`scoring.contributions`) and explains them from
        those contributions; this scalar path is the reference they equal to the bit.
        """
        return self._explainer.suggestion(
            need,
            offer,
            [
                scoring.contribution(weight, component)
                for _, weight, component in self._components(need, offer, cosine)
            ],
        )

    def _components(
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
                scoring.reciprocity(self._helps_back(need, offer)),
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


def _embedded(needs: Sequence[Need], offers: Sequence[Offer]) -> bool:
    """Does every need and offer carry an embedding, all of one (non-zero) length?"""
    items: tuple[Need | Offer, ...] = (*needs, *offers)
    sizes = {len(item.embedding) if item.embedding is not None else 0 for item in items}
    return len(sizes) == 1 and 0 not in sizes


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while ranking a whole community.

    Ranking creates tens of thousands of small, acyclic result objects; each burst of them
    triggers collections that walk every object the process holds (taxonomy, tagger, index),
    which cost more than the ranking itself. Reference counting still frees everything; the
    collector resumes afterwards, or stays off if the caller had switched it off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _unique_by_id(items: Iterable[_Item], kind: str) -> tuple[_Item, ...]:
    ordered = sorted(items, key=lambda item: item.id)
    for first, second in itertools.pairwise(ordered):
        if first.id == second.id:
            raise ValueError(f"duplicate {kind} id {first.id}")
    return tuple(ordered)
