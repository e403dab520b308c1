"""Run the Alembic migrations from code (CLI, tests); the schema is built only this way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(
    database_url: str | None = None, *, connection: Connection | None = None
) -> Config:
    """An Alembic config for ``database_url`` (default: the settings) or an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logging"] = False
    if database_url is not None:
        config.attributes["database_url"] = database_url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The revision this copmatch's migrations end at: the schema its code expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the migrations are part of the package
    return head


def schema_revision(connection: Connection) -> str | None:
    """The revision the database was migrated to (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


class SchemaState(Enum):
    """Where a database's schema stands against this copmatch's migrations."""

    CURRENT = "current"
    MISSING = "missing"  # never migrated: no copmatch tables
    BEHIND = "behind"  # an older revision: copmatch migrate brings it up
    NEWER = "newer"  # a revision the migrations do not know: a newer copmatch's


def schema_state(revision: str | None) -> SchemaState:
    """The state of a database at schema *revision* (:func:`schema_revision`)."""
    if revision == head_revision():
        return SchemaState.CURRENT
    if revision is None:
        return SchemaState.MISSING
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except (CommandError, ResolutionError):
        known = False
    return SchemaState.BEHIND if known else SchemaState.NEWER


def schema_problem(revision: str | None, state: SchemaState) -> str:
    """Why this copmatch cannot use a database at schema *revision* in *state* (not CURRENT),
    for its operator. Migrating cannot help a newer copmatch's schema; upgrading can."""
    head = head_revision()
    if state is SchemaState.NEWER:
        return (
            f"the database schema is at revision {revision}, which this copmatch does not know "
            f"(it knows up to {head}): a newer copmatch migrated it; run that copmatch or a "
            "newer one"
        )
    return (
        f"the database schema is at revision {revision or 'none'}; this copmatch needs {head}: "
        "run copmatch migrate"
    )


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to ``engine`` in one transaction, committed at the end, to run migrations on.

    On SQLite its foreign keys are off meanwhile (and on again afterwards): a migration that
    rebuilds a table (batch mode) drops the old one, which with foreign keys on deletes the
    rows referring to it (ON DELETE CASCADE) or refuses to. SQLite ignores the switch inside a
    transaction, so it is thrown before the transaction begins. Such a migration checks the
    keys itself before it ends (``PRAGMA foreign_key_check``).
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            with connection.begin():
                yield connection
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's connection: SQLAlchemy's own execute would begin a transaction first.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
