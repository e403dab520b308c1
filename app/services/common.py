"""Small helpers every use case needs: lookups that 404, pagination, uniqueness checks, names
compared (and sorted) alike everywhere."""

from __future__ import annotations

import unicodedata
from typing import Any, TypeVar

from sqlalchemy import RowMapping, Select, func, select
from sqlalchemy.orm import Session

from app.db import WRITE_LOCK_TIMEOUT, Base, wait_for_advisory_lock
from app.errors import Conflict, InvalidParam, NotFound, not_found

ModelT = TypeVar("ModelT", bound=Base)

NAME_WRITES_LOCK = 0x636F6E
"""First key of the PostgreSQL advisory lock that queues the writes of one table's unique
names (:func:`queue_name_writes`; the second key is the table's place in _NAMED)."""
_NAMED = ("organisations", "communities")


def queue_name_writes(session: Session, model: type[Base]) -> None:
    """Wait until no other transaction writes names of *model*'s rows, and hold that until this
    one ends (PostgreSQL; SQLite runs one writer at a time): the check that a name, or one
    derived from it (a slug), is free and the write that takes it then never interleave with
    another's. The unique constraints stay the last line of defence."""
    if session.get_bind().dialect.name == "postgresql":
        key = _NAMED.index(model.__tablename__)
        wait_for_advisory_lock(session, NAME_WRITES_LOCK, key, WRITE_LOCK_TIMEOUT)


def get_or_404(
    session: Session, model: type[ModelT], ident: int, *, resource: str, field: str | None = None
) -> ModelT:
    """The row with primary key ``ident``, or a 404 (naming ``field`` for a body reference)."""
    row = session.get(model, ident)
    if row is None:
        raise missing(resource, ident, field=field)
    return row


def missing(resource: str, ident: int, *, field: str | None = None) -> NotFound:
    """The 404 of :func:`get_or_404`, for a caller that looked the row up another way."""
    return not_found(f"{resource} {ident} does not exist", field=field)


def paginate(
    session: Session, statement: Select[ModelT], *, limit: int, offset: int
) -> tuple[list[ModelT], int]:
    """One page of ``statement`` (which must be ordered) and the total count without paging."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    items = list(session.scalars(statement.limit(limit).offset(offset)))
    return items, int(total or 0)


def paginate_rows(
    session: Session, statement: Select[*tuple[Any, ...]], *, limit: int, offset: int
) -> tuple[list[RowMapping], int]:
    """:func:`paginate` for a select of columns: the rows as mappings, no ORM objects."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = list(session.execute(statement.limit(limit).offset(offset)).mappings())
    return rows, int(total or 0)


def ensure_unique(
    session: Session,
    model: type[Base],
    column: str,
    value: Any,
    *,
    field: str,
    resource: str,
    exclude_id: int | None = None,
) -> None:
    """Refuse a value another row already holds, with a 409 naming the field.

    The unique constraint stays the last line of defence against races; this gives the clear
    message in the common case.
    """
    if value is None:
        return
    attribute = getattr(model, column)
    statement = select(model.id).where(attribute == value)  # type: ignore[attr-defined]
    if exclude_id is not None:
        statement = statement.where(model.id != exclude_id)  # type: ignore[attr-defined]
    if session.scalar(statement.limit(1)) is not None:
        raise Conflict(
            f"another {resource} already has {field} {value!r}",
            invalid_params=[InvalidParam(f"body.{field}", f"{value!r} is already taken")],
        )


def apply_changes(row: Base, changes: dict[str, Any]) -> None:
    """Copy a PATCH body's fields onto a row."""
    for name, value in changes.items():
        setattr(row, name, value)


_UNSEEN = frozenset({"Mn", "Cf"})
"""Unicode categories fold drops: accents (nonspacing marks, once decomposed) and invisible
format characters (a zero-width space, a soft hyphen)."""


def fold(text: str) -> str:
    """Case folded, compatibility forms as their plain letter (fullwidth Ｈ is H), accents and
    invisible characters off, runs of white space as one space: for comparing names. Letters
    of any script stay ("Энергобюро" is no blank)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(
        "".join(c for c in decomposed if unicodedata.category(c) not in _UNSEEN).split()
    )
