"""The bridge between the database and the matching engine (``app.matching``).

Rows go in as the engine's plain dataclasses; suggestions come back and are stored in the
``suggestions`` table, which is what the API serves.

Keeping suggestions current:

* Writing a need or an offer re-tags its text (given and inferred topics) and re-scores that
  one answer against the other side of its community (:func:`refresh_need`,
  :func:`refresh_offer`). The community's texts are vectorised again (linear in its size),
  but only the changed answer's pairs are scored and stored; nothing else is rescored.
* :func:`recompute` scores the whole community (after a bulk load, or on request).
* Rows members acted on (introduced, accepted, declined, completed) survive both; a declined
  pair is excluded from scoring, so it is never proposed again.

The engine's index of a community is cached in this process, keyed by a fingerprint of the
community's answers, so reads (working groups, gaps) do not rebuild it while nothing changed.

Embeddings: with the optional ``semantic`` extra installed, every write of a need or offer
embeds that answer when its stored embedding is missing or was computed from another text or
model, and the rest of the community when any answer there has none of the current model
(:func:`embed_written`); every recompute checks them all (:func:`embed_answers`). So the engine
adds its semantic factor. Reads use the stored embeddings; where any answer has none
(the extra was installed after answers were stored, until the next write), the engine scores
that community on text and topics alone.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import matching
from app.errors import Conflict, InvalidParam, NotFound
from app.models import (
    Community,
    FormatPreference,
    Need,
    NeedEmbedding,
    NeedTopic,
    Offer,
    OfferEmbedding,
    OfferTopic,
    Organisation,
    Priority,
    Suggestion,
    SuggestionStatus,
    TopicSource,
)
from app.services.common import paginate_rows
from app.services.suggestion_versions import mark_changed
from app.services.topics import taxonomy

STORED_PER_ANSWER = 20
"""Suggestions stored per need (best first); an offer write stores at most this many needs."""


TRANSITIONS: dict[str, frozenset[str]] = {
    SuggestionStatus.PROPOSED: frozenset({SuggestionStatus.INTRODUCED, SuggestionStatus.DECLINED}),
    SuggestionStatus.INTRODUCED: frozenset({SuggestionStatus.ACCEPTED, SuggestionStatus.DECLINED}),
    SuggestionStatus.ACCEPTED: frozenset({SuggestionStatus.COMPLETED}),
    SuggestionStatus.DECLINED: frozenset(),
    SuggestionStatus.COMPLETED: frozenset(),
}
_INDEX_CACHE_SIZE = 16


@lru_cache
def engine_taxonomy() -> matching.Taxonomy:
    """The shipped taxonomy in the engine's form (read once)."""
    return matching.Taxonomy.from_mapping(taxonomy().raw)


def warm_up() -> None:
    """Load what the first write would otherwise load: the taxonomy, its compiled tagger and
    (with the ``semantic`` extra) the embedding model. A server calls this before it freezes
    its start-up objects for the garbage collector (see ``copmatch serve``)."""
    tag_text("warmtenet", ())
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
    """Recompute an answer's topic tags, keeping the given ones as given."""
    given = [tag.topic for tag in answer.topic_tags if tag.source == TopicSource.GIVEN]
    link = NeedTopic if isinstance(answer, Need) else OfferTopic
    answer.topic_tags = [  # type: ignore[assignment]
        link(topic=slug, source=source) for slug, source in tag_text(answer.text, given)
    ]


# --- embeddings --------------------------------------------------------------------------------


def text_hash(text: str) -> str:
    """SHA-256 of a text, stored with its embedding to notice a changed text."""
    return hashlib.sha256(text.encode()).hexdigest()


_EmbeddingTable = tuple[type[NeedEmbedding] | type[OfferEmbedding], Any]
_EMBEDDINGS: dict[type[Need] | type[Offer], _EmbeddingTable] = {
    Need: (NeedEmbedding, NeedEmbedding.need_id),
    Offer: (OfferEmbedding, OfferEmbedding.offer_id),
}
"""Each kind of answer's embedding table and the column that links it to the answer."""


