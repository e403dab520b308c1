"""Migrations on both databases: up, down, up again, and no drift from the models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.orm import Session

from app.migrate import alembic_config
from app.models import Base
from tests import factories
from tests.conftest import BACKENDS, drop_schema, fresh_database


@contextmanager
def _migrated(backend: str, tmp_path: Path, name: str) -> Iterator[tuple[Connection, Config]]:
    """A connection, in one transaction, to a fresh database migrated to head, and the alembic
    configuration on it; the database is dropped afterwards."""
    engine = fresh_database(backend, f"{name}_{os.getpid()}", tmp_path)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection=connection)
            command.upgrade(config, "head")
            yield connection, config
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(f"{name}_{os.getpid()}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_upgrade_without_drift(backend: str, tmp_path: Path) -> None:
    with _migrated(backend, tmp_path, "copmatch_migrations_test") as (connection, config):
        command.downgrade(config, "base")
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
        command.upgrade(config, "head")
        tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        assert tables == set(Base.metadata.tables)
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrading_a_communities_column_keeps_the_rows_that_refer_to_communities(
    backend: str, tmp_path: Path
) -> None:
    """On SQLite, a batch migration that recreates ``communities`` drops the old table, and
    the foreign keys' ON DELETE CASCADE would empty every table that refers to it."""
    with _migrated(backend, tmp_path, "copmatch_migrations_rows") as (connection, config):
        session = Session(bind=connection)
        haarlem = factories.municipality(session, "Haarlem", "GM0392")
        community = factories.community(session, "CoP", haarlem)
        factories.need(session, community, haarlem, "Warmtenet in de wijk")
        session.flush()
        command.downgrade(config, "534140b63c95")  # before both columns of communities
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("communities", "community_members", "needs", "need_topics")
        }
        assert counts == {
            "communities": 1,
            "community_members": 1,
            "needs": 1,
            "need_topics": 1,
        }
