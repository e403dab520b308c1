"""Storing the engine's suggestions, keeping them current on writes, and acting on them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, event, func, insert, select, union_all, update
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from app import matching
from app.db import WRITE_LOCK_TIMEOUT, wait_for_advisory_lock
from app.errors import Conflict, InvalidParam, NotFound, not_found
from app.models import Community, Need, Offer, Organisation, Suggestion, SuggestionStatus
from app.services.common import missing, paginate_rows
from app.services.matching.declines import remember_decline, saying_the_same
from app.services.matching.embeddings import EmbeddedAhead, embed_answers, embed_written
from app.services.matching.index import (
    Side,
    Snapshot,
    absent_offers,
    community_index,
    excluded_pairs,
    index_for,
    snapshot,
)
from app.services.matching.tags import retag
from app.services.suggestion_versions import mark_changed

STORED_PER_ANSWER = matching.CANDIDATES_PER_NEED
"""Suggestions stored per need (best first): a need write stores its best offers, an offer
write itself for every need it is among the best of. As many as the engine's community report
chooses its allocation and reciprocal pairs from, so the views read from them agree with it."""

IN_CHUNK = 500  # ids per IN list when reading the stored suggestions of many needs

COMMITTED = frozenset(
    {SuggestionStatus.INTRODUCED, SuggestionStatus.ACCEPTED, SuggestionStatus.COMPLETED}
)
"""Statuses of a pair someone acted on and did not decline: it takes a place of its offer's
capacity, and the allocation keeps it."""


TRANSITIONS: dict[str, frozenset[str]] = {
    SuggestionStatus.PROPOSED: frozenset({SuggestionStatus.INTRODUCED, SuggestionStatus.DECLINED}),
    SuggestionStatus.INTRODUCED: frozenset({SuggestionStatus.ACCEPTED, SuggestionStatus.DECLINED}),
    SuggestionStatus.ACCEPTED: frozenset({SuggestionStatus.COMPLETED}),
    SuggestionStatus.DECLINED: frozenset(),
    SuggestionStatus.COMPLETED: frozenset(),
}


_STORED = (
    Suggestion.id,
    Suggestion.need_id,
    Suggestion.offer_id,
    Suggestion.status,
    Suggestion.need_organisation_id,
    Suggestion.offer_organisation_id,
    Suggestion.score,
    Suggestion.reasons,
    Suggestion.matched_topics,
)
"""The columns :func:`_store` compares with what the engine found."""

_TABLE: Any = Suggestion.__table__
_RESCORED = (
    update(_TABLE)
    # A row declined meanwhile keeps the score it was declined with.
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status != SuggestionStatus.DECLINED.value)
    # A changed score is a changed representation: a new version (ETag) and updated_at.
    .values(version=_TABLE.c.version + 1)
)
"""One UPDATE for every changed row (executemany): their new values by column name."""


def _store(
    session: Session,
    community: Community,
    found: Sequence[matching.Suggestion],
    *,
    replace: Any,
    scored_on: tuple[Snapshot, matching.MatchIndex],
) -> None:
    """Upsert ``found`` and delete the proposed rows in ``replace`` (a WHERE clause) that the
    engine no longer suggests. Acted-on rows keep their status; their score follows the engine:
    those not in ``found`` (no longer among their need's best) are scored on the index of
    ``scored_on``, with the answers of its snapshot, so that they take the place among their
    need's suggestions that their pair now earns, not the one it earned when it was acted on.

    New, changed and stale rows each take one statement, whatever their number (a recompute
    of a large community changes tens of thousands of scores)."""
    # ``replace`` alone selects the rows (it names the community, or one answer of it), so the
    # database can use the need's or offer's own index.
    existing = {
        (row.need_id, row.offer_id): row for row in session.execute(select(*_STORED).where(replace))
    }
    found = [*found, *_acted_on_beyond(existing, found, scored_on)]
    involved = {s.need_organisation_id for s in found} | {s.offer_organisation_id for s in found}
    names = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(involved))
        ).all()
    )
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for suggestion in found:
        # Every pair found involves the rescored answer(s), so ``existing`` holds its row.
        row = existing.pop((suggestion.need_id, suggestion.offer_id), None)
        values = _values(suggestion, names)
        if row is None:
            new.append({"community_id": community.id, **values})
        elif row.status != SuggestionStatus.DECLINED and _changed(row, values):
            changed.append({"row_id": row.id, **values})
    stale = [row.id for row in existing.values() if row.status == SuggestionStatus.PROPOSED]
    if new:
        session.execute(insert(Suggestion), new)
    if changed:
        session.execute(_RESCORED, changed)
    if stale:
        session.execute(_delete_proposed(stale))
    if new or changed or stale:
        # Statements the unit of work does not see: mark the change.
        mark_changed(session, community.id)
        _expire_suggestions(session)


def _acted_on_beyond(
    existing: dict[tuple[int, int], Any],
    found: Sequence[matching.Suggestion],
    scored_on: tuple[Snapshot, matching.MatchIndex],
) -> tuple[matching.Suggestion, ...]:
    """The stored rows that someone acted on (introduced, accepted, completed) and that the
    engine did not rank among *found*, scored now. A declined row keeps the score it was
    declined with; a pair whose need or offer the snapshot does not hold is left as it is."""
    ranked = {(suggestion.need_id, suggestion.offer_id) for suggestion in found}
    pairs = [
        pair
        for pair, row in existing.items()
        if row.status not in _NOT_ACTED_ON and pair not in ranked
    ]
    if not pairs:
        return ()
    data, index = scored_on
    needs = {need.id: need for need in data.needs}
    offers = {offer.id: offer for offer in data.offers}
    return index.score_pairs(
        [
            (needs[need_id], offers[offer_id])
            for need_id, offer_id in pairs
            if need_id in needs and offer_id in offers
        ]
    )


_NOT_ACTED_ON = frozenset({SuggestionStatus.PROPOSED, SuggestionStatus.DECLINED})


def _delete_proposed(ids: Sequence[int]) -> Any:
    """DELETE of the rows *ids* that are still proposed: one a member acted on meanwhile (read
    as proposed before their change committed) stays."""
    return delete(Suggestion).where(
        Suggestion.id.in_(ids), Suggestion.status == SuggestionStatus.PROPOSED.value
    )


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
    return _reciprocity(suggestion.need_organisation_id, suggestion.offer_organisation_id, names)


def _reciprocity(helper_id: int, helped_id: int, names: dict[int, str]) -> str:
    helper = names.get(helper_id, "the asking organisation")
    helped = names.get(helped_id, "the offering organisation")
    return f"{helper} can help {helped} in return"


def rename_in_reasons(session: Session, organisation_id: int) -> None:
    """Rewrite the reasons that name the organisation (reciprocity), after it was renamed: they
    are stored with the names of their time.

    One UPDATE for all rows, with no version check: a member acting on one of them meanwhile
    (they take no lock) changes its status, never its reasons, which only writes under the
    community's lock change; the rewritten row gets the next version all the same."""
    rows = session.execute(
        select(
            Suggestion.id,
            Suggestion.community_id,
            Suggestion.need_organisation_id,
            Suggestion.offer_organisation_id,
            Suggestion.reasons,
        ).where(
            (Suggestion.need_organisation_id == organisation_id)
            | (Suggestion.offer_organisation_id == organisation_id)
        )
    ).all()
    naming = [row for row in rows if any(r["factor"] == "reciprocity" for r in row.reasons)]
    if not naming:
        return
    involved = {row.need_organisation_id for row in naming} | {
        row.offer_organisation_id for row in naming
    }
    names = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(involved))
        ).all()
    )
    renamed = []
    for row in naming:
        helps_back = _reciprocity(row.need_organisation_id, row.offer_organisation_id, names)
        reasons = [
            {**reason, "detail": helps_back} if reason["factor"] == "reciprocity" else reason
            for reason in row.reasons
        ]
        renamed.append({"row_id": row.id, "reasons": reasons})
    session.execute(_RENAMED, renamed)
    for community_id in {row.community_id for row in naming}:
        mark_changed(session, community_id)  # a bulk UPDATE: the flush listener cannot see it
    _expire_suggestions(session)


