"""The large-community machinery: shortlists, exact re-scoring, the fast fit, shared terms."""

import gc
import random
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from app.matching import MatchIndex, Suggestion, match_community, need_similarity
from app.matching import index as index_module
from app.matching.community import community_report, working_groups
from app.matching.correspondence import SharedTerms
from app.matching.index import collector_paused
from app.matching.ranking import ranking_order
from app.matching.shortlist import choose_threshold, exact_cosines, pruning_keys, shortlist
from app.matching.text import analyse, shared_terms, words_correspond
from app.matching.vectors import (
    DENSE_COLUMN_SHARE,
    DocumentColumns,
    fit_transform,
    symmetric_from_upper_blocks,
    upper_gram_blocks,
)

from . import synthetic

TAXONOMY_WORDS = synthetic.taxonomy().words
"""The engine's taxonomy's words: compound members the common words may lack."""


def random_rows(count: int, width: int, seed: int) -> sparse.csr_matrix:
    """L2-normalised non-negative rows with values on a coarse grid, so ties occur."""
    rng = np.random.default_rng(seed)
    matrix = sparse.random(count, width, density=0.08, random_state=rng, format="csr")
    matrix.data = np.ceil(matrix.data * 4) / 4
    normalised: sparse.csr_matrix = normalize(matrix)
    return normalised


def brute_force_top(
    products: np.ndarray, size: int, forbidden: np.ndarray | None = None
) -> list[list[int]]:
    """Each row's *size* largest positive products, ties by the smaller column."""
    found = []
    for row, values in enumerate(products):
        columns = [
            column
            for column in np.lexsort((np.arange(len(values)), -values)).tolist()
            if values[column] > 0 and (forbidden is None or not forbidden[row, column])
        ]
        found.append(columns[:size])
    return found


def listed(targets: np.ndarray) -> list[list[int]]:
    return [[int(column) for column in row if column >= 0] for row in targets]


QUERIES = random_rows(120, 300, seed=1)
TARGETS = random_rows(150, 300, seed=2)
PRODUCTS = (QUERIES @ TARGETS.T).toarray()


def test_unpruned_shortlist_is_the_brute_force_top_k() -> None:
    found = shortlist(QUERIES, TARGETS, 7, work_budget=1e12)
    assert found.threshold == 0.0
    assert listed(found.targets) == brute_force_top(PRODUCTS, 7)
    rows, ranks = np.nonzero(found.targets >= 0)
    assert np.array_equal(found.products[rows, ranks], PRODUCTS[rows, found.targets[rows, ranks]])


def test_chunks_do_not_change_the_shortlist() -> None:
    whole = shortlist(QUERIES, TARGETS, 7, work_budget=1e12)
    chunked = shortlist(QUERIES, TARGETS, 7, work_budget=1e12, memory_budget=40_000)
    assert chunked.chunks == 41
    assert whole.chunks == 1
    assert np.array_equal(chunked.targets, whole.targets)
    assert np.array_equal(chunked.products, whole.products)


def test_a_query_never_gets_a_target_of_its_own_group() -> None:
    query_groups = np.arange(120, dtype=np.int64) % 9
    target_groups = np.arange(150, dtype=np.int64) % 9
    found = shortlist(
        QUERIES,
        TARGETS,
        5,
        query_groups=query_groups,
        target_groups=target_groups,
        work_budget=1e12,
    )
    forbidden = query_groups[:, None] == target_groups[None, :]
    assert listed(found.targets) == brute_force_top(PRODUCTS, 5, forbidden)


def test_pruning_keys_damp_weights_of_common_columns() -> None:
    queries = sparse.csr_matrix(np.array([[0.6, 0.8, 0.0], [1.0, 0.0, 0.0]]))
    targets = sparse.csr_matrix(np.array([[0.0, 0.0, 1.0]]))
    query_keys, target_keys = pruning_keys(queries, targets)
    # column 0 is in 2 rows, columns 1 and 2 in one each
    in_two, in_one = 1 / np.sqrt(np.log1p(2)), 1 / np.sqrt(np.log1p(1))
    assert query_keys.tolist() == [0.6 * in_two, 0.8 * in_one, 1.0 * in_two]
    assert target_keys.tolist() == [1.0 * in_one]


