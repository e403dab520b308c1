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

**Where the work is done.** The index holds the state and decides which path to take; the
steps are modules of their own: :mod:`~app.matching.fitting` (hub floors and semantic shifts),
:mod:`~app.matching.pairs` (the factors of pairs, and who can help whom),
:mod:`~app.matching.ranking` (pairs into ranked suggestions),
:mod:`~app.matching.shortlist` (candidates on the large path),
:mod:`~app.matching.need_similarity` (need × need, for working groups) and
:mod:`~app.matching.reasons` (what a suggestion says).
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

import fastcluster
import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from app.matching import parallel, scoring
from app.matching.documents import cached_documents
from app.matching.embedding import from_bytes
from app.matching.fitting import (
    Closest,
    fit_hub_floors,
    fit_semantic_shifts,
    new_offer_floor,
    new_offer_shift,
)
from app.matching.need_similarity import condensed_distances, need_similarity_blocks
from app.matching.pairs import PairScorer
from app.matching.parallel import collector_paused
from app.matching.ranking import Ranker, blocked_pairs
from app.matching.reasons import Explainer
from app.matching.shortlist import exact_cosines, row_pointers, shortlist
from app.matching.sides import Candidates, Prepared, Side, region_code_table, region_key
from app.matching.tagging import cached_tagger
from app.matching.taxonomy import Taxonomy
from app.matching.types import (
    Formula,
    Gap,
    Need,
    Offer,
    Suggestion,
    TopicTag,
    UnmetOffer,
)
from app.matching.vectors import DocumentColumns, fit_transform, symmetric_from_upper_blocks

MAX_SUGGESTIONS = 5
"""Suggestions returned per need (or offer) unless the caller asks for another number."""

_BLOCK = 256  # rows per dense block when scoring many items at once
COSINE_MEMORY_BUDGET = 256 * 2**20
"""Bytes of need × offer text cosines an index keeps while it is built (3,420 × 3,420 take
94 MB), so reciprocity reuses the hub floors' product instead of computing it again."""

EXACT_PAIR_LIMIT = 2_000_000
"""Communities with at most this many need × offer pairs score every pair (exact ranking).

Larger ones rank each need's shortlist (:mod:`app.matching.shortlist`): the SHORTLIST_SIZE
offers with the highest pruned cosine, re-scored exactly. Gaps and unmet offers stay exact."""

SHORTLIST_SIZE = 40
"""Candidate offers per need in a large community (at least twice the requested limit)."""

SEMANTIC_SHORTLIST_SIZE = 20
"""Offers closest in meaning (embedding cosine) that join each need's candidates in a large
community that scores the semantic factor, when its text does not already bring them."""

