"""Community views over the stored suggestions and the match index: allocation, reciprocal
pairs, working groups, gaps and unmet offers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app import matching
from app.lru import LRU
from app.models import Community, FormatPreference, Need, Offer, Suggestion, SuggestionStatus
from app.services.matching.index import (
    absent_offers,
    community_index,
    excluded_pairs,
    transaction_memo,
)
from app.services.matching.suggestions import COMMITTED, IN_CHUNK, STORED_PER_ANSWER
from app.services.suggestion_versions import CHANGED_KEY

_Found = TypeVar("_Found", matching.Gap, matching.UnmetOffer)
_Answer = TypeVar("_Answer", Need, Offer)


@dataclass(frozen=True, slots=True)
class StoredView:
    """The stored, not-declined suggestions as the engine's (scores, without their reasons:
    allocation and reciprocal pairs need none), their row ids and statuses by (need id, offer
    id), and those of them that are COMMITTED."""

    ids: dict[tuple[int, int], int]
    statuses: dict[tuple[int, int], SuggestionStatus]
    suggestions: tuple[matching.Suggestion, ...]
    committed: tuple[matching.Suggestion, ...]

    @property
    def needs_with_candidates(self) -> int:
        """How many needs hold a stored, not-declined suggestion."""
        return len({need for need, _ in self.ids})


_shared: LRU[tuple[Any, ...], StoredView] = LRU(4)
"""The StoredView of the latest suggestions versions read, shared by the requests of this
process (about 25 MB each at Netherlands scale, 68,000 suggestions). Keyed by the community's
id, creation time (SQLite reuses the id of a deleted one) and ``suggestions_version``, which
every write that changes the stored suggestions bumps in its own transaction
(suggestion_versions): an entry is never stale for its key, as the API's cache of suggestion
pages relies on too."""


def _reads_as_committed(session: Session) -> bool:
    """Does the session's transaction see the stored suggestions as committed under the
    version it read: nothing written or about to be flushed that may change them?"""
    return not (session.info.get(CHANGED_KEY) or session.new or session.dirty or session.deleted)


def _version_now(session: Session, community: Community) -> int | None:
    return session.scalar(select(Community.suggestions_version).where(Community.id == community.id))


def _stored(session: Session, community: Community) -> StoredView:
    """Plain columns, no ORM objects or reasons: at Netherlands scale (59,000 rows) loading the
    rows whole, and parsing their reasons, took 3 s of every report. Read once per transaction
    until it writes (a report asks for it twice: allocation and reciprocal pairs), and once per
    suggestions version across requests (reading 68,000 rows took a second of every view)."""
    memo: dict[int, StoredView] = transaction_memo(session, "stored suggestions")
    found = memo.get(community.id)
    if found is not None:
        return found
    # The version as stored, not as the session may have loaded it before a commit since.
    version = _version_now(session, community)
    key = (community.id, community.created_at, version)
    shared = _reads_as_committed(session)
    found = _shared.get(key) if shared else None
    if found is None:
        found = _read_stored(session, community)
        # Reading flushed nothing that changed them, and no commit came between the version and
        # the rows (a session that reads each statement's latest commit, not one snapshot).
        if shared and _reads_as_committed(session) and _version_now(session, community) == version:
            _shared.put(key, found)
    memo[community.id] = found
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
            Suggestion.status,
        )
        .where(
            Suggestion.community_id == community.id,
            Suggestion.status != SuggestionStatus.DECLINED.value,
        )
        .order_by(Suggestion.id)
    ).all()
    suggestions = tuple(
        matching.Suggestion(need, offer, need_org, offer_org, score, (), ())
        for _, need, offer, need_org, offer_org, score, _ in rows
    )
    statuses = {(need, offer): SuggestionStatus(status) for _, need, offer, *_, status in rows}
    return StoredView(
        ids={(need, offer): ident for ident, need, offer, *_ in rows},
        statuses=statuses,
        suggestions=suggestions,
        committed=tuple(s for s in suggestions if statuses[s.need_id, s.offer_id] in COMMITTED),
    )


def allocation(session: Session, community: Community) -> tuple[matching.Allocation, StoredView]:
    """Needs assigned to offers within capacities (most organisations helped, then total score),
    around the pairs already COMMITTED to."""
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
    return matching.allocate(stored.suggestions, engine_offers, committed=stored.committed), stored


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
    # Hosted by the organisations whose offers members are suggested for the group's needs.
    return matching.working_groups(
        index,
        [matching.FormatPreference(org, fmt) for org, fmt in formats],
        suggestions=_stored(session, community).suggestions,
    )


def gap_threshold(session: Session, community: Community) -> float:
    """The score below which a need of this community is a gap (a topic for an outside expert)
    and a suggestion is not shown: the engine's, for the formula the stored suggestions were
    scored with (the index's, where that is not known)."""
    if community.scored_semantically is None:
        _, index = community_index(session, community)
        return index.gap_threshold
    return matching.MatchIndex.threshold_for(community.scored_semantically)


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
    """Needs without help: no stored, not-declined suggestion at :func:`gap_threshold` or above
    and none a member acted on (introduced, accepted, completed), by id; each with the offer that
    comes closest as a write of the need scores it now (declined pairs left out).

    Read from the stored suggestions, as allocation and reciprocal pairs are, so the views agree
    with the suggestions a member reads also while the scores of writes lag a recompute; the
    closest offer's score may then have reached the threshold since the need was scored (a
    recompute makes it a suggestion)."""
    unhelped = _unreached(session, community, Need, Suggestion.need_id)
    # Scored as a write scores a need: on an index of the offers as they are, whatever needs
    # were written since it was built (rebuilding it for the whole community took 3-5 s at
    # Netherlands scale, the first read after writes of needs).
    data, index = community_index(session, community, same="offers")
    needs = {need.id: need for need in data.needs}
    # That index may still hold offers deleted since, which a write of the need leaves out.
    excluded = excluded_pairs(data, absent_offers(data, index), unhelped)
    closest = index.score_needs(
        [needs[need_id] for need_id in unhelped], excluded=excluded, limit=1, min_score=0.0
    )
    return tuple(
        matching.Gap(need_id, needs[need_id].organisation_id, *_best(ranked, offer=True))
        for need_id, ranked in zip(unhelped, closest, strict=True)
    )


def _best(ranked: Sequence[matching.Suggestion], *, offer: bool) -> tuple[float, int | None]:
    """The score of the best of *ranked* and the id of its offer (*offer*) or need; 0.0 and
    None when there is none."""
    if not ranked:
        return 0.0, None
    best = ranked[0]
    return best.score, best.offer_id if offer else best.need_id


def unmet_offers(session: Session, community: Community) -> tuple[matching.UnmetOffer, ...]:
    """Offers nobody is suggested, by id, each with the need of another organisation that comes
    closest as a write of the offer scores it now: in no stored, not-declined suggestion at
    :func:`gap_threshold` or above and in none a member acted on, as :func:`gaps` reads needs.

    Except an offer crowded out: every need that reaches the threshold with it, as scored now,
    already holds STORED_PER_ANSWER suggestions that rank above it (a higher score, or the same
    with a lower offer id). Those needs asked for it; they have better offers. An offer left out
    only because the scores of writes lag a recompute is unmet until a recompute stores it (its
    closest need's score is then at the threshold or above)."""
    unasked = _unreached(session, community, Offer, Suggestion.offer_id)
    # Scored as a write scores an offer (see gaps): on an index of the needs as they are.
    data, index = community_index(session, community, same="needs")
    offers = {offer.id: offer for offer in data.offers}
    nearest = index.score_offers(
        [offers[offer_id] for offer_id in unasked], excluded=data.declined, limit=1, min_score=0.0
    )
    closest = [
        matching.UnmetOffer(offer_id, offers[offer_id].organisation_id, *_best(ranked, offer=False))
        for offer_id, ranked in zip(unasked, nearest, strict=True)
    ]
    threshold = gap_threshold(session, community)
    # Those a need reaches the threshold with, scored in blocks: there may be many (an offer
    # written alike by many organisations).
    candidates = [item.offer_id for item in closest if item.best_score >= threshold]
    scored = index.score_offers(
        [offers[offer_id] for offer_id in candidates],
        excluded=data.declined,
        limit=len(data.needs),
        min_score=threshold,
    )
    crowded = _crowded_out(session, dict(zip(candidates, scored, strict=True)))
    return tuple(item for item in closest if item.offer_id not in crowded)


def _crowded_out(
    session: Session, reaching: dict[int, tuple[matching.Suggestion, ...]]
) -> set[int]:
    """Of offers in no stored suggestion, each with the needs that reach the threshold with it
    (*reaching*), those for which every such need holds STORED_PER_ANSWER stored, not-declined
    suggestions that rank above the pair: a higher score, or the same and a lower offer id."""
    needs = sorted({pair.need_id for pairs in reaching.values() for pair in pairs})
    stored: dict[int, list[tuple[float, int]]] = {}
    for start in range(0, len(needs), IN_CHUNK):
        for need_id, offer_id, score in session.execute(
            select(Suggestion.need_id, Suggestion.offer_id, Suggestion.score).where(
                Suggestion.need_id.in_(needs[start : start + IN_CHUNK]),
                Suggestion.status != SuggestionStatus.DECLINED.value,
            )
        ):
            stored.setdefault(need_id, []).append((score, offer_id))

    def full(pair: matching.Suggestion) -> bool:
        above = sum(
            (score, -offer_id) > (pair.score, -pair.offer_id)
            for score, offer_id in stored.get(pair.need_id, [])
        )
        return above >= STORED_PER_ANSWER

    return {offer_id for offer_id, pairs in reaching.items() if pairs and all(map(full, pairs))}


def _unreached(
    session: Session, community: Community, model: type[Need] | type[Offer], side: Any
) -> list[int]:
    """The community's needs or offers (*model*; *side*: its column of a suggestion) in no
    stored, not-declined suggestion at :func:`gap_threshold` or above and in none a member acted
    on (COMMITTED), whatever its score. One query that looks up each answer's few suggestions
    through the index on *side*, not a scan of every stored row (tens of thousands)."""
    threshold = gap_threshold(session, community)
    reaching = select(Suggestion.id).where(
        side == model.id,
        or_(
            and_(
                Suggestion.score >= threshold,
                Suggestion.status != SuggestionStatus.DECLINED.value,
            ),
            Suggestion.status.in_([status.value for status in COMMITTED]),
        ),
    )
    return list(
        session.scalars(
            select(model.id)
            .where(model.community_id == community.id, ~reaching.exists())
            .order_by(model.id)
        )
    )
