"""A bounded memo: values worked out once per key, for the engine's per-word and per-text caches.

Texts share most of their words, and a rebuilt index sees most of its texts again, so the
tagger, the compound splitter and the text analysis remember what they worked out. A service
scores new answers for as long as it runs, so each memo is bounded: when it holds its size, it
starts afresh (cheaper than tracking use, and the keys that matter come back at once).

Every value must be a pure function of its key. Then threads may share a memo without a lock:
at worst two of them work out one value twice and store equal values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_Key = TypeVar("_Key", bound=Hashable)
_Value = TypeVar("_Value")

WORDS = 65_536
"""Distinct words a per-word memo remembers before it starts afresh (the tagger's candidate
terms, the compound splitter's members)."""


class BoundedMemo(Generic[_Key, _Value]):
    """``compute(key)``, remembered for up to *size* keys at a time."""

    def __init__(self, size: int, compute: Callable[[_Key], _Value]) -> None:
        self.size = size
        self._compute = compute
        self._values: dict[_Key, _Value] = {}

    def __call__(self, key: _Key) -> _Value:
        try:
            return self._values[key]
        except KeyError:
            pass
        value = self._compute(key)
        if len(self._values) >= self.size:
            self._values.clear()
        self._values[key] = value
        return value

    def __len__(self) -> int:
        return len(self._values)