_RENAMED = (
    update(_TABLE).where(_TABLE.c.id == bindparam("row_id")).values(version=_TABLE.c.version + 1)
)
"""One UPDATE for every row whose reasons name a renamed organisation (executemany)."""


def _expire_suggestions(session: Session) -> None:
    """Let the suggestions this session holds be read again, after statements that changed
    them behind the unit of work's back."""
    for held in list(session.identity_map.values()):
        if isinstance(held, Suggestion):
            session.expire(held)


def _changed(row: object, values: dict[str, Any]) -> bool:
    """Whether a stored row (any object with the columns as attributes) differs from *values*."""
    return any(getattr(row, key) != value for key, value in values.items())


ANSWER_WRITES_LOCK = 0x636F70  # "cop": the advisory lock space of answer writes
"""First key of the PostgreSQL advisory lock that queues writes of a community's answers (the
second is the community's id)."""


def queue_answer_writes(session: Session, community: Community) -> None:
    """Wait until no other transaction writes *community*'s answers or suggestions, and hold
    that until this one ends; then read the community's scoring formula as committed, or
    raise a 404 when a transaction it waited for deleted the community.

    A write re-scores against the answers it reads, and may re-score the whole community: two
    writes side by side would each miss the other's answer (one scoring it with the formula the
    other just replaced), or both replace the same rows. SQLite runs one writing transaction at
    a time anyway; on PostgreSQL a transaction-scoped advisory lock queues them. No row is
    locked by it, so a member acting on a suggestion meanwhile neither waits for it nor makes
    it wait in the wrong order."""
    if session.get_bind().dialect.name != "postgresql":
        return
    held: set[int] = session.info.setdefault(_HELD, set())
    if community.id in held:
        return
    # Wait at most WRITE_LOCK_TIMEOUT, then fail (503 database-busy); for this wait only.
    wait_for_advisory_lock(session, ANSWER_WRITES_LOCK, community.id, WRITE_LOCK_TIMEOUT)
    held.add(community.id)
    # Not session.refresh: it raises InvalidRequestError (a 500) for a deleted row.
    formula = ("scored_semantically", "scored_with_hub_floors")
    committed = session.execute(
        select(*(getattr(Community, name) for name in formula)).where(Community.id == community.id)
    ).one_or_none()
    if committed is None:
        raise missing("community", community.id)
    for name, value in zip(formula, committed, strict=True):
        set_committed_value(community, name, value)


