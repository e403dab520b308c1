"""The engine's view of a community (its snapshot) and the cached match index that scores it."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Connection, event, select
from sqlalchemy.orm import ORMExecuteState, Session

from app import matching
from app.models import (
    Community,
    Need,
    NeedTopic,
    Offer,
    OfferTopic,
    Organisation,
    Priority,
    Suggestion,
    SuggestionStatus,
    TopicSource,
)
from app.services.matching.declines import declined_by_text
from app.services.matching.embeddings import current_embedding, stored_embeddings
from app.services.matching.tags import engine_taxonomy

_INDEX_CACHE_SIZE = 16
_SNAPSHOTS = itertools.count()
"""Numbers the snapshots read in this process (Snapshot.taken)."""
Side = Literal["needs", "offers", "both"]
"""Which side of a community must be unchanged for a cached index to serve a caller."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A community's answers as engine dataclasses."""

    community_id: int
    needs: tuple[matching.Need, ...]
    offers: tuple[matching.Offer, ...]
    declined: frozenset[tuple[int, int]]
    created: dt.datetime | None = field(default=None, compare=False)
    """When the community was created: an id SQLite reuses after a delete is another one."""
    version: int = field(default=0, compare=False)
    """The community's suggestions version the snapshot saw: a transaction that began before
    a write committed sees the version before it, however late it reads."""
    taken: int = field(default_factory=lambda: next(_SNAPSHOTS), compare=False)
    """When it was read, in this process: of two snapshots of one version, the later one holds
    the later state (a writer's own uncommitted changes)."""

    def without(self, answer: Need | Offer) -> Snapshot:
        """This snapshot with *answer* deleted (what reading it again would give)."""
        if isinstance(answer, Need):
            return replace(self, needs=tuple(n for n in self.needs if n.id != answer.id))
        return replace(self, offers=tuple(o for o in self.offers if o.id != answer.id))

    def newer_than(self, other: Snapshot) -> bool:
        """Whether this snapshot holds a later state of the community than *other* (of the
        same id), or the state of a community created since."""
        if self.created != other.created:
            return True
        return (self.version, self.taken) > (other.version, other.taken)


