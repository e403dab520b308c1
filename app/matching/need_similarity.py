"""Need × need content similarity, the measure working groups are clustered on.

similarity = (w_topic · topic_overlap + w_text · text_component) / (w_topic + w_text)

with the same components, and the same operations, as a need × offer pair's topic and text
factors (:mod:`app.matching.scoring`); the semantic, region and reciprocity factors describe a
helper, not a shared need, and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt
from scipy import sparse

from app.matching import scoring
from app.matching.sides import Side
from app.matching.vectors import add_at, upper_gram_blocks

FloatArray = npt.NDArray[np.float64]


def need_similarity_blocks(
    needs: Side, weights: scoring.Weights
) -> Iterator[tuple[int, FloatArray]]:
    """The similarities of *needs* by blocks of rows, upper triangle: (start, rows start:stop ×
    needs start:n), as :func:`upper_gram_blocks` gives the cosines.

    The product is symmetric, so the upper triangle is all there is to compute. Each value
    comes from the same operations as a pair's content score, with fewer passes over the
    block: the text floor is one number when no need has a floor of its own (needs have no
    hubness floor), and topic overlap is worked out only for the pairs that share a topic
    (elsewhere it is 0, and adding 0 changes nothing). Each block is turned into
    similarities by the worker thread that computed it, beside the other blocks.
    """
    weight = weights.topic + weights.text
    topics_t = needs.topics_t
    floors = needs.text_floors
    # The floor of every pair, TEXT_FLOOR + 0 + 0, when no need has one of its own.
    common_floor = None if floors.any() else scoring.TEXT_FLOOR + 0.0 + 0.0

    def similarity(start: int, text: FloatArray) -> FloatArray:
        stop = start + text.shape[0]
        if common_floor is None:
            floor = scoring.TEXT_FLOOR + floors[start:stop, None] + floors[None, start:]
            np.subtract(text, floor, out=text)
            np.divide(text, np.subtract(1.0, floor, out=floor), out=text)
        elif common_floor != 0.0:  # (cosine − 0) / (1 − 0) is the cosine itself
            np.subtract(text, common_floor, out=text)
            np.divide(text, 1.0 - common_floor, out=text)
        np.clip(text, 0.0, 1.0, out=text)
        content: FloatArray = np.multiply(text, weights.text, out=text)
        shared = sparse.csr_matrix(needs.topics[start:stop] @ topics_t[:, start:])
        rows = np.repeat(np.arange(shared.shape[0]), np.diff(shared.indptr))
        columns = shared.indices
        sizes = needs.topic_sizes[start + rows] * needs.topic_sizes[start + columns]
        topic = shared.data / np.sqrt(sizes)
        add_at(content, rows, columns, topic * weights.topic)
        if weight > 0:
            np.divide(content, weight, out=content)
        else:
            content[:] = 0.0
        return content

    # Each block becomes similarities in the worker that computed its cosines.
    return upper_gram_blocks(needs.matrix, finish=similarity)


def condensed_distances(count: int, blocks: Iterable[tuple[int, FloatArray]]) -> FloatArray:
    """Condensed distance (scipy's order: pairs (0, 1), (0, 2), …, (1, 2), …) of *count* items
    from upper-triangle similarity *blocks*: distance = 1 − similarity, clipped to [0, 1].

    Built a block of rows at a time: the dense need × need arrays it replaces (94 MB each at
    Netherlands scale) cost more to touch for the first time than to compute. Only the pairs
    are transformed, once they are in place.
    """
    distance = np.empty(count * (count - 1) // 2)
    offset = 0
    for _, block in blocks:
        # Row r of a block from item start holds columns start.., so its pairs (start + r,
        # later items) are the rest of the row right of its diagonal, in scipy's order.
        first = offset
        for row in range(block.shape[0]):
            taken = block[row, row + 1 :]
            distance[offset : offset + len(taken)] = taken
            offset += len(taken)
        # The same operations on the block's pairs as on the whole block, in place.
        pairs = distance[first:offset]
        np.subtract(1.0, pairs, out=pairs)
        np.clip(pairs, 0.0, 1.0, out=pairs)
    return distance