def embed_answers(session: Session, community: Community) -> int:
    """Embed the community's needs and offers whose embedding is missing or stale; returns how
    many were embedded (0 without the ``semantic`` extra)."""
    embedder = matching.load_embedder()
    if embedder is None:
        return 0
    embedded = 0
    for model, (link, key) in _EMBEDDINGS.items():
        rows = session.execute(
            select(model.id, model.text, link.model, link.text_hash)
            .outerjoin(link, key == model.id)
            .where(model.community_id == community.id)
            .order_by(model.id)
        ).all()
        stale = [
            (ident, text, digest)
            for ident, text, stored_model, stored_hash in rows
            if (digest := text_hash(text)) != stored_hash or stored_model != embedder.model
        ]
        _store_embeddings(session, embedder, model, stale)
        embedded += len(stale)
    return embedded


def embed_written(session: Session, community: Community, answer: Need | Offer) -> None:
    """Embed the need or offer just written when its stored embedding is stale, and then the
    rest of its community only if some answer there has no embedding of the current model
    (after a bulk load, or once the extra or a new model is installed).

    The common write thus embeds one text and reads one row, instead of checking every answer
    of the community (:func:`embed_answers`); texts change only through writes, and each write
    embeds its own answer again.
    """
    embedder = matching.load_embedder()
    if embedder is None:
        return
    link, key = _EMBEDDINGS[type(answer)]
    digest = text_hash(answer.text)
    stored = session.execute(
        select(link.model, link.text_hash).where(key == answer.id)
    ).one_or_none()
    if stored is None or tuple(stored) != (embedder.model, digest):
        _store_embeddings(session, embedder, type(answer), [(answer.id, answer.text, digest)])
    if _lacks_embeddings(session, community, embedder.model):
        embed_answers(session, community)


def _store_embeddings(
    session: Session,
    embedder: matching.Embedder,
    model: type[Need] | type[Offer],
    stale: Sequence[tuple[int, str, str]],
) -> None:
    """Embed the (id, text, text hash) answers of *model* in *stale* and store the vectors."""
    if not stale:
        return
    link, key = _EMBEDDINGS[model]
    texts = [text for _, text, _ in stale]
    vectors = embedder.needs(texts) if model is Need else embedder.offers(texts)
    values = [
        {key.key: ident, "model": embedder.model, "text_hash": digest, "vector": vector}
        for (ident, _, digest), vector in zip(stale, vectors, strict=True)
    ]
    _upsert(session, link, key.key, values)


def _lacks_embeddings(session: Session, community: Community, model: str) -> bool:
    """Has any need or offer of the community no stored embedding of *model*?"""
    missing = [
        select(answer.id).where(
            answer.community_id == community.id,
            ~select(key).where(key == answer.id, link.model == model).exists(),
        )
        for answer, (link, key) in _EMBEDDINGS.items()
    ]
    return any(session.execute(query.limit(1)).first() is not None for query in missing)


def _upsert(
    session: Session,
    link: type[NeedEmbedding | OfferEmbedding],
    key: str,
    values: list[dict[str, Any]],
) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE: two writers embedding one answer both succeed."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(link)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[key],
            set_={
                "model": statement.excluded.model,
                "text_hash": statement.excluded.text_hash,
                "vector": statement.excluded.vector,
            },
        ),
        values,
    )


def _embeddings(
    session: Session, community: Community, link: type[NeedEmbedding | OfferEmbedding]
) -> dict[int, tuple[str, bytes]]:
    """(text hash, vector) per answer id of the current model (none without the extra)."""
    embedder = matching.load_embedder()
    if embedder is None:
        return {}
    key, model = (
        (NeedEmbedding.need_id, Need) if link is NeedEmbedding else (OfferEmbedding.offer_id, Offer)
    )
    rows = session.execute(
        select(key, link.text_hash, link.vector)
        .join(model, model.id == key)
        .where(model.community_id == community.id, link.model == embedder.model)
    ).all()
    return {ident: (digest, vector) for ident, digest, vector in rows}


def _current(embeddings: dict[int, tuple[str, bytes]], ident: int, text: str) -> bytes | None:
    """The stored vector of answer *ident* when it was computed from this very text."""
    stored = embeddings.get(ident)
    return stored[1] if stored is not None and stored[0] == text_hash(text) else None


