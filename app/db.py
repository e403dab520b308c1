"""Engine, sessions and the declarative base.

Transactions: the request-scoped session (``app.api.session.get_session``) is the one place that
commits. Services only ``flush``.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from app.config import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    PostgreSQL keeps the zone (``timestamptz``); SQLite has no zone, so values are normalised
    to UTC on the way in and tagged as UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _has_surrogate_key(table: Table) -> bool:
    """Whether ``table``'s primary key is one integer column the database numbers."""
    columns = list(table.primary_key.columns)
    return (
        len(columns) == 1 and isinstance(columns[0].type, Integer) and not columns[0].foreign_keys
    )


class Base(DeclarativeBase):
    """Base of every table; constraint names follow ``NAMING_CONVENTION``. A table whose key is
    one integer column never gives a deleted row's id again (``AUTOINCREMENT`` on SQLite; a
    PostgreSQL sequence never does)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__table__")
        if isinstance(table, Table) and _has_surrogate_key(table):
            # SQLite hands the id of a deleted last row to the next insert without
            # AUTOINCREMENT: a stale id (a retry, an If-Match) would reach someone else's row.
            table.dialect_kwargs["sqlite_autoincrement"] = True

    def __repr__(self) -> str:
        # Only the primary key: rows hold personal data that must not end up in logs.
        ident = getattr(self, "id", None)
        return f"<{type(self).__name__} id={ident!r}>"


SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the one write lock before "database is locked"."""


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and transactional DDL; let
    # SQLAlchemy emit BEGIN itself (see _begin_sqlite_transaction).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # writers queue, not fail
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    # SQLite's own lower() folds A-Z only; PostgreSQL's every letter. Case-insensitive search
    # (lower(name) LIKE ...) must find "Ölmühle" for "ölmühle" on both.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _begin_sqlite_transaction(connection: Connection) -> None:
    # A writing request takes SQLite's write lock up front (BEGIN IMMEDIATE): a transaction
    # that reads first and upgrades later fails outright when another writer got in between.
    immediate = connection.get_execution_options().get(SQLITE_BEGIN_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


SQLITE_BEGIN_IMMEDIATE = "copmatch_sqlite_begin_immediate"


def begin_for_writing(session: Session) -> None:
    """Start ``session``'s transaction as a writer (BEGIN IMMEDIATE on SQLite); a no-op on
    PostgreSQL, and for sessions already joined to an outer transaction (tests)."""
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
        session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})


_READ_ENGINES: dict[tuple[int, str], Engine] = {}


class Trouble(enum.Enum):
    """Why the database could not carry out a statement, when the application is not to blame:
    retrying later may succeed, and nothing of the transaction was kept."""

    COLLISION = "collision"
    """It collided with a concurrent transaction (a serialization failure or a deadlock)."""
    BUSY = "busy"
    """A lock stayed taken: SQLite's busy timeout, or a PostgreSQL lock_timeout, ran out."""
    UNAVAILABLE = "unavailable"
    """The database is unreachable or the connection was lost."""
    NOT_MIGRATED = "not-migrated"
    """A table or column the code reads is missing: the schema is older than the code."""


_COLLISIONS = {"40001", "40P01"}
_LOCK_NOT_AVAILABLE = "55P03"
_UNDEFINED = {"42P01", "42703"}  # undefined_table, undefined_column
_SQLITE_MISSING = ("no such table", "no such column", "has no column named")
"""SQLite's words for a table or column the schema lacks (a SELECT's, an INSERT's)."""


def database_trouble(error: DBAPIError) -> Trouble | None:
    """The :class:`Trouble` *error* reports, or None when it is a fault of the statement."""
    message = str(error.orig)
    if getattr(error.orig, "sqlstate", None) in _UNDEFINED or (
        isinstance(error, OperationalError)
        and any(missing in message for missing in _SQLITE_MISSING)
    ):
        return Trouble.NOT_MIGRATED
    if not (error.connection_invalidated or isinstance(error, OperationalError)):
        return None
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _COLLISIONS:
        return Trouble.COLLISION
    if sqlstate == _LOCK_NOT_AVAILABLE or "database is locked" in str(error.orig):
        return Trouble.BUSY
    return Trouble.UNAVAILABLE


def describe_database_error(error: DBAPIError) -> str:
    """*error* for the log, without the values it was about: its class, with PostgreSQL's
    SQLSTATE and constraint name, or SQLite's error code and message (which name tables and
    columns, never values). Not ``str(error)``: PostgreSQL's DETAIL, and some of its messages,
    quote the values themselves (names, e-mail addresses)."""
    kind = type(error).__name__
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:
        constraint = getattr(getattr(original, "diag", None), "constraint_name", None)
        return f"{kind} (SQLSTATE {sqlstate}{f', constraint {constraint}' if constraint else ''})"
    sqlite_code = getattr(original, "sqlite_errorname", None)
    if sqlite_code is not None:
        return f"{kind} ({sqlite_code}: {original})"
    # No SQLSTATE: the driver's own failure (a lost connection), which quotes no query.
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{kind} ({first_line})" if first_line else kind


def _postgresql_variant(bind: Any, isolation_level: str, **options: Any) -> Engine | None:
    """*bind*, when it is a PostgreSQL engine, with these execution options: the same engine
    and pool, made once per engine and level. None for anything else."""
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return None
    key = (id(bind), isolation_level)
    found = _READ_ENGINES.get(key)
    if found is None:
        found = bind.execution_options(isolation_level=isolation_level, **options)
        _READ_ENGINES[key] = found
    return found


