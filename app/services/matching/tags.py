"""Topic tags of answers: the given ones kept, the rest inferred by the engine's tagger."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from app import matching
from app.models import Need, NeedTopic, Offer, OfferTopic, TopicSource
from app.services.topics import taxonomy


@lru_cache
def engine_taxonomy() -> matching.Taxonomy:
    """The shipped taxonomy in the engine's form (read once)."""
    return matching.Taxonomy.from_mapping(taxonomy().raw)


def warm_up() -> None:
    """Load what the first write would otherwise load: the taxonomy, its compiled tagger, the
    common words (0.4 s) and (with the ``semantic`` extra) the embedding model. A server calls
    this before it freezes its start-up objects for the garbage collector (see
    ``copmatch serve``)."""
    tag_text("warmtenet", ())
    matching.load_word_lists()
    embedder = matching.load_embedder()
    if embedder is not None:
        embedder.needs(["warmtenet"])


def tag_text(text: str, given: Iterable[str]) -> list[tuple[str, str]]:
    """(topic slug, source) for every topic of ``text``: the given ones and those inferred."""
    tags = matching.tag_topics(text, engine_taxonomy(), tuple(given))
    by_slug: dict[str, str] = {}
    for tag in tags:
        if by_slug.get(tag.slug) != TopicSource.GIVEN:
            by_slug[tag.slug] = tag.source
    return sorted(by_slug.items())


def retag(answer: Need | Offer) -> None:
    """Recompute an answer's topic tags, keeping the given ones as given. Tags that come out
    as they were are left alone (a recompute retags every answer; most keep theirs)."""
    given = [tag.topic for tag in answer.topic_tags if tag.source == TopicSource.GIVEN]
    tags = tag_text(answer.text, given)
    if [(tag.topic, tag.source) for tag in answer.topic_tags] == tags:
        return
    link = NeedTopic if isinstance(answer, Need) else OfferTopic
    answer.topic_tags = [link(topic=slug, source=source) for slug, source in tags]  # type: ignore[assignment]