def test_pruned_shortlist_is_the_top_k_of_the_pruned_product() -> None:
    threshold, work = choose_threshold(QUERIES, TARGETS, 20_000)
    pruned = []
    for matrix, keys in zip((QUERIES, TARGETS), pruning_keys(QUERIES, TARGETS), strict=True):
        kept = sparse.csr_matrix(
            (matrix.data * (keys >= threshold), matrix.indices.copy(), matrix.indptr.copy()),
            shape=matrix.shape,
        )
        kept.eliminate_zeros()
        pruned.append(kept)
    frequencies = [np.bincount(matrix.indices, minlength=300) for matrix in pruned]
    assert work == float(frequencies[0] @ frequencies[1])
    assert work <= 20_000
    assert threshold == 0.055
    assert choose_threshold(QUERIES, TARGETS, work_budget=work - 1)[0] == 0.0575
    assert choose_threshold(QUERIES, TARGETS, 1e12)[0] == 0.0
    found = shortlist(QUERIES, TARGETS, 6, work_budget=20_000)
    assert found.threshold == threshold
    assert found.work == work
    assert listed(found.targets) == brute_force_top((pruned[0] @ pruned[1].T).toarray(), 6)


def test_exact_cosines_are_bit_identical_to_the_sparse_product() -> None:
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 120, 2_000)
    columns = rng.integers(0, 150, 2_000)
    # 20 queries spread at a time: six steps of ~17 pairs per query
    cosines = exact_cosines(QUERIES, TARGETS, rows, columns, memory_budget=50_000)
    assert np.array_equal(cosines, PRODUCTS[rows, columns])
    # the fewest queries at a time (MIN_SPREAD_QUERIES), and all at once
    for budget in (1, 10**9):
        found = exact_cosines(QUERIES, TARGETS, rows[:300], columns[:300], memory_budget=budget)
        assert np.array_equal(found, PRODUCTS[rows[:300], columns[:300]])
    assert exact_cosines(QUERIES, TARGETS, rows[:0], columns[:0]).shape == (0,)


def test_empty_inputs() -> None:
    empty = sparse.csr_matrix((0, 300))
    assert shortlist(empty, TARGETS, 3).targets.shape == (0, 3)
    assert listed(shortlist(QUERIES, empty, 3).targets) == [[]] * 120


# ----------------------------------------------------------------- the fast vectoriser fit

DOCUMENTS = [
    "warmtenet warmtenetten aquathermie teo",
    "",
    "a ab abc  abcd\tabcde",
    "ÉÉN coöperatie VvE vve's",
    *(text.text for text in synthetic.texts(300, offers=False, seed=4)),
]


def vectoriser(**settings: object) -> TfidfVectorizer:
    options: dict[str, object] = {
        "analyzer": "char_wb",
        "ngram_range": (3, 5),
        "sublinear_tf": True,
        "dtype": np.float64,
    }
    options.update(settings)
    return TfidfVectorizer(**options)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"sublinear_tf": False},
        {"smooth_idf": False},
        {"ngram_range": (1, 2)},
        {"analyzer": "word"},
    ],
)
def test_fast_fit_is_number_for_number_sklearn(settings: dict[str, object]) -> None:
    expected = vectoriser(**settings).fit(DOCUMENTS)
    fitted = vectoriser(**settings)
    matrix = fit_transform(fitted, DOCUMENTS)
    assert fitted.vocabulary_ == expected.vocabulary_
    assert np.array_equal(fitted.idf_, expected.idf_)
    reference = expected.transform(DOCUMENTS)
    assert np.array_equal(matrix.indptr, reference.indptr)
    assert np.array_equal(matrix.indices, reference.indices)
    assert np.array_equal(matrix.data, reference.data)
    # The vectoriser is left fitted: transform gives the same rows.
    assert np.array_equal(fitted.transform(DOCUMENTS[:5]).toarray(), reference[:5].toarray())


