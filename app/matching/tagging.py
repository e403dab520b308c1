"""Topic tagging: which taxonomy topics a free text is about.

A :class:`Tagger` is compiled once per taxonomy and then tags texts in well under a millisecond.

* Abbreviations match whole tokens, case-insensitively, with a plural or possessive "s" allowed
  ("VvE", "VVE", "vve's", "TVWs"). An all-lower-case token only counts when the abbreviation is
  not an ordinary word as well.
* Labels and synonyms match after normalisation (:mod:`app.matching.text`): accents and case do
  not matter, inflections share a root ("warmtenetten" ~ "warmtenet", "isoleren" ~ "isolatie"),
  a single-word term may be a part of a compound ("burgerparticipatie" contains "participatie"),
  and close Dutch-English cognates match ("aquathermal" ~ "aquathermie"). Multi-word terms must
  appear as consecutive words once function words are dropped ("thermische energie uit
  oppervlaktewater" ~ "thermische energie oppervlaktewater").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from app.matching.taxonomy import Taxonomy
from app.matching.text import (
    FUNCTION_WORDS,
    MIN_COGNATE_PREFIX,
    MIN_COMPOUND_PART,
    MIN_COMPOUND_WORD,
    Word,
    analyse,
    are_cognates,
    raw_tokens,
    words_correspond,
)
from app.matching.types import TopicTag


@dataclass(frozen=True, slots=True)
class _Term:
    slug: str
    term: str
    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True)
class _Match:
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
        for topic in taxonomy:
            for abbreviation in topic.abbreviations:
                self._abbreviations[abbreviation.lower()].append((topic.slug, abbreviation))
            for phrase in topic.terms:
                term_words = analyse(phrase, FUNCTION_WORDS)
                if not term_words:
                    continue
                term = _Term(topic.slug, phrase, term_words)
                first = term_words[0]
                self._by_root[first.root].append(term)
                self._by_english[first.english].append(term)
                if len(first.surface) >= MIN_COGNATE_PREFIX:
                    self._by_prefix[first.surface[:MIN_COGNATE_PREFIX]].append(term)
                if (
                    len(term_words) == 1
                    and len(first.surface) >= MIN_COMPOUND_WORD
                    and len(first.root) >= MIN_COMPOUND_PART
                ):
                    self._by_part[first.root].append(term)

    def tag(self, text: str, given: Iterable[str] = ()) -> tuple[TopicTag, ...]:
        """Topics of *text*: the *given* slugs plus those inferred from the text, by slug."""
        first_match: dict[str, _Match] = {}
        for match in self._matches(text):
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

    def _matches(self, text: str) -> Iterable[_Match]:
        for position, token in enumerate(raw_tokens(text)):
            for candidate in (token, token[:-1]) if len(token) > 2 else (token,):
                key = candidate.lower()
                if key not in self._abbreviations:
                    continue
                if candidate.islower() and key in FUNCTION_WORDS:
                    continue
                for slug, abbreviation in self._abbreviations[key]:
                    # Abbreviations rank before words as evidence: they are the most explicit.
                    yield _Match((position - 1_000_000, 0, 0), slug, abbreviation, token)
                break
        content = analyse(text, FUNCTION_WORDS)
        for position, word in enumerate(content):
            for term in self._candidates(word):
                length = len(term.words)
                window = content[position : position + length]
                if len(window) == length and all(
                    words_correspond(term_word, text_word)
                    for term_word, text_word in zip(term.words, window, strict=True)
                ):
                    matched = " ".join(text_word.surface for text_word in window)
                    literal = all(
                        term_word.surface == text_word.surface
                        for term_word, text_word in zip(term.words, window, strict=True)
                    )
                    rank = (position, 0 if literal else 1, -length)
                    yield _Match(rank, term.slug, term.term, matched)

    def _candidates(self, word: Word) -> list[_Term]:
        candidates = [
            *self._by_root.get(word.root, ()),
            *self._by_english.get(word.english, ()),
        ]
        if len(word.surface) >= MIN_COGNATE_PREFIX:
            for term in self._by_prefix.get(word.surface[:MIN_COGNATE_PREFIX], ()):
                if are_cognates(term.words[0].surface, word.surface):
                    candidates.append(term)
        root = word.root
        for size in range(MIN_COMPOUND_PART, len(root)):
            for start in range(len(root) - size + 1):
                candidates.extend(self._by_part.get(root[start : start + size], ()))
        return candidates


def tag_topics(text: str, taxonomy: Taxonomy, given: Iterable[str] = ()) -> tuple[TopicTag, ...]:
    """Tag *text* with topics of *taxonomy*; *given* slugs are kept with source ``given``.

    Compiles a :class:`Tagger` on every call; keep a tagger (or a ``MatchIndex``) for many texts.
    """
    return Tagger(taxonomy).tag(text, given)
