"""Embeddings of needs and offers for the engine's semantic factor, stored at write time.

With the optional ``semantic`` extra installed, every write of a need or offer embeds that
answer when its stored embedding is missing or was computed from another text or model, and the
rest of the community when any answer there has none of the current model (:func:`embed_written`);
every recompute checks them all (:func:`embed_answers`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import matching
from app.models import Community, Need, NeedEmbedding, Offer, OfferEmbedding


@lru_cache(maxsize=32768)
def text_hash(text: str) -> str:
    """SHA-256 of a text, stored with its embedding to notice a changed text; remembered, as
    every write compares the hashes of all its community's texts (see current_embedding)."""
    return hashlib.sha256(text.encode()).hexdigest()


_EmbeddingTable = tuple[type[NeedEmbedding] | type[OfferEmbedding], Any]
_EMBEDDINGS: dict[type[Need] | type[Offer], _EmbeddingTable] = {
    Need: (NeedEmbedding, NeedEmbedding.need_id),
    Offer: (OfferEmbedding, OfferEmbedding.offer_id),
}
"""Each kind of answer's embedding table and the column that links it to the answer."""


Stale = dict[type[Need] | type[Offer], list[tuple[int, str, str]]]
"""Per kind of answer, the (id, text, text hash) of those whose embedding is missing or stale."""


@dataclass(frozen=True, slots=True)
class EmbeddedAhead:
    """Vectors computed before a transaction that stores them (:func:`embed_ahead`,
    :func:`embed_texts_ahead`): by kind of answer, text hash → vector, of the model *model*.
    A vector depends on the text and the kind alone, so it serves any answer with that text."""

    model: str
    vectors: dict[type[Need] | type[Offer], dict[str, bytes]]


def stale_answers(session: Session, community: Community, model: str) -> Stale:
    """The community's needs and offers whose embedding of *model* is missing or stale."""
    stale: Stale = {}
    for answer, (link, key) in _EMBEDDINGS.items():
        rows = session.execute(
            select(answer.id, answer.text, link.model, link.text_hash)
            .outerjoin(link, key == answer.id)
            .where(answer.community_id == community.id)
            .order_by(answer.id)
        ).all()
        stale[answer] = [
            (ident, text, digest)
            for ident, text, stored_model, stored_hash in rows
            if (digest := text_hash(text)) != stored_hash or stored_model != model
        ]
    return stale


def read_stale(session: Session, community: Community) -> Stale | None:
    """:func:`stale_answers` of the current model; None without the extra."""
    embedder = matching.load_embedder()
    return None if embedder is None else stale_answers(session, community, embedder.model)


def embed_ahead(stale: Stale) -> EmbeddedAhead:
    """Embed the answers of :func:`read_stale`, with no transaction open: so the model runs
    while no lock is held. A recompute in a writing transaction afterwards stores these vectors
    (:func:`embed_answers`) and embeds under its lock only what was written in between."""
    embedder = matching.load_embedder()
    if embedder is None:
        raise RuntimeError("the semantic extra is not installed")
    vectors = {
        answer: {
            digest: vector
            for (_, _, digest), vector in zip(items, _embed(embedder, answer, items), strict=True)
        }
        for answer, items in stale.items()
    }
    return EmbeddedAhead(embedder.model, vectors)


def embed_texts_ahead(
    texts: Mapping[type[Need] | type[Offer], Sequence[str]],
) -> EmbeddedAhead | None:
    """The vectors of answers about to be written with these *texts* (an import's rows), each
    text once, with no transaction open; None without the extra or without texts."""
    embedder = matching.load_embedder()
    if embedder is None or not any(texts.values()):
        return None
    return embed_ahead(
        {
            answer: [(0, text, text_hash(text)) for text in dict.fromkeys(written)]
            for answer, written in texts.items()
        }
    )


