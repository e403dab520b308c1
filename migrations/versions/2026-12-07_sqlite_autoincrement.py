"""SQLite never gives a deleted row's id again: AUTOINCREMENT on every integer surrogate key.

Without it SQLite numbers a new row one past the largest id *now* in the table, so deleting the
last row freed its id for the next insert, and a stale id (an If-Match, an idempotent retry, an
audit event's community) reached the newer row. SQLite cannot add AUTOINCREMENT to a table, so
each is rebuilt (batch mode) with its rows, indexes, constraints and foreign keys; ids deleted
before this migration may still be given once more. PostgreSQL's sequences never go back: there
this migration does nothing.

SQLite does not reflect AUTOINCREMENT: a later batch migration that rebuilds one of these tables
must pass ``table_kwargs={"sqlite_autoincrement": True}`` to keep it
(``tests/test_migrations.py`` checks the tables at head).

Revision ID: a7e87d505df0
Revises: 5d7a3c1e8f24
Create Date: 2026-12-07 06:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

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


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