# --- the engine's view of a community -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A community's answers as engine dataclasses."""

    community_id: int
    needs: tuple[matching.Need, ...]
    offers: tuple[matching.Offer, ...]
    declined: frozenset[tuple[int, int]]


def _given_topics(
    session: Session, community: Community, owner: Any, topic: Any, answer: type[Need | Offer]
) -> dict[int, tuple[str, ...]]:
    """Given topic slugs per answer id (``owner``/``topic``: the link table's columns)."""
    rows = session.execute(
        select(owner, topic)
        .join(answer, answer.id == owner)
        .where(answer.community_id == community.id, topic.table.c.source == TopicSource.GIVEN.value)
        .order_by(owner, topic)
    ).all()
    given: dict[int, list[str]] = {}
    for ident, slug in rows:
        given.setdefault(ident, []).append(slug)
    return {ident: tuple(slugs) for ident, slugs in given.items()}


def snapshot(session: Session, community: Community) -> Snapshot:
    """Load a community's needs, offers and declined pairs.

    Plain column queries, no ORM objects: this runs on every write of an answer.
    """
    regions = dict(
        session.execute(
            select(Organisation.id, Organisation.region).where(
                Organisation.id.in_(
                    select(Need.organisation_id)
                    .where(Need.community_id == community.id)
                    .union(select(Offer.organisation_id).where(Offer.community_id == community.id))
                )
            )
        ).all()
    )
    need_topics = _given_topics(session, community, NeedTopic.need_id, NeedTopic.topic, Need)
    offer_topics = _given_topics(session, community, OfferTopic.offer_id, OfferTopic.topic, Offer)
    need_vectors = _embeddings(session, community, NeedEmbedding)
    offer_vectors = _embeddings(session, community, OfferEmbedding)
    engine_needs = tuple(
        matching.Need(
            id=ident,
            organisation_id=organisation_id,
            text=text,
            topics=need_topics.get(ident, ()),
            priority=Priority(priority).value,
            region=regions.get(organisation_id),
            embedding=_current(need_vectors, ident, text),
        )
        for ident, organisation_id, text, priority in session.execute(
            select(Need.id, Need.organisation_id, Need.text, Need.priority)
            .where(Need.community_id == community.id)
            .order_by(Need.id)
        )
    )
    engine_offers = tuple(
        matching.Offer(
            id=ident,
            organisation_id=organisation_id,
            text=text,
            topics=offer_topics.get(ident, ()),
            capacity=capacity,
            region=regions.get(organisation_id),
            embedding=_current(offer_vectors, ident, text),
        )
        for ident, organisation_id, text, capacity in session.execute(
            select(Offer.id, Offer.organisation_id, Offer.text, Offer.capacity)
            .where(Offer.community_id == community.id)
            .order_by(Offer.id)
        )
    )
    declined = session.execute(
        select(Suggestion.need_id, Suggestion.offer_id).where(
            Suggestion.community_id == community.id,
            Suggestion.status == SuggestionStatus.DECLINED.value,
        )
    ).all()
    return Snapshot(
        community_id=community.id,
        needs=engine_needs,
        offers=engine_offers,
        declined=frozenset((need, offer) for need, offer in declined),
    )


