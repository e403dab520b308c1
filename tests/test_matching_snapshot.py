"""The engine's view of a community, as every write of an answer loads it."""

import gc
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Connection, select, text, update
from sqlalchemy.orm import Session

from app import matching as app_matching
from app.matching import GAP_THRESHOLD
from app.models import Community, Need, Suggestion, SuggestionStatus
from app.services import matching
from app.services.matching import index as index_module
from app.services.matching import views as views_module
from app.services.matching.index import community_index, snapshot, transaction_memo

from . import factories


def test_the_snapshot_sees_changes_the_session_has_not_flushed(session: Session) -> None:
    haarlem, velsen = factories.municipality(session), factories.municipality(session)
    cop = factories.community(session, None, haarlem, velsen)
    need = factories.need(session, cop, haarlem, "Hoe betrekken we VvE's bij het WUP?")
    offer = factories.offer(session, cop, velsen, "Ervaring met TEO uit het Noordzeekanaal")
    # Changed in the session only: the snapshot's plain queries must still see them.
    need.text = "Hoe betrekken we huurders bij het WUP?"
    velsen.region = "IJmond"
    data = snapshot(session, cop)
    assert [(n.id, n.text, n.region) for n in data.needs] == [
        (need.id, "Hoe betrekken we huurders bij het WUP?", None)
    ]
    assert [(o.id, o.text, o.region) for o in data.offers] == [
        (offer.id, "Ervaring met TEO uit het Noordzeekanaal", "IJmond")
    ]
    assert data.declined == frozenset()


def _reads_counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """The ids of the communities ``module.name(session, community)`` reads, call by call."""
    read: list[int] = []
    real = getattr(module, name)

    def counted(session: Session, community: Community) -> Any:
        read.append(community.id)
        return real(session, community)

    monkeypatch.setattr(module, name, counted)
    return read


def test_a_transaction_reads_its_community_once_until_it_writes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report, or gaps with their threshold, asks for the community's index several times
    (gaps and unmet offers for indexes of different sides): one snapshot serves them until the
    session writes (a flush, or a bulk statement)."""
    haarlem, velsen = factories.municipality(session), factories.municipality(session)
    cop = factories.community(session, None, haarlem, velsen)
    factories.offer(session, cop, velsen, "Ervaring met TEO uit het Noordzeekanaal")
    index_module.forget_reads(session)  # as a new transaction (the write read the community)
    taken = _reads_counted(monkeypatch, index_module, "snapshot")
    matching.gaps(session, cop)
    threshold = matching.gap_threshold(session, cop)
    matching.unmet_offers(session, cop)
    assert (taken, threshold) == ([cop.id], GAP_THRESHOLD)

    need = factories.need(session, cop, haarlem, "Hoe pak je TEO aan?")  # written: flushed
    taken.clear()
    data, _ = community_index(session, cop)
    assert ([n.id for n in data.needs], taken) == ([need.id], [cop.id])

    session.execute(update(Need).where(Need.id == need.id).values(text="Warmte uit water"))
    data, _ = community_index(session, cop)  # a bulk statement wrote: read again
    assert [n.text for n in data.needs] == ["Warmte uit water"]
    assert taken == [cop.id, cop.id]


def test_a_transaction_reads_its_stored_suggestions_once_until_it_writes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report and a member's page ask for the stored suggestions twice (allocation and
    reciprocal pairs): one read serves both until the session writes."""
    haarlem, velsen = factories.municipality(session), factories.municipality(session)
    cop = factories.community(session, None, haarlem, velsen)
    need = factories.need(session, cop, haarlem, "Hoe pak je TEO aan?")
    offer = factories.offer(session, cop, velsen, "Ervaring met TEO uit het Noordzeekanaal")
    read = _reads_counted(monkeypatch, views_module, "_read_stored")
    _, stored = matching.allocation(session, cop)
    _, paired = matching.reciprocal_pairs(session, cop)
    assert (list(stored.ids), paired is stored, read) == ([(need.id, offer.id)], True, [cop.id])

    row = session.scalars(select(Suggestion).where(Suggestion.community_id == cop.id)).one()
    matching.update_suggestion(session, row, status=SuggestionStatus.DECLINED, feedback=None)
    result, stored = matching.allocation(session, cop)  # flushed a write: read again
    assert (stored.ids, result.assignments, read) == ({}, (), [cop.id, cop.id])


