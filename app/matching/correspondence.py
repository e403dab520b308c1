"""Shared terms between many pairs of texts: :func:`text.shared_terms`, fast, same answers.

A suggestion's text reason names the words its need and offer share ("both mention *TEO*,
*aquathermie*"). :func:`app.matching.text.shared_terms` compares every word of one text with every
word of the other; over a whole community that is most of the engine's time. A
:class:`SharedTerms` works out, once per index, which words of the community's vocabulary
correspond (:func:`app.matching.text.words_correspond`) and then answers each pair of texts with a
few set intersections.

Which pairs of words to test is decided by keys: two words are tested when they share a root or
an English stem, when the whole root of one starts or ends the root of the other (compound
members), when they share a cognate prefix, or when they are one deletion apart (typos). Every
rule of :func:`words_correspond` is covered by one of these keys, and every tested pair is
decided by :func:`words_correspond` itself, so the result is exactly ``shared_terms``'s.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

from app.matching.text import (
    MIN_COGNATE_PREFIX,
    MIN_COMPOUND_PART,
    MIN_TYPO_WORD,
    Word,
    one_deletions,
    shared_terms,
    words_correspond,
)


class SharedTerms:
    """``shared_terms`` for texts over a fixed vocabulary of analysed words."""

    def __init__(self, texts: Iterable[tuple[Word, ...]]) -> None:
        # Words by their fields: a tuple of strings hashes and compares in C, a Word through
        # its generated __hash__ and __eq__.
        self._ids: dict[tuple[str, str, str], int] = {}
        vocabulary: list[Word] = []
        # The texts' own tuples, by identity: the index asks about the same tuples again and
        # again, and an identity lookup is much cheaper than hashing their words.
        self._known: dict[int, tuple[tuple[Word, ...], frozenset[int]]] = {}
        for words in texts:
            text_ids = []
            for word in words:
                key = (word.surface, word.root, word.english)
                position = self._ids.get(key)
                if position is None:
                    position = self._ids[key] = len(vocabulary)
                    vocabulary.append(word)
                text_ids.append(position)
            self._known[id(words)] = (words, frozenset(text_ids))
        self._surfaces = [word.surface for word in vocabulary]
        found: list[set[int]] = [{position} for position in range(len(vocabulary))]
        tested = {
            (first, second) if first < second else (second, first)
            for first, second in _candidate_pairs(vocabulary)
            if first != second
        }
        for first, second in tested:
            if words_correspond(vocabulary[first], vocabulary[second]):
                found[first].add(second)
                found[second].add(first)
        self._corresponding = [frozenset(partners) for partners in found]

    def between(self, first: tuple[Word, ...], second: tuple[Word, ...]) -> tuple[str, ...]:
        """``shared_terms(first, second)``: corresponding words, most specific first."""
        left, right = self._word_ids(first), self._word_ids(second)
        if left is None or right is None:  # a word the index never saw (a new answer)
            return shared_terms(first, second)
        surfaces = self._surfaces
        found: set[str] = set()
        for position in left:
            for other in self._corresponding[position] & right:
                a, b = surfaces[position], surfaces[other]
                found.add(a if (len(a), a) <= (len(b), b) else b)
        return tuple(sorted(found, key=lambda term: (-len(term), term)))

    def _word_ids(self, words: tuple[Word, ...]) -> frozenset[int] | None:
        known = self._known.get(id(words))
        if known is not None and known[0] is words:
            return known[1]
        try:
            return frozenset(self._ids[(word.surface, word.root, word.english)] for word in words)
        except KeyError:
            return None


def _candidate_pairs(vocabulary: list[Word]) -> Iterable[tuple[int, int]]:
    """Pairs of word positions that share a key; a superset of the corresponding pairs."""
    # One table per kind of key (plain strings hash faster than (kind, key) tuples); only
    # keys that two or more words share give pairs.
    by_root: dict[str, list[int]] = defaultdict(list)
    by_english: dict[str, list[int]] = defaultdict(list)
    by_prefix: dict[str, list[int]] = defaultdict(list)
    by_typo: dict[str, list[int]] = defaultdict(list)
    for position, word in enumerate(vocabulary):
        surface = word.surface
        by_root[word.root].append(position)
        by_english[word.english].append(position)
        if len(surface) >= MIN_COGNATE_PREFIX:
            by_prefix[surface[:MIN_COGNATE_PREFIX]].append(position)
        if len(surface) >= MIN_TYPO_WORD - 1:
            keys = one_deletions(surface)
            keys.add(surface)
            for key in keys:
                by_typo[key].append(position)
    for table in (by_root, by_english, by_prefix, by_typo):
        for members in table.values():
            if len(members) > 1:
                for index, first in enumerate(members):
                    for second in members[index + 1 :]:
                        yield first, second
    # Compound members: a word whose whole root starts or ends another, longer word's root.
    # Roots that start with a part lie together in sorted order (from the part up to the part
    # followed by the last character); roots that end with it, in sorted order of reversed roots.
    for roots, orient in ((sorted(by_root), _same), (sorted(r[::-1] for r in by_root), _reverse)):
        for part in roots:
            if len(part) < MIN_COMPOUND_PART:
                continue
            members = by_root[orient(part)]
            first = bisect.bisect_right(roots, part)  # the part itself is not a longer root
            last = bisect.bisect_left(roots, part + _LAST_CHARACTER)
            for whole in roots[first:last]:
                for position in by_root[orient(whole)]:
                    for member in members:
                        yield member, position


_LAST_CHARACTER = chr(0x10FFFF)


def _same(text: str) -> str:
    return text


def _reverse(text: str) -> str:
    return text[::-1]
