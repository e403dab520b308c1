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

**Texts are expanded** before vectorising with the labels and abbreviations of every topic they
are tagged with (see ``EXPAND_WITH_SYNONYMS``), so "TVW" and "transitievisie" meet in the same
n-grams. Each word's root is added too, so "isoleren" and "isolatie" share whole-word n-grams.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from app.matching import scoring
from app.matching.tagging import Tagger
from app.matching.taxonomy import Taxonomy, Topic
from app.matching.text import Word, analyse, content_words, shared_terms
from app.matching.types import (
    Factor,
    Gap,
    Need,
    Offer,
    Reason,
    Suggestion,
    TopicTag,
    UnmetOffer,
)

EXPAND_WITH_SYNONYMS = False
"""Expand texts with every synonym of their topics (True) or with labels and abbreviations only.

Full expansion lowered dev precision@1 from 0.57 to 0.49 with the shipped taxonomy (and made
vectors three times denser); labels and abbreviations keep "TVW" meeting "transitievisie"."""

MAX_SUGGESTIONS = 5
"""Suggestions returned per need (or offer) unless the caller asks for another number."""

_BLOCK = 256  # rows per dense block when scoring many items at once
# Raw (unrounded) scores differ from rounded ones by at most 4 · 0.00005; candidates within this
# margin of the cut are scored exactly so rounding can never change who makes the list.
_ROUNDING_MARGIN = 5e-4