def test_a_statement_that_may_write_or_a_closed_session_forgets_what_was_read(
    session: Session, connection: Connection
) -> None:
    """Writes the unit of work does not see (a text statement) and a session used again after
    it was closed must not serve reads remembered before them."""
    memo = transaction_memo(session, "probe")
    memo["read"] = True
    session.execute(select(Need.id))  # a read: remembered still
    assert transaction_memo(session, "probe") == {"read": True}
    session.execute(text("UPDATE needs SET priority = 'low' WHERE id < 0"))
    assert transaction_memo(session, "probe") == {}

    other = Session(bind=connection)
    other.execute(select(Need.id))
    transaction_memo(other, "probe")["read"] = True
    other.close()
    assert transaction_memo(other, "probe") == {}


def test_readers_that_miss_the_cache_at_once_wait_for_one_build(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    haarlem, velsen = factories.municipality(session), factories.municipality(session)
    cop = factories.community(session, None, haarlem, velsen)
    factories.need(session, cop, haarlem, "Hoe pak je TEO aan?")
    factories.offer(session, cop, velsen, "Ervaring met TEO uit het Noordzeekanaal")
    data = snapshot(session, cop)
    built: list[int] = []
    real = app_matching.MatchIndex

    class SlowIndex(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(1)
            time.sleep(0.2)  # long enough for the other reader to miss the cache as well
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(app_matching, "MatchIndex", SlowIndex)
    cache = index_module._IndexCache(4)
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: cache.get(data), range(2)))
    assert (len(built), found[0] is found[1]) == (1, True)


def test_an_index_built_from_an_older_snapshot_does_not_replace_a_newer_one(
    session: Session,
) -> None:
    """A reader that read the community before a write, and built its index after the reader
    of the written state cached one, keeps its index to itself: later readers reuse the newer."""
    haarlem, velsen = factories.municipality(session), factories.municipality(session)
    cop = factories.community(session, None, haarlem, velsen)
    factories.need(session, cop, haarlem, "Hoe pak je TEO aan?")
    factories.offer(session, cop, velsen, "Ervaring met TEO uit het Noordzeekanaal")
    older = snapshot(session, cop)
    factories.offer(session, cop, velsen, "Wijkaanpak met bewonersavonden")
    newer = snapshot(session, cop)
    cache = index_module._IndexCache(4)
    current = cache.get(newer)
    stale = cache.get(older)
    assert stale is not current
    assert cache.get(newer) is current
    assert cache.get(older) is not stale  # rebuilt: the older state was never kept


def test_an_index_without_a_deleted_answers_reciprocity_is_kept_only_beside_its_index(
    session: Session,
) -> None:
    """Found by review: the index without a deleted answer's reciprocity, kept for the writes
    that follow the delete, kept the index it was worked out from alive after a new one
    replaced it. A priority or a capacity is nothing an index fits: no answer is gone."""
    haarlem, velsen = factories.municipality(session), factories.municipality(session)
    cop = factories.community(session, None, haarlem, velsen)
    need = factories.need(session, cop, haarlem, "Hoe pak je TEO aan?")
    factories.need(session, cop, velsen, "Hoe betrek je VvE's?")
    factories.offer(session, cop, velsen, "Ervaring met TEO uit het Noordzeekanaal")
    offer = factories.offer(session, cop, haarlem, "Onze VvE-aanpak voor appartementen")
    cache = index_module._IndexCache(4)
    first = cache.get(snapshot(session, cop))
    assert first.can_help(haarlem.id, velsen.id)

    need.priority = "high"
    assert cache.get(snapshot(session, cop), same="offers") is first
    more = tuple(replace(indexed, capacity=5) for indexed in first.offers)
    assert index_module._changes(first.offers, more) == index_module._Changes(frozenset(), ())
    session.delete(offer)
    session.flush()
    without = cache.get(snapshot(session, cop), same="offers")
    assert not without.can_help(haarlem.id, velsen.id)
    assert cache.get(snapshot(session, cop), same="offers") is without  # worked out once

    first_alive = weakref.ref(first)
    del first, without
    factories.offer(session, cop, velsen, "Wijkaanpak met bewonersavonden")
    cache.get(snapshot(session, cop))  # a new index replaces the first
    gc.collect()
    assert first_alive() is None
