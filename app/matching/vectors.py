"""A fast, exact ``fit`` + ``transform`` for the index's character n-gram TF-IDF vectoriser.

scikit-learn's ``char_wb`` analyser cuts every word of every document into n-grams in Python,
once to fit and once more to transform. Post-its repeat the same few thousand words, so
:func:`fit_transform` cuts each *distinct* word once and counts a document's n-grams as a sparse
product: (document × word counts) @ (word × n-gram counts). Vocabulary, idf and the returned
matrix are the ones scikit-learn computes, number for number (same column order, same
operations in the same order), and the vectoriser is left fitted, so ``transform`` keeps working.

A configuration this shortcut does not reproduce (another analyser, stop words, document
frequency cuts, …) falls back to scikit-learn, so a change of vectoriser settings in the index
can never change results, only speed.

:func:`upper_gram_blocks` is the dense rows × rows product of such a matrix (its upper triangle,
by blocks), split between BLAS (the common n-grams) and a sparse product (the rare ones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from app.matching import parallel

_DEFAULTS = {
    "input": "content",
    "strip_accents": None,
    "lowercase": True,
    "preprocessor": None,
    "tokenizer": None,
    "stop_words": None,
    "max_df": 1.0,
    "min_df": 1,
    "max_features": None,
    "vocabulary": None,
    "binary": False,
    "norm": "l2",
    "use_idf": True,
}


def fit_transform(vectorizer: TfidfVectorizer, documents: Sequence[str]) -> sparse.csr_matrix:
    """Fit *vectorizer* on *documents* and return ``vectorizer.transform(documents)``."""
    if not _reproducible(vectorizer):
        return _fallback(vectorizer, documents)
    min_n, max_n = vectorizer.ngram_range
    word_ids: dict[str, int] = {}
    word_columns: list[int] = []
    document_pointers = [0]
    for document in documents:
        for word in document.lower().split():
            word_columns.append(word_ids.setdefault(word, len(word_ids)))
        document_pointers.append(len(word_columns))
    if not word_ids:
        return _fallback(vectorizer, documents)  # scikit-learn raises "empty vocabulary"
    word_counts = sparse.csr_matrix(
        (np.ones(len(word_columns)), word_columns, document_pointers),
        shape=(len(documents), len(word_ids)),
    )
    word_counts.sum_duplicates()

    gram_ids: dict[str, int] = {}
    gram_columns: list[int] = []
    word_pointers = [0]
    for word in word_ids:
        for gram in _char_wb_ngrams(word, min_n, max_n):
            gram_columns.append(gram_ids.setdefault(gram, len(gram_ids)))
        word_pointers.append(len(gram_columns))
    # scikit-learn numbers the vocabulary in sorted order of the n-grams.
    grams = list(gram_ids)
    order = sorted(range(len(grams)), key=grams.__getitem__)
    column_of = np.empty(len(grams), dtype=np.int64)
    column_of[order] = np.arange(len(grams))
    gram_counts = sparse.csr_matrix(
        (np.ones(len(gram_columns)), column_of[gram_columns], word_pointers),
        shape=(len(word_ids), len(grams)),
    )
    counts: sparse.csr_matrix = sparse.csr_matrix(word_counts @ gram_counts)
    counts.sort_indices()

    # TfidfTransformer.fit and .transform, operation for operation.
    samples = counts.shape[0]
    frequency = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
    frequency += float(vectorizer.smooth_idf)
    samples += int(vectorizer.smooth_idf)
    idf = np.full_like(frequency, fill_value=samples, dtype=np.float64)
    idf /= frequency
    np.log(idf, out=idf)
    idf += 1.0
    if vectorizer.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1.0
    counts.data *= idf[counts.indices]
    matrix: sparse.csr_matrix = normalize(counts, norm="l2", copy=False)

    vectorizer.vocabulary_ = {grams[position]: column for column, position in enumerate(order)}
    vectorizer.fixed_vocabulary_ = False
    vectorizer.idf_ = idf
    return matrix


def _reproducible(vectorizer: TfidfVectorizer) -> bool:
    """True when the vectoriser's settings are the ones :func:`fit_transform` reproduces."""
    params = vectorizer.get_params()
    return (
        params["analyzer"] == "char_wb"
        and params["dtype"] is np.float64
        and params["ngram_range"][0] >= 1
        and all(params[name] == value for name, value in _DEFAULTS.items())
    )


def _fallback(vectorizer: TfidfVectorizer, documents: Sequence[str]) -> sparse.csr_matrix:
    vectorizer.fit(documents)
    matrix: sparse.csr_matrix = sparse.csr_matrix(vectorizer.transform(documents))
    return matrix


def _char_wb_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's ``char_wb`` n-grams of one word (padded with a space on each side)."""
    padded = f" {word} "
    length = len(padded)
    grams: list[str] = []
    for size in range(min_n, max_n + 1):
        if length <= size:  # a short word counts once, whole, and ends the loop
            grams.append(padded)
            break
        grams.extend(padded[start : start + size] for start in range(length - size + 1))
    return grams


