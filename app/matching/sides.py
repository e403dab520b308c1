"""The match index's analysed answers and the arrays it scores them with, side by side.

A :class:`Side` holds all needs or all offers of an index as arrays aligned by position (TF-IDF
rows, topics, organisations, regions, hub floors, embeddings); :class:`Candidates` holds each
query's candidate targets on the large path (see :mod:`app.matching.shortlist`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse

from app.matching import parallel
from app.matching.text import Word
from app.matching.types import TopicTag

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate targets per query, CSR-like: query q owns entries pointers[q]:pointers[q + 1]."""

    pointers: IntArray
    positions: IntArray
    raw: FloatArray
    contributions: FloatArray
    """Each pair's contributions (rows in scoring.FACTOR_ORDER), worked out once: suggestions,
    gaps and unmet offers all rank the same pairs."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """An analysed need or offer."""

    id: int
    organisation_id: int
    region: str | None
    tags: tuple[TopicTag, ...]
    topics: frozenset[str]
    words: tuple[Word, ...]
    document: str
    spellings: Mapping[str, str] = field(default_factory=dict)
    """How the text writes the words whose folded form differs (:func:`text.spellings`): the
    text reason names them so ("TVW", "VvE")."""
    text_floor: float = 0.0
    """Offers only: the hubness floor of the text component (:func:`scoring.hub_floor`)."""
    embedding: FloatArray | None = None
    """The item's embedding as a vector, in an index that scores the semantic factor."""
    semantic_shift: float = 0.0
    """Offers only: the hubness shift of the semantic component (:func:`scoring.semantic_shift`)."""


class Side:
    """One side of the index (all needs, or all offers) as arrays aligned by position."""

    def __init__(
        self,
        items: Sequence[Prepared],
        matrix: sparse.csr_matrix,
        topic_columns: dict[str, int],
        organisation_codes: dict[int, int],
        region_codes: dict[str, int],
    ) -> None:
        self.items = items
        self.embeddings: FloatArray = (
            np.array([item.embedding for item in items], dtype=np.float64)
            if items and items[0].embedding is not None
            else np.zeros((len(items), 0))
        )
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
        self.regions = coded_regions(items, region_codes)
        self.replace_items(items)

    def relocated(self, items: Sequence[Prepared], region_codes: dict[str, int]) -> Side:
        """This side with *items* (the same answers, some in another region) and their regions
        coded by *region_codes*; every other array is shared."""
        side = copy.copy(self)
        side.items = items
        side.regions = coded_regions(items, region_codes)
        return side

    def replace_items(self, items: Sequence[Prepared]) -> None:
        """The same items with their fitted text floors or semantic shifts, in the arrays too."""
        self.items = items
        self.text_floors = np.array([item.text_floor for item in items], dtype=np.float64)
        self.semantic_shifts = np.array([item.semantic_shift for item in items], dtype=np.float64)

    @parallel.computed_once
    def topics_dense(self) -> FloatArray:
        """The topic matrix, dense (a few dozen topics): one new answer against many targets
        reads its rows fast. Made on first use, as most indexes never score a new answer."""
        dense: FloatArray = self.topics.toarray()
        return dense


def region_key(region: str | None) -> str:
    return region.strip().casefold() if region else ""


def region_code_table(items: Iterable[Prepared]) -> dict[str, int]:
    """A code per region the *items* are in (compared by :func:`region_key`), in sorted order."""
    keys = sorted({region_key(item.region) for item in items} - {""})
    return {region: code for code, region in enumerate(keys)}


def coded_regions(items: Sequence[Prepared], region_codes: dict[str, int]) -> IntArray:
    """Each item's region code; -1 for none, or for a region *region_codes* does not hold."""
    return np.array(
        [region_codes.get(region_key(item.region), -1) for item in items], dtype=np.int64
    )