class _IndexCache:
    """The latest match index of each recently used community; safe across threads.

    An index scores a need (or offer) it does not hold, as long as the *other* side is what it
    was built on and the answers call for the same factors (a community that just reached enough
    needs for the semantic factor gets a new index). So a write of a need reuses the cached
    index when the offers are unchanged (and vice versa), which is the common case while a
    meeting's post-its are typed in; a read that needs the whole community (working groups,
    gaps) reuses it only when both sides match.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[int, tuple[Snapshot, matching.MatchIndex]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: Snapshot, *, same: str = "both") -> matching.MatchIndex:
        """An index for ``data``; ``same`` says which side must match: needs, offers or both."""
        with self._lock:
            cached = self._items.get(data.community_id)
            if cached is not None:
                old, index = cached
                semantic = matching.MatchIndex.scores_semantically(data.needs, data.offers)
                if index.semantic == semantic and _reusable(old, data, same):
                    self._items.move_to_end(data.community_id)
                    return index
        index = matching.MatchIndex(engine_taxonomy(), data.needs, data.offers)
        with self._lock:
            self._items[data.community_id] = (data, index)
            self._items.move_to_end(data.community_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return index


def _reusable(old: Snapshot, new: Snapshot, same: str) -> bool:
    offers_match = old.offers == new.offers
    needs_match = old.needs == new.needs
    if same == "offers":
        return offers_match
    if same == "needs":
        return needs_match
    return offers_match and needs_match


_indexes = _IndexCache(_INDEX_CACHE_SIZE)


def community_index(
    session: Session, community: Community, *, same: str = "both"
) -> tuple[Snapshot, matching.MatchIndex]:
    """The community's snapshot and a (cached) match index fit to score it (see _IndexCache)."""
    data = snapshot(session, community)
    return data, _indexes.get(data, same=same)


# --- storing suggestions ---------------------------------------------------------------------


def _store(
    session: Session,
    community: Community,
    found: Sequence[matching.Suggestion],
    *,
    replace: Any,
) -> None:
    """Upsert ``found`` and delete the proposed rows in ``replace`` (a WHERE clause) that the
    engine no longer suggests. Acted-on rows keep their status; their score follows the engine."""
    # ``replace`` alone selects the rows (it names the community, or one answer of it), so the
    # database can use the need's or offer's own index.
    existing = {
        (row.need_id, row.offer_id): row
        for row in session.scalars(select(Suggestion).where(replace))
    }
    involved = {s.need_organisation_id for s in found} | {s.offer_organisation_id for s in found}
    names = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(involved))
        ).all()
    )
    for suggestion in found:
        # Every pair found involves the rescored answer(s), so ``existing`` holds its row.
        row = existing.pop((suggestion.need_id, suggestion.offer_id), None)
        values = _values(suggestion, names)
        if row is None:
            session.add(Suggestion(community_id=community.id, **values))
        elif row.status != SuggestionStatus.DECLINED and _changed(row, values):
            for key, value in values.items():
                setattr(row, key, value)
    stale = [row.id for row in existing.values() if row.status == SuggestionStatus.PROPOSED]
    if stale:
        session.execute(delete(Suggestion).where(Suggestion.id.in_(stale)))
        mark_changed(session, community.id)  # a bulk delete: the flush listener cannot see it
    session.flush()


def _values(suggestion: matching.Suggestion, names: dict[int, str]) -> dict[str, Any]:
    return {
        "need_id": suggestion.need_id,
        "offer_id": suggestion.offer_id,
        "need_organisation_id": suggestion.need_organisation_id,
        "offer_organisation_id": suggestion.offer_organisation_id,
        "score": suggestion.score,
        "reasons": [
            {
                "factor": r.factor,
                "contribution": r.contribution,
                "detail": _detail(r, suggestion, names),
            }
            for r in suggestion.reasons
        ],
        "matched_topics": list(suggestion.matched_topics),
    }


def _detail(reason: matching.Reason, suggestion: matching.Suggestion, names: dict[int, str]) -> str:
    # The engine knows organisations by id only; people read names.
    if reason.factor != "reciprocity":
        return reason.detail
    helper = names.get(suggestion.need_organisation_id, "the asking organisation")
    helped = names.get(suggestion.offer_organisation_id, "the offering organisation")
    return f"{helper} can help {helped} in return"


def _changed(row: Suggestion, values: dict[str, Any]) -> bool:
    return any(getattr(row, key) != value for key, value in values.items())


def refresh_need(session: Session, need: Need) -> None:
    """Re-score one need against its community's offers and store the result."""
    community = session.get_one(Community, need.community_id)
    embed_written(session, community, need)
    data, index = community_index(session, community, same="offers")
    engine_need = next(item for item in data.needs if item.id == need.id)
    found = index.score_need(engine_need, excluded=data.declined, limit=STORED_PER_ANSWER)
    _store(session, community, found, replace=Suggestion.need_id == need.id)