OFFER_SHORTLIST_SIZE = 5
"""Needs closest to each offer (by text cosine, and in meaning where the semantic factor is
scored) that join those needs' candidates in a large community. Without them an offer that no
need shortlists is never suggested, though a need with room for it may score it above the gap
threshold: on the synthetic Netherlands community (3,420 × 3,420, embeddings) 6 of the 171
offers listed unmet were such offers; with 5 (or 10) closest needs, 1 of 179 is. Five is as
deep as the hubness looks, so the build's partition of each block goes no deeper for them."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Item = TypeVar("_Item", Need, Offer)
_Placed = TypeVar("_Placed", Need, Offer, Prepared)


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
        self._region_codes = region_code_table((*need_items, *offer_items))

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
        self._document_columns = DocumentColumns(self.vectorizer)
        self._vocabulary: dict[str, int] = self.vectorizer.vocabulary_
        self._idf: FloatArray = self.vectorizer.idf_
        first_need = len(taxonomy_documents)
        first_offer = first_need + len(need_items)
        self._need_side = self._side(need_items, matrix[first_need:first_offer])
        self._offer_side = self._side(
            offer_items, matrix[first_offer : first_offer + len(offer_items)]
        )
        self._scorer = PairScorer(
            weights,
            self.semantic,
            self._need_side,
            self._offer_side,
            self._topic_columns,
            self._organisation_codes,
            self._region_codes,
        )
        # Suggestions with their reasons, from the contributions ranking works out.
        self._ranker = Ranker(
            self._scorer,
            Explainer(taxonomy, lambda: (item.words for item in (*need_items, *offer_items))),
        )
        # The median hubness of the offers (text, semantic), against which a new offer's floor
        # and shift are measured; 0 where none were fitted.
        self._typical_hubness = self._typical_semantic_hubness = 0.0
        # Each need's candidate offers (rows, offer positions, exact text cosines), when the
        # hub floors' pass computed every cosine (see _shortlisted).
        self._built_shortlist: tuple[IntArray, IntArray, FloatArray] | None = None
        # The table of the words the answers share (for the reasons) is Python; the passes
        # below are matrix products that release the GIL. Worked out side by side, the table
        # costs the build little of its time.
        explainer = self._ranker.explainer
        with parallel.in_background(lambda: explainer.shared_terms) as shared_terms:
            cosines, closeness = self._fit_hubness()
            self._scorer.fit_reciprocity(_BLOCK, cosines, closeness)
            # An index that scores every pair scores them from these same blocks (see
            # _pair_scores): the report need not compute the product again.
            self._built_cosines = cosines if self._exact else None
        shared_terms.result()
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
        return self.score_needs([need], excluded=excluded, limit=limit, min_score=min_score)[0]

    def score_needs(
        self,
        needs: Sequence[Need],
        *,
        excluded: Collection[tuple[int, int]] = (),
        limit: int = MAX_SUGGESTIONS,
        min_score: float | None = None,
    ) -> tuple[tuple[Suggestion, ...], ...]:
        """:meth:`score_need` of each of *needs*, in their order, with the same results: their
        text and embedding products against the offers are taken _BLOCK needs at a time (a
        delete re-scores every need its offer was stored for)."""
        return self._score(needs, True, excluded, limit, min_score)

    def score_offer(
        self,
        offer: Offer,
        *,
        excluded: Collection[tuple[int, int]] = (),
        limit: int = MAX_SUGGESTIONS,
        min_score: float | None = None,
    ) -> tuple[Suggestion, ...]:
        """The needs of other organisations that *offer* answers best (mirror of score_need)."""
        return self.score_offers([offer], excluded=excluded, limit=limit, min_score=min_score)[0]

    def score_offers(
        self,
        offers: Sequence[Offer],
        *,
        excluded: Collection[tuple[int, int]] = (),
        limit: int = MAX_SUGGESTIONS,
        min_score: float | None = None,
    ) -> tuple[tuple[Suggestion, ...], ...]:
        """:meth:`score_offer` of each of *offers*, in their order, with the same results (the
        mirror of score_needs)."""
        return self._score(offers, False, excluded, limit, min_score)

    def _score(
        self,
        queries: Sequence[Need] | Sequence[Offer],
        need_side: bool,
        excluded: Collection[tuple[int, int]],
        limit: int,
        min_score: float | None,
    ) -> tuple[tuple[Suggestion, ...], ...]:
        """score_needs (*need_side*) or score_offers: each query against the other side, by
        blocks of _BLOCK queries."""
        min_score = self._min_score(min_score)
        indexed, side, targets = (
            (self.needs, self._need_side, self._offer_side)
            if need_side
            else (self.offers, self._offer_side, self._need_side)
        )
        asked = {query.id for query in queries}
        # Only the asked queries' pairs: *excluded* may hold a whole community's declines.
        blocked = blocked_pairs(
            need_side, [pair for pair in excluded if pair[0 if need_side else 1] in asked]
        )
        found: list[tuple[Suggestion, ...]] = []
        for start in range(0, len(queries), _BLOCK):
            prepared = [
                self._prepared(query, indexed, side) for query in queries[start : start + _BLOCK]
            ]
            items = [item for item, _ in prepared]
            vectors = (
                prepared[0][1]
                if len(prepared) == 1
                else sparse.vstack([vector for _, vector in prepared], format="csr")
            )
            raw, cosine = self._scorer.raw_scores(items, vectors, targets, need_side=need_side)
            found += (
                self._ranker.rank_one(
                    item,
                    raw[row],
                    cosine[row],
                    targets,
                    need_side,
                    blocked.get(item.id, set()),
                    limit,
                    min_score,
                )
                for row, item in enumerate(items)
            )
        return tuple(found)

    def score_pairs(self, pairs: Sequence[tuple[Need, Offer]]) -> tuple[Suggestion, ...]:
        """The suggestion of each (need, offer) pair in *pairs*, in their order, with its
        reasons and whatever its rank: the score :meth:`score_need` gives the pair when it
        ranks it, to the bit. Either answer may be new to the index, as in score_need and
        score_offer. For pairs a ranking leaves out: one that someone acted on follows the
        engine also when it is no longer among its need's best.

        Raises ValueError for a pair of one organisation's answers (never a suggestion).
        """
        if not pairs:
            return ()
        for need, offer in pairs:
            if need.organisation_id == offer.organisation_id:
                raise ValueError(
                    f"need {need.id} and offer {offer.id} are of one organisation: no suggestion"
                )
        needs = {need.id: need for need, _ in pairs}
        offers = {offer.id: offer for _, offer in pairs}
        prepared_needs = [
            self._prepared(need, self.needs, self._need_side) for need in needs.values()
        ]
        prepared_offers = [
            self._prepared(offer, self.offers, self._offer_side) for offer in offers.values()
        ]
        need_row = {ident: row for row, ident in enumerate(needs)}
        offer_row = {ident: row for row, ident in enumerate(offers)}
        rows = np.array([need_row[need.id] for need, _ in pairs], dtype=np.int64)
        columns = np.array([offer_row[offer.id] for _, offer in pairs], dtype=np.int64)
        cosines = exact_cosines(
            sparse.vstack([vector for _, vector in prepared_needs], format="csr"),
            sparse.vstack([vector for _, vector in prepared_offers], format="csr"),
            rows,
            columns,
        )
        return tuple(
            self._suggestion(prepared_needs[row][0], prepared_offers[column][0], cosine)
            for row, column, cosine in zip(
                rows.tolist(), columns.tolist(), cosines.tolist(), strict=True
            )
        )

    def relocated(self, regions: Mapping[int, str | None]) -> MatchIndex:
        """This index with the organisations in *regions* (id: its region, None for none) moved
        to those regions: what ``MatchIndex(taxonomy, needs, offers)`` of the moved answers
        gives, to the bit, without building it.

        Nothing an index fits depends on a region (the vocabulary and vectors, hub floors,
        semantic shifts, who can help whom, the needs' similarities and their dendrogram), so
        the new index shares all of it; only the region codes, and what was ranked with them,
        are its own. The same index when no organisation of it moves.
        """
        moved = {
            organisation: region
            for organisation, region in regions.items()
            if organisation in self._organisation_codes
        }
        needs, need_items = self._moved(self.needs, self._need_side.items, moved)
        offers, offer_items = self._moved(self.offers, self._offer_side.items, moved)
        if needs == self.needs and offers == self.offers:
            return self
        region_codes = region_code_table((*need_items, *offer_items))
        need_side = self._need_side.relocated(need_items, region_codes)
        offer_side = self._offer_side.relocated(offer_items, region_codes)
        moved_index = self._rescored(self._scorer.relocated(need_side, offer_side, region_codes))
        moved_index.needs, moved_index.offers = needs, offers
        moved_index._region_codes = region_codes
        moved_index._need_side, moved_index._offer_side = need_side, offer_side
        return moved_index

    def reciprocity_refitted(
        self,
        gone_need_ids: Collection[int] = (),
        gone_offer_ids: Collection[int] = (),
        *,
        needs: Sequence[Need] = (),
        offers: Sequence[Offer] = (),
    ) -> MatchIndex:
        """This index with who can help whom (the reciprocity factor) fitted again for the
        organisations whose needs *gone_need_ids* or offers *gone_offer_ids* in it are gone
        (deleted since it was built, or rewritten), on their answers as they are now: those of
        the index that are not gone, and those of *needs* and *offers* (new to the index, or
        rewritten ones as they read now) that are theirs. A relation that rested only on a
        gone answer goes, so no reason says an organisation can help another in return on an
        answer that is gone; one that a rewritten answer makes comes. Relations of other
        organisations stay as fitted: what answers new to the index add to them waits for a
        new index.

        Only the reciprocity changes: the answers stay in the index, and a caller leaves pairs
        with the offers out as before (*excluded*). Ids the index does not hold are ignored; the
        same index when no relation changes.
        """
        gone_needs = [
            self._need_side.position[ident]
            for ident in gone_need_ids
            if ident in self._need_side.position
        ]
        gone_offers = [
            self._offer_side.position[ident]
            for ident in gone_offer_ids
            if ident in self._offer_side.position
        ]
        if not gone_needs and not gone_offers:
            return self
        scorer = self._scorer.refitted(
            sorted(gone_needs),
            sorted(gone_offers),
            [self._prepared(need, self.needs, self._need_side) for need in needs],
            [self._prepared(offer, self.offers, self._offer_side) for offer in offers],
        )
        if np.array_equal(scorer.helps, self._scorer.helps):
            return self
        return self._rescored(scorer)

    def can_help(self, helper_id: int, helped_id: int) -> bool:
        """Whether an offer of organisation *helper_id* answers a need of organisation
        *helped_id* (content score at least RECIPROCITY_THRESHOLD): what the reciprocity factor
        of a need of the helper and an offer of the helped one says. False for organisations
        the index has no answers of."""
        codes = self._organisation_codes
        if helper_id not in codes or helped_id not in codes:
            return False
        return bool(self._scorer.helps[codes[helper_id], codes[helped_id]])

    def _rescored(self, scorer: PairScorer) -> MatchIndex:
        """A copy of this index that scores its pairs with *scorer*: what was ranked with the
        old one is worked out again on first use."""
        index = copy.copy(self)
        state = index.__dict__
        for name in ("_pair_scores", "_pair_scores_by_offer"):
            state.pop(name, None)
            state.pop(f"_{name}_lock", None)
        index._shortlists = {}
        index._shortlists_lock = threading.Lock()
        index._scorer = scorer
        index._ranker = Ranker(scorer, self._ranker.explainer)
        return index

    @staticmethod
    def needs_in_regions(needs: Iterable[Need], regions: Iterable[str | None]) -> frozenset[int]:
        """Ids of the *needs* whose organisation is in one of *regions*, compared as the region
        factor compares them (case and outer spaces aside; a blank one is none): after an
        organisation moved, these needs' pairs with its offers gained or lost the region
        factor."""
        keys = {region_key(region) for region in regions} - {""}
        return frozenset(need.id for need in needs if region_key(need.region) in keys)

    @staticmethod
    def _moved(
        items: tuple[_Item, ...], prepared: Sequence[Prepared], moved: Mapping[int, str | None]
    ) -> tuple[tuple[_Item, ...], list[Prepared]]:
        """*items* and their *prepared* twins, those of the organisations in *moved* in their
        new region."""

        def placed(item: _Placed) -> _Placed:
            region = moved.get(item.organisation_id, item.region)
            return item if region == item.region else replace(item, region=region)

        return tuple(map(placed, items)), [placed(item) for item in prepared]

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
        return self._suggest(excluded, limit, self._min_score(min_score), explained=None)

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

        Scored as ranking scores (:meth:`PairScorer.pair_components`,
        :func:`scoring.contributions`), which gives the scalar formulas' scores to the bit
        (:meth:`_suggestion`); pairs that ranking scored without their reasons
        (:attr:`Ranker.unexplained`) are not scored again.
        """
        needs, offers = self._need_side, self._offer_side
        pairs = sorted({(s.need_id, s.offer_id) for s in suggestions})
        # Pairs that ranking scored without explaining them kept their contributions.
        unexplained = self._ranker.unexplained
        contributions = {pair: unexplained[pair] for pair in pairs if pair in unexplained}
        missing = [pair for pair in pairs if pair not in contributions]
        if missing:
            rows = np.array([needs.position[need_id] for need_id, _ in missing], dtype=np.int64)
            columns = np.array(
                [offers.position[offer_id] for _, offer_id in missing], dtype=np.int64
            )
            cosines = exact_cosines(needs.matrix, offers.matrix, rows, columns)
            computed = scoring.contributions(
                self.weights, self._scorer.pair_components(rows, columns, cosines)
            ).T.tolist()
            contributions.update(zip(missing, computed, strict=True))
        explained = self._ranker.explainer.suggestions(
            [
                (needs.items[needs.position[need_id]], offers.items[offers.position[offer_id]])
                for need_id, offer_id in pairs
            ],
            [contributions[pair] for pair in pairs],
        )
        return dict(zip(pairs, explained, strict=True))

    def gaps(
        self,
        *,
        excluded: Collection[tuple[int, int]] = (),
        threshold: float | None = None,
        among: Collection[int] | None = None,
    ) -> tuple[Gap, ...]:
        """Needs whose best suggestion scores below *threshold* (default :attr:`gap_threshold`),
        or that have none, by id; of the needs with ids in *among* only, when given (with
        ``threshold=math.inf``: each of those with its closest offer)."""
        return self._gaps(excluded, threshold, _others(self.needs, among))

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
        among: Collection[int] | None = None,
    ) -> tuple[UnmetOffer, ...]:
        """Offers that no need of another organisation reaches *threshold* with (default
        :attr:`gap_threshold`), by id; of the offers with ids in *among* only, when given (with
        ``threshold=math.inf``: each of those with its closest need)."""
        return self._unmet_offers(excluded, threshold, _others(self.offers, among))

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

    def _min_score(self, min_score: float | None) -> float:
        """*min_score* as asked (None: the gap threshold); NaN is refused."""
        if min_score is None:
            return self.gap_threshold
        if math.isnan(min_score):
            raise ValueError("min_score must be a number, not NaN")
        return min_score

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

    @staticmethod
    def fits_hub_floors(needs: Sequence[Need], offers: Sequence[Offer]) -> bool:
        """Would an index of these answers fit the offers' hub floors (and semantic shifts)?
        Yes with an offer and at least HUB_MIN_NEEDS needs: below that, an offer's closest
        needs are simply its matches, not a sign that it is worded for everyone."""
        return bool(offers) and len(needs) >= scoring.HUB_MIN_NEEDS

    @classmethod
    def formula_for(cls, needs: Sequence[Need], offers: Sequence[Offer]) -> Formula:
        """The :class:`Formula` an index of these answers, with default weights, scores with."""
        return Formula(cls.scores_semantically(needs, offers), cls.fits_hub_floors(needs, offers))

    @property
    def formula(self) -> Formula:
        """The :class:`Formula` this index scores with."""
        return Formula(self.semantic, self._hub_fitted)

    @property
    def gap_threshold(self) -> float:
        """Score below which a need is a gap and a suggestion is not shown: GAP_THRESHOLD, or
        SEMANTIC_GAP_THRESHOLD in an index that scores the semantic factor."""
        return self.threshold_for(self.semantic)

    @staticmethod
    def threshold_for(semantic: bool) -> float:
        """The :attr:`gap_threshold` of scores made with (*semantic*) or without the semantic
        factor."""
        return scoring.SEMANTIC_GAP_THRESHOLD if semantic else scoring.GAP_THRESHOLD

    def tags(self, text: str, given: Iterable[str] = ()) -> tuple[TopicTag, ...]:
        """Topic tags of *text* with this index's tagger."""
        return self.tagger.tag(text, given)

    def need_similarities(self) -> FloatArray:
        """Dense need × need content similarity in [0, 1], in need-id order (see
        :mod:`app.matching.need_similarity`)."""
        return symmetric_from_upper_blocks(
            len(self._need_side.items), need_similarity_blocks(self._need_side, self.weights)
        )

    def need_distances(self) -> FloatArray:
        """Condensed need × need distance, 1 − :meth:`need_similarities` clipped to [0, 1], in
        scipy's order (pairs (0, 1), (0, 2), …, (1, 2), …)."""
        return condensed_distances(
            len(self._need_side.items), need_similarity_blocks(self._need_side, self.weights)
        )

    @parallel.computed_once
    def need_linkage(self) -> FloatArray:
        """The needs' average-linkage dendrogram over :meth:`need_distances` (fastcluster's,
        in scipy's linkage-matrix format), worked out once per index: working groups cut it,
        and every report, member page and groups page of an unchanged community asks again."""
        # The distances are made for this call alone: clustering may overwrite them instead
        # of copying 47 MB first (Netherlands scale).
        tree: FloatArray = fastcluster.linkage(
            self.need_distances(), method="average", preserve_input=False
        )
        tree.setflags(write=False)  # shared by every thread that reads this index
        return tree

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
            floor = new_offer_floor(cosines, self._own(prepared), self._typical_hubness)
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
        if (
            prepared.embedding is None
            or len(prepared.embedding) != self._dimensions
            or not np.isfinite(prepared.embedding).all()
        ):
            raise ValueError(
                f"{type(item).__name__.lower()} {item.id} needs an embedding of "
                f"{self._dimensions} finite values in this index"
            )
        if isinstance(item, Offer) and self._hub_fitted:
            closeness = self._need_side.embeddings @ prepared.embedding
            shift = new_offer_shift(closeness, self._own(prepared), self._typical_semantic_hubness)
            prepared = replace(prepared, semantic_shift=shift)
        return prepared

    def _own(self, item: Prepared) -> npt.NDArray[np.bool_]:
        """Which indexed needs are of *item*'s organisation."""
        own: npt.NDArray[np.bool_] = (
            self._need_side.organisations == self._scorer.organisation_code(item)
        )
        return own

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

    def _fit_hubness(self) -> tuple[list[FloatArray] | None, list[FloatArray] | None]:
        """Fit the offers' semantic shifts and hub floors (:mod:`app.matching.fitting`);
        returns the need × offer text cosines by blocks of _BLOCK needs, when they were kept
        (within COSINE_MEMORY_BUDGET), for reciprocity and the pair scores; and their embedding
        cosines, for reciprocity, when both fit the budget."""
        needs, offers = self._need_side, self._offer_side
        self._hub_fitted = self.fits_hub_floors(self.needs, self.offers)
        if not self._hub_fitted:
            return None, None
        closest: Closest = {}
        closeness: list[FloatArray] | None = None
        if self.semantic:
            pairs = len(needs.items) * len(offers.items)
            closeness = [] if 2 * 8 * pairs <= COSINE_MEMORY_BUDGET else None
            self._typical_semantic_hubness, closest = fit_semantic_shifts(
                needs,
                offers,
                block=_BLOCK,
                closest_size=SEMANTIC_SHORTLIST_SIZE,
                offer_closest_size=OFFER_SHORTLIST_SIZE,
                kept=closeness,
            )
        floors = fit_hub_floors(
            needs,
            offers,
            closest,
            block=_BLOCK,
            shortlist_size=SHORTLIST_SIZE,
            memory_budget=COSINE_MEMORY_BUDGET,
            offer_shortlist_size=OFFER_SHORTLIST_SIZE,
        )
        self._typical_hubness = floors.typical_hubness
        self._built_shortlist = floors.shortlist
        return floors.cosines, closeness

    # ----------------------------------------------------------------- scoring

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
            raw[start:stop], cosine[start:stop] = self._scorer.raw_scores(
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
            if self._built_shortlist is not None:
                # With the build's candidates by meaning and by offer: a longer list is never
                # missing what the shorter one holds.
                rows, positions = _union_of_pairs(
                    (rows, positions), self._built_shortlist[:2], len(offers.items)
                )
            cosine = exact_cosines(needs.matrix, offers.matrix, rows, positions)
        components = self._scorer.pair_components(rows, positions, cosine)
        return Candidates(
            row_pointers(rows, len(needs.items)),
            positions,
            self._scorer.raw_of(components),
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
            by_need.contributions[:, order],
        )

    def _sides(self, need_side: bool) -> tuple[Side, Side]:
        return (
            (self._need_side, self._offer_side)
            if need_side
            else (self._offer_side, self._need_side)
        )

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
        blocked = blocked_pairs(need_side, excluded)
        if self._exact:
            raw, cosine = self._pair_scores if need_side else self._pair_scores_by_offer
            return self._ranker.rank_dense(
                queries, targets, need_side, raw, cosine, blocked, limit, min_score, explained
            )
        size = max(SHORTLIST_SIZE, 2 * limit)
        candidates = self._need_candidates(size) if need_side else self._offer_candidates(size)
        return self._ranker.rank_candidates(
            queries, targets, need_side, candidates, blocked, limit, min_score, explained
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
        blocked = blocked_pairs(need_side, excluded)
        if self._exact:
            raw, cosine = self._pair_scores if need_side else self._pair_scores_by_offer
            return self._ranker.best_dense(queries, targets, need_side, raw, cosine, blocked)
        candidates = (
            self._need_candidates(SHORTLIST_SIZE)
            if need_side
            else self._offer_candidates(SHORTLIST_SIZE)
        )
        skipped = np.isin(queries.ids, np.fromiter(settled, dtype=np.int64, count=len(settled)))
        best = [
            ranked[0] if ranked else None
            for ranked in self._ranker.rank_candidates(
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
            found = self._ranker.best_of_rows(queries, targets, need_side, rows, blocked)
            for row, suggestion in zip(rows.tolist(), found, strict=True):
                best[row] = suggestion
        return best

    def _suggestion(self, need: Prepared, offer: Prepared, cosine: float) -> Suggestion:
        """Score one pair with the scalar formulas and explain every contribution.

        Ranking (and :meth:`_explained`) scores many pairs at once
        (:meth:`PairScorer.pair_components`, :func:`scoring.contributions`) and explains them
        from those contributions; this scalar path is the reference they equal to the bit.
        """
        return self._ranker.explainer.suggestion(
            need, offer, self._scorer.scalar_contributions(need, offer, cosine)
        )


def _embedded(needs: Sequence[Need], offers: Sequence[Offer]) -> bool:
    """Does every need and offer carry an embedding, all of one (non-zero) length, of finite
    values? One NaN would make every side's mean, and so every centred vector, NaN."""
    items: tuple[Need | Offer, ...] = (*needs, *offers)
    sizes = {len(item.embedding) if item.embedding is not None else 0 for item in items}
    if len(sizes) != 1 or 0 in sizes:
        return False
    return bool(np.isfinite(from_bytes([item.embedding for item in items if item.embedding])).all())


def _others(answers: Sequence[Need] | Sequence[Offer], among: Collection[int] | None) -> set[int]:
    """The ids of *answers* not in *among* (none when *among* is None): those a whole-community
    look-up is told to skip."""
    if among is None:
        return set()
    return {answer.id for answer in answers}.difference(among)


def _union_of_pairs(
    first: tuple[IntArray, IntArray], second: tuple[IntArray, IntArray], width: int
) -> tuple[IntArray, IntArray]:
    """The (row, position) pairs in either, each once, by row and then position."""
    keys = np.union1d(first[0] * width + first[1], second[0] * width + second[1])
    return keys // width, keys % width


def _unique_by_id(items: Iterable[_Item], kind: str) -> tuple[_Item, ...]:
    ordered = sorted(items, key=lambda item: item.id)
    for first, second in itertools.pairwise(ordered):
        if first.id == second.id:
            raise ValueError(f"duplicate {kind} id {first.id}")
    return tuple(ordered)
