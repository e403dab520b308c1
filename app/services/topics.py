"""The built-in taxonomy of heat-transition knowledge (``app/data/topics.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from app.errors import BadRequest, InvalidParam, ValidationFailed


@dataclass(frozen=True, slots=True)
class Theme:
    slug: str
    label: dict[str, str]


@dataclass(frozen=True, slots=True)
class Topic:
    slug: str
    theme: str
    label: dict[str, str]
    description: dict[str, str]
    abbreviations: list[str]
    synonyms: list[str]


@dataclass(frozen=True, slots=True)
class TaxonomyData:
    """The parsed file: the raw mapping (for the matching engine) and typed views (for the API)."""

    raw: dict[str, Any]
    themes: tuple[Theme, ...]
    topics: tuple[Topic, ...]

    @property
    def topic_slugs(self) -> frozenset[str]:
        return frozenset(topic.slug for topic in self.topics)


def parse_taxonomy(raw: dict[str, Any]) -> TaxonomyData:
    """Turn the YAML mapping into themes and topics, refusing duplicate slugs."""
    themes: list[Theme] = []
    topics: list[Topic] = []
    seen: set[str] = set()
    for theme in raw["themes"]:
        themes.append(Theme(slug=theme["slug"], label=dict(theme["label"])))
        for topic in theme["topics"]:
            if topic["slug"] in seen:
                raise ValueError(f"duplicate topic slug {topic['slug']!r} in the taxonomy")
            seen.add(topic["slug"])
            topics.append(
                Topic(
                    slug=topic["slug"],
                    theme=theme["slug"],
                    label=dict(topic["label"]),
                    description=dict(topic.get("description") or {"nl": "", "en": ""}),
                    abbreviations=list(topic.get("abbreviations") or []),
                    synonyms=list(topic.get("synonyms") or []),
                )
            )
    return TaxonomyData(raw=raw, themes=tuple(themes), topics=tuple(topics))


@lru_cache
def taxonomy() -> TaxonomyData:
    """The taxonomy shipped in the package (read once)."""
    text = resources.files("app").joinpath("data/topics.yaml").read_text(encoding="utf-8")
    return parse_taxonomy(yaml.safe_load(text))


def list_topics(theme: str | None = None) -> list[Topic]:
    """All topics, or those of one theme; an unknown theme is a 400 naming the query key."""
    data = taxonomy()
    if theme is not None and theme not in {t.slug for t in data.themes}:
        known = ", ".join(t.slug for t in data.themes)
        raise BadRequest(
            f"unknown theme {theme!r}; known themes: {known}",
            invalid_params=[InvalidParam("query.theme", f"unknown theme {theme!r}")],
        )
    return [topic for topic in data.topics if theme is None or topic.theme == theme]


def check_topic_slugs(slugs: list[str], *, field: str = "body.topics") -> list[str]:
    """The given slugs, de-duplicated in order; unknown ones are a 422 naming the field."""
    known = taxonomy().topic_slugs
    unknown = [slug for slug in slugs if slug not in known]
    if unknown:
        raise ValidationFailed(
            f"unknown topic(s): {', '.join(unknown)}; see GET /api/v1/topics",
            invalid_params=[InvalidParam(field, f"unknown topic {slug!r}") for slug in unknown],
        )
    return list(dict.fromkeys(slugs))
