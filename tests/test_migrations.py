"""Migrations on both databases: up, down, up again, and no drift from the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.orm import Session

from app.models import Base, Suggestion, SuggestionStatus
from app.services import matching, tokens
from app.services.matching.declines import text_key
from tests import factories
from tests.conftest import BACKENDS, migrated


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_upgrade_without_drift(backend: str, tmp_path: Path) -> None:
    with migrated(backend, tmp_path, "copmatch_migrations_test") as (connection, config):
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
    with migrated(backend, tmp_path, "copmatch_migrations_rows") as (connection, config):
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


SURROGATE_KEYED = {
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
    "declined_pairs",
}


def _schema(connection: Connection) -> dict[str, object]:
    """Every table's columns, keys, constraints and indexes as the database reports them."""
    inspector = inspect(connection)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            # Not its name: SQLite's AUTOINCREMENT is written on the column, with no name.
            inspector.get_pk_constraint(table)["constrained_columns"],
            sorted(inspector.get_foreign_keys(table), key=lambda key: str(key["name"])),
            sorted(inspector.get_unique_constraints(table), key=lambda key: str(key["name"])),
            sorted(inspector.get_check_constraints(table), key=lambda key: str(key["name"])),
            sorted(inspector.get_indexes(table), key=lambda index: str(index["name"])),
        )
        for table in _tables(connection)
    }


def _tables(connection: Connection) -> list[str]:
    """The app's tables the database holds at its revision."""
    return sorted(set(inspect(connection).get_table_names()) & set(Base.metadata.tables))


def _counts(connection: Connection) -> dict[str, int]:
    return {
        table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in _tables(connection)
    }


def _autoincrement_tables(connection: Connection) -> set[str]:
    return set(
        connection.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'"
            )
        ).scalars()
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_sqlite_never_gives_a_deleted_rows_id_again_after_the_migration(
    backend: str, tmp_path: Path
) -> None:
    """The tables are rebuilt with AUTOINCREMENT on SQLite, their rows, keys, constraints and
    indexes kept, and back; PostgreSQL's sequences never reuse an id, so nothing changes there."""
    before = "5d7a3c1e8f24"
    with migrated(backend, tmp_path, "copmatch_migrations_ids", before) as (connection, config):
        schema_before = _schema(connection)
        command.upgrade(config, "head")
        schema_head = _schema(connection)
        # Rows in every table, written by the models of head, down and up again.
        session = Session(bind=connection)
        haarlem = factories.municipality(session, "Haarlem", "GM0392")
        zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        community = factories.community(session, "CoP", haarlem, zaanstad)
        sanne = factories.person(session, haarlem)
        tokens.issue_token(session, sanne, lifetime_days=1)
        tokens.add_organiser(session, community, sanne.id)
        meeting = factories.meeting(session, community)
        factories.need(session, community, haarlem, personId=sanne.id, meetingId=meeting.id)
        factories.offer(session, community, zaanstad, "Ervaring met warmtenetten")
        session.flush()
        counts = _counts(connection)
        assert counts["suggestions"] == 1

        command.downgrade(config, before)
        # The rows of the tables that were there before (later revisions add tables).
        kept = {table: count for table, count in counts.items() if table in schema_before}
        assert (_schema(connection), _counts(connection)) == (schema_before, kept)
        if backend == "sqlite":
            assert _autoincrement_tables(connection) == set()

        command.upgrade(config, "head")
        assert (_schema(connection), _counts(connection)) == (schema_head, counts)
        if backend == "sqlite":
            assert _autoincrement_tables(connection) == SURROGATE_KEYED
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 0
        session.expire_all()
        with session.begin_nested() as trial:
            last = factories.need(session, community, haarlem, "Nog een need")
            session.delete(last)
            session.flush()
            again = factories.need(session, community, haarlem, "Een andere need")
            assert again.id == last.id + 1
            trial.rollback()


def test_sqlite_counts_on_past_the_ids_the_audit_log_names_whenmigrated(tmp_path: Path) -> None:
    """Rows deleted before the migration, last of their table: their ids are not given again,
    so a new community does not show a deleted one's events (nor a new person act as one)."""
    before = "5d7a3c1e8f24"
    with migrated("sqlite", tmp_path, "copmatch_migrations_seq", before) as (connection, config):
        session = Session(bind=connection)
        # In SQL: the models are of the head revision (a community has columns added since).
        kept_id = connection.execute(
            text(
                "INSERT INTO communities (name, slug, version, created_at, updated_at) VALUES"
                " ('CoP', 'cop', 1, '2026-12-01 10:00:00', '2026-12-01 10:00:00') RETURNING id"
            )
        ).scalar_one()
        event = (
            "INSERT INTO audit_events (at, person_id, role, action, resource, resource_id,"
            " community_id) VALUES ('2026-12-01 10:00:00', :person, 'admin', :action, :resource,"
            " :ident, :community)"
        )
        for values in (
            {"action": "create", "resource": "community", "ident": kept_id + 2},
            {"action": "delete", "resource": "community", "ident": kept_id + 2},
            {"action": "create", "resource": "need", "ident": 7, "community": kept_id + 2},
            {"action": "update", "resource": "offer", "ident": 1, "person": 5},
        ):
            connection.execute(
                text(event),
                {"person": None, "community": values.get("community", values["ident"]), **values},
            )

        command.upgrade(config, "head")

        session.expire_all()
        member = factories.municipality(session, "Haarlem", "GM0392")
        new = factories.community(session, "CoP nieuw", member)
        assert new.id == kept_id + 3
        assert factories.person(session, member).id == 6
        assert factories.need(session, new, member, "Een need").id == 8
        assert dict(
            connection.execute(
                text("SELECT name, seq FROM sqlite_sequence WHERE name IN ('offers', 'meetings')")
            ).all()
        ) == {"offers": 1}


def test_every_table_with_an_integer_surrogate_key_autoincrements_on_sqlite() -> None:
    """New tables too: the declarative base marks them."""
    marked = {
        table.name
        for table in Base.metadata.tables.values()
        if table.dialect_options["sqlite"]["autoincrement"]
    }
    assert marked == SURROGATE_KEYED


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_pairs_declined_before_are_remembered_by_their_texts(
    backend: str, tmp_path: Path
) -> None:
    """The upgrade that adds declined_pairs keeps every decline of the suggestion rows."""
    before = "9b2a4476255e"
    with migrated(backend, tmp_path, "copmatch_migrations_declines") as (connection, config):
        session = Session(bind=connection)
        haarlem = factories.municipality(session, "Haarlem", "GM0392")
        zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        community = factories.community(session, "CoP", haarlem, zaanstad)
        factories.need(session, community, haarlem, "Hulp bij een warmtenet")
        factories.offer(session, community, zaanstad, "Ervaring met warmtenetten")
        session.flush()
        suggestion = session.scalars(select(Suggestion)).one()
        matching.update_suggestion(
            session, suggestion, status=SuggestionStatus.DECLINED, feedback=None
        )
        session.flush()
        session.close()
        command.downgrade(config, before)
        command.upgrade(config, "head")
        remembered = connection.execute(
            text(
                "SELECT community_id, need_organisation_id, need_key, offer_organisation_id,"
                " offer_key FROM declined_pairs"
            )
        ).all()
        assert [tuple(row) for row in remembered] == [
            (
                community.id,
                haarlem.id,
                text_key("Hulp bij een warmtenet"),
                zaanstad.id,
                text_key("Ervaring met warmtenetten"),
            )
        ]
