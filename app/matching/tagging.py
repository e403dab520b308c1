"""Topic tagging: which taxonomy topics a free text is about.

A :class:`Tagger` is compiled once per taxonomy and then tags texts in well under a millisecond.
Tags are meant to be precise: a false tag pulls unrelated answers together, so every rule errs
on the side of not tagging.

* Abbreviations match case-sensitively as whole tokens: as written in the taxonomy or in capitals
  ("VvE", "VVE"; "Wcw", "WCW"), with a plural or possessive "s" allowed ("VvE's", "WUPs"). A
  lower-case "vve" or "tvw" is no abbreviation ("team" is no TEA); the taxonomy lists the
  lower-case spellings people really write as synonyms.
* Labels and synonyms match after normalisation (:mod:`app.matching.text`): accents and case do
  not matter and inflections share a root ("warmtenetten" ~ "warmtenet", "isoleren" ~
  "isolatie"). A single-word term may also be the first or last member of a compound
  ("burgerparticipatie" contains "participatie", "warmtenetaansluiting" contains "warmtenet"),
  a close Dutch-English cognate ("aquathermal" ~ "aquathermie"), or, for words of eight letters
  or more, a typo one edit away ("aquatermie", "isloatie"; but a word the taxonomy itself uses is
  no typo: "warmtewet" is not "warmtenet"); a text word that is only a part of
  a longer term does not count ("warmtetransitie" is no "warmtetransitievisie").
* Multi-word terms must appear as a phrase: consecutive words once function words are dropped,
  each with the same root as the term's word ("thermische energie uit oppervlaktewater" ~
  "thermische energie oppervlaktewater", but "collectieve warmte" is not "collectieve
  warmtepomp").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from app.matching import memo
from app.matching.memo import BoundedMemo
from app.matching.taxonomy import Taxonomy
from app.matching.text import (
    FUNCTION_WORDS,
    MIN_COGNATE_PREFIX,
    MIN_COMPOUND_PART,
    MIN_COMPOUND_REST,
    MIN_TYPO_WORD,
    Word,
    analyse,
    are_cognates,
    is_compound_part,
    is_known_word,
    is_typo_of,
    one_deletions,
    same_word,
    strip_accents,
)
from app.matching.types import TopicTag


@dataclass(frozen=True, slots=True)
class _Term:
    slug: str
    term: str
    words: tuple[Word, ...]


_WordTerms = tuple[tuple[tuple[str, str, int], ...], tuple[_Term, ...]]


class _Match(NamedTuple):  # a tuple: tagging a text makes dozens of them
    rank: tuple[int, int, int]
    """(position, 0 if the words match literally else 1, −term length): lowest wins."""
    slug: str
    evidence: str
    matched_text: str


class Tagger:
    """Tags free text with the topics of one taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._abbreviations: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._by_root: dict[str, list[_Term]] = defaultdict(list)
        self._by_english: dict[str, list[_Term]] = defaultdict(list)
        self._by_part: dict[str, list[_Term]] = defaultdict(list)
        self._by_prefix: dict[str, list[_Term]] = defaultdict(list)
        self._by_deletion: dict[str, list[_Term]] = defaultdict(list)
        self._known_words: set[str] = set()
        # The candidate terms of each distinct word (see _word_terms_of).
        self._word_terms: BoundedMemo[Word, _WordTerms] = BoundedMemo(
            memo.WORDS, self._word_terms_of
        )
        for topic in taxonomy:
            for abbreviation in topic.abbreviations:
                for spelling in {abbreviation, abbreviation.upper()}:
                    self._abbreviations[strip_accents(spelling)].append((topic.slug, abbreviation))
            for phrase in topic.terms:
                term_words = analyse(phrase, FUNCTION_WORDS)
                if not term_words:
                    continue
                term = _Term(topic.slug, phrase, term_words)
                self._known_words.update(word.surface for word in term_words)
                first = term_words[0]
                self._by_root[first.root].append(term)
                self._by_english[first.english].append(term)
                if len(term_words) == 1:
                    if len(first.surface) >= MIN_COGNATE_PREFIX:
                        self._by_prefix[first.surface[:MIN_COGNATE_PREFIX]].append(term)
                    self._by_part[first.root].append(term)
                    if len(first.surface) >= MIN_TYPO_WORD:
                        for key in {first.surface, *one_deletions(first.surface)}:
                            self._by_deletion[key].append(term)
        # Longest spelling first, so "HR+++" wins over "HR++" and "TVW's" over "TVW".
        spellings = sorted(self._abbreviations, key=lambda text: (-len(text), text))
        self._abbreviation_pattern = (
            re.compile(
                r"(?<![A-Za-z0-9])("
                + "|".join(re.escape(spelling) for spelling in spellings)
                + r")(?:'?s)?(?![A-Za-z0-9])"
            )
            if spellings
            else None
        )

    def tag(self, text: str, given: Iterable[str] = ()) -> tuple[TopicTag, ...]:
        """Topics of *text*: the *given* slugs plus those inferred from the text, by slug."""
        return _tags(self._matches(text), given)

    def evidence(self, text: str) -> frozenset[tuple[str, str]]:
        """Every (slug, term or abbreviation) that matches in *text*, not only the first."""
        return _evidence(self._matches(text))

    def tag_with_evidence(
        self, text: str, given: Iterable[str] = ()
    ) -> tuple[tuple[TopicTag, ...], frozenset[tuple[str, str]]]:
        """``(tag(text, given), evidence(text))`` from one pass over *text*."""
        matches = list(self._matches(text))
        return _tags(matches, given), _evidence(matches)

    def _matches(self, text: str) -> Iterable[_Match]:
        if self._abbreviation_pattern is not None:
            for found in self._abbreviation_pattern.finditer(strip_accents(text)):
                spelling = found.group(1)
                for slug, abbreviation in self._abbreviations[spelling]:
                    # Abbreviations rank before words as evidence: they are the most explicit.
                    yield _Match((found.start() - 1_000_000, 0, 0), slug, abbreviation, spelling)
        content = analyse(text, FUNCTION_WORDS)
        for position, word in enumerate(content):
            singles, phrases = self._word_terms(word)
            for slug, term_text, literal in singles:
                yield _Match((position, literal, -1), slug, term_text, word.surface)
            for term in phrases:
                length = len(term.words)
                if position + length > len(content):
                    continue
                window = content[position : position + length]
                # A plain loop: most candidate phrases fail here, on their second word.
                for term_word, text_word in zip(term.words, window, strict=True):
                    if not same_word(term_word, text_word):
                        break
                else:
                    matched = " ".join(text_word.surface for text_word in window)
                    literal = all(
                        term_word.surface == text_word.surface
                        for term_word, text_word in zip(term.words, window, strict=True)
                    )
                    rank = (position, 0 if literal else 1, -length)
                    yield _Match(rank, term.slug, term.term, matched)

    def _word_terms_of(self, word: Word) -> _WordTerms:
        """The candidate terms of *word* (remembered per distinct word by _word_terms: texts
        share most of their words): the single-word terms it matches, as (slug, term, 0 if
        literally else 1), and the multi-word terms it may start, each in candidate order. A
        single-word term never ties with a multi-word one (their ranks differ in length), so
        yielding the former first picks the same best match per topic."""
        known = word.surface in self._known_words
        candidates = self._candidates(word)
        return (
            tuple(
                (term.slug, term.term, 0 if term.words[0].surface == word.surface else 1)
                for term in candidates
                if len(term.words) == 1 and _term_word_in(term.words[0], word, known)
            ),
            tuple(term for term in candidates if len(term.words) > 1),
        )

    def _candidates(self, word: Word) -> list[_Term]:
        candidates = [
            *self._by_root.get(word.root, ()),
            *self._by_english.get(word.english, ()),
        ]
        if len(word.surface) >= MIN_COGNATE_PREFIX:
            candidates.extend(self._by_prefix.get(word.surface[:MIN_COGNATE_PREFIX], ()))
        if len(word.surface) >= MIN_TYPO_WORD and word.surface not in self._known_words:
            for key in {word.surface, *one_deletions(word.surface)}:
                candidates.extend(self._by_deletion.get(key, ()))
        # Compound members: roots that start or end this word's root.
        root = word.root
        for size in range(MIN_COMPOUND_PART, len(root) - MIN_COMPOUND_REST + 1):
            candidates.extend(self._by_part.get(root[:size], ()))
            candidates.extend(self._by_part.get(root[-size:], ()))
        return candidates


