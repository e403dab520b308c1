"""The version of a community's suggestions: bumped by every write that may change them.

Suggestion pages are cached per (community, version, query) by the API; a cache is only as
good as its invalidation, so the version is not bumped by hand at each write but by two
session listeners:

* before each flush, every new, changed or deleted need, offer or suggestion marks its
  community (deleting a need or offer removes its suggestions by ``ON DELETE CASCADE``, which
  the session never sees); bulk statements the unit of work does not see call
  :func:`mark_changed` themselves;
* before the commit, each marked community's ``suggestions_version`` is incremented in the
  same transaction. It is the transaction's last statement, so the community's row lock is
  held only for the commit itself, and readers in any process see the new version exactly
  when they can see the new suggestions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session, UOWTransaction

from app.models import Community, Need, Offer, Suggestion

CHANGED_KEY = "copmatch_suggestions_changed"
_SOURCES = (Need, Offer, Suggestion)


def mark_changed(session: Session, community_id: int) -> None:
    """Record that this transaction changes ``community_id``'s suggestions."""
    session.info.setdefault(CHANGED_KEY, set()).add(community_id)


def _collect(session: Session, _context: UOWTransaction, _instances: object) -> None:
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, _SOURCES) and row.community_id is not None:
            mark_changed(session, row.community_id)


def _bump(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # the commit's own flush runs after this listener
    changed: set[int] = session.info.pop(CHANGED_KEY, set())
    if not changed:
        return
    table: Any = Community.__table__
    session.execute(
        update(table)
        .where(table.c.id.in_(sorted(changed)))
        # Keep updated_at: the community itself was not edited.
        .values(suggestions_version=table.c.suggestions_version + 1, updated_at=table.c.updated_at)
    )


def _forget(session: Session, *_args: object) -> None:
    session.info.pop(CHANGED_KEY, None)


def install() -> None:
    """Version suggestions for every session (idempotent): the app and the CLI call it."""
    if not event.contains(Session, "before_flush", _collect):
        event.listen(Session, "before_flush", _collect)
        event.listen(Session, "before_commit", _bump)
        event.listen(Session, "after_soft_rollback", _forget)