@pytest.mark.parametrize("settings", [{}, {"analyzer": "word"}])
def test_document_columns_are_the_analysers_in_vocabulary_n_grams(
    settings: dict[str, object],
) -> None:
    fitted = vectoriser(**settings)
    fit_transform(fitted, DOCUMENTS[10:])
    columns = DocumentColumns(fitted)
    analyse_document = fitted.build_analyzer()
    for document in [*DOCUMENTS[:10], "onbekende woorden xyz", "Warmtenet WARMTENET"]:
        expected = [
            fitted.vocabulary_[gram]
            for gram in analyse_document(document)
            if gram in fitted.vocabulary_
        ]
        assert columns(document) == expected
        assert columns(document) == expected  # and again, from the word cache


def test_fast_fit_keeps_sklearns_empty_vocabulary_error() -> None:
    with pytest.raises(ValueError, match="empty vocabulary"):
        fit_transform(vectoriser(), ["", "  "])


# ----------------------------------------------------------------- shared terms


@pytest.mark.parametrize("known", [frozenset(), TAXONOMY_WORDS])
def test_shared_terms_match_the_word_by_word_comparison(known: frozenset[str]) -> None:
    texts = synthetic.texts(400, offers=True, seed=5)
    analysed = [analyse(text.text) for text in texts]
    terms = SharedTerms(analysed, known)
    rng = random.Random(6)
    for _ in range(1_500):
        first, second = rng.choice(analysed), rng.choice(analysed)
        assert terms.between(first, second) == shared_terms(first, second, terms.known)
    unseen = analyse("een compleet onbekende warmtetransitiemethodiek")
    own = terms.known.union(word.surface for word in (*unseen, *analysed[0]))
    assert terms.between(unseen, analysed[0]) == shared_terms(unseen, analysed[0], own)
    assert terms.known == known.union(word.surface for words in analysed for word in words)


@pytest.mark.parametrize(
    ("pairs", "unseen"),
    [
        (0, 0),  # nothing to look up
        (10, 0),  # fewer than the batch's minimum: one by one
        (10, 3),
        (800, 0),  # the sparse products
        (800, 25),  # the products, and the texts the table never saw one by one
    ],
)
def test_shared_terms_of_many_pairs_are_those_of_each_pair(pairs: int, unseen: int) -> None:
    texts = synthetic.texts(300, offers=False, seed=9)
    analysed = [analyse(text.text) for text in texts]
    terms = SharedTerms(analysed)
    rng = random.Random(pairs + unseen)
    firsts = [rng.choice(analysed) for _ in range(pairs)]
    seconds = [rng.choice(analysed) for _ in range(pairs)]
    for position in rng.sample(range(pairs), unseen):
        seconds[position] = analyse(f"onbekende {position} warmtenetwerkplaats")
    expected = [
        shared_terms(first, second, terms.known)
        for first, second in zip(firsts, seconds, strict=True)
    ]
    assert terms.between_pairs(firsts, seconds) == expected
    assert any(expected) is (pairs > 0)  # pairs that share words are among them


def test_suggestions_of_many_pairs_are_those_of_each_pair() -> None:
    data = small_community()
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    explainer = built._ranker.explainer
    needs, offers = built._need_side.items, built._offer_side.items
    rng = random.Random(10)
    pairs = [(rng.choice(needs), rng.choice(offers)) for _ in range(200)]
    contributions = [
        [rng.choice([0.0, 0.0125, 0.05]), rng.choice([0.0, 0.3125]), 0.0, 0.05, 0.0] for _ in pairs
    ]
    expected = [
        explainer.suggestion(need, offer, values)
        for (need, offer), values in zip(pairs, contributions, strict=True)
    ]
    assert explainer.suggestions(pairs, contributions) == expected
    assert explainer.suggestions([], []) == []


@pytest.mark.parametrize("known", [frozenset(), TAXONOMY_WORDS])
def test_every_corresponding_pair_of_words_is_found(known: frozenset[str]) -> None:
    words = sorted({word for text in synthetic.texts(250, offers=False, seed=7)
                    for word in analyse(text.text)}, key=lambda word: word.surface)  # fmt: skip
    terms = SharedTerms([tuple(words)], known)
    for position, first in enumerate(words):
        for second in words[position + 1 :]:
            expected = words_correspond(first, second, terms.known)
            assert terms.between((first,), (second,)) == (
                shared_terms((first,), (second,), terms.known) if expected else ()
            )


# ----------------------------------------------------------------- the index's large path


def small_community() -> synthetic.Community:
    return synthetic.community(8, per_organisation=6, seed=8)


