"""Shortlists: each query's best candidate targets, found without a dense queries × targets matrix.

Scoring every need against every offer costs one multiply-add per shared n-gram per pair. For a
province that is nothing; for all of the Netherlands (3,420 × 3,420) it is half a billion, and
at European scale (100,000 × 100,000) it is out of reach. Large communities are therefore scored
in two steps:

1. **Shortlist** (:func:`shortlist`). Both sides are L2-normalised TF-IDF rows with non-negative
   weights. An entry is dropped when its weight w, damped by how common its column is, falls
   below θ: w / √ln(1 + df) < θ, df counting the rows of both sides with that n-gram. Small
   weights of common n-grams (" de", "en ") cost the most multiply-adds and tell texts apart the
   least; the damping keeps more of the rarer, telling ones (measured: a third less score lost at
   the same work than a plain weight cut). θ is the smallest step of :data:`THRESHOLDS` whose
   pruned product costs at most ``work_budget`` multiply-adds, computed exactly beforehand as
   Σₖ df_queries(k, θ) · df_targets(k, θ). The pruned
   product is taken a chunk of query rows at a time, each chunk as large as
   ``memory_budget`` allows and the chunks spread over the cores (:mod:`app.matching.parallel`),
   and every query keeps its ``size`` largest products (ties by target position), skipping
   targets of its own group (an organisation never matches itself).
2. **Exact re-scoring** (:func:`exact_cosines`) of the shortlisted pairs with the full, unpruned
   vectors. The sum runs over the same terms in the same order as scipy's sparse product, so a
   shortlisted pair gets bit for bit the cosine the exact path computes, and the engine's scoring
   functions then rank the shortlist exactly.

The only approximation is who makes the shortlist: a pair whose true cosine is high but whose
pruned product is not among the query's ``size`` best is missed. With θ = 0 (the work fits the
budget) the shortlist holds each query's ``size`` highest cosines. The benchmarks report how much
the shortlist changes the top 10 against exact scoring.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from app.matching import parallel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

THRESHOLDS: tuple[float, ...] = tuple(round(0.0025 * step, 4) for step in range(121))
"""Pruning thresholds θ tried, smallest (most exact) first: 0, 0.0025, …, 0.3."""

WORK_BUDGET = 1.5e8
"""Default multiply-adds of the pruned product (about half a second of scipy on one core)."""

MEMORY_BUDGET = 256 * 2**20
"""Default bytes for one chunk's product and its working arrays (parallel.WORKERS chunks are
worked on at once)."""

SPREAD_BUDGET = 4 * 2**20
"""Default bytes of the dense vector exact_cosines spreads queries into, per worker (about 28
queries of 19,000 n-gram columns at a time). Measured at Netherlands scale (137,000 pairs):
on one thread 1, 2, 4 and 8 MB took 0.19 s alike and 16 MB 0.23 s; on two, 4 MB took 0.13 s
against 0.18 s for 2 MB and 0.14 s for 8 MB. At least MIN_SPREAD_QUERIES are spread at a
time, whatever the width."""

MIN_SPREAD_QUERIES = 16
"""Fewest queries exact_cosines spreads at a time: each step has a fixed cost."""


# Bytes per entry of a chunk's product: scipy's output (8 data + 4 index, twice while it is
# built) and our copies of the row's values and positions.
_BYTES_PER_ENTRY = 40


@dataclass(frozen=True, slots=True)
class Shortlist:
    """Each query's candidate targets, best approximate product first."""

    targets: IntArray
    """(queries, size) target positions; −1 pads a row with fewer candidates."""
    products: FloatArray
    """(queries, size) the pruned products the candidates were chosen by (0 for padding)."""
    threshold: float
    """The pruning weight θ that was used (0: nothing pruned)."""
    work: float
    """Multiply-adds of the pruned product."""
    chunks: int
    """Chunks of query rows the product was taken in."""

    def pairs(self) -> tuple[IntArray, IntArray]:
        """(query rows, target positions) of every shortlisted pair, by query then rank."""
        rows, ranks = np.nonzero(self.targets >= 0)
        return rows.astype(np.int64), self.targets[rows, ranks]