def _tags(matches: Iterable[_Match], given: Iterable[str]) -> tuple[TopicTag, ...]:
    """Tags of the *given* slugs and of each matched slug, with its best-ranked match."""
    first_match: dict[str, _Match] = {}
    for match in matches:
        known = first_match.get(match.slug)
        if known is None or match.rank < known.rank:
            first_match[match.slug] = match
    given_slugs = set(given)
    tags: list[TopicTag] = []
    for slug in sorted(given_slugs | first_match.keys()):
        found = first_match.get(slug)
        tags.append(
            TopicTag(
                slug=slug,
                source="given" if slug in given_slugs else "inferred",
                evidence=found.evidence if found else "",
                matched_text=found.matched_text if found else "",
            )
        )
    return tuple(tags)


def _evidence(matches: Iterable[_Match]) -> frozenset[tuple[str, str]]:
    return frozenset((match.slug, match.evidence) for match in matches)


def _term_word_in(term_word: Word, text_word: Word, known: bool) -> bool:
    """A single-word term in a text word: same word, compound member, cognate, or a typo
    (unless the text word is *known* to the taxonomy, or a common Dutch or English word, and so
    spelt as meant: "contacten" is no typo of "contracten", "liability" none of "viability")."""
    return (
        same_word(term_word, text_word)
        or is_compound_part(term_word, text_word)
        or are_cognates(term_word.surface, text_word.surface)
        or (
            not known
            and is_typo_of(term_word.surface, text_word.surface)
            and not is_known_word(text_word.surface)
        )
    )


def tag_topics(text: str, taxonomy: Taxonomy, given: Iterable[str] = ()) -> tuple[TopicTag, ...]:
    """Tag *text* with topics of *taxonomy*; *given* slugs are kept with source ``given``.

    The compiled :class:`Tagger` of a taxonomy is cached, so tagging one answer at a time (as a
    service does on every write) costs the tagging, not the compilation.
    """
    return cached_tagger(taxonomy).tag(text, given)


@lru_cache(maxsize=4)
def cached_tagger(taxonomy: Taxonomy) -> Tagger:
    """The compiled :class:`Tagger` of *taxonomy*, shared by every caller (and thread) that
    tags with it, so its per-word memory carries over from one index build to the next."""
    return Tagger(taxonomy)