def test_raw_scores_of_pairs_equal_the_dense_raw_scores() -> None:
    data = small_community()
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    raw, cosine = built._pair_scores
    rows, columns = np.nonzero(np.ones_like(raw, dtype=bool))
    components = built._scorer.pair_components(rows, columns, cosine[rows, columns])
    assert np.array_equal(built._scorer.raw_of(components), raw.ravel())


def test_shortlist_path_equals_the_exact_path_when_the_shortlist_holds_every_offer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = small_community()
    excluded = [(data.needs[0].id, data.offers[10].id), (data.needs[3].id, data.offers[20].id)]
    exact = MatchIndex(data.taxonomy, data.needs, data.offers)
    assert exact._exact
    assert (exact._pair_scores[1] > 0).all()  # every pair shares an n-gram: none is skipped
    expected = (
        exact.suggest(excluded=excluded, limit=10, min_score=0.0),
        exact.gaps(excluded=excluded, threshold=0.4),
        exact.unmet_offers(excluded=excluded, threshold=0.4),
    )
    monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    monkeypatch.setattr(index_module, "SHORTLIST_SIZE", len(data.offers))
    large = MatchIndex(data.taxonomy, data.needs, data.offers)
    assert not large._exact
    found = (
        large.suggest(excluded=excluded, limit=10, min_score=0.0),
        large.gaps(excluded=excluded, threshold=0.4),
        large.unmet_offers(excluded=excluded, threshold=0.4),
    )
    assert found == expected
    assert len(expected[1]) == 25  # the verification of gaps and unmet offers is exercised
    assert len(expected[2]) == 24


def test_gaps_and_unmet_offers_stay_exact_with_small_shortlists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = small_community()
    exact = MatchIndex(data.taxonomy, data.needs, data.offers)
    expected = (exact.gaps(threshold=0.4), exact.unmet_offers(threshold=0.4))
    monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    monkeypatch.setattr(index_module, "SHORTLIST_SIZE", 2)
    large = MatchIndex(data.taxonomy, data.needs, data.offers)
    assert (large.gaps(threshold=0.4), large.unmet_offers(threshold=0.4)) == expected


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("embedded", [False, True])
def test_ranked_scores_are_the_scalar_scores_to_the_bit(
    monkeypatch: pytest.MonkeyPatch, large: bool, embedded: bool
) -> None:
    data = small_community()
    needs, offers = data.needs, data.offers
    if embedded:
        rng = np.random.default_rng(3)
        needs = tuple(replace(n, embedding=_unit(rng)) for n in needs)
        offers = tuple(replace(o, embedding=_unit(rng)) for o in offers)
    if large:
        monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    built = MatchIndex(data.taxonomy, needs, offers)
    assert built.semantic is embedded
    assert built._exact is not large
    ranked = built._suggest((), 10, 0.0, explained=0)  # scores only, from the vectorised path
    assert len(ranked) == 10 * len(needs) == 480  # min_score 0: every need gets its 10
    assert all(not suggestion.reasons for suggestion in ranked)
    needs_side, offers_side = built._need_side, built._offer_side
    rows = np.array([needs_side.position[s.need_id] for s in ranked])
    columns = np.array([offers_side.position[s.offer_id] for s in ranked])
    cosines = exact_cosines(needs_side.matrix, offers_side.matrix, rows, columns)
    scalar = [  # the scalar formulas, one pair at a time
        built._suggestion(needs_side.items[row], offers_side.items[column], cosine)
        for row, column, cosine in zip(
            rows.tolist(), columns.tolist(), cosines.tolist(), strict=True
        )
    ]
    assert [s.score for s in ranked] == [s.score for s in scalar]
    explained = built._explained(ranked)  # reasons from the vectorised contributions
    assert [explained[(s.need_id, s.offer_id)] for s in ranked] == scalar
    # One answer against many targets (score_need, score_offer) scores as the pairs do.
    for need_side, queries, targets in (
        (True, built._need_side, built._offer_side),
        (False, built._offer_side, built._need_side),
    ):
        positions = np.arange(len(targets.items))
        cosine = np.linspace(0.0, 1.0, len(positions))
        for row in (0, 7, len(queries.items) - 1):
            rows = np.full(len(positions), row)
            pairs = (rows, positions) if need_side else (positions, rows)
            assert np.array_equal(
                built._scorer.item_components(
                    queries.items[row], need_side, targets, positions, cosine
                ),
                built._scorer.pair_components(*pairs, cosine),
            )