def writing_community(session: Session, community_id: int) -> Community:
    """The community of *community_id*, its writes' lock held by this transaction (see
    :func:`queue_answer_writes`): what every write of its answers or suggestions begins with."""
    community = session.get_one(Community, community_id)
    queue_answer_writes(session, community)
    return community


_HELD = "copmatch_answer_writes_held"
"""Key in ``Session.info`` of the communities whose lock this transaction holds (taken once)."""


def _locks_released(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended, and its locks with it
        session.info.pop(_HELD, None)


if not event.contains(Session, "after_transaction_end", _locks_released):
    event.listen(Session, "after_transaction_end", _locks_released)


def refresh_need(session: Session, need: Need, *, rewritten: bool = False) -> None:
    """Re-score one need against its community's offers and store the result; or the whole
    community, where the write changes whether it is scored semantically (its 20th need or
    offer, an answer without an embedding): one ranking never mixes the two formulas.
    *rewritten*: a need whose text or topics changed, which may have been what another
    organisation could help its organisation with (a new one only adds)."""
    prepared = _rescoring(session, need, same="offers")
    if prepared is None:
        return
    community, data, index = prepared
    engine_need = next(item for item in data.needs if item.id == need.id)
    excluded = excluded_pairs(data, absent_offers(data, index), (need.id,))
    found = index.score_need(engine_need, excluded=excluded, limit=STORED_PER_ANSWER)
    _store(
        session, community, found, replace=Suggestion.need_id == need.id, scored_on=(data, index)
    )
    claiming = _false_reciprocity(session, community, index, need) if rewritten else set()
    if claiming:
        _rescore_needs(session, community, (data, index), claiming)


def refresh_offer(session: Session, offer: Offer, *, rewritten: bool = False) -> None:
    """Re-score one offer against its community's needs and store it for every need it is now
    among the STORED_PER_ANSWER best for (and for no other); or the whole community, where the
    write changes whether it is scored semantically (as for :func:`refresh_need`, also
    *rewritten*)."""
    prepared = _rescoring(session, offer, same="needs")
    if prepared is None:
        return
    community, data, index = prepared
    engine_offer = next(item for item in data.offers if item.id == offer.id)
    found = index.score_offer(engine_offer, excluded=data.declined, limit=len(data.needs))
    before = _scores_of(session, offer.id)
    kept, displaced = _place(session, offer.id, found)
    _store(
        session, community, kept, replace=Suggestion.offer_id == offer.id, scored_on=(data, index)
    )
    if displaced:
        session.execute(_delete_proposed(displaced))
        mark_changed(session, community.id)  # a bulk delete: the flush listener cannot see it
    # Where the offer now scores lower, or not at all, another may rank above it: re-score
    # those needs, on an index of the offers as they are now (this one's may hold others).
    now = {suggestion.need_id: suggestion.score for suggestion in found}
    weaker = {need for need, score in before.items() if need not in now or now[need] < score}
    claiming = _false_reciprocity(session, community, index, offer) if rewritten else set()
    if weaker or claiming:
        scoring = community_index(session, community, same="offers")
        _rescore_needs(session, community, scoring, weaker | claiming)


def _rescoring(
    session: Session, answer: Need | Offer, *, same: Side
) -> tuple[Community, Snapshot, matching.MatchIndex] | None:
    """What re-scoring one written answer needs: its community (its writes' lock held), the
    snapshot and an index whose *same* side is the stored one, with the answer embedded. None
    when the write changes whether the community is scored semantically, or embedded other
    answers (a new model): the whole community was re-scored instead."""
    community = writing_community(session, answer.community_id)
    others_embedded = embed_written(session, community, answer)
    data, index = community_index(session, community, same=same)
    if others_embedded or scored_otherwise(community, index.formula):
        recompute(session, community)
        return None
    return community, data, index


def _place(
    session: Session, offer_id: int, found: Sequence[matching.Suggestion]
) -> tuple[list[matching.Suggestion], list[int]]:
    """Where one offer ranks among each need's other stored, not-declined suggestions (by
    score, ties by offer id, as the engine breaks them), for the pairs in *found*: those in
    which it makes the need's STORED_PER_ANSWER best, and the proposed suggestions it pushes
    out of them (acted-on ones stay). What a recompute would store, for these needs."""
    # Per need: (−score, offer id, row id, status) of its other suggestions.
    others: defaultdict[int, list[tuple[float, int, int, str]]] = defaultdict(list)
    needs = sorted({suggestion.need_id for suggestion in found})
    for start in range(0, len(needs), IN_CHUNK):
        for need_id, other_id, score, ident, status in session.execute(
            select(
                Suggestion.need_id,
                Suggestion.offer_id,
                Suggestion.score,
                Suggestion.id,
                Suggestion.status,
            ).where(
                Suggestion.need_id.in_(needs[start : start + IN_CHUNK]),
                Suggestion.offer_id != offer_id,
                Suggestion.status != SuggestionStatus.DECLINED.value,
            )
        ):
            others[need_id].append((-score, other_id, ident, status))
    kept: list[matching.Suggestion] = []
    displaced: list[int] = []
    for suggestion in found:
        ranked = sorted(others[suggestion.need_id])
        key = (-suggestion.score, offer_id)
        place = sum((negative, other_id) < key for negative, other_id, *_ in ranked)
        if place >= STORED_PER_ANSWER:
            continue
        kept.append(suggestion)
        # With the offer in, the rows from rank STORED_PER_ANSWER on (counted from 0) fall out.
        displaced += [
            ident
            for _, _, ident, status in ranked[STORED_PER_ANSWER - 1 :]
            if status == SuggestionStatus.PROPOSED
        ]
    return kept, displaced


def recompute(session: Session, community: Community, *, ahead: EmbeddedAhead | None = None) -> int:
    """Re-tag and re-score the whole community; returns the number of stored suggestions.
    *ahead*: embeddings computed before this transaction (see embeddings.embed_ahead)."""
    queue_answer_writes(session, community)
    for answer in session.scalars(select(Need).where(Need.community_id == community.id)):
        retag(answer)
    for offer in session.scalars(select(Offer).where(Offer.community_id == community.id)):
        retag(offer)
    session.flush()
    embed_answers(session, community, ahead)
    data, index = community_index(session, community)
    found = index.suggest(excluded=data.declined, limit=STORED_PER_ANSWER)
    _store(
        session,
        community,
        found,
        replace=Suggestion.community_id == community.id,
        scored_on=(data, index),
    )
    _scored(session, community, index.formula)
    return int(
        session.scalar(select(func.count()).where(Suggestion.community_id == community.id)) or 0
    )


def relocate(
    session: Session, community: Community, regions: Mapping[int, tuple[str | None, str | None]]
) -> None:
    """Keep the community's suggestions current after organisations changed their region
    (*regions*: organisation id → (old region, new region), the change already flushed).

    The region is a factor of a pair when both organisations are in one region, and its
    reasons name the need's region as written. So the pairs that changed are those of the
    moved organisations' needs, and those of the needs in a region one of them left or joined
    (with the moved organisation's offers): those needs are re-scored against every offer, as
    a written need is, on an index of the offers as they are, moved to the new regions rather
    than rebuilt (MatchIndex.relocated; the needs may be new to it, as a written one is, and
    it may be fitted on needs, and offers, written or deleted since: those scores lag as a need
    write's do until the next recompute).
    Every other pair keeps its score. Where that is most of the community, it is re-scored
    whole (:func:`recompute`, which ranks all needs at once, and above EXACT_PAIR_LIMIT pairs
    each need's shortlist). Organisations in *regions* without answers here change nothing
    here."""
    # The offers as they are (as a need write asks): a cached index of other needs serves.
    data, index = community_index(session, community, same="offers")
    if scored_otherwise(community, index.formula):
        recompute(session, community)
        return
    present = {need.organisation_id for need in data.needs}
    present.update(offer.organisation_id for offer in data.offers)
    moved = {
        organisation: pair for organisation, pair in regions.items() if organisation in present
    }
    rescored = matching.MatchIndex.needs_in_regions(
        data.needs, (region for pair in moved.values() for region in pair)
    ) | {need.id for need in data.needs if need.organisation_id in moved}
    if 2 * len(rescored) > len(data.needs):
        recompute(session, community)
    elif rescored:
        _rescore_needs(session, community, (data, index), rescored)


def forget_answer(session: Session, answer: Need | Offer) -> None:
    """Delete a need or offer, whose suggestions go with it (ON DELETE CASCADE), and keep the
    rest current: re-score the whole community where what is left is scored otherwise
    (semantically or not); else give the needs a deleted offer was stored for their next best
    offer in its place, and re-score the needs whose suggestions said that one organisation
    can help the other in return where that rested on the deleted answer alone."""
    community = writing_community(session, answer.community_id)  # before the delete locks a row
    _refuse_help_in_progress(session, answer)
    helped = set(_scores_of(session, answer.id)) if isinstance(answer, Offer) else set()
    scoring: tuple[Snapshot, matching.MatchIndex] | None = None
    # Read before the delete: the claims on the answer's own suggestions go with it, and
    # _rescore_needs leaves out the needs that are gone.
    claims = _reciprocity_claims(session, community, answer.organisation_id)
    if helped or claims:
        # The index of the offers as they are (cached, as a rule): the needs are scored on it
        # with the deleted answer left out, rather than on a new index built for them.
        scoring = community_index(session, community, same="offers")
    session.delete(answer)
    session.flush()
    # Read in this transaction, under the lock: what is left is known.
    data = snapshot(session, community) if scoring is None else scoring[0].without(answer)
    if scored_otherwise(community, matching.MatchIndex.formula_for(data.needs, data.offers)):
        recompute(session, community)
    elif scoring is not None:
        # The index without the deleted answer's reciprocity, as a later write gets it.
        scoring = data, index_for(data, same="offers")
        claiming = _untrue(claims, scoring[1])
        _rescore_needs(session, community, scoring, helped | claiming)


IN_PROGRESS = frozenset({SuggestionStatus.INTRODUCED, SuggestionStatus.ACCEPTED})
"""Statuses of help two organisations are working on: their need or offer stays meanwhile."""


def _refuse_help_in_progress(session: Session, answer: Need | Offer) -> None:
    """409 for a need or offer with suggestions in progress (introduced or accepted): deleting
    it would take the suggestion, its status and feedback from the other organisation too,
    unseen. Completed and declined ones go with the answer."""
    column = Suggestion.need_id if isinstance(answer, Need) else Suggestion.offer_id
    # Every one of them locked (PostgreSQL; SQLite runs one writer at a time), whatever its
    # status: a member introducing one meanwhile, who takes no community lock, is waited for,
    # and its status read as committed (a filter on the status would pass over that row).
    if isinstance(answer, Offer):
        # The offer's row first, as an introduction locks it (places_taken) before its
        # suggestion: the same order, so the two wait for each other instead of deadlocking.
        session.execute(select(Offer.id).where(Offer.id == answer.id).with_for_update())
    rows = session.execute(
        select(Suggestion.id, Suggestion.status)
        .where(column == answer.id)
        .order_by(Suggestion.id)
        .with_for_update()
    ).all()
    busy = [ident for ident, status in rows if status in IN_PROGRESS]
    if busy:
        kind = "need" if isinstance(answer, Need) else "offer"
        listed = ", ".join(map(str, busy))
        raise Conflict(
            f"{kind} {answer.id} has help in progress with another organisation (suggestion(s) "
            f"{listed}, introduced or accepted); complete them, or decline those only "
            f"introduced, before deleting the {kind}"
        )


def _scores_of(session: Session, offer_id: int) -> dict[int, float]:
    """Per need, the score of the offer's stored suggestion that is not declined."""
    return dict(
        session.execute(
            select(Suggestion.need_id, Suggestion.score).where(
                Suggestion.offer_id == offer_id,
                Suggestion.status != SuggestionStatus.DECLINED.value,
            )
        ).all()
    )


def _reciprocity_claims(
    session: Session, community: Community, organisation_id: int
) -> list[tuple[int, int, int]]:
    """(need id, need's organisation, offer's organisation) of the community's stored
    suggestions whose reasons say that the need's organisation can help the offer's in return,
    where one of the two is *organisation_id*: those a write of its answers may make untrue."""
    columns = (
        Suggestion.need_id,
        Suggestion.need_organisation_id,
        Suggestion.offer_organisation_id,
        Suggestion.reasons,
    )
    kept = (
        Suggestion.community_id == community.id,
        Suggestion.status != SuggestionStatus.DECLINED.value,
        # Read as text, not decoded: most rows have no reciprocity reason.
        cast(Suggestion.reasons, Text).contains('"reciprocity"'),
    )
    # One SELECT per side, each on its organisation's index: with OR, SQLite read every
    # suggestion of the community (60,167 at Netherlands scale) on every write of an answer.
    rows = session.execute(
        union_all(
            select(*columns).where(Suggestion.need_organisation_id == organisation_id, *kept),
            select(*columns).where(Suggestion.offer_organisation_id == organisation_id, *kept),
        )
    )
    return [
        (need_id, helper, helped)
        for need_id, helper, helped, reasons in rows
        if any(reason["factor"] == "reciprocity" for reason in reasons)
    ]


def _false_reciprocity(
    session: Session, community: Community, index: matching.MatchIndex, gone: Need | Offer
) -> set[int]:
    """The needs whose stored suggestions say one organisation can help the other in return
    where *index* says it cannot (its relations of organisations with answers deleted or
    rewritten since it was built fitted again, see MatchIndex.reciprocity_refitted), the
    organisation of *gone*, an answer deleted or rewritten, being one of the two: they are
    re-scored, so no reason rests on a gone answer."""
    return _untrue(_reciprocity_claims(session, community, gone.organisation_id), index)


def _untrue(claims: Iterable[tuple[int, int, int]], index: matching.MatchIndex) -> set[int]:
    """The needs of *claims* (_reciprocity_claims) whose relation *index* does not hold."""
    return {need_id for need_id, helper, helped in claims if not index.can_help(helper, helped)}


def _rescore_needs(
    session: Session,
    community: Community,
    scoring: tuple[Snapshot, matching.MatchIndex],
    needs: Collection[int],
) -> None:
    """Re-score *needs* on the index of *scoring* and store their STORED_PER_ANSWER best, as a
    recompute would: for needs that lost a suggestion (its offer deleted or declined) or whose
    suggestion of one offer now scores lower, the next best offer takes its place.

    The index must hold the community's offers as they are, and may hold offers deleted since
    it was built (absent_offers): those are left out."""
    if not needs:
        return
    data, index = scoring
    gone = absent_offers(data, index)
    by_id = {need.id: need for need in data.needs}
    ordered = sorted(need_id for need_id in needs if need_id in by_id)
    for start in range(0, len(ordered), IN_CHUNK):
        chunk = ordered[start : start + IN_CHUNK]
        ranked = index.score_needs(
            [by_id[need_id] for need_id in chunk],
            excluded=excluded_pairs(data, gone, chunk),
            limit=STORED_PER_ANSWER,
        )
        found = [suggestion for suggestions in ranked for suggestion in suggestions]
        _store(session, community, found, replace=Suggestion.need_id.in_(chunk), scored_on=scoring)


def scored_otherwise(community: Community, formula: matching.Formula) -> bool:
    """Were the community's stored suggestions scored by another formula than *formula*, or
    is that not known? Then one answer re-scored alone would mix two in one ranking."""
    return (
        community.scored_semantically is not formula.semantic
        or community.scored_with_hub_floors is not formula.hub_floors
    )


def _scored(session: Session, community: Community, formula: matching.Formula) -> None:
    """Record the formula the community's stored suggestions were scored by. A plain UPDATE:
    the community's own version (its ETag) stays, as nothing a client edits changed."""
    if not scored_otherwise(community, formula):
        return
    values = {"scored_semantically": formula.semantic, "scored_with_hub_floors": formula.hub_floors}
    table: Any = Community.__table__
    session.execute(
        update(table)
        .where(table.c.id == community.id)
        .values(**values, updated_at=table.c.updated_at)
    )
    for name, value in values.items():
        set_committed_value(community, name, value)


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


def places_taken(session: Session, offer_id: int) -> tuple[int, int]:
    """(capacity, places taken) of an offer: the peers it can help, and how many of its
    suggestions are COMMITTED. The offer's row stays locked until the transaction ends
    (PostgreSQL; SQLite runs one writer at a time), so a write that checks a change of either
    against the other does not interleave with another such write.

    Raises NotFound when the offer is gone: deleted by a transaction that committed after the
    caller read it (the lock waited for that transaction)."""
    capacity = session.execute(
        select(Offer.capacity).where(Offer.id == offer_id).with_for_update()
    ).scalar_one_or_none()
    if capacity is None:
        raise not_found(f"offer {offer_id} does not exist")
    taken = session.scalar(
        select(func.count())
        .select_from(Suggestion)
        .where(
            Suggestion.offer_id == offer_id,
            Suggestion.status.in_([status.value for status in COMMITTED]),
        )
    )
    return capacity, taken or 0


def _declined_twins(session: Session, data: Snapshot, declined: Suggestion) -> set[int]:
    """The needs of the pairs declined with *declined* because their answers say the same
    (declines.py: a need or offer given twice): they lose those suggestions now, not at the
    next re-score."""
    need = session.get_one(Need, declined.need_id)
    offer = session.get_one(Offer, declined.offer_id)
    needs = saying_the_same(data.needs, need.organisation_id, need.text)
    offers = saying_the_same(data.offers, offer.organisation_id, offer.text)
    if len(needs) == 1 and len(offers) == 1:
        return set()  # no twins: the common case, no query
    return set(
        session.scalars(
            select(Suggestion.need_id).where(
                Suggestion.need_id.in_(needs),
                Suggestion.offer_id.in_(offers),
                Suggestion.status == SuggestionStatus.PROPOSED.value,
            )
        )
    )


def update_suggestion(
    session: Session,
    suggestion: Suggestion,
    *,
    status: SuggestionStatus | None,
    feedback: tuple[int, str | None] | None,
) -> Suggestion:
    """Move a suggestion along its lifecycle and/or record feedback on it. A declined one makes
    room for the need's next best offer."""
    declining = status == SuggestionStatus.DECLINED and status != suggestion.status
    if status is not None and status != suggestion.status:
        allowed = TRANSITIONS[suggestion.status]
        if status not in allowed:
            options = ", ".join(sorted(allowed)) or "none (final)"
            raise Conflict(
                f"the suggestion is {suggestion.status} and cannot become {status}; allowed: "
                f"{options}",
                invalid_params=[
                    InvalidParam("body.status", f"not allowed after {suggestion.status}")
                ],
            )
        if status in COMMITTED and suggestion.status not in COMMITTED:
            capacity, taken = places_taken(session, suggestion.offer_id)
            if taken >= capacity:
                raise Conflict(
                    f"offer {suggestion.offer_id} can help {capacity} peer(s) and {taken} "
                    "already took its places (introduced, accepted or completed); raise its "
                    "capacity, or decline one that is only introduced, first",
                    invalid_params=[
                        InvalidParam("body.status", f"offer {suggestion.offer_id} is full")
                    ],
                )
        if declining:
            # Queue behind the writes of the community's suggestions before this change locks
            # the row: the need is re-scored below.
            writing_community(session, suggestion.community_id)
            remember_decline(session, suggestion)
        suggestion.status = status.value
    if feedback is not None:
        if suggestion.status == SuggestionStatus.PROPOSED:
            raise Conflict(
                "feedback is for suggestions that were acted on; introduce it first",
                invalid_params=[InvalidParam("body.feedback", "not allowed while proposed")],
            )
        suggestion.feedback_usefulness, suggestion.feedback_note = feedback
    session.flush()
    if declining:
        community = session.get_one(Community, suggestion.community_id)
        # Only the offers matter to score a need: the cached index serves while they are as
        # it was built on.
        scoring = community_index(session, community, same="offers")
        if scored_otherwise(community, scoring[1].formula):
            # The answers are scored otherwise now (a new model, or the extra removed): one
            # need re-scored alone would mix the two formulas in one community.
            recompute(session, community)
        else:
            needs = {suggestion.need_id, *_declined_twins(session, scoring[0], suggestion)}
            _rescore_needs(session, community, scoring, needs)
    return suggestion
