"""Community views over the stored suggestions and the match index: allocation, reciprocal
pairs, working groups, gaps and unmet offers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import matching
from app.models import Community, FormatPreference, Need, Offer, Suggestion, SuggestionStatus
from app.services.matching.index import community_index, transaction_memo

_Found = TypeVar("_Found", matching.Gap, matching.UnmetOffer)
_Answer = TypeVar("_Answer", Need, Offer)


@dataclass(frozen=True, slots=True)
class StoredView:
    """The stored, not-declined suggestions as the engine's (scores, without their reasons:
    allocation and reciprocal pairs need none), and their row ids by (need id, offer id)."""

    ids: dict[tuple[int, int], int]
    suggestions: tuple[matching.Suggestion, ...]


def _stored(session: Session, community: Community) -> StoredView:
    """Plain columns, no ORM objects or reasons: at Netherlands scale (59,000 rows) loading the
    rows whole, and parsing their reasons, took 3 s of every report. Read once per transaction
    until it writes: a report asks for it twice (allocation and reciprocal pairs)."""
    memo: dict[int, StoredView] = transaction_memo(session, "stored suggestions")
    found = memo.get(community.id)
    if found is None:
        found = memo[community.id] = _read_stored(session, community)
    return found


def _read_stored(session: Session, community: Community) -> StoredView:
    rows = session.execute(
        select(
            Suggestion.id,
            Suggestion.need_id,
            Suggestion.offer_id,
            Suggestion.need_organisation_id,
            Suggestion.offer_organisation_id,
            Suggestion.score,
        )
        .where(
            Suggestion.community_id == community.id,
            Suggestion.status != SuggestionStatus.DECLINED.value,
        )
        .order_by(Suggestion.id)
    ).all()
    return StoredView(
        ids={(need, offer): ident for ident, need, offer, *_ in rows},
        suggestions=tuple(
            matching.Suggestion(need, offer, need_org, offer_org, score, (), ())
            for _, need, offer, need_org, offer_org, score in rows
        ),
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


@dataclass(frozen=True, slots=True)
class Window(Generic[_Found, _Answer]):
    """One page of gaps or unmet offers, each with its need or offer row, out of *total*, and
    the threshold they fall below."""

    items: list[tuple[_Found, _Answer]]
    total: int
    threshold: float


def gaps_window(
    session: Session, community: Community, *, offset: int, limit: int
) -> Window[matching.Gap, Need]:
    """A page of :func:`gaps`, each with its need."""
    found = gaps(session, community)
    return _window(session, community, found, Need, lambda gap: gap.need_id, offset, limit)


def unmet_offers_window(
    session: Session, community: Community, *, offset: int, limit: int
) -> Window[matching.UnmetOffer, Offer]:
    """A page of :func:`unmet_offers`, each with its offer."""
    found = unmet_offers(session, community)
    return _window(session, community, found, Offer, lambda unmet: unmet.offer_id, offset, limit)


def _window(
    session: Session,
    community: Community,
    found: Sequence[_Found],
    model: type[_Answer],
    answer_id: Callable[[_Found], int],
    offset: int,
    limit: int,
) -> Window[_Found, _Answer]:
    page = found[offset : offset + limit]
    rows = {
        row.id: row
        for row in session.scalars(
            select(model).where(model.id.in_([answer_id(item) for item in page]))
        )
    }
    return Window(
        [(item, rows[answer_id(item)]) for item in page],
        len(found),
        gap_threshold(session, community),
    )


def gaps(session: Session, community: Community) -> tuple[matching.Gap, ...]:
    """Needs whose best offer scores below :func:`gap_threshold` (declined pairs do not count)."""
    data, index = community_index(session, community)
    return index.gaps(excluded=data.declined)


def unmet_offers(session: Session, community: Community) -> tuple[matching.UnmetOffer, ...]:
    """Offers no need asks for at :func:`gap_threshold` or above."""
    data, index = community_index(session, community)
    return index.unmet_offers(excluded=data.declined)