def _unit(rng: np.random.Generator, size: int = 16) -> bytes:
    vector = rng.standard_normal(size).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tobytes()


def test_a_shorter_limit_is_a_prefix_of_a_longer_one() -> None:
    data = small_community()
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    longer: dict[int, list[tuple[int, float]]] = {}
    for suggestion in built.suggest(limit=12, min_score=0.0):
        longer.setdefault(suggestion.need_id, []).append((suggestion.offer_id, suggestion.score))
    shorter: dict[int, list[tuple[int, float]]] = {}
    for suggestion in built.suggest(limit=3, min_score=0.0):
        shorter.setdefault(suggestion.need_id, []).append((suggestion.offer_id, suggestion.score))
    assert shorter == {need_id: ranked[:3] for need_id, ranked in longer.items()}


def test_community_report_on_a_built_index_is_match_community() -> None:
    data = small_community()
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    assert community_report(built, data.formats) == match_community(
        data.taxonomy, data.needs, data.offers, data.formats
    )


def test_the_collector_is_paused_and_restored() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_report_explains_what_it_shows_allocates_and_pairs() -> None:
    data = synthetic.community(12, per_organisation=5, seed=9)
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    full = {(s.need_id, s.offer_id): s for s in built.suggest(limit=10)}
    report = community_report(MatchIndex(data.taxonomy, data.needs, data.offers), data.formats)
    used = [
        *report.suggestions,
        *report.allocation.assignments,
        *(pair.first_helps_second for pair in report.reciprocal_pairs),
        *(pair.second_helps_first for pair in report.reciprocal_pairs),
    ]
    assert [s for s in used if full[(s.need_id, s.offer_id)] != s] == []
    shown = set(report.suggestions)
    beyond_five = [s for s in used if s not in shown]
    assert len(beyond_five) == 1  # completed afterwards, equal to suggest's
    assert beyond_five[0].reasons != ()


def test_explaining_ranked_pairs_reuses_their_contributions_to_the_same_suggestions() -> None:
    data = synthetic.community(12, per_organisation=5, seed=9)
    ranked_index = MatchIndex(data.taxonomy, data.needs, data.offers)
    ranked = ranked_index._suggest((), 10, 0.0, explained=0)
    assert all(suggestion.reasons == () for suggestion in ranked)
    assert len(ranked_index._ranker.unexplained) == len(ranked)
    fresh = MatchIndex(data.taxonomy, data.needs, data.offers)._explained(ranked)
    reused = ranked_index._explained(ranked)
    assert reused == fresh
    assert all(suggestion.reasons for suggestion in reused.values())


def test_the_upper_gram_blocks_make_the_sparse_product_up_to_rounding() -> None:
    data = small_community()
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    matrix = built._need_side.matrix
    frequency = np.bincount(matrix.indices, minlength=matrix.shape[1])
    common = frequency >= DENSE_COLUMN_SHARE * matrix.shape[0]
    assert 0 < common.sum() < (frequency > 0).sum()  # both halves of the split are used
    expected = (matrix @ matrix.T).toarray()
    found = symmetric_from_upper_blocks(matrix.shape[0], upper_gram_blocks(matrix))
    assert found.shape == expected.shape
    # Single-precision BLAS for the common columns (see upper_gram_blocks).
    assert np.allclose(found, expected, rtol=0, atol=1e-5)
    assert not np.array_equal(found, expected)
    assert np.array_equal(found, found.T)


def test_working_groups_are_those_of_the_sparse_product(monkeypatch: pytest.MonkeyPatch) -> None:
    data = synthetic.community(20, per_organisation=6, seed=4)
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    found = working_groups(built, data.formats)

    def sparse_blocks(
        matrix: sparse.csr_matrix, finish: Callable[[int, np.ndarray], np.ndarray]
    ) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, matrix.shape[0], 7):
            yield start, finish(start, (matrix[start : start + 7] @ matrix[start:].T).toarray())

    monkeypatch.setattr(need_similarity, "upper_gram_blocks", sparse_blocks)
    assert len(found) == 21
    assert working_groups(MatchIndex(data.taxonomy, data.needs, data.offers), data.formats) == found