def shortlist(
    queries: sparse.csr_matrix,
    targets: sparse.csr_matrix,
    size: int,
    *,
    query_groups: IntArray | None = None,
    target_groups: IntArray | None = None,
    work_budget: float = WORK_BUDGET,
    memory_budget: int = MEMORY_BUDGET,
) -> Shortlist:
    """The *size* targets with the largest pruned product for every query row.

    *queries* (n × v) and *targets* (m × v) are CSR matrices with non-negative entries. When both
    group arrays are given, a query never gets a target of its own group.
    """
    count = queries.shape[0]
    found = np.full((count, size), -1, dtype=np.int64)
    products = np.zeros((count, size), dtype=np.float64)
    if count == 0 or targets.shape[0] == 0 or size <= 0:
        return Shortlist(found, products, 0.0, 0.0, 0)
    keys = pruning_keys(queries, targets)
    query_keys, target_keys = keys
    threshold, work = choose_threshold(queries, targets, work_budget, keys=keys)
    pruned_queries = _prune(queries, query_keys, threshold)
    pruned_targets_t = sparse.csr_matrix(_prune(targets, target_keys, threshold).T)
    # A chunk's product has at most as many entries as it costs multiply-adds.
    target_frequency = np.diff(pruned_targets_t.indptr).astype(np.float64)
    row_work: FloatArray = np.bincount(  # type: ignore[assignment]
        np.repeat(np.arange(count), np.diff(pruned_queries.indptr)),
        weights=target_frequency[pruned_queries.indices],
        minlength=count,
    )
    chunks = _chunks(row_work, max(1, memory_budget // _BYTES_PER_ENTRY))

    def select(chunk: tuple[int, int]) -> None:
        start, stop = chunk
        block = sparse.csr_matrix(pruned_queries[start:stop] @ pruned_targets_t)
        for row in range(stop - start):
            low, high = block.indptr[row], block.indptr[row + 1]
            columns = block.indices[low:high]
            values = block.data[low:high]
            if query_groups is not None and target_groups is not None:
                own = target_groups[columns] == query_groups[start + row]
                if own.any():
                    columns, values = columns[~own], values[~own]
            best = _best(columns, values, size)
            found[start + row, : len(best)] = columns[best]
            products[start + row, : len(best)] = values[best]

    parallel.ordered_map(select, chunks)
    return Shortlist(found, products, threshold, work, len(chunks))


def best_per_row(
    block: FloatArray, excluded: npt.NDArray[np.bool_], size: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Each row's *size* largest positive values of a dense *block*, none where *excluded*:
    (rows, columns, values), by row and then largest first, ties by the smaller column (as
    :func:`shortlist` orders a row's candidates).

    A row's cut is its size-th largest value (np.partition, every row at once); only the
    entries from the cut up are sorted.
    """
    masked = np.where(excluded | (block <= 0), -np.inf, block)
    width = masked.shape[1]
    candidate = np.isfinite(masked)
    if width > size:
        cut = np.partition(masked, width - size, axis=1)[:, width - size]
        candidate &= masked >= cut[:, None]
    rows, columns = np.nonzero(candidate)
    values = masked[rows, columns]
    order = np.lexsort((columns, -values, rows))
    rows, columns, values = rows[order], columns[order], values[order]
    best = np.arange(len(rows)) - row_pointers(rows, len(block))[rows] < size
    return rows[best].astype(np.int64), columns[best].astype(np.int64), values[best]


def row_pointers(rows: IntArray, count: int) -> IntArray:
    """CSR row pointers of sorted *rows* over *count* rows."""
    pointers = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=count), out=pointers[1:])
    return pointers


def choose_threshold(
    queries: sparse.csr_matrix,
    targets: sparse.csr_matrix,
    work_budget: float,
    *,
    keys: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[float, float]:
    """The smallest θ of THRESHOLDS whose pruned product fits *work_budget*, and its work.

    work(θ) = Σₖ df_queries(k, θ) · df_targets(k, θ), where df(k, θ) counts the rows whose
    entry in column k has a pruning key (:func:`pruning_keys`) of at least θ. When no θ fits,
    the largest is used. *keys* are pruning_keys(queries, targets), when the caller has them.
    """
    query_keys, target_keys = pruning_keys(queries, targets) if keys is None else keys
    width = queries.shape[1]

    def work_at(level: int) -> float:
        threshold = THRESHOLDS[level]
        query_frequency = np.bincount(queries.indices[query_keys >= threshold], minlength=width)
        target_frequency = np.bincount(targets.indices[target_keys >= threshold], minlength=width)
        return float(np.dot(query_frequency, target_frequency))

    # work(θ) never grows with θ, so the smallest fitting θ is found by bisection.
    last = len(THRESHOLDS) - 1
    if (work := work_at(last)) > work_budget:
        return THRESHOLDS[last], work
    low, high, fitting_work = 0, last, work  # THRESHOLDS[high] fits; nothing below low does
    while low < high:
        middle = (low + high) // 2
        if (work := work_at(middle)) <= work_budget:
            high, fitting_work = middle, work
        else:
            low = middle + 1
    return THRESHOLDS[high], fitting_work


def exact_cosines(
    queries: sparse.csr_matrix,
    targets: sparse.csr_matrix,
    query_rows: IntArray,
    target_rows: IntArray,
    *,
    memory_budget: int = SPREAD_BUDGET,
) -> FloatArray:
    """queries[i] · targets[j] for every pair (i, j), summed like scipy's sparse product.

    scipy computes entry (i, j) of ``queries @ targets.T`` by adding q_ik · t_jk for ascending
    k, starting from 0. Here as many queries at a time as *memory_budget* bytes allow (at least
    MIN_SPREAD_QUERIES) are spread into one dense vector, each in its own stretch of it (query
    g at g · width + k), and the target rows of their pairs, their columns moved to their
    query's stretch, are multiplied with it in one scipy matrix-vector product: each row adds
    t_jk · q_k over the target's ascending k, so the same products in the same order (the
    zeros where a query lacks k leave the sum as it is), and the results are bit-identical.
    """
    result = np.zeros(len(query_rows), dtype=np.float64)
    if len(query_rows) == 0:
        return result
    queries, targets = _canonical(queries), _canonical(targets)
    width = queries.shape[1]
    queries_per_step = max(MIN_SPREAD_QUERIES, memory_budget // (8 * max(width, 1)))
    order = np.argsort(query_rows, kind="stable")
    sorted_rows, sorted_targets = query_rows[order], target_rows[order]
    # Each step: the pairs of up to queries_per_step consecutive distinct queries. The steps
    # are dealt out in WORKERS runs of consecutive steps, each with its own dense vector.
    firsts = np.flatnonzero(np.diff(sorted_rows, prepend=-1))
    bounds = np.append(firsts[::queries_per_step], len(sorted_rows)).tolist()
    steps = list(itertools.pairwise(bounds))
    runs = np.array_split(np.arange(len(steps)), min(parallel.WORKERS, len(steps)))
    found = np.empty(len(query_rows))

    def run(numbers: IntArray) -> None:
        spread = np.zeros(min(len(firsts), queries_per_step) * width)
        for start, stop in (steps[number] for number in numbers.tolist()):
            rows = sorted_rows[start:stop]
            distinct, stretch = np.unique(rows, return_inverse=True)
            spread_queries = queries[distinct]
            spread_at = (
                np.repeat(np.arange(len(distinct)) * width, np.diff(spread_queries.indptr))
                + spread_queries.indices
            )
            spread[spread_at] = spread_queries.data
            pairs = targets[sorted_targets[start:stop]]
            columns = pairs.indices + np.repeat(stretch * width, np.diff(pairs.indptr))
            moved = sparse.csr_matrix(
                (pairs.data, columns, pairs.indptr), shape=(stop - start, len(spread))
            )
            found[start:stop] = moved @ spread
            spread[spread_at] = 0.0

    parallel.ordered_map(run, runs)
    result[order] = found
    return result


def _canonical(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """*matrix* with sorted column indices and no duplicates (a sorted copy if needed)."""
    if matrix.has_canonical_format:
        return matrix
    copy: sparse.csr_matrix = matrix.copy()
    copy.sum_duplicates()
    return copy


def pruning_keys(
    queries: sparse.csr_matrix, targets: sparse.csr_matrix
) -> tuple[FloatArray, FloatArray]:
    """The value θ is compared with, for every stored entry: w / √ln(1 + df).

    df counts the rows of both matrices that have the entry's column.
    """
    width = queries.shape[1]
    frequency = np.bincount(queries.indices, minlength=width) + np.bincount(
        targets.indices, minlength=width
    )
    damping = 1.0 / np.sqrt(np.log1p(np.maximum(frequency, 1)))
    return queries.data * damping[queries.indices], targets.data * damping[targets.indices]


def _prune(matrix: sparse.csr_matrix, keys: FloatArray, threshold: float) -> sparse.csr_matrix:
    if threshold <= 0:
        return matrix
    keep = keys >= threshold
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[keep]
    pointers = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=matrix.shape[0]), out=pointers[1:])
    return sparse.csr_matrix(
        (matrix.data[keep], matrix.indices[keep], pointers), shape=matrix.shape
    )


def _chunks(row_work: FloatArray, capacity: int) -> list[tuple[int, int]]:
    """Consecutive row ranges whose summed work stays within *capacity* (one row at least)."""
    chunks: list[tuple[int, int]] = []
    start, total = 0, 0.0
    for row, work in enumerate(row_work.tolist()):
        if row > start and total + work > capacity:
            chunks.append((start, row))
            start, total = row, 0.0
        total += work
    chunks.append((start, len(row_work)))
    return chunks


def _best(columns: npt.NDArray[np.int32], values: FloatArray, size: int) -> IntArray:
    """Positions of the *size* largest values, best first, ties by the smaller column."""
    if len(values) > size:
        kth = np.partition(values, len(values) - size)[len(values) - size]
        chosen = np.flatnonzero(values >= kth)
    else:
        chosen = np.arange(len(values))
    order = np.lexsort((columns[chosen], -values[chosen]))
    best: IntArray = chosen[order][:size]
    return best
