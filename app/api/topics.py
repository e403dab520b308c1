"""The built-in taxonomy of heat-transition knowledge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.api.deps import PagingDep, get_principal, window_of
from app.errors import NotFound
from app.schemas import SLUG_PATTERN, LocalisedText, Page, ThemeRead, TopicRead
from app.services import topics as service

# Reference data, but only for callers with a token, like everything but health and docs.
router = APIRouter(tags=["topics"], dependencies=[Depends(get_principal)])


def _topic_read(topic: service.Topic) -> TopicRead:
    return TopicRead(
        slug=topic.slug,
        theme=topic.theme,
        label=LocalisedText(**topic.label),
        description=LocalisedText(**topic.description),
        abbreviations=topic.abbreviations,
        synonyms=topic.synonyms,
    )


@router.get("/topics", response_model=Page[TopicRead], summary="List the taxonomy's topics")
def list_topics(
    paging: PagingDep,
    theme: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Only topics of this theme (slug)",
            json_schema_extra={"enum": [t.slug for t in service.taxonomy().themes]},
        ),
    ] = None,
) -> Page[TopicRead]:
    return window_of([_topic_read(t) for t in service.list_topics(theme)], paging)


@router.get("/topics/{topicSlug}", response_model=TopicRead, summary="Get one topic")
def get_topic(
    topic_slug: Annotated[str, Path(alias="topicSlug", max_length=100, pattern=SLUG_PATTERN)],
) -> TopicRead:
    for topic in service.taxonomy().topics:
        if topic.slug == topic_slug:
            return _topic_read(topic)
    raise NotFound(f"topic {topic_slug!r} does not exist")


@router.get("/themes", response_model=Page[ThemeRead], summary="List the taxonomy's themes")
def list_themes(paging: PagingDep) -> Page[ThemeRead]:
    themes = [
        ThemeRead(slug=t.slug, label=LocalisedText(**t.label)) for t in service.taxonomy().themes
    ]
    return window_of(themes, paging)