def _given_topics(
    connection: Connection,
    community: Community,
    owner: Any,
    topic: Any,
    answer: type[Need | Offer],
) -> dict[int, tuple[str, ...]]:
    """Given topic slugs per answer id (``owner``/``topic``: the link table's columns)."""
    rows = connection.execute(
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
    """Load a community's needs, offers and declined pairs (by their rows, and by what their
    answers say: see declines.py).

    Plain column queries on the session's connection, no ORM objects or ORM results: this runs
    on every write of an answer (at Netherlands scale the ORM's handling of the rows took a
    sixth of the snapshot). Pending changes are flushed first, as the ORM's autoflush would.
    """
    session.flush()
    connection = session.connection()
    regions = dict(
        connection.execute(
            select(Organisation.id, Organisation.region).where(
                Organisation.id.in_(
                    select(Need.organisation_id)
                    .where(Need.community_id == community.id)
                    .union(select(Offer.organisation_id).where(Offer.community_id == community.id))
                )
            )
        ).all()
    )
    need_topics = _given_topics(connection, community, NeedTopic.need_id, NeedTopic.topic, Need)
    offer_topics = _given_topics(
        connection, community, OfferTopic.offer_id, OfferTopic.topic, Offer
    )
    need_vectors = stored_embeddings(connection, community, Need)
    offer_vectors = stored_embeddings(connection, community, Offer)
    engine_needs = tuple(
        matching.Need(
            id=ident,
            organisation_id=organisation_id,
            text=text,
            topics=need_topics.get(ident, ()),
            priority=Priority(priority).value,
            region=regions.get(organisation_id),
            embedding=current_embedding(need_vectors, ident, text),
        )
        for ident, organisation_id, text, priority in connection.execute(
            select(Need.id, Need.organisation_id, Need.text, Need.priority)
            .where(Need.community_id == community.id)
            .order_by(Need.id)
        ).all()
    )
    engine_offers = tuple(
        matching.Offer(
            id=ident,
            organisation_id=organisation_id,
            text=text,
            topics=offer_topics.get(ident, ()),
            capacity=capacity,
            region=regions.get(organisation_id),
            embedding=current_embedding(offer_vectors, ident, text),
        )
        for ident, organisation_id, text, capacity in connection.execute(
            select(Offer.id, Offer.organisation_id, Offer.text, Offer.capacity)
            .where(Offer.community_id == community.id)
            .order_by(Offer.id)
        ).all()
    )
    declined = connection.execute(
        select(Suggestion.need_id, Suggestion.offer_id).where(
            Suggestion.community_id == community.id,
            Suggestion.status == SuggestionStatus.DECLINED.value,
        )
    ).all()
    declined_pairs = {(need, offer) for need, offer in declined}
    declined_pairs |= declined_by_text(connection, community.id, engine_needs, engine_offers)
    created, version = connection.execute(
        select(Community.created_at, Community.suggestions_version).where(
            Community.id == community.id
        )
    ).one()
    return Snapshot(
        community_id=community.id,
        created=created,
        version=version,
        needs=engine_needs,
        offers=engine_offers,
        declined=frozenset(declined_pairs),
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
        # One builder per community: the reads that follow a write (gaps, groups, a report)
        # wait for one build instead of each building the same index.
        self._builders: dict[int, threading.Lock] = {}
        # Per community: an index, how a snapshot's needs and offers differ from its, and the
        # index with the reciprocity of those organisations fitted again (see _refitted).
        self._without: dict[
            int,
            tuple[
                matching.MatchIndex,
                tuple[_Changes[matching.Need], _Changes[matching.Offer]],
                matching.MatchIndex,
            ],
        ] = {}

    def get(self, data: Snapshot, *, same: Side = "both") -> matching.MatchIndex:
        """An index for ``data``; ``same`` says which side must match: needs, offers or both.

        A cached index may hold needs or offers that ``data`` has no more, or holds otherwise
        (deleted or rewritten since it was built): the index returned has the reciprocity of
        their organisations fitted again on their answers as they are now
        (MatchIndex.reciprocity_refitted), so no reason rests on a gone answer."""
        index = self._cached(data, same)
        if index is not None:
            return self._refitted(data, index)
        with self._lock:
            builder = self._builders.setdefault(data.community_id, threading.Lock())
        with builder:
            index = self._cached(data, same)  # built by another thread meanwhile?
            if index is None:
                index = matching.MatchIndex(engine_taxonomy(), data.needs, data.offers)
                self._keep(data, index)
        return index

    def _refitted(self, data: Snapshot, index: matching.MatchIndex) -> matching.MatchIndex:
        """*index* with the reciprocity of the organisations whose answers in it *data* no
        longer holds as they are (deleted or rewritten) fitted again on their answers in *data*;
        the last one worked out for each community is kept (the writes that follow a delete
        ask for the same)."""
        need_changes = _changes(index.needs, data.needs)
        offer_changes = _changes(index.offers, data.offers)
        if not need_changes.gone and not offer_changes.gone:
            return index
        key = (need_changes, offer_changes)
        with self._lock:
            kept = self._without.get(data.community_id)
        if kept is not None and kept[0] is index and kept[1] == key:
            return kept[2]
        refitted = index.reciprocity_refitted(
            need_changes.gone,
            offer_changes.gone,
            needs=need_changes.new,
            offers=offer_changes.new,
        )
        with self._lock:
            cached = self._items.get(data.community_id)
            if cached is not None and cached[1] is index:  # kept beside its index only
                self._without[data.community_id] = (index, key, refitted)
        return refitted

    def _put(self, data: Snapshot, index: matching.MatchIndex) -> None:
        """Cache *index* for *data* (with the lock held); a refit of another index goes."""
        kept = self._without.get(data.community_id)
        if kept is not None and kept[0] is not index:
            del self._without[data.community_id]
        self._items[data.community_id] = (data, index)

    def _keep(self, data: Snapshot, index: matching.MatchIndex) -> None:
        """Cache *index*, unless one of a later snapshot is cached (a reader that read the
        community before a write, and built after the write's reader, would replace the newer
        index with one that no later reader can reuse)."""
        with self._lock:
            cached = self._items.get(data.community_id)
            if cached is not None and not data.newer_than(cached[0]):
                return
            self._put(data, index)
            self._items.move_to_end(data.community_id)
            while len(self._items) > self._size:
                community_id, _ = self._items.popitem(last=False)
                self._without.pop(community_id, None)

    def _cached(self, data: Snapshot, same: Side) -> matching.MatchIndex | None:
        with self._lock:
            cached = self._items.get(data.community_id)
            if cached is None:
                return None
            old, index = cached
            # Not for answers scored by another formula: the semantic factor, or hub floors,
            # came or went with the answers written since.
            if index.formula != matching.MatchIndex.formula_for(data.needs, data.offers):
                return None
            if not _reusable(old, data, same):
                # An organisation that changed its region changes no fitted part of an index.
                moved = _moved_regions(old, data)
                if not moved:
                    return None
                index = index.relocated(moved)
                old = replace(old, needs=index.needs, offers=index.offers)
                if not _reusable(old, data, same):
                    return None
            # (For a reader of both sides, _reusable just compared them.)
            if data.newer_than(old) and (same == "both" or _reusable(old, data, "both")):
                # The same answers, seen later (a writer's index, now committed): the index
                # stands for the later state, which an older snapshot must not replace.
                self._put(data, index)
            self._items.move_to_end(data.community_id)
            return index


_Answer = TypeVar("_Answer", matching.Need, matching.Offer)


@dataclass(frozen=True, slots=True)
class _Changes(Generic[_Answer]):
    """How one side of a snapshot differs from an index's as the index fits it (_fitted)."""

    gone: frozenset[int]
    """Ids of the answers the index holds that the snapshot does not: deleted, or rewritten."""
    new: tuple[_Answer, ...]
    """The snapshot's answers the index does not hold as they are, of the organisations with
    answers gone (only their reciprocity is fitted again): rewritten, or new."""


def _changes(indexed: tuple[_Answer, ...], present: tuple[_Answer, ...]) -> _Changes[_Answer]:
    """What of *present* differs from *indexed*, as far as an index fits it."""
    if indexed == present:
        return _Changes(frozenset(), ())
    left = {_fitted(answer) for answer in present}
    gone = [answer for answer in indexed if _fitted(answer) not in left]
    if not gone:  # the common case: answers written since, none deleted or rewritten
        return _Changes(frozenset(), ())
    held = {_fitted(answer) for answer in indexed}
    changed = {answer.organisation_id for answer in gone}
    new = tuple(
        answer
        for answer in present
        if answer.organisation_id in changed and _fitted(answer) not in held
    )
    return _Changes(frozenset(answer.id for answer in gone), new)


def _fitted(answer: matching.Need | matching.Offer) -> tuple[object, ...]:
    """What an index fits of an answer: all but its priority or capacity, which no score
    depends on, and its region (see MatchIndex.relocated)."""
    return answer.id, answer.organisation_id, answer.text, answer.topics, answer.embedding


def _moved_regions(old: Snapshot, new: Snapshot) -> dict[int, str | None]:
    """The organisations whose answers *new* holds in another region than *old* does: their id
    and new region."""
    before = _regions(old)
    return {
        organisation: region
        for organisation, region in _regions(new).items()
        if organisation in before and before[organisation] != region
    }


def _regions(data: Snapshot) -> dict[int, str | None]:
    """The region of each organisation with answers in *data*."""
    regions = {need.organisation_id: need.region for need in data.needs}
    regions.update((offer.organisation_id, offer.region) for offer in data.offers)
    return regions


def _reusable(old: Snapshot, new: Snapshot, same: Side) -> bool:
    if same == "offers":
        return _offers_cover(old, new)
    needs_match = old.needs == new.needs
    if same == "needs":
        return needs_match
    return needs_match and old.offers == new.offers


def _offers_cover(old: Snapshot, new: Snapshot) -> bool:
    """Whether *old* has *new*'s offers, and perhaps some deleted since: an index of *old*
    scores needs against the offers left, with the deleted ones left out (absent_offers). So
    offers deleted one after another do not each build an index."""
    if old.offers == new.offers:
        return True
    return len(new.offers) < len(old.offers) and set(new.offers) <= set(old.offers)


def absent_offers(data: Snapshot, index: matching.MatchIndex) -> frozenset[int]:
    """The offers *index* holds that *data* has no more (deleted since the index was built): a
    need scored on it must not be suggested them."""
    if len(index.offers) == len(data.offers):
        return frozenset()
    present = {offer.id for offer in data.offers}
    return frozenset(offer.id for offer in index.offers if offer.id not in present)


def excluded_pairs(
    data: Snapshot, gone: frozenset[int], need_ids: Collection[int]
) -> Collection[tuple[int, int]]:
    """The pairs the needs *need_ids* must not be suggested: the declined ones, and those with
    the offers *gone* from the community that the index still holds (:func:`absent_offers`)."""
    if not gone:
        return data.declined
    return {*data.declined, *itertools.product(need_ids, gone)}


_indexes = _IndexCache(_INDEX_CACHE_SIZE)


def community_index(
    session: Session, community: Community, *, same: Side = "both"
) -> tuple[Snapshot, matching.MatchIndex]:
    """The community's snapshot and a (cached) match index fit to score it (see _IndexCache).

    Within one transaction, until its next flush that writes, the whole-community result is
    remembered: a report, or a page of gaps with their threshold, asks for it several times
    and reads the community once.
    """
    memo: dict[tuple[int, Side], tuple[Snapshot, matching.MatchIndex]] = transaction_memo(
        session, "indexes"
    )
    if (community.id, same) in memo:
        return memo[community.id, same]
    snapshots: dict[int, Snapshot] = transaction_memo(session, "snapshots")
    data = snapshots.get(community.id)
    if data is None:
        data = snapshots[community.id] = snapshot(session, community)
    found = memo[community.id, same] = data, _indexes.get(data, same=same)
    return found


_MEMO = "copmatch_community_reads"
"""``session.info`` key of the community-wide reads remembered in the current transaction."""


def index_for(data: Snapshot, *, same: Side = "both") -> matching.MatchIndex:
    """A (cached) match index fit to score *data*, a snapshot the caller read and changed as
    it changed the community since (see _IndexCache and Snapshot.without)."""
    return _indexes.get(data, same=same)


def transaction_memo(session: Session, name: str) -> dict[Any, Any]:
    """The memo *name* of community-wide reads in the session's current transaction: empty again
    after the next flush, statement other than a SELECT through the session, commit, rollback
    or end of the transaction (a closed session's too; see below). A write straight through
    ``session.connection()`` is not seen: call :func:`forget_reads` after one."""
    memos: dict[str, dict[Any, Any]] = session.info.setdefault(_MEMO, {})
    return memos.setdefault(name, {})


def forget_reads(session: Session, *_args: Any) -> None:
    """Drop the session's remembered community-wide reads (see :func:`transaction_memo`)."""
    session.info.pop(_MEMO, None)


def _forget_after_a_statement_that_writes(state: ORMExecuteState) -> None:
    # Any statement but a SELECT may write: bulk DML, an upsert, text("UPDATE …").
    if not state.is_select:
        forget_reads(state.session)


# A flush that wrote, a statement that may write (embeddings are upserted so), or the end of
# the transaction (commit, rollback, a closed session) makes a remembered snapshot stale.
for _event in ("after_flush", "after_commit", "after_soft_rollback", "after_transaction_end"):
    if not event.contains(Session, _event, forget_reads):
        event.listen(Session, _event, forget_reads)
if not event.contains(Session, "do_orm_execute", _forget_after_a_statement_that_writes):
    event.listen(Session, "do_orm_execute", _forget_after_a_statement_that_writes)