def refresh_offer(session: Session, offer: Offer) -> None:
    """Re-score one offer against its community's needs and store the result."""
    community = session.get_one(Community, offer.community_id)
    embed_written(session, community, offer)
    data, index = community_index(session, community, same="needs")
    engine_offer = next(item for item in data.offers if item.id == offer.id)
    found = index.score_offer(engine_offer, excluded=data.declined, limit=STORED_PER_ANSWER)
    _store(session, community, found, replace=Suggestion.offer_id == offer.id)


def recompute(session: Session, community: Community) -> int:
    """Re-tag and re-score the whole community; returns the number of stored suggestions."""
    for answer in session.scalars(select(Need).where(Need.community_id == community.id)):
        retag(answer)
    for offer in session.scalars(select(Offer).where(Offer.community_id == community.id)):
        retag(offer)
    session.flush()
    embed_answers(session, community)
    data, index = community_index(session, community)
    found = index.suggest(excluded=data.declined, limit=STORED_PER_ANSWER)
    _store(session, community, found, replace=Suggestion.community_id == community.id)
    return int(
        session.scalar(select(func.count()).where(Suggestion.community_id == community.id)) or 0
    )


# --- reading and acting on suggestions ----------------------------------------------------------


def get_suggestion(session: Session, community: Community, suggestion_id: int) -> Suggestion:
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None or suggestion.community_id != community.id:
        raise NotFound(f"suggestion {suggestion_id} does not exist in community {community.id}")
    return suggestion


_PAGE_COLUMNS = (
    Suggestion.id,
    Suggestion.created_at,
    Suggestion.updated_at,
    Suggestion.community_id,
    Suggestion.need_id,
    Suggestion.offer_id,
    Suggestion.need_organisation_id,
    Suggestion.offer_organisation_id,
    Suggestion.score,
    Suggestion.reasons,
    Suggestion.matched_topics,
    Suggestion.status,
    Suggestion.feedback_usefulness,
    Suggestion.feedback_note,
)