class DocumentColumns:
    """The vocabulary columns of a document's n-grams, one per occurrence (out-of-vocabulary
    n-grams dropped), as the fitted vectoriser's analyser would find them.

    Each distinct word is cut into n-grams once and remembered, so scoring a new answer does
    not redo the analysis of words the index has seen before.
    """

    _CACHED_WORDS = 200_000

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._analyzer = vectorizer.build_analyzer()
        self._reproducible = _reproducible(vectorizer)
        self._ngram_range: tuple[int, int] = vectorizer.ngram_range
        self._words: dict[str, list[int]] = {}

    def __call__(self, document: str) -> list[int]:
        vocabulary = self._vocabulary
        if not self._reproducible:
            grams = self._analyzer(document)
            return [column for gram in grams if (column := vocabulary.get(gram)) is not None]
        columns: list[int] = []
        for word in document.lower().split():
            known = self._words.get(word)
            if known is None:
                known = [
                    column
                    for gram in _char_wb_ngrams(word, *self._ngram_range)
                    if (column := vocabulary.get(gram)) is not None
                ]
                if len(self._words) < self._CACHED_WORDS:
                    self._words[word] = known
            columns.extend(known)
        return columns


DENSE_COLUMN_SHARE = 1 / 16
"""A column found in at least this share of the rows is multiplied densely by upper_gram_blocks.

A column in df rows costs a sparse product about df² multiply-adds and a dense one rows²; a
multiply-add of scipy's sparse product cost about 200 of BLAS's here (measured on 3,420 need
vectors: 0.86 s for 9.7e7 against 0.54 s for 1.2e10), so columns with df² · 200 > rows², i.e.
df > rows / 14, are cheaper dense."""


def symmetric_from_upper_blocks(
    count: int, blocks: Iterable[tuple[int, npt.NDArray[np.float64]]]
) -> npt.NDArray[np.float64]:
    """The dense symmetric *count* × *count* array whose upper triangle *blocks* give, as
    :func:`upper_gram_blocks` yields them: (start, rows start:stop × columns start:count)."""
    result = np.empty((count, count))
    for start, block in blocks:
        stop = start + block.shape[0]
        result[start:stop, start:] = block
        result[start:, start:stop] = block.T
    return result


GRAM_BLOCK_ROWS = 512
"""Rows per block of :func:`upper_gram_blocks`: a block of 3,420 columns is 14 MB, so the
allocator hands the same memory back for the next block instead of fresh pages."""


def upper_gram_blocks(
    matrix: sparse.csr_matrix,
    rows_per_block: int | None = None,
    finish: Callable[[int, npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
) -> Iterator[tuple[int, npt.NDArray[np.float64]]]:
    """``matrix @ matrix.T`` by blocks of rows, upper triangle only: (start, block) where block
    is rows start:stop × columns start:n, equal to the sparse product up to rounding; with
    *finish*, (start, finish(start, block)), worked out beside the product in the same worker
    (in parallel with the other blocks, see below).

    Character n-gram vectors share their common n-grams with nearly every row, so the product
    is dense and scipy builds it slowly (hash-accumulating millions of entries). The columns in
    at least DENSE_COLUMN_SHARE of the rows are multiplied by BLAS instead, in single precision
    (half the time of double: 0.29 s against 0.44 s at Netherlands scale on one thread); only
    the rare ones go through the sparse product, added into the block where they are. Entries
    may therefore differ from scipy's by single-precision rounding (measured: at most 2.9e-7
    at Netherlands scale, 1.7e-6 in blocks of 7 rows; the tests allow 1e-5): use it where that
    cannot change a shown score (the working groups' clustering, cut at an average similarity
    of 0.30). Only the upper triangle is computed (half the multiply-adds of the full
    product), and never a dense rows × rows array: at Netherlands scale (3,420 rows) each
    fresh 94 MB array cost more to touch for the first time than the arithmetic in it.
    """
    rows_per_block = rows_per_block or GRAM_BLOCK_ROWS
    columns = sparse.csc_matrix(matrix)
    frequency = np.diff(columns.indptr)
    common = frequency >= DENSE_COLUMN_SHARE * matrix.shape[0]
    dense = columns[:, np.flatnonzero(common)].toarray().astype(np.float32)
    dense_t = np.ascontiguousarray(dense.T)
    rare = sparse.csr_matrix(columns[:, np.flatnonzero(~common)])

    def upper_block(start: int) -> npt.NDArray[np.float64]:
        stop = start + rows_per_block
        block: npt.NDArray[np.float64] = (dense[start:stop] @ dense_t[:, start:]).astype(np.float64)
        product = sparse.csr_matrix(rare[start:stop] @ rare[start:].T)
        rows = np.repeat(np.arange(product.shape[0]), np.diff(product.indptr))
        add_at(block, rows, product.indices, product.data)
        return block if finish is None else finish(start, block)

    # The blocks are worked out in parallel, a few ahead of the consumer (parallel.ordered_imap).
    starts = range(0, matrix.shape[0], rows_per_block)
    yield from zip(starts, parallel.ordered_imap(upper_block, starts), strict=True)


def add_at(
    block: npt.NDArray[np.float64],
    rows: npt.NDArray[Any],
    columns: npt.NDArray[Any],
    values: npt.NDArray[np.float64],
) -> None:
    """``block[rows, columns] += values`` for (row, column) positions that are all distinct
    (the entries of a sparse product), through the flat view of the C-contiguous *block*: one
    index instead of two, the same additions."""
    if not block.flags.c_contiguous:
        raise ValueError("add_at needs a C-contiguous block")
    flat = block.reshape(-1)
    flat[rows * block.shape[1] + columns] += values
