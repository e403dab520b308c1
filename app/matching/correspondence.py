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

:meth:`SharedTerms.between_pairs` answers many pairs at once (a community's suggestions) with a
few sparse products over the texts' words instead of set intersections pair by pair.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Collection, Container, Iterable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

from app.matching.text import (
    MIN_COGNATE_PREFIX,
    MIN_COMPOUND_PART,
    MIN_TYPO_WORD,
    Word,
    one_deletions,
    shared_terms,
    words_correspond,
)

IntArray = npt.NDArray[np.int64]


class _Either:
    """The words of two collections, looked up without copying either into one."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Container[str], second: Container[str]) -> None:
        self._first, self._second = first, second

    def __contains__(self, word: object) -> bool:
        return word in self._first or word in self._second


class SharedTerms:
    """``shared_terms`` for texts over a fixed vocabulary of analysed words."""

    def __init__(self, texts: Iterable[tuple[Word, ...]], known: Collection[str] = ()) -> None:
        """The table of *texts*' words. Words count as compound members (see
        :func:`words_correspond`) when they are common Dutch or English words, *known* (the
        taxonomy's) or written on their own in one of the *texts* ("aanpak", "transitie": a
        community's own vocabulary)."""
        # Words by their fields: a tuple of strings hashes and compares in C, a Word through
        # its generated __hash__ and __eq__.
        self._ids: dict[tuple[str, str, str], int] = {}
        vocabulary: list[Word] = []
        # The texts' own tuples, by identity: the index asks about the same tuples again and
        # again, and an identity lookup is much cheaper than hashing their words.
        self._known: dict[int, tuple[tuple[Word, ...], frozenset[int]]] = {}
        # Their rows in the texts' word table (see between_pairs), by identity too: _known
        # keeps each tuple alive, so no other object can have its id.
        self._rows: dict[int, int] = {}
        text_pointers = [0]
        text_words: list[int] = []
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
            self._rows[id(words)] = len(text_pointers) - 1
            text_words.extend(text_ids)
            text_pointers.append(len(text_words))
        self._surfaces = [word.surface for word in vocabulary]
        self.known = frozenset(known).union(self._surfaces)
        """The words that count as compound members beside the common ones."""
        known = self.known
        found: list[set[int]] = [{position} for position in range(len(vocabulary))]
        tested = {
            (first, second) if first < second else (second, first)
            for first, second in _candidate_pairs(vocabulary)
            if first != second
        }
        for first, second in tested:
            if words_correspond(vocabulary[first], vocabulary[second], known):
                found[first].add(second)
                found[second].add(first)
        self._corresponding = [frozenset(partners) for partners in found]
        self._tables = _PairTables(self._surfaces, self._corresponding, text_words, text_pointers)

    def between(self, first: tuple[Word, ...], second: tuple[Word, ...]) -> tuple[str, ...]:
        """``shared_terms(first, second)``: corresponding words, most specific first."""
        left, right = self._word_ids(first), self._word_ids(second)
        if left is None or right is None:  # a word the index never saw (a new answer)
            # Its own words count as written in the community, as they would in the index.
            own = {word.surface for word in (*first, *second)}
            return shared_terms(first, second, _Either(self.known, own))
        surfaces = self._surfaces
        found: set[str] = set()
        for position in left:
            for other in self._corresponding[position] & right:
                a, b = surfaces[position], surfaces[other]
                found.add(a if (len(a), a) <= (len(b), b) else b)
        return tuple(sorted(found, key=lambda term: (-len(term), term)))

    def between_pairs(
        self, firsts: Sequence[tuple[Word, ...]], seconds: Sequence[tuple[Word, ...]]
    ) -> list[tuple[str, ...]]:
        """``[between(first, second) for first, second in zip(firsts, seconds)]``: the pairs of
        this table's own texts in a few sparse products, any others one by one."""
        left = np.fromiter(map(self._rows.get, map(id, firsts), _UNKNOWN), np.int64, len(firsts))
        right = np.fromiter(map(self._rows.get, map(id, seconds), _UNKNOWN), np.int64, len(seconds))
        if len(firsts) < _FEWEST_BATCHED:
            left[:] = -1
        known = (left >= 0) & (right >= 0)
        if known.all():
            return self._tables.terms(left, right)
        found = dict(
            zip(
                np.flatnonzero(known).tolist(),
                self._tables.terms(left[known], right[known]),
                strict=True,
            )
        )
        return [
            found[position] if position in found else self.between(first, second)
            for position, (first, second) in enumerate(zip(firsts, seconds, strict=True))
        ]

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

_UNKNOWN = itertools.repeat(-1)

_FEWEST_BATCHED = 64
"""Pairs from which between_pairs uses the sparse products: fewer go one by one, faster."""


class _PairTables:
    """The shared terms of many pairs of texts as sparse products (see between_pairs).

    Of two corresponding words a pair reports the one ranked first by (length, surface) (the
    shorter, ``between``'s choice), so with *partner*[x, y] = 1 for corresponding words x ≠ y
    where y ranks before x, the words a pair (L, R) reports are

        R ∩ (L ∪ L·partner)  (a word of R, in L or the reported partner of one in L)
      ∪ L ∩ R·partner        (a word of L that is the reported partner of one in R).

    A sum of products of 0/1 entries is positive exactly where a set above holds a word; words
    are then mapped to their surfaces, which are numbered most specific (longest) first, so a
    row's sorted columns are ``between``'s order.
    """

    def __init__(
        self,
        surfaces: list[str],
        corresponding: list[frozenset[int]],
        text_words: list[int],
        text_pointers: list[int],
    ) -> None:
        count = len(surfaces)
        rank = np.empty(count, dtype=np.int64)
        rank[sorted(range(count), key=lambda word: (len(surfaces[word]), surfaces[word], word))] = (
            np.arange(count)
        )
        partner_rows = [word for word, partners in enumerate(corresponding) for _ in partners]
        partner_columns = [partner for partners in corresponding for partner in partners]
        rows = np.array(partner_rows, dtype=np.int64)
        columns = np.array(partner_columns, dtype=np.int64)
        before = rank[columns] < rank[rows]
        self._partner = sparse.csr_matrix(
            (np.ones(int(before.sum())), (rows[before], columns[before])), shape=(count, count)
        )
        self._words_of_texts = sparse.csr_matrix(
            (np.ones(len(text_words)), text_words, text_pointers),
            shape=(len(text_pointers) - 1, count),
        )
        # Surfaces most specific first; a word's column is its surface's place in that order.
        self.by_specificity = sorted(set(surfaces), key=lambda term: (-len(term), term))
        place = {term: column for column, term in enumerate(self.by_specificity)}
        self._surface_of_word = sparse.csr_matrix(
            (
                np.ones(count),
                np.array([place[surface] for surface in surfaces], dtype=np.int64),
                np.arange(count + 1),
            ),
            shape=(count, len(self.by_specificity)),
        )

    def terms(self, left_rows: IntArray, right_rows: IntArray) -> list[tuple[str, ...]]:
        """The shared terms of the texts at *left_rows* with those at *right_rows*, pairwise."""
        if not len(left_rows):
            return []
        left = self._words_of_texts[left_rows]
        right = self._words_of_texts[right_rows]
        reported = right.multiply(left + left @ self._partner) + left.multiply(
            right @ self._partner
        )
        found = sparse.csr_matrix(sparse.csr_matrix(reported) @ self._surface_of_word)
        found.sort_indices()
        flat = [self.by_specificity[column] for column in found.indices.tolist()]
        bounds = found.indptr.tolist()
        return [tuple(flat[start:stop]) for start, stop in itertools.pairwise(bounds)]


def _same(text: str) -> str:
    return text


def _reverse(text: str) -> str:
    return text[::-1]