FloatArray = npt.NDArray[np.float64]
_Item = TypeVar("_Item", Need, Offer)
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An analysed need or offer."""

    id: int
    organisation_id: int
    region: str | None
    tags: tuple[TopicTag, ...]
    topics: frozenset[str]
    words: tuple[Word, ...]
    document: str


class _Side:
    """One side of the index (all needs, or all offers) as arrays aligned by position."""

    def __init__(
        self,
        items: Sequence[_Prepared],
        matrix: sparse.csr_matrix,
        topic_columns: dict[str, int],
        organisation_codes: dict[int, int],
        region_codes: dict[str, int],
    ) -> None:
        self.items = items
        self.position = {item.id: position for position, item in enumerate(items)}
        self.matrix = matrix
        # Transposed once here: products against a CSC view would convert it on every query.
        self.matrix_t: sparse.csr_matrix = matrix.T.tocsr()
        self.ids = np.array([item.id for item in items], dtype=np.int64)
        rows = [row for row, item in enumerate(items) for _ in item.topics]
        columns = [topic_columns[slug] for item in items for slug in sorted(item.topics)]
        self.topics = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, columns)), shape=(len(items), len(topic_columns))
        )
        self.topics_t: sparse.csr_matrix = self.topics.T.tocsr()
        self.topic_sizes = np.array([len(item.topics) for item in items], dtype=np.float64)
        self.organisations = np.array(
            [organisation_codes[item.organisation_id] for item in items], dtype=np.int64
        )
        self.regions = np.array(
            [region_codes.get(_region_key(item.region), -1) for item in items], dtype=np.int64
        )


def _region_key(region: str | None) -> str:
    return region.strip().casefold() if region else ""


class MatchIndex:
    """Needs and offers of one community, analysed and vectorised for fast scoring."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        needs: Iterable[Need],
        offers: Iterable[Offer],
        *,
        weights: scoring.Weights = scoring.DEFAULT_WEIGHTS,
    ) -> None:
        self.taxonomy = taxonomy
        self.weights = weights
        self.tagger = Tagger(taxonomy)
        self.needs: tuple[Need, ...] = _unique_by_id(needs, "need")
        self.offers: tuple[Offer, ...] = _unique_by_id(offers, "offer")
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
        regions = sorted({_region_key(item.region) for item in (*need_items, *offer_items)} - {""})
        self._region_codes = {region: code for code, region in enumerate(regions)}

        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, dtype=np.float64
        )
        taxonomy_documents = [self._expansion(frozenset({topic.slug})) for topic in taxonomy]
        self.vectorizer.fit(
            [*taxonomy_documents, *(item.document for item in (*need_items, *offer_items))]
            or ["empty"]
        )
        self._analyzer = self.vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = self.vectorizer.vocabulary_
        self._idf: FloatArray = self.vectorizer.idf_
        self._need_side = self._side(need_items)
        self._offer_side = self._side(offer_items)
        # helps[a, b]: organisation a has an offer that answers a need of organisation b. The
        # extra last row and column stand for organisations the index has not seen.
        size = len(organisations) + 1
        self._helps = np.zeros((size, size), dtype=np.bool_)
        self._fit_reciprocity()

    # ----------------------------------------------------------------- public queries

    def score_need(
        self,
        need: Need,
        *,
        excluded: Collection[tuple[int, int]] = (),
        limit: int = MAX_SUGGESTIONS,
        min_score: float = scoring.GAP_THRESHOLD,
    ) -> tuple[Suggestion, ...]:
        """The best offers of other organisations for *need*, which may be new to the index.

        Best first, ties by offer id; at most *limit*, none below *min_score*, and no
        (need id, offer id) pair in *excluded*.
        """
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
        min_score: float = scoring.GAP_THRESHOLD,
    ) -> tuple[Suggestion, ...]:
        """The needs of other organisations that *offer* answers best (mirror of score_need)."""
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
        min_score: float = scoring.GAP_THRESHOLD,
    ) -> tuple[Suggestion, ...]:
        """score_need for every indexed need, ordered by need id then rank."""
        return tuple(
            suggestion
            for ranked in self._rank_all(
                self._need_side, self._offer_side, True, excluded, limit, min_score
            )
            for suggestion in ranked
        )

    def gaps(
        self,
        *,
        excluded: Collection[tuple[int, int]] = (),
        threshold: float = scoring.GAP_THRESHOLD,
    ) -> tuple[Gap, ...]:
        """Needs whose best suggestion scores below *threshold* (or that have none), by id."""
        found: list[Gap] = []
        ranked_all = self._rank_all(self._need_side, self._offer_side, True, excluded, 1, 0.0)
        for item, ranked in zip(self._need_side.items, ranked_all, strict=True):
            best = ranked[0] if ranked else None
            if best is None or best.score < threshold:
                found.append(
                    Gap(
                        need_id=item.id,
                        organisation_id=item.organisation_id,
                        best_score=best.score if best else 0.0,
                        best_offer_id=best.offer_id if best else None,
                    )
                )
        return tuple(found)

    def unmet_offers(
        self,
        *,
        excluded: Collection[tuple[int, int]] = (),
        threshold: float = scoring.GAP_THRESHOLD,
    ) -> tuple[UnmetOffer, ...]:
        """Offers that no need of another organisation reaches *threshold* with, by id."""
        found: list[UnmetOffer] = []
        ranked_all = self._rank_all(self._offer_side, self._need_side, False, excluded, 1, 0.0)
        for item, ranked in zip(self._offer_side.items, ranked_all, strict=True):
            best = ranked[0] if ranked else None
            if best is None or best.score < threshold:
                found.append(
                    UnmetOffer(
                        offer_id=item.id,
                        organisation_id=item.organisation_id,
                        best_score=best.score if best else 0.0,
                        best_need_id=best.need_id if best else None,
                    )
                )
        return tuple(found)

    def tags(self, text: str, given: Iterable[str] = ()) -> tuple[TopicTag, ...]:
        """Topic tags of *text* with this index's tagger."""
        return self.tagger.tag(text, given)

    def need_similarities(self) -> FloatArray:
        """Dense need × need content similarity in [0, 1], in need-id order.

        similarity = (w_topic · topic_overlap + w_text · text_component) / (w_topic + w_text)
        """
        side = self._need_side
        content, _ = self._content(side.items, side.matrix, side)
        weight = self.weights.topic + self.weights.text
        similarity: FloatArray = content / weight if weight > 0 else np.zeros_like(content)
        return similarity

    def need_topics(self) -> tuple[frozenset[str], ...]:
        """Topic slugs (given and inferred) of each indexed need, in need-id order."""
        return tuple(item.topics for item in self._need_side.items)

    def offer_topics(self) -> tuple[frozenset[str], ...]:
        """Topic slugs (given and inferred) of each indexed offer, in offer-id order."""
        return tuple(item.topics for item in self._offer_side.items)

    # ----------------------------------------------------------------- preparation

    def _prepare(self, item: Need | Offer) -> _Prepared:
        tags = self.tagger.tag(item.text, item.topics)
        topics = frozenset(tag.slug for tag in tags)
        words = analyse(item.text)
        # Roots join the words so inflections meet in whole-word n-grams ("isoleren isol").
        roots = [word.root for word in words if word.root != word.surface]
        document = " ".join([*(word.surface for word in words), *roots, self._expansion(topics)])
        return _Prepared(
            id=item.id,
            organisation_id=item.organisation_id,
            region=item.region,
            tags=tags,
            topics=topics,
            words=words,
            document=document,
        )

    def _prepared(
        self, item: Need | Offer, indexed: Sequence[Need | Offer], side: _Side
    ) -> tuple[_Prepared, sparse.csr_matrix]:
        """The analysed item and its vector: from the index when it holds this exact item."""
        position = side.position.get(item.id)
        if position is not None and indexed[position] == item:
            return side.items[position], side.matrix[position]
        prepared = self._prepare(item)
        return prepared, self._vectorise_one(prepared.document)

    def _expansion(self, topics: frozenset[str]) -> str:
        """Labels, synonyms and abbreviations of *topics*, normalised, as one string."""
        parts: list[str] = []
        for slug in sorted(topics):
            topic = self.taxonomy.get(slug)
            if topic is None:
                continue
            for phrase in self._expansion_phrases(topic):
                parts.extend(content_words(phrase))
        return " ".join(parts)

    def _expansion_phrases(self, topic: Topic) -> tuple[str, ...]:
        if EXPAND_WITH_SYNONYMS:
            return (*topic.terms, *topic.abbreviations)
        return (topic.label_nl, topic.label_en, *topic.abbreviations)

    def _vectorise(self, items: Sequence[_Prepared]) -> sparse.csr_matrix:
        matrix: sparse.csr_matrix = self.vectorizer.transform([item.document for item in items])
        return matrix

    def _vectorise_one(self, document: str) -> sparse.csr_matrix:
        """vectorizer.transform([document]) without sklearn's batch overhead (same numbers).

        tf = 1 + ln(count) (sublinear), times the fitted idf, then L2-normalised.
        """
        counts: dict[int, int] = {}
        for gram in self._analyzer(document):
            column = self._vocabulary.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        columns = np.array(sorted(counts), dtype=np.int64)
        values = np.log(np.array([counts[c] for c in columns.tolist()], dtype=np.float64)) + 1.0
        values *= self._idf[columns]
        norm = float(np.sqrt(values @ values))
        if norm > 0:
            values /= norm
        return sparse.csr_matrix(
            (values, columns, np.array([0, len(columns)])), shape=(1, len(self._vocabulary))
        )

    def _side(self, items: Sequence[_Prepared]) -> _Side:
        return _Side(
            items,
            self._vectorise(items)
            if items
            else sparse.csr_matrix((0, len(self.vectorizer.vocabulary_))),
            self._topic_columns,
            self._organisation_codes,
            self._region_codes,
        )

    def _fit_reciprocity(self) -> None:
        needs, offers = self._need_side, self._offer_side
        for start in range(0, len(needs.items), _BLOCK):
            items = needs.items[start : start + _BLOCK]
            content, _ = self._content(items, needs.matrix[start : start + _BLOCK], offers)
            rows, columns = np.nonzero(content >= scoring.RECIPROCITY_THRESHOLD)
            self._helps[offers.organisations[columns], needs.organisations[start:][rows]] = True
        np.fill_diagonal(self._helps, False)

    # ----------------------------------------------------------------- scoring

    def _content(
        self, items: Sequence[_Prepared], vectors: sparse.csr_matrix, targets: _Side
    ) -> tuple[FloatArray, FloatArray]:
        """w_topic · topic + w_text · text of *items* × targets (unrounded), and the cosines."""
        cosine: FloatArray = (vectors @ targets.matrix_t).toarray()
        text = np.clip((cosine - scoring.TEXT_FLOOR) / (1.0 - scoring.TEXT_FLOOR), 0.0, 1.0)
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
        topic = _ochiai((topic_rows @ targets.topics_t).toarray(), sizes, targets.topic_sizes)
        content: FloatArray = self.weights.topic * topic + self.weights.text * text
        return content, cosine

    def _raw_scores(
        self,
        items: Sequence[_Prepared],
        vectors: sparse.csr_matrix,
        targets: _Side,
        *,
        need_side: bool,
    ) -> tuple[FloatArray, FloatArray]:
        """Unrounded scores of *items* × targets, and the cosines they came from."""
        raw, cosine = self._content(items, vectors, targets)
        regions = np.array(
            [self._region_codes.get(_region_key(item.region), -1) for item in items],
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

    def _organisation_code(self, item: _Prepared) -> int:
        """The organisation's row in ``_helps``; unknown organisations get the last, empty row."""
        return self._organisation_codes.get(item.organisation_id, len(self._organisation_codes))

    def _rank_all(
        self,
        queries: _Side,
        targets: _Side,
        need_side: bool,
        excluded: Collection[tuple[int, int]],
        limit: int,
        min_score: float,
    ) -> list[tuple[Suggestion, ...]]:
        blocked: dict[int, set[int]] = {}
        for need_id, offer_id in excluded:
            query_id, target_id = (need_id, offer_id) if need_side else (offer_id, need_id)
            blocked.setdefault(query_id, set()).add(target_id)
        ranked: list[tuple[Suggestion, ...]] = []
        for start in range(0, len(queries.items), _BLOCK):
            items = queries.items[start : start + _BLOCK]
            vectors = queries.matrix[start : start + _BLOCK]
            raw, cosine = self._raw_scores(items, vectors, targets, need_side=need_side)
            for offset, item in enumerate(items):
                ranked.append(
                    self._select(
                        item,
                        raw[offset],
                        cosine[offset],
                        targets,
                        need_side,
                        blocked.get(item.id, set()),
                        limit,
                        min_score,
                    )
                )
        return ranked

    def _select(
        self,
        item: _Prepared,
        raw: FloatArray,
        cosine: FloatArray,
        targets: _Side,
        need_side: bool,
        blocked: set[int],
        limit: int,
        min_score: float,
    ) -> tuple[Suggestion, ...]:
        """Exactly score the candidates that can make the top *limit*, then rank them."""
        if limit <= 0 or not targets.items:
            return ()
        valid: BoolArray = targets.organisations != self._organisation_code(item)
        if blocked:
            valid &= ~np.isin(targets.ids, list(blocked))
        scores = np.where(valid, raw, -np.inf)
        cut = min_score - _ROUNDING_MARGIN
        if limit < len(scores):
            kth = np.partition(scores, len(scores) - limit)[len(scores) - limit]
            cut = max(cut, kth - _ROUNDING_MARGIN)
        suggestions = []
        for position in np.flatnonzero(scores >= cut):
            target = targets.items[int(position)]
            need, offer = (item, target) if need_side else (target, item)
            suggestion = self._suggestion(need, offer, float(cosine[position]))
            if suggestion.score >= min_score:
                suggestions.append(suggestion)
        key = (lambda s: (-s.score, s.offer_id)) if need_side else (lambda s: (-s.score, s.need_id))
        suggestions.sort(key=key)
        return tuple(suggestions[:limit])

    def _helps_back(self, need: _Prepared, offer: _Prepared) -> bool:
        """Can the need's organisation help the offer's organisation in return?"""
        return bool(self._helps[self._organisation_code(need), self._organisation_code(offer)])

    def _suggestion(self, need: _Prepared, offer: _Prepared, cosine: float) -> Suggestion:
        """Score one pair with the scalar formulas and explain every contribution."""
        weights = self.weights
        components: tuple[tuple[Factor, float, float], ...] = (
            ("topic", weights.topic, scoring.topic_overlap(need.topics, offer.topics)),
            ("text", weights.text, scoring.text_component(cosine)),
            ("region", weights.region, scoring.region_match(need.region, offer.region)),
            (
                "reciprocity",
                weights.reciprocity,
                scoring.reciprocity(self._helps_back(need, offer)),
            ),
        )
        shared_topics = tuple(sorted(need.topics & offer.topics))
        reasons = tuple(
            Reason(factor, value, self._detail(factor, need, offer, shared_topics))
            for factor, weight, component in components
            if (value := scoring.contribution(weight, component)) > 0
        )
        return Suggestion(
            need_id=need.id,
            offer_id=offer.id,
            need_organisation_id=need.organisation_id,
            offer_organisation_id=offer.organisation_id,
            score=scoring.total([reason.contribution for reason in reasons]),
            reasons=reasons,
            matched_topics=shared_topics,
        )

    def _detail(
        self, factor: Factor, need: _Prepared, offer: _Prepared, shared_topics: tuple[str, ...]
    ) -> str:
        if factor == "topic":
            labels = [self._topic_display(slug) for slug in shared_topics]
            return ("topic " if len(labels) == 1 else "topics ") + ", ".join(labels)
        if factor == "text":
            terms = shared_terms(need.words, offer.words)
            if not terms:
                return "similar wording"
            return "both mention " + ", ".join(f"*{term}*" for term in terms[:4])
        if factor == "region":
            return f"both in region {need.region}"
        return (
            f"organisation {need.organisation_id} can help organisation "
            f"{offer.organisation_id} in return"
        )

    def _topic_display(self, slug: str) -> str:
        topic = self.taxonomy.get(slug)
        return topic.display if topic else slug


def _ochiai(shared: FloatArray, sizes_a: FloatArray, sizes_b: FloatArray) -> FloatArray:
    """Vectorised topic_overlap: shared / √(|A|·|B|), 0 where either side has no topics."""
    dense = np.asarray(shared, dtype=np.float64)
    denominator = np.sqrt(np.outer(sizes_a, sizes_b))
    result: FloatArray = np.divide(
        dense, denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    return result


def _unique_by_id(items: Iterable[_Item], kind: str) -> tuple[_Item, ...]:
    ordered = sorted(items, key=lambda item: item.id)
    for first, second in itertools.pairwise(ordered):
        if first.id == second.id:
            raise ValueError(f"duplicate {kind} id {first.id}")
    return tuple(ordered)
