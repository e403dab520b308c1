"""The audit log: every write, recorded in the same transaction as the write itself.

A flush listener turns each inserted, changed or deleted row of an audited table into an
:class:`~app.models.AuditEvent` with ids only (no names, e-mail addresses or texts), so an
erased person leaves no trace here. The actor is the principal the request's session carries
(``session.info["principal"]``); writes without one (the CLI) are recorded as ``system``. The
request's id (``session.info["request_id"]``, the one its response's ``X-Request-ID`` names) ties
an event to that request; the CLI's events have none.
Derived rows (proposed suggestions, topic tags) are the engine's, not anyone's write, and are
not recorded; a status change of a suggestion is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, insert
from sqlalchemy.orm import Session, UOWTransaction

from app.auth import Principal
from app.db import utcnow
from app.models import (
    ApiToken,
    AuditEvent,
    Community,
    CommunityOrganiser,
    FormatPreference,
    Meeting,
    Membership,
    Need,
    Offer,
    Organisation,
    Person,
    Suggestion,
)

RESOURCES: dict[type[Any], str] = {
    Organisation: "organisation",
    Person: "person",
    Community: "community",
    Membership: "member",
    Meeting: "meeting",
    Need: "need",
    Offer: "offer",
    FormatPreference: "format-preference",
    Suggestion: "suggestion",
    ApiToken: "token",
    CommunityOrganiser: "organiser",
}
PRINCIPAL_KEY = "principal"
REQUEST_ID_KEY = "request_id"


def _community_id(row: Any) -> int | None:
    if isinstance(row, Community):
        return row.id
    value = getattr(row, "community_id", None)
    return value if isinstance(value, int) else None


def _events(session: Session) -> list[dict[str, Any]]:
    principal: Principal | None = session.info.get(PRINCIPAL_KEY)
    role = "system"
    if principal is not None:
        role = "admin" if principal.is_admin else "person"
    base = {
        "at": utcnow(),
        "token_id": principal.token_id if principal else None,
        "person_id": principal.person_id if principal else None,
        "role": role,
        "request_id": session.info.get(REQUEST_ID_KEY),
    }
    events: list[dict[str, Any]] = []
    for action, rows in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for row in rows:
            resource = RESOURCES.get(type(row))
            if resource is None:
                continue
            if isinstance(row, Suggestion) and action != "update":
                continue  # proposed suggestions are derived by the engine
            if action == "update" and not session.is_modified(row, include_collections=False):
                continue
            events.append({**base, "action": action, "resource": resource, "_row": row})
    return events


def _collect(session: Session, _context: UOWTransaction, _instances: object) -> None:
    session.info.setdefault("_audit", []).extend(_events(session))


def _ids_known(session: Session, _context: UOWTransaction) -> None:
    pending: list[dict[str, Any]] = session.info.pop("_audit", [])
    if not pending:
        return
    # New rows got their ids in this flush; take them from the objects now.
    session.connection().execute(insert(AuditEvent), [_with_id(event) for event in pending])


def _with_id(event: dict[str, Any]) -> dict[str, Any]:
    row = event.pop("_row")
    return {**event, "resource_id": row.id, "community_id": _community_id(row)}


def forget_community(session: Session, community_id: int) -> None:
    """Delete the audit events of a community that is being deleted. They name it by id only
    (no foreign key), so nothing else removes them. The deletion itself is recorded after
    this, as every write is."""
    session.execute(delete(AuditEvent).where(AuditEvent.community_id == community_id))


def install() -> None:
    """Record audit events for every session (idempotent)."""
    if not event.contains(Session, "before_flush", _collect):
        event.listen(Session, "before_flush", _collect)
        event.listen(Session, "after_flush", _ids_known)