def test_upper_gram_blocks_cover_the_upper_triangle_of_the_product() -> None:
    data = small_community()
    matrix = MatchIndex(data.taxonomy, data.needs, data.offers)._need_side.matrix
    expected = (matrix @ matrix.T).toarray()
    starts = []
    for start, block in upper_gram_blocks(matrix, rows_per_block=7):
        starts.append(start)
        assert np.allclose(block, expected[start : start + 7, start:], rtol=0, atol=1e-5)
    assert starts == list(range(0, matrix.shape[0], 7))
    # A finish step turns each block into what is yielded.
    plain = dict(upper_gram_blocks(matrix, rows_per_block=7))
    finished = upper_gram_blocks(
        matrix, rows_per_block=7, finish=lambda start, block: block + start
    )
    for start, block in finished:
        assert np.array_equal(block, plain[start] + start)


def test_need_distances_are_the_condensed_similarities() -> None:
    data = small_community()
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    similarity = built.need_similarities()
    assert np.array_equal(similarity, similarity.T)
    expected = np.clip(1.0 - similarity[np.triu_indices(len(similarity), k=1)], 0.0, 1.0)
    assert np.array_equal(built.need_distances(), expected)


def test_a_large_index_takes_its_candidates_from_the_build_by_text_and_by_meaning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each need's SHORTLIST_SIZE best offers by exact text cosine and its
    SEMANTIC_SHORTLIST_SIZE closest by embedding, and each offer's OFFER_SHORTLIST_SIZE best
    needs by either, other organisations only, nothing else."""
    monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    monkeypatch.setattr(index_module, "SHORTLIST_SIZE", 4)
    monkeypatch.setattr(index_module, "SEMANTIC_SHORTLIST_SIZE", 3)
    monkeypatch.setattr(index_module, "OFFER_SHORTLIST_SIZE", 2)
    data = synthetic.with_embeddings(synthetic.community(25, per_organisation=6, seed=2), seed=5)
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    assert built.semantic
    needs, offers = built._need_side, built._offer_side
    cosine = (needs.matrix @ offers.matrix_t).toarray()
    closeness = needs.embeddings @ offers.embeddings.T
    other = needs.organisations[:, None] != offers.organisations[None, :]

    def best(values: np.ndarray, size: int) -> set[int]:
        ranked = sorted(
            (position for position in range(len(values)) if values[position] > 0),
            key=lambda position: (-values[position], position),
        )
        return set(ranked[:size])

    # The needs each offer is closest to, by text and by meaning.
    offers_of: dict[int, set[int]] = {row: set() for row in range(len(needs.items))}
    for values in (cosine, closeness):
        for position in range(len(offers.items)):
            for row in best(np.where(other[:, position], values[:, position], 0.0), 2):
                offers_of[row].add(position)
    candidates = built._need_candidates(4)
    found_any_by_meaning_only = found_any_for_an_offer_only = False
    for row in range(len(needs.items)):
        low, high = candidates.pointers[row], candidates.pointers[row + 1]
        found = candidates.positions[low:high].tolist()
        by_text = best(np.where(other[row], cosine[row], 0.0), 4)
        by_meaning = best(np.where(other[row], closeness[row], 0.0), 3)
        assert sorted(found) == sorted(by_text | by_meaning | offers_of[row])
        found_any_for_an_offer_only |= bool(offers_of[row] - by_text - by_meaning)
        # Scored from their exact text cosines.
        components = built._scorer.pair_components(
            np.full(len(found), row), np.array(found), cosine[row, found]
        )
        assert candidates.raw[low:high].tolist() == built._scorer.raw_of(components).tolist()
        found_any_by_meaning_only |= bool(by_meaning - by_text)
    assert found_any_by_meaning_only
    assert found_any_for_an_offer_only


@pytest.mark.parametrize("exact_pair_limit", [0, 10**9])
def test_the_reports_gaps_and_unmet_offers_are_the_indexs(
    monkeypatch: pytest.MonkeyPatch, exact_pair_limit: int
) -> None:
    """The report settles needs and offers by its candidates; the answer must not change."""
    monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", exact_pair_limit)
    data = synthetic.community(30, per_organisation=6, seed=3)
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    excluded = {
        (need.id, built.score_need(need)[0].offer_id)
        for need in data.needs[::3]
        if built.score_need(need)
    }
    report = community_report(
        MatchIndex(data.taxonomy, data.needs, data.offers), data.formats, excluded=excluded
    )
    gaps, unmet = built.gaps(excluded=excluded), built.unmet_offers(excluded=excluded)
    assert report.gaps == gaps
    assert report.unmet_offers == unmet
    assert (len(excluded), len(gaps), len(unmet)) == (59, 3, 3)


# ----------------------------------------------------------------- ranking order


@pytest.mark.parametrize(
    ("query_rows", "scores", "positions", "target_ids", "expected"),
    [
        ([], [], [], [10, 20], []),
        # by query, then best score first, then target id
        ([1, 0, 0, 1], [0.5, 0.25, 0.75, 0.5], [0, 1, 0, 1], [10, 20], [2, 1, 0, 3]),
        # equal scores: the lower target id first
        ([0, 0, 0], [0.3333, 0.3333, 0.3334], [2, 0, 1], [10, 20, 30], [2, 1, 0]),
        # ids that do not ascend with the positions: ties follow the ids all the same
        ([0, 0, 0], [0.3333, 0.3333, 0.3334], [2, 0, 1], [30, 20, 10], [2, 0, 1]),
        # the same pair twice keeps its order, as lexsort's
        ([0, 0, 0], [0.5, 0.5, 0.9], [1, 1, 0], [10, 20], [2, 0, 1]),
        # scores of 0 and the full range of units
        ([0, 0, 1, 1], [0.0, 1.0, 1.0, 0.0001], [0, 1, 0, 1], [10, 20], [1, 0, 2, 3]),
    ],
)
def test_ranking_order_is_lexsorts_order(
    query_rows: list[int],
    scores: list[float],
    positions: list[int],
    target_ids: list[int],
    expected: list[int],
) -> None:
    arrays = (
        np.array(query_rows, dtype=np.int64),
        np.array(scores, dtype=np.float64),
        np.array(positions, dtype=np.int64),
        np.array(target_ids, dtype=np.int64),
    )
    rows, score, position, ids = arrays
    assert ranking_order(*arrays).tolist() == expected
    assert np.lexsort((ids[position], -score, rows)).tolist() == expected


def test_ranking_order_of_many_rounded_scores_is_lexsorts_order() -> None:
    rng = np.random.default_rng(11)
    rows = rng.integers(0, 300, 20_000)
    scores = np.round(rng.random(20_000) ** 3, 4)  # many ties
    positions = rng.integers(0, 500, 20_000)
    ids = np.arange(500, dtype=np.int64) * 7 + 3
    expected = np.lexsort((ids[positions], -scores, rows))
    assert np.array_equal(ranking_order(rows, scores, positions, ids), expected)


def test_a_longer_list_of_a_large_index_keeps_what_the_shorter_one_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asking more than SHORTLIST_SIZE / 2 suggestions shortlisted by text alone, without the
    build's candidates by meaning: an offer close in meaning only, first in the short list,
    was missing from the longer one."""
    monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    monkeypatch.setattr(index_module, "SHORTLIST_SIZE", 4)
    monkeypatch.setattr(index_module, "SEMANTIC_SHORTLIST_SIZE", 3)
    data = synthetic.with_embeddings(synthetic.community(25, per_organisation=6, seed=2), seed=5)
    built = MatchIndex(data.taxonomy, data.needs, data.offers)
    assert built.semantic

    short = built.suggest(limit=2, min_score=0.0)  # from the build's candidates
    long = built.suggest(limit=6, min_score=0.0)  # from a shortlist of 12 by text

    by_need: dict[int, list[Suggestion]] = {}
    for suggestion in long:
        by_need.setdefault(suggestion.need_id, []).append(suggestion)
    missing = [
        s
        for s in short
        if s not in by_need.get(s.need_id, [])
        and len(by_need.get(s.need_id, [])) == 6
        and s.score > by_need[s.need_id][-1].score
    ]
    shorter = [s for s in short if s.need_id not in by_need]
    assert (missing, shorter) == ([], [])
