"""Declined pairs remembered by what their answers say, not by their ids (DeclinedPair).

A suggestion row holds the decline of one need and one offer, and goes when either answer is
deleted. The members who declined do not see it so: a need deleted and typed in again, or an
offer re-imported, is the answer they turned down. Each decline is therefore also kept as the
two organisations and the keys of the two texts, and the pairs of answers that say the same are
declined as well (:func:`declined_by_text`, read into every snapshot).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from app import matching
from app.models import DeclinedPair, Need, Offer, Suggestion


def text_key(text: str) -> str:
    """The SHA-256 (hex) of *text* as people read it: NFKC, case-folded, each run of white
    space one space, trimmed. Only the key is kept: the text itself stays with its answer."""
    normal = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(normal.encode()).hexdigest()


def remember_decline(session: Session, suggestion: Suggestion) -> None:
    """Keep the decline of *suggestion* by its answers' organisations and texts."""
    need = session.get_one(Need, suggestion.need_id)
    offer = session.get_one(Offer, suggestion.offer_id)
    key = {
        "community_id": suggestion.community_id,
        "need_organisation_id": need.organisation_id,
        "need_key": text_key(need.text),
        "offer_organisation_id": offer.organisation_id,
        "offer_key": text_key(offer.text),
    }
    known = session.scalar(
        select(DeclinedPair.id).where(
            *(getattr(DeclinedPair, name) == value for name, value in key.items())
        )
    )
    if known is None:
        session.add(DeclinedPair(**key))


def declined_by_text(
    connection: Connection,
    community_id: int,
    needs: Iterable[matching.Need],
    offers: Iterable[matching.Offer],
) -> set[tuple[int, int]]:
    """The (need id, offer id) pairs of the community whose organisations and texts are those
    of a declined pair."""
    rows = connection.execute(
        select(
            DeclinedPair.need_organisation_id,
            DeclinedPair.need_key,
            DeclinedPair.offer_organisation_id,
            DeclinedPair.offer_key,
        ).where(DeclinedPair.community_id == community_id)
    ).all()
    if not rows:
        return set()
    need_ids = _ids_by_key(needs, {row.need_organisation_id for row in rows})
    offer_ids = _ids_by_key(offers, {row.offer_organisation_id for row in rows})
    return {
        (need_id, offer_id)
        for row in rows
        for need_id in need_ids.get((row.need_organisation_id, row.need_key), ())
        for offer_id in offer_ids.get((row.offer_organisation_id, row.offer_key), ())
    }


def saying_the_same(
    answers: Iterable[matching.Need | matching.Offer], organisation_id: int, text: str
) -> set[int]:
    """The ids of the *answers* of the organisation whose text says *text* (the same key)."""
    key = (organisation_id, text_key(text))
    return set(_ids_by_key(answers, {organisation_id}).get(key, ()))


def _ids_by_key(
    answers: Iterable[matching.Need | matching.Offer], organisations: set[int]
) -> dict[tuple[int, str], list[int]]:
    """The ids of the answers of *organisations*, by (organisation, text key)."""
    found: dict[tuple[int, str], list[int]] = {}
    for answer in answers:
        if answer.organisation_id in organisations:
            key = (answer.organisation_id, text_key(answer.text))
            found.setdefault(key, []).append(answer.id)
    return found
