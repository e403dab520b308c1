"""The heat-transition taxonomy as the engine sees it.

:meth:`Taxonomy.from_mapping` reads the parsed ``app/data/topics.yaml`` mapping (format in
``docs/data-formats.md``); the engine never opens files itself, so callers (and tests) can pass
any mapping of the same shape, or build :class:`Topic` objects directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from app.matching.text import FUNCTION_WORDS, content_words, without_endings, words


class TaxonomyError(ValueError):
    """The taxonomy mapping does not have the documented shape."""


_TRAILING_BRACKETS = re.compile(r"\(([^()]*)\)\s*$")


def distinct_abbreviations(abbreviations: Iterable[str], named: Iterable[str] = ()) -> list[str]:
    """*abbreviations* without repeats, in order: one spelling of each (VvE, not also VVE or
    Vve), no plural of another one listed (VvE's, VvEs, WUPs, RES'en), none of *named*.

    A plural is the abbreviation with an apostrophe ending ('s, 'en) or with an "s" added to
    another abbreviation of the list: ATES stays, as there is no ATE.
    """
    abbreviations = list(abbreviations)

    def base(abbreviation: str) -> str:
        return without_endings(abbreviation.strip().casefold())

    bases = {base(abbreviation) for abbreviation in (*abbreviations, *named)}

    def key(abbreviation: str) -> str:
        found = base(abbreviation)
        return found[:-1] if found.endswith("s") and found[:-1] in bases else found

    seen = {key(abbreviation) for abbreviation in named}
    shown = []
    for abbreviation in abbreviations:
        if key(abbreviation) not in seen:
            seen.add(key(abbreviation))
            shown.append(abbreviation)
    return shown


@dataclass(frozen=True)
class Topic:
    """One topic of the taxonomy, with the words people use for it."""

    slug: str
    theme: str
    label_nl: str
    label_en: str
    abbreviations: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()

    @cached_property
    def display(self) -> str:
        """Dutch label with its abbreviations, as shown in reasons: "Transitievisie Warmte (TVW)".

        Each abbreviation shows once, in its first listed spelling: other spellings of it (VVE
        for VvE) and its plurals (TVW's, WUPs, RES'en) are left out, as are those the label
        already names in brackets. When those brackets name one, the rest join them:
        "Aquathermie (TEO, TEA, TED, RWZI)", not "Aquathermie (TEO, TEA, TED) (TEO, TEA, TED,
        RWZI)"; other brackets stay apart: "Klimaatadaptatie en riolering (koppelkansen) (GRP)".
        """
        bracketed = _TRAILING_BRACKETS.search(self.label_nl)
        named = bracketed.group(1).replace(",", " ").split() if bracketed else []
        shown = distinct_abbreviations(self.abbreviations, named)
        if not shown:
            return self.label_nl
        if bracketed and len(shown) < len(distinct_abbreviations(self.abbreviations)):
            return f"{self.label_nl[: bracketed.end(1)]}, {', '.join(shown)})"
        return f"{self.label_nl} ({', '.join(shown)})"

    @property
    def terms(self) -> tuple[str, ...]:
        """Labels and synonyms: the phrases that tag this topic after normalisation."""
        return (self.label_nl, self.label_en, *self.synonyms)

    @cached_property
    def abbreviation_phrases(self) -> Mapping[str, str]:
        """Abbreviations spelt out by one of this topic's terms, each with that term.

        A term spells an abbreviation when the initials of its words (with or without function
        words) give the abbreviation's letters, or its capitals when it mixes case: TEO is
        "thermische energie uit oppervlaktewater", VvE "vereniging van eigenaren", SpUk
        "specifieke uitkering". Spellings that differ only in case or a plural ending (SpUk,
        SPUK, Spuk; TVW's) share the phrase. Abbreviations no term spells out (TVW, ISDE) are
        left out.
        """
        spelt: dict[str, str] = {}
        for term in self.terms:
            every = words(term)
            content = [word for word in every if word not in FUNCTION_WORDS]
            for initials in ("".join(w[0] for w in every), "".join(w[0] for w in content)):
                if len(initials) >= 2:
                    spelt.setdefault(initials, term)
        found: dict[str, str] = {}
        for abbreviation in self.abbreviations:
            letters = _abbreviation_letters(abbreviation)
            capitals = "".join(char for char in abbreviation if char.isupper()).lower()
            phrase = spelt.get(letters) or (spelt.get(capitals) if len(capitals) >= 2 else None)
            if phrase is not None:
                found[letters] = phrase
        return {
            abbreviation: found[_abbreviation_letters(abbreviation)]
            for abbreviation in self.abbreviations
            if _abbreviation_letters(abbreviation) in found
        }


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered collection of topics with unique slugs."""

    topics: tuple[Topic, ...]
    _by_slug: Mapping[str, Topic] = field(init=False, repr=False, compare=False)
    _words: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_slug: dict[str, Topic] = {}
        for topic in self.topics:
            if topic.slug in by_slug:
                raise TaxonomyError(f"duplicate topic slug {topic.slug!r}")
            by_slug[topic.slug] = topic
        object.__setattr__(self, "_by_slug", by_slug)
        words = frozenset(
            word for topic in self.topics for term in topic.terms for word in content_words(term)
        )
        object.__setattr__(self, "_words", words)

    @property
    def words(self) -> frozenset[str]:
        """The content words of every topic's labels and synonyms (folded)."""
        return self._words

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Taxonomy:
        """Build a taxonomy from the parsed ``topics.yaml`` mapping (``themes[].topics[]``)."""
        themes = data.get("themes")
        if not isinstance(themes, list):
            raise TaxonomyError("expected a list under 'themes'")
        topics: list[Topic] = []
        for theme in themes:
            theme_slug = _text(theme, "slug")
            for item in theme.get("topics") or ():
                label = item.get("label")
                if not isinstance(label, Mapping):
                    raise TaxonomyError(f"topic {item.get('slug')!r} needs a label mapping")
                topics.append(
                    Topic(
                        slug=_text(item, "slug"),
                        theme=theme_slug,
                        label_nl=str(label.get("nl") or ""),
                        label_en=str(label.get("en") or ""),
                        abbreviations=_strings(item.get("abbreviations")),
                        synonyms=_strings(item.get("synonyms")),
                    )
                )
        return cls(tuple(topics))

    def __iter__(self) -> Iterator[Topic]:
        return iter(self.topics)

    def __len__(self) -> int:
        return len(self.topics)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def get(self, slug: str) -> Topic | None:
        """The topic with *slug*, or None."""
        return self._by_slug.get(slug)

    def __getitem__(self, slug: str) -> Topic:
        return self._by_slug[slug]


def _abbreviation_letters(abbreviation: str) -> str:
    """Lower-case letters and digits of *abbreviation*, without a plural ("TVW's" -> "tvw")."""
    return re.sub(r"[^a-z0-9]", "", without_endings(abbreviation.lower()))


def _text(item: Any, key: str) -> str:
    if not isinstance(item, Mapping) or not isinstance(item.get(key), str):
        raise TaxonomyError(f"expected a string {key!r} in {item!r}")
    value: str = item[key]
    return value


def _strings(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(value) for value in values or ())