def embed_answers(
    session: Session, community: Community, ahead: EmbeddedAhead | None = None
) -> int:
    """Embed the community's needs and offers whose embedding is missing or stale; returns how
    many were stored (0 without the ``semantic`` extra). Vectors in *ahead* of the same model,
    id and text are stored as they are; the rest are embedded now."""
    embedder = matching.load_embedder()
    if embedder is None:
        return 0
    embedded = 0
    for model, stale in stale_answers(session, community, embedder.model).items():
        ready = ahead.vectors.get(model, {}) if ahead and ahead.model == embedder.model else {}
        known: list[tuple[int, str, str, bytes]] = []
        unknown: list[tuple[int, str, str]] = []
        for ident, text, digest in stale:
            vector = ready.get(digest)
            if vector is None:
                unknown.append((ident, text, digest))
            else:
                known.append((ident, text, digest, vector))
        _store_vectors(session, embedder.model, model, known)
        _store_embeddings(session, embedder, model, unknown)
        embedded += len(stale)
    return embedded


def embed_written(session: Session, community: Community, answer: Need | Offer) -> bool:
    """Embed the need or offer just written when its stored embedding is stale, and then the
    rest of its community only if some answer there has no embedding of the current model
    (after a bulk load, or once the extra or a new model is installed). Returns whether other
    answers were embedded: the community's stored suggestions were scored without those
    vectors, so it is re-scored as a whole.

    The common write thus embeds one text and reads one row, instead of checking every answer
    of the community (:func:`embed_answers`); texts change only through writes, and each write
    embeds its own answer again.
    """
    embedder = matching.load_embedder()
    if embedder is None:
        return False
    link, key = _EMBEDDINGS[type(answer)]
    digest = text_hash(answer.text)
    stored = session.execute(
        select(link.model, link.text_hash).where(key == answer.id)
    ).one_or_none()
    if stored is None or tuple(stored) != (embedder.model, digest):
        _store_embeddings(session, embedder, type(answer), [(answer.id, answer.text, digest)])
    return _lacks_embeddings(session, community, embedder.model) and (
        embed_answers(session, community) > 0
    )


def _store_embeddings(
    session: Session,
    embedder: matching.Embedder,
    model: type[Need] | type[Offer],
    stale: Sequence[tuple[int, str, str]],
) -> None:
    """Embed the (id, text, text hash) answers of *model* in *stale* and store the vectors."""
    if not stale:
        return
    vectors = _embed(embedder, model, stale)
    _store_vectors(
        session,
        embedder.model,
        model,
        [(*item, vector) for item, vector in zip(stale, vectors, strict=True)],
    )


def _embed(
    embedder: matching.Embedder,
    model: type[Need] | type[Offer],
    items: Sequence[tuple[int, str, str]],
) -> list[bytes]:
    """The vectors of the (id, text, text hash) answers of *model*: needs as queries, offers as
    passages."""
    texts = [text for _, text, _ in items]
    return embedder.needs(texts) if model is Need else embedder.offers(texts)


def _store_vectors(
    session: Session,
    name: str,
    model: type[Need] | type[Offer],
    vectors: Sequence[tuple[int, str, str, bytes]],
) -> None:
    """Store the (id, text, text hash, vector) embeddings of *model* by the embedder *name*."""
    if not vectors:
        return
    link, key = _EMBEDDINGS[model]
    values = [
        {key.key: ident, "model": name, "text_hash": digest, "vector": vector}
        for ident, _, digest, vector in vectors
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


def stored_embeddings(
    connection: Connection, community: Community, model: type[Need] | type[Offer]
) -> dict[int, tuple[str, bytes]]:
    """(text hash, vector) of the current model per need (or offer) id of the community (none
    without the extra)."""
    embedder = matching.load_embedder()
    if embedder is None:
        return {}
    link, key = _EMBEDDINGS[model]
    rows = connection.execute(
        select(key, link.text_hash, link.vector)
        .join(model, model.id == key)
        .where(model.community_id == community.id, link.model == embedder.model)
    ).all()
    return {ident: (digest, vector) for ident, digest, vector in rows}


def current_embedding(
    embeddings: dict[int, tuple[str, bytes]], ident: int, text: str
) -> bytes | None:
    """The stored vector of answer *ident* when it was computed from this very text."""
    stored = embeddings.get(ident)
    return stored[1] if stored is not None and stored[0] == text_hash(text) else None
