"""The document each answer is vectorised as: its words and what they stand for.

A post-it is short, so the matcher vectorises more than its bare words:

* each word's root, so "isoleren" and "isolatie" share whole-word n-grams;
* the members of compounds that start or end with a taxonomy word ("dakisolatie" adds "dak" and
  "isolatie"), and the first word of a word's plain-language synonym group (``EQUIVALENT_WORDS``
  in :mod:`app.matching.text`: "buurt" adds "wijk", "residents" adds "bewoner");
* the expansion of its topics (:meth:`Documents.expansion`): the labels of every topic it is
  tagged with and the topic's abbreviations that stand for the whole topic, and the phrase an
  abbreviation spells out where the abbreviation or the phrase itself occurs ("TEO" adds
  "thermische energie oppervlaktewater"); not all synonyms of a topic (EXPAND_WITH_SYNONYMS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from app.matching import memo
from app.matching.memo import BoundedMemo
from app.matching.sides import Prepared
from app.matching.tagging import Tagger, cached_tagger
from app.matching.taxonomy import Taxonomy, Topic
from app.matching.text import (
    Word,
    analyse,
    compound_members,
    content_words,
    equivalent,
    fold,
    spellings,
)
from app.matching.text import words as words_of
from app.matching.types import Need, Offer, TopicTag

FloatArray = npt.NDArray[np.float64]

EXPAND_WITH_SYNONYMS = False
"""Expand texts with every synonym of their topics (True) or with labels and abbreviations only.

Full expansion lowered dev precision@1 from 0.57 to 0.47 even once tags were precise: 30 synonyms
drown a ten-word answer, and every answer on a topic then looks alike, while the labelled needs
mostly have to be told apart from other answers on the same topic."""


ANALYSED_TEXTS = 20_000
"""Texts whose analysis (tags, words, document) is remembered for the next index of the same
taxonomy: rebuilding a community's index after one changed answer analyses that answer, not
all 6,840 of a national community again (0.5 s of the 1.4 s build)."""


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What a text and its given topics are analysed into (see Documents.prepare)."""

    tags: tuple[TopicTag, ...]
    topics: frozenset[str]
    words: tuple[Word, ...]
    document: str
    spellings: Mapping[str, str]


class Documents:
    """Analyses answers into the documents they are vectorised as, for one taxonomy."""

    def __init__(self, taxonomy: Taxonomy, tagger: Tagger) -> None:
        self.taxonomy = taxonomy
        self.tagger = tagger
        # Compounds are split on the taxonomy's own words (see prepare).
        self._known_words = taxonomy.words
        # compound_members of each distinct word on the taxonomy's words: texts share most.
        self._compound_members: BoundedMemo[str, tuple[str, ...]] = BoundedMemo(
            memo.WORDS, lambda word: compound_members(word, self._known_words)
        )
        # Per distinct topic or evidence (see expansion).
        self._topic_expansions: dict[str, tuple[str, ...]] = {}
        self._evidence_expansions: dict[tuple[str, str], tuple[str, ...]] = {}
        # Per (text, given topics): a rebuilt index analyses only the texts it has not seen.
        self._analyses: BoundedMemo[tuple[str, tuple[str, ...]], _Analysis] = BoundedMemo(
            ANALYSED_TEXTS, lambda key: self._analyse(*key)
        )

    def prepare(self, item: Need | Offer, embedding: FloatArray | None = None) -> Prepared:
        """The item's tags, topics, analysed words and the document it is vectorised as."""
        analysis = self._analyses((item.text, item.topics))
        return Prepared(
            id=item.id,
            organisation_id=item.organisation_id,
            region=item.region,
            tags=analysis.tags,
            topics=analysis.topics,
            words=analysis.words,
            document=analysis.document,
            spellings=analysis.spellings,
            embedding=embedding,
        )

    def _analyse(self, text: str, given: tuple[str, ...]) -> _Analysis:
        tags, evidence = self.tagger.tag_with_evidence(text, given)
        topics = frozenset(tag.slug for tag in tags)
        words = analyse(text)
        # Roots join the words so inflections meet in whole-word n-grams ("isoleren isol").
        roots = [word.root for word in words if word.root != word.surface]
        # Members of compounds join as words too ("dakisolatie" adds "dak" and "isolatie").
        members = [member for word in words for member in self._compound_members(word.surface)]
        roots += members
        # Plain-language synonyms meet in one word ("buurt" adds "wijk"; see EQUIVALENT_WORDS).
        roots += [
            canonical
            for surface in (*(word.surface for word in words), *members)
            if (canonical := equivalent(surface)) is not None and canonical != surface
        ]
        expansion = self.expansion(topics, evidence)
        document = " ".join([*(word.surface for word in words), *roots, expansion])
        return _Analysis(tags, topics, words, document, spellings(text))

    def expansion(
        self, topics: frozenset[str], evidence: frozenset[tuple[str, str]] = frozenset()
    ) -> str:
        """The words a text is expanded with, normalised, as one string.

        For each topic: its labels (without abbreviations) and the abbreviations no term spells
        out; for each (topic, abbreviation or term) in *evidence*: the phrase the abbreviation
        stands for, or the abbreviations the term spells out.
        """
        parts: list[str] = []
        for slug in sorted(topics):
            parts.extend(self._topic_expansion(slug))
        for slug, found in sorted(evidence):
            parts.extend(self._evidence_expansion(slug, found))
        return " ".join(parts)

    def _topic_expansion(self, slug: str) -> tuple[str, ...]:
        """The words a text about topic *slug* is expanded with (see :meth:`expansion`)."""
        parts = self._topic_expansions.get(slug)
        if parts is None:
            topic = self.taxonomy.get(slug)
            parts = (
                ()
                if topic is None
                else tuple(
                    word
                    for phrase in self._expansion_phrases(topic)
                    for word in content_words(phrase)
                )
            )
            self._topic_expansions[slug] = parts
        return parts

    def _evidence_expansion(self, slug: str, found: str) -> tuple[str, ...]:
        """The words evidence *found* for topic *slug* adds to a text (see :meth:`expansion`)."""
        parts = self._evidence_expansions.get((slug, found))
        if parts is None:
            topic = self.taxonomy.get(slug)
            if topic is None:
                parts = ()
            elif found in topic.abbreviation_phrases:
                parts = tuple(content_words(topic.abbreviation_phrases[found]))
            else:
                parts = tuple(
                    dict.fromkeys(
                        fold(abbreviation).split("'")[0]
                        for abbreviation, phrase in topic.abbreviation_phrases.items()
                        if phrase == found
                    )
                )
            self._evidence_expansions[(slug, found)] = parts
        return parts

    def _expansion_phrases(self, topic: Topic) -> tuple[str, ...]:
        if EXPAND_WITH_SYNONYMS:
            return (*topic.terms, *topic.abbreviations)
        abbreviations = {fold(abbreviation) for abbreviation in topic.abbreviations}
        labels = [
            " ".join(word for word in words_of(label) if word not in abbreviations)
            for label in (topic.label_nl, topic.label_en)
        ]
        aliases = [a for a in topic.abbreviations if a not in topic.abbreviation_phrases]
        return (*labels, *aliases)


@lru_cache(maxsize=4)
def cached_documents(taxonomy: Taxonomy) -> Documents:
    """The :class:`Documents` of *taxonomy*, shared by every index built on it (and every
    thread), so what it learnt of texts and words carries over from one build to the next."""
    return Documents(taxonomy, cached_tagger(taxonomy))
