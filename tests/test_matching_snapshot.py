"""The engine's view of a community, as every write of an answer loads it."""

from sqlalchemy.orm import Session

from app.services.matching.index import snapshot

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
