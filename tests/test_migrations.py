"""Migrations on both databases: up, down, up again, and no drift from the models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.migrate import alembic_config
from app.models import Base
from tests.conftest import BACKENDS, drop_schema, fresh_database


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_upgrade_without_drift(backend: str, tmp_path: Path) -> None:
    name = f"copmatch_migrations_test_{os.getpid()}"
    engine = fresh_database(backend, name, tmp_path)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection=connection)
            command.upgrade(config, "head")
            command.downgrade(config, "base")
            assert set(inspect(connection).get_table_names()) == {"alembic_version"}
            command.upgrade(config, "head")
            tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
            assert tables == set(Base.metadata.tables)
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_schema(name)