def list_suggestions(
    session: Session,
    community: Community,
    *,
    need_id: int | None,
    offer_id: int | None,
    organisation_id: int | None,
    status: SuggestionStatus | None,
    min_score: float | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A community's suggestions, best first (ties by id), as plain dicts with the attributes of
    a :class:`Suggestion` (``feedback`` included): the API's hottest read builds no ORM objects."""
    statement = select(*_PAGE_COLUMNS).order_by(Suggestion.score.desc(), Suggestion.id)
    if need_id is not None:
        # One need's suggestions through the (need_id, offer_id) index; the need's own community
        # is checked first, so no other community's rows can appear.
        if session.scalar(select(Need.community_id).where(Need.id == need_id)) != community.id:
            return [], 0
        statement = statement.where(Suggestion.need_id == need_id)
    else:
        statement = statement.where(Suggestion.community_id == community.id)
    if offer_id is not None:
        statement = statement.where(Suggestion.offer_id == offer_id)
    if organisation_id is not None:
        statement = statement.where(
            (Suggestion.need_organisation_id == organisation_id)
            | (Suggestion.offer_organisation_id == organisation_id)
        )
    if status is not None:
        statement = statement.where(Suggestion.status == status.value)
    if min_score is not None:
        statement = statement.where(Suggestion.score >= min_score)
    rows, total = paginate_rows(session, statement, limit=limit, offset=offset)
    items = []
    for row in rows:
        item = dict(row)
        usefulness, note = item.pop("feedback_usefulness"), item.pop("feedback_note")
        item["feedback"] = None if usefulness is None else {"usefulness": usefulness, "note": note}
        items.append(item)
    return items, total


def update_suggestion(
    session: Session,
    suggestion: Suggestion,
    *,
    status: SuggestionStatus | None,
    feedback: tuple[int, str | None] | None,
) -> Suggestion:
    """Move a suggestion along its lifecycle and/or record feedback on it."""
    if status is not None and status != suggestion.status:
        allowed = TRANSITIONS[suggestion.status]
        if status not in allowed:
            options = ", ".join(sorted(allowed)) or "none (final)"
            raise Conflict(
                f"a {suggestion.status} suggestion cannot become {status}; allowed: {options}",
                invalid_params=[
                    InvalidParam("body.status", f"not allowed after {suggestion.status}")
                ],
            )
        suggestion.status = status.value
    if feedback is not None:
        if suggestion.status == SuggestionStatus.PROPOSED:
            raise Conflict(
                "feedback is for suggestions that were acted on; introduce it first",
                invalid_params=[InvalidParam("body.feedback", "not allowed while proposed")],
            )
        suggestion.feedback_usefulness, suggestion.feedback_note = feedback
    session.flush()
    return suggestion


# --- community views ---------------------------------------------------------------------------


def _engine_suggestion(row: Suggestion) -> matching.Suggestion:
    return matching.Suggestion(
        need_id=row.need_id,
        offer_id=row.offer_id,
        need_organisation_id=row.need_organisation_id,
        offer_organisation_id=row.offer_organisation_id,
        score=row.score,
        reasons=tuple(
            matching.Reason(r["factor"], r["contribution"], r["detail"])  # type: ignore[arg-type]
            for r in row.reasons
        ),
        matched_topics=tuple(row.matched_topics),
    )


@dataclass(frozen=True, slots=True)
class StoredView:
    """Engine results over the stored, not-declined suggestions, with their row ids."""

    rows: dict[tuple[int, int], Suggestion]
    suggestions: tuple[matching.Suggestion, ...]


def _stored(session: Session, community: Community) -> StoredView:
    rows = session.scalars(
        select(Suggestion)
        .where(
            Suggestion.community_id == community.id,
            Suggestion.status != SuggestionStatus.DECLINED.value,
        )
        .order_by(Suggestion.id)
    ).all()
    return StoredView(
        rows={(row.need_id, row.offer_id): row for row in rows},
        suggestions=tuple(_engine_suggestion(row) for row in rows),
    )


def allocation(session: Session, community: Community) -> tuple[matching.Allocation, StoredView]:
    """Needs assigned to offers within capacities (most organisations helped, then total score)."""
    stored = _stored(session, community)
    offers = session.execute(
        select(Offer.id, Offer.organisation_id, Offer.capacity).where(
            Offer.community_id == community.id
        )
    ).all()
    engine_offers = [
        matching.Offer(id=ident, organisation_id=org, text="", capacity=capacity)
        for ident, org, capacity in offers
    ]
    return matching.allocate(stored.suggestions, engine_offers), stored


def reciprocal_pairs(
    session: Session, community: Community
) -> tuple[tuple[matching.ReciprocalPair, ...], StoredView]:
    """Organisation pairs that can help each other both ways, strongest first."""
    stored = _stored(session, community)
    threshold = gap_threshold(session, community)
    return matching.reciprocal_pairs(stored.suggestions, min_score=threshold), stored


def working_groups(session: Session, community: Community) -> tuple[matching.WorkingGroup, ...]:
    """Clusters of at least three organisations sharing a need, with hosts and formats."""
    _, index = community_index(session, community)
    # Format preferences matter only here, so the snapshot read on every write leaves them out.
    formats = session.execute(
        select(FormatPreference.organisation_id, FormatPreference.format)
        .where(FormatPreference.community_id == community.id)
        .order_by(FormatPreference.id)
    ).all()
    return matching.working_groups(
        index, [matching.FormatPreference(org, fmt) for org, fmt in formats]
    )


def gap_threshold(session: Session, community: Community) -> float:
    """The score below which a need of this community is a gap (a topic for an outside expert)
    and a suggestion is not shown: the engine's, for the factors it scores here."""
    _, index = community_index(session, community)
    return index.gap_threshold


def gaps(session: Session, community: Community) -> tuple[matching.Gap, ...]:
    """Needs whose best offer scores below :func:`gap_threshold` (declined pairs do not count)."""
    data, index = community_index(session, community)
    return index.gaps(excluded=data.declined)


def unmet_offers(session: Session, community: Community) -> tuple[matching.UnmetOffer, ...]:
    """Offers no need asks for at :func:`gap_threshold` or above."""
    data, index = community_index(session, community)
    return index.unmet_offers(excluded=data.declined)