WRITE_LOCK_TIMEOUT = "30s"
"""How long a write waits for an advisory lock (its community's, or that of the names it
checks), as long as SQLite's busy timeout and the wait for a pooled connection; then it fails
with SQLSTATE 55P03 (503 database-busy)."""


def wait_for_advisory_lock(session: Session, space: int, key: int, timeout: str) -> None:
    """Take PostgreSQL's transaction-scoped advisory lock (*space*, *key*) for *session*,
    waiting at most *timeout* (then SQLSTATE 55P03, a 503 database-busy); the transaction's
    own lock_timeout is left as it was."""
    before = session.execute(select(func.current_setting("lock_timeout"))).scalar_one()
    session.execute(select(func.set_config("lock_timeout", timeout, True)))
    session.execute(select(func.pg_advisory_xact_lock(space, key)))
    session.execute(select(func.set_config("lock_timeout", before, True)))


def autocommit_bind(bind: Any) -> Engine | None:
    """For a PostgreSQL engine, the same engine (same pool) with autocommit connections: the
    bind of a request that only reads. None for anything else (SQLite, a test's connection).

    A read at READ COMMITTED sees a fresh snapshot per statement anyway, so autocommit changes
    no result; it saves the BEGIN and COMMIT round trips, and closing such a session does no
    I/O at all (psycopg's rollback on an idle connection is a no-op).
    """
    return _postgresql_variant(bind, "AUTOCOMMIT")


def snapshot_bind(bind: Any) -> Engine | None:
    """For a PostgreSQL engine, the same engine (same pool) whose transactions read one snapshot
    of the database, taken at their first statement (REPEATABLE READ, read only): the bind of a
    request that reads with several queries that must agree with each other (ids found by one,
    looked up by the next). None for anything else: SQLite's read transactions see one snapshot
    already, and a test's connection is what the test made it.
    """
    return _postgresql_variant(bind, "REPEATABLE READ", postgresql_readonly=True)


# Sized for the thread pool that runs sync endpoints (40 threads): under load, connections are
# kept rather than opened and closed for every request (measured by scripts/loadtest.py).
POOL_SIZE = 20
POOL_OVERFLOW = 20
POOL_TIMEOUT_SECONDS = 30.0
"""How long a request waits for a free connection; then it is answered 503 (the database is
busy), as when the database is unreachable."""


def pool_limits(engine: Engine) -> tuple[int, float]:
    """The connections *engine*'s pool holds at most, and how long a request waits for one
    (``app.api.session.DatabaseSlots`` keeps to them). A pool with no such bound (SQLite in
    memory, a NullPool, an unbounded overflow) gets the bounds :func:`build_engine` gives."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        # QueuePool tells its overflow bound only in status(); -1 means no bound.
        overflow: int = getattr(pool, "_max_overflow")  # noqa: B009
        if overflow >= 0:
            return pool.size() + overflow, pool.timeout()
    return POOL_SIZE + POOL_OVERFLOW, POOL_TIMEOUT_SECONDS


def build_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with the settings this app relies on on each backend.

    Its errors do not quote the statement's parameters (``hide_parameters``): they are names
    and e-mail addresses, and errors end up in logs. With *echo*, statements are logged at INFO
    through ``sqlalchemy.engine``; SQLAlchemy's own echo handler only where logging has none
    (beside the command line's, it printed every statement twice)."""
    if echo:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
        echo = not logging.getLogger().handlers
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        in_memory = not parsed.database or parsed.database == ":memory:"
        pool = (
            {}
            if in_memory
            else {
                "pool_size": POOL_SIZE,
                "max_overflow": POOL_OVERFLOW,
                "pool_timeout": POOL_TIMEOUT_SECONDS,
            }
        )
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False},
            **pool,
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=POOL_TIMEOUT_SECONDS,
    )
    event.listen(engine, "checkin", _idle_from_now)
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def ping_when_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        _ping_when_idle(dialect, dbapi_connection, record)

    return engine


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection idle this long is tested before use (see :func:`_ping_when_idle`)."""

_IDLE_SINCE = "copmatch_idle_since"


def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_IDLE_SINCE] = time.monotonic()


def _ping_when_idle(dialect: Dialect, dbapi_connection: Any, record: Any) -> None:
    """``pool_pre_ping``, for connections that sat in the pool for a while.

    A connection lost while idle (a database restart or failover, a proxy's idle timeout) is
    replaced before a request gets it: the ping fails, ``DisconnectionError`` makes the pool
    discard it and connect anew. A connection handed back within the last second is used
    without the ping's round trip, which under load was one query in every three. One lost in
    that second fails its request with 503; the failure invalidates the pool's connections, so
    the next request connects afresh either way.
    """
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise DisconnectionError("the pooled connection is gone") from error


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    settings = get_settings()
    return build_engine(settings.database_url, echo=settings.database_echo)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (responses are built after it)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def session_scope(engine: Engine | None = None, *, writing: bool = False) -> Iterator[Session]:
    """A unit of work for the CLI: commits on success, rolls back on error. ``writing``: it
    writes after reading, so it takes SQLite's write lock first (:func:`begin_for_writing`)."""
    # Imported here: the listeners need the models, which need this module. The CLI's writes
    # must invalidate a running server's cached suggestion pages like the API's own, and are
    # audited like them (as ``system``, without a request id).
    from app.services import audit, suggestion_versions

    audit.install()
    suggestion_versions.install()
    session = session_factory(engine or get_engine())()
    try:
        if writing:
            begin_for_writing(session)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
