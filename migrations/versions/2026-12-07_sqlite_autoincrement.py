"""SQLite never gives a deleted row's id again: AUTOINCREMENT on every integer surrogate key.

Without it SQLite numbers a new row one past the largest id *now* in the table, so deleting the
last row freed its id for the next insert, and a stale id (an If-Match, an idempotent retry, an
audit event's community) reached the newer row. SQLite cannot add AUTOINCREMENT to a table, so
each is rebuilt (batch mode) with its rows, indexes, constraints and foreign keys, and counts on
past the highest id that is left or that the audit log names (a row deleted before this
migration, with its events); an id deleted before the audit log began may still be given once
more. PostgreSQL's sequences never go back: there this migration does nothing.

SQLite does not reflect AUTOINCREMENT: a later batch migration that rebuilds one of these tables
must pass ``table_kwargs={"sqlite_autoincrement": True}`` to keep it
(``tests/test_migrations.py`` checks the tables at head).

Revision ID: a7e87d505df0
Revises: 5d7a3c1e8f24
Create Date: 2026-12-07 06:15:00.000000
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection

revision: str = "a7e87d505df0"
down_revision: str | None = "5d7a3c1e8f24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "organisations",
    "people",
    "communities",
    "community_members",
    "meetings",
    "needs",
    "offers",
    "format_preferences",
    "suggestions",
    "api_tokens",
    "community_organisers",
    "audit_events",
    "idempotency_records",
)


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # Rebuilding drops the old table: with foreign keys on, that would delete (ON DELETE
    # CASCADE) or refuse the rows referring to it. app.migrate.migration_connection turns
    # them off for the migrations; the check below puts them to the test before the commit.
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar_one():
        raise RuntimeError("run this migration with SQLite's foreign keys off")
    table_kwargs = {"sqlite_autoincrement": True} if autoincrement else {}
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs=table_kwargs):
            pass
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"rows whose foreign key points nowhere: {broken[:10]}")
    if autoincrement:
        _count_past_the_audit_log(bind)


AUDITED = {
    "organisations": "organisation",
    "people": "person",
    "communities": "community",
    "community_members": "member",
    "meetings": "meeting",
    "needs": "need",
    "offers": "offer",
    "format_preferences": "format-preference",
    "suggestions": "suggestion",
    "api_tokens": "token",
    "community_organisers": "organiser",
}
"""The audit log's name of each table's rows (app.services.audit.RESOURCES, as of this
revision)."""


def _count_past_the_audit_log(bind: Connection) -> None:
    """Number each table's next row past every id the audit log names for it, not only past
    the rows left: a row deleted before this migration (the last of its table) would otherwise
    give its id once more, and its events (a community's, a person's) to the row that gets it."""
    for table in TABLES:
        highest = [f"(SELECT max(id) FROM {table})"]
        if table in AUDITED:
            highest.append(
                f"(SELECT max(resource_id) FROM audit_events WHERE resource = '{AUDITED[table]}')"
            )
        if table == "communities":
            highest.append("(SELECT max(community_id) FROM audit_events)")
        if table == "people":
            highest.append("(SELECT max(person_id) FROM audit_events)")
        terms = ", ".join(f"coalesce({term}, 0)" for term in highest)
        # SQLite's max() of one argument is the aggregate: a second, 0, makes it the scalar.
        seq = bind.exec_driver_sql(f"SELECT max({terms}, 0)").scalar_one()
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        if seq:
            bind.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, seq)
            )


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
