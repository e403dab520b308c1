"""``copmatch import FILE --community SLUG`` on a migrated SQLite file with the demo loaded."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from app import cli as cli_module
from app import db as db_module
from app.cli import cli
from app.config import get_settings
from app.db import Trouble, build_engine, database_trouble, get_engine, session_scope
from app.migrate import head_revision, upgrade_to_head
from app.models import ApiToken, Community, Need, Offer, Organisation, Suggestion
from app.services import matching
from app.services.matching import suggestions as suggestions_module
from tests import factories
from tests.conftest import drop_schema, fresh_database, migrate, postgres_schema_url
from tests.imports import (
    HEADER,
    before_reading_the_file,
    csv_file,
    write_lock_is_free,
    xlsx_file,
)

DEMO_SLUG = "cop-warmtetransitie-noord-holland"


def _point_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPMATCH_DATABASE_URL", url)
    monkeypatch.setenv("COPMATCH_ENVIRONMENT", "development")
    get_settings.cache_clear()
    get_engine.cache_clear()


def _forget_engine() -> None:
    get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the municipalities and the demo, built once per module."""
    path = tmp_path_factory.mktemp("cli") / "demo.sqlite3"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _point_at(f"sqlite:///{path}", monkeypatch)
        upgrade_to_head()
        runner = CliRunner()
        for command in (["load-municipalities"], ["demo"]):
            result = runner.invoke(cli, command)
            assert result.exit_code == 0, result.output
        _forget_engine()  # closing the last connection folds the WAL into the file
    return path


@pytest.fixture
def database(
    demo_database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A copy of the demo database for one test; the CLI's settings point at it."""
    path = tmp_path / "cli.sqlite3"
    shutil.copyfile(demo_database, path)
    _point_at(f"sqlite:///{path}", monkeypatch)
    yield path
    _forget_engine()


def _answers() -> tuple[int, int]:
    with session_scope() as session:
        community = session.scalars(select(Community).where(Community.slug == DEMO_SLUG)).one()
        needs = session.scalar(select(func.count()).where(Need.community_id == community.id))
        offers = session.scalar(select(func.count()).where(Offer.community_id == community.id))
    return int(needs or 0), int(offers or 0)


def test_import_dry_run_then_import_then_again(database: Path, tmp_path: Path) -> None:
    path = tmp_path / "nieuw.csv"
    path.write_bytes(
        csv_file(
            [
                HEADER,
                ["Haarlem", "behoefte", "Hoe werkt de Wgiw voor VvE's?", "", "", "hoog"],
                ["Enkhuizen", "aanbod", "Ervaring met een warmtenet op restwarmte", "", "2", ""],
            ]
        )
    )
    before = _answers()
    runner = CliRunner()

    dry = runner.invoke(cli, ["import", str(path), "--community", DEMO_SLUG, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        "dry run: nothing was written",
        "2 rows: 2 would be created, 0 would be updated, 0 unchanged",
        "new members (would be added): Enkhuizen",
    ]
    assert _answers() == before

    real = runner.invoke(cli, ["import", str(path), "--community", DEMO_SLUG])
    assert real.exit_code == 0, real.output
    assert real.stdout.splitlines() == [
        "2 rows: 2 created, 0 updated, 0 unchanged",
        "new members (now added): Enkhuizen",
    ]
    assert _answers() == (before[0] + 1, before[1] + 1)

    again = runner.invoke(cli, ["import", str(path), "--community", DEMO_SLUG])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["2 rows: 0 created, 0 updated, 2 unchanged"]
    assert _answers() == (before[0] + 1, before[1] + 1)


def test_import_lists_problems_and_writes_nothing(database: Path, tmp_path: Path) -> None:
    path = tmp_path / "fout.csv"
    path.write_bytes(
        csv_file(
            [
                HEADER,
                ["Bergen", "behoefte", "Warmtenet", "", "", ""],
                ["Haarlem", "aanbod", "Hulp", "", "veel", ""],
            ]
        )
    )
    before = _answers()

    result = CliRunner().invoke(cli, ["import", str(path), "--community", DEMO_SLUG])

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: 2 problem(s) in the file; nothing was imported",
        "row 2, organisatie: unknown organisation 'Bergen'; did you mean 'Bergen (NH.)'?",
        "row 3, capaciteit: capacity 'veel' is not a whole number from 1 to 100",
    ]
    assert _answers() == before


def test_import_names_a_new_persons_nul_instead_of_failing(database: Path, tmp_path: Path) -> None:
    path = tmp_path / "nul.xlsx"
    header = ["organisatie", "soort", "tekst", "naam", "e-mail"]
    row = ["Haarlem", "behoefte", "Hulp bij de TVW", "Jan_x0000_Jansen", "jan@haarlem.example.org"]
    path.write_bytes(xlsx_file([header, row]))
    before = _answers()

    result = CliRunner().invoke(cli, ["import", str(path), "--community", DEMO_SLUG, "--dry-run"])

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "row 2, naam: 'Jan\x00Jansen' holds the control character 0x00, which is no text; "
        "delete it",
        "1 problem(s); fix them and import again",
    ]
    assert _answers() == before


def test_import_refuses_unknown_community_and_unreadable_file(
    database: Path, tmp_path: Path
) -> None:
    path = tmp_path / "leeg.csv"
    path.write_bytes(b"")
    runner = CliRunner()

    unknown = runner.invoke(cli, ["import", str(path), "--community", "nope"])
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no community with slug 'nope'\n")

    empty = runner.invoke(cli, ["import", str(path), "--community", DEMO_SLUG])
    assert (empty.exit_code, empty.stderr) == (1, "error: the file is empty\n")


def test_import_reads_the_file_before_it_takes_the_write_lock(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a large XLSX takes a while; other writers need not wait for that."""
    path = tmp_path / "nieuw.csv"
    path.write_bytes(csv_file([HEADER, ["Haarlem", "behoefte", "Warmtenet", "", "", ""]]))
    with session_scope() as session:
        demo_id = session.scalars(select(Community.id).where(Community.slug == DEMO_SLUG)).one()
    free_while_reading: list[bool] = []
    before_reading_the_file(
        monkeypatch, lambda: free_while_reading.append(write_lock_is_free(get_engine(), demo_id))
    )

    result = CliRunner().invoke(cli, ["import", str(path), "--community", DEMO_SLUG])

    assert result.exit_code == 0, result.output
    assert free_while_reading == [True]


BUSY = (
    "error: the database is busy: another change held the data this command writes for too "
    "long; the change in progress was not saved, run the command again\n"
)


def test_an_import_behind_another_writer_says_the_database_is_busy_sqlite(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: a writer that holds the one write lock past the busy timeout makes the import
    fail with one line, not a traceback, and nothing is written."""
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "nieuw.csv"
    path.write_bytes(csv_file([HEADER, ["Haarlem", "behoefte", "Warmtenet", "", "", ""]]))
    before = _answers()
    holder = sqlite3.connect(str(database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = CliRunner().invoke(cli, ["import", str(path), "--community", DEMO_SLUG])
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert (result.exit_code, result.stderr) == (1, BUSY)
    assert _answers() == before


def test_an_import_that_waits_too_long_for_its_communitys_lock_says_so_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the import waits for the community's write lock at most WRITE_LOCK_TIMEOUT,
    then says the database is busy in one line."""
    monkeypatch.setattr(suggestions_module, "WRITE_LOCK_TIMEOUT", "200ms")
    schema = f"copmatch_cli_busy_{os.getpid()}"
    engine = fresh_database("postgresql", schema, tmp_path)
    try:
        migrate(engine)
        with session_scope(engine) as session:
            haarlem = factories.municipality(session, "Haarlem", "GM0392")
            community = factories.community(session, "CoP", haarlem)
            slug, community_id = community.slug, community.id
        path = tmp_path / "nieuw.csv"
        path.write_bytes(csv_file([HEADER, ["Haarlem", "behoefte", "Warmtenet", "", "", ""]]))
        _point_at(postgres_schema_url(schema), monkeypatch)
        with session_scope(engine) as holder:
            matching.queue_answer_writes(holder, holder.get_one(Community, community_id))
            result = CliRunner().invoke(cli, ["import", str(path), "--community", slug])

        assert (result.exit_code, result.stderr) == (1, BUSY)
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(Need)) == 0
    finally:
        _forget_engine()
        engine.dispose()
        drop_schema(schema)


def test_a_command_without_its_database_says_which_one_it_could_not_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_at("postgresql+psycopg://copmatch@127.0.0.1:9/copmatch", monkeypatch)
    try:
        result = CliRunner().invoke(cli, ["report", "--community", "x", "--format", "md"])
    finally:
        _forget_engine()

    # One line, whose end is the driver's own reason (connection refused, here).
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: cannot use the database postgresql+psycopg://copmatch@127.0.0.1:9/copmatch: "
    )
    assert result.stderr.count("\n") == 1


EXPECTED_URL = "expected sqlite:///path or postgresql+psycopg://user@host/db"


@pytest.mark.parametrize(
    ("environment", "error"),
    [
        (
            {"COPMATCH_DATABASE_URL": "nonsense"},
            "COPMATCH_DATABASE_URL: not a database URL copmatch can use; " + EXPECTED_URL,
        ),
        (
            {"COPMATCH_DATABASE_URL": "mysql://copmatch@localhost/copmatch"},
            "COPMATCH_DATABASE_URL: copmatch runs on SQLite or on PostgreSQL through psycopg, not "
            "mysql; " + EXPECTED_URL,
        ),
        (
            {"COPMATCH_DATABASE_URL": "foo://x"},
            "COPMATCH_DATABASE_URL: not a database URL copmatch can use; " + EXPECTED_URL,
        ),
        (
            {"COPMATCH_PORT": "abc"},
            "COPMATCH_PORT: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"COPMATCH_ENVIRONMENT": "production", "COPMATCH_DATABASE_URL": "sqlite:///x.db"},
            "settings: COPMATCH_DATABASE_URL must point at PostgreSQL in production",
        ),
    ],
)
def test_a_setting_the_service_cannot_use_is_one_line_naming_it(
    environment: dict[str, str], error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["migrate"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    assert (result.exit_code, result.stderr) == (2, f"error: {error}\n")


def test_a_database_at_another_revision_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown revision (a newer copmatch migrated it) printed Alembic's traceback, and a
    missing column the driver's message without what to do."""
    path = tmp_path / "other.sqlite3"
    _point_at(f"sqlite:///{path}", monkeypatch)
    try:
        upgrade_to_head()
        with get_engine().begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'deadbeef1234'"))
        unknown = CliRunner().invoke(cli, ["migrate"])
        with get_engine().begin() as connection:
            connection.execute(
                text(f"UPDATE alembic_version SET version_num = '{head_revision()}'")
            )
            connection.execute(text("ALTER TABLE organisations DROP COLUMN region"))
        behind = CliRunner().invoke(cli, ["load-municipalities"])
        label = get_engine().url.render_as_string(hide_password=True)
    finally:
        _forget_engine()

    assert (unknown.exit_code, unknown.stderr) == (
        1,
        f"error: cannot migrate the database {label}: Can't locate revision identified by "
        "'deadbeef1234' (was it migrated by a newer copmatch?)\n",
    )
    assert (behind.exit_code, behind.stderr) == (
        1,
        f"error: the database {label} is not migrated to this copmatch: run copmatch migrate\n",
    )


def test_serve_refuses_a_port_beyond_65535() -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "99999"])
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_without_the_tables_says_to_migrate(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f"copmatch_cli_empty_{os.getpid()}"
    engine = fresh_database(backend, schema, tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    _point_at(url, monkeypatch)
    try:
        result = CliRunner().invoke(cli, ["recompute"])
        label = get_engine().url.render_as_string(hide_password=True)
    finally:
        _forget_engine()
        if backend == "postgresql":
            drop_schema(schema)

    assert (result.exit_code, result.stderr) == (
        1,
        f"error: the database {label} has no copmatch tables yet: run copmatch migrate\n",
    )


@pytest.mark.parametrize(
    "command",
    [
        ["load-municipalities"],
        ["demo"],
        ["recompute"],
        ["report", "--community", DEMO_SLUG, "--format", "md"],
        ["token", "create", "--admin"],
        ["token", "revoke", "1"],
        ["serve"],
        ["import", "--community", DEMO_SLUG, "answers.csv"],
    ],
)
def test_a_database_of_another_revision_is_refused_before_a_command_uses_it(
    database: Path, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database a newer copmatch migrated was written to by every command but migrate."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_module.uvicorn, "run", lambda *_, **__: pytest.fail("served"))
    (tmp_path / "answers.csv").write_text("organisatie;soort;tekst\n", encoding="utf-8")
    label = get_engine().url.render_as_string(hide_password=True)
    with session_scope() as session:
        tokens = session.scalar(select(func.count()).select_from(ApiToken))
        session.execute(text("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'"))
    newer = CliRunner().invoke(cli, command)
    with session_scope() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '7fd4e8f269b2'"))
    older = CliRunner().invoke(cli, command)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == tokens

    assert (newer.exit_code, newer.stderr) == (
        1,
        f"error: the database {label} was migrated by a newer copmatch (schema revision "
        "a1b2c3d4e5f6, which this copmatch does not know): run that copmatch or a newer one\n",
    )
    assert (older.exit_code, older.stderr) == (
        1,
        f"error: the database {label} is not migrated to this copmatch (schema revision "
        f"7fd4e8f269b2, it needs {head_revision()}): run copmatch migrate\n",
    )


def test_migrate_scores_the_communities_no_copmatch_scored_yet(database: Path) -> None:
    """A database from before suggestions were stored had none after its upgrade: every need
    was listed as a gap until a write or a recompute."""
    with session_scope() as session:
        community = session.scalars(select(Community).where(Community.slug == DEMO_SLUG)).one()
        stored = session.scalar(select(func.count()).where(Suggestion.community_id == community.id))
        session.execute(delete(Suggestion).where(Suggestion.community_id == community.id))
        community.scored_semantically = None  # as the migration that added it left it
        empty = factories.community(session, name="Nog leeg")
        empty.scored_semantically = None
    runner = CliRunner()

    first = runner.invoke(cli, ["migrate"])
    again = runner.invoke(cli, ["migrate"])

    label = get_engine().url.render_as_string(hide_password=True)
    up_to_date = f"database schema is up to date ({label})\n"
    assert (first.exit_code, first.stdout) == (
        0,
        f"{up_to_date}{DEMO_SLUG}: {stored} suggestions\n",
    )
    assert (again.exit_code, again.stdout) == (0, up_to_date)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == stored


def test_recompute_re_scores_one_community_or_all(database: Path) -> None:
    with session_scope() as session:
        community = session.scalars(select(Community).where(Community.slug == DEMO_SLUG)).one()
        stored = session.scalar(select(func.count()).where(Suggestion.community_id == community.id))
        session.execute(delete(Suggestion).where(Suggestion.community_id == community.id))
    runner = CliRunner()

    one = runner.invoke(cli, ["recompute", "--community", DEMO_SLUG])
    with session_scope() as session:  # committed, not only counted
        assert session.scalar(select(func.count()).select_from(Suggestion)) == stored
    every = runner.invoke(cli, ["recompute"])
    unknown = runner.invoke(cli, ["recompute", "--community", "nope"])

    assert (one.exit_code, one.stdout) == (0, f"{DEMO_SLUG}: {stored} suggestions\n")
    assert (every.exit_code, every.stdout) == (0, f"{DEMO_SLUG}: {stored} suggestions\n")
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no community with slug 'nope'\n")


def test_recompute_embeds_before_it_takes_the_write_lock(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a model change, ``copmatch recompute`` runs the model while the database's write
    lock is free (other writers are not held up by it), then stores every vector."""
    from app import matching as engine

    real = engine.load_embedder()
    assert real is not None
    lock_free_while_embedding: list[bool] = []

    class NewModel:
        model = "another-model"

        def needs(self, texts: list[str]) -> list[bytes]:
            lock_free_while_embedding.append(write_lock_is_free(get_engine(), 0))
            return real.needs(texts)

        def offers(self, texts: list[str]) -> list[bytes]:
            lock_free_while_embedding.append(write_lock_is_free(get_engine(), 0))
            return real.offers(texts)

    monkeypatch.setattr(engine, "load_embedder", lambda: NewModel())

    result = CliRunner().invoke(cli, ["recompute", "--community", DEMO_SLUG])

    assert result.exit_code == 0, result.output
    assert lock_free_while_embedding == [True, True]
    with session_scope() as session:
        community = session.scalars(select(Community).where(Community.slug == DEMO_SLUG)).one()
        stale = matching.read_stale(session, community)
    assert stale is not None
    assert {kind: len(items) for kind, items in stale.items()} == {Need: 0, Offer: 0}


def test_import_embeds_its_rows_before_it_takes_the_write_lock(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model runs about a tenth of a second a text: an import's rows are embedded while
    the database's write lock is free, and those vectors are stored."""
    from app import matching as engine

    real = engine.load_embedder()
    assert real is not None
    embedded: list[tuple[str, bool]] = []

    class Watched:
        model = real.model

        def needs(self, texts: list[str]) -> list[bytes]:
            embedded.extend((text, write_lock_is_free(get_engine(), 0)) for text in texts)
            return real.needs(texts)

        def offers(self, texts: list[str]) -> list[bytes]:
            embedded.extend((text, write_lock_is_free(get_engine(), 0)) for text in texts)
            return real.offers(texts)

    monkeypatch.setattr(engine, "load_embedder", lambda: Watched())
    path = tmp_path / "nieuw.csv"
    need = "Hoe werkt de Wgiw voor VvE's?"
    offer = "Ervaring met een warmtenet op restwarmte"
    path.write_bytes(
        csv_file([HEADER, ["Haarlem", "behoefte", need, "", "", ""], ["Alkmaar", "aanbod", offer]])
    )

    result = CliRunner().invoke(cli, ["import", str(path), "--community", DEMO_SLUG])

    assert result.exit_code == 0, result.output
    assert embedded == [(need, True), (offer, True)]
    with session_scope() as session:
        community = session.scalars(select(Community).where(Community.slug == DEMO_SLUG)).one()
        stale = matching.read_stale(session, community)
    assert stale is not None
    assert {kind: len(items) for kind, items in stale.items()} == {Need: 0, Offer: 0}


@pytest.mark.parametrize(
    ("name", "named"), [("Haarlem", "'Haarlem'"), ("HAARLÉM", "'HAARLÉM', alike 'Haarlem'")]
)
def test_load_municipalities_names_an_organisation_that_has_a_municipalitys_name(
    database: Path, name: str, named: str
) -> None:
    """Also one that differs only in case or accents, which organisation names may not."""
    with session_scope() as session:
        haarlem = session.scalars(select(Organisation).where(Organisation.cbs_code == "GM0392"))
        haarlem.one().name = "Gemeente Haarlem (oud)"
        other = Organisation(name=name, kind="other")
        session.add(other)
        session.flush()
        other_id = other.id

    result = CliRunner().invoke(cli, ["load-municipalities"])

    assert (result.exit_code, result.stderr) == (
        1,
        f"error: organisation {other_id} (other) has the name {named} of municipality GM0392: "
        "rename it (PATCH /organisations/{id}) first\n",
    )
    with session_scope() as session:
        names = session.scalars(select(Organisation.name).where(Organisation.cbs_code == "GM0392"))
        assert names.one() == "Gemeente Haarlem (oud)"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (
            ["token", "create", "--person", "99999999999999999999"],
            "Invalid value for '--person': Input should be less than or equal to 2147483647",
        ),
        (
            ["token", "create", "--person", "0"],
            "Invalid value for '--person': Input should be greater than or equal to 1",
        ),
        (
            ["token", "revoke", "99999999999999999999"],
            "Invalid value for 'token_id': Input should be less than or equal to 2147483647",
        ),
        (
            ["token", "revoke", "0"],
            "Invalid value for 'token_id': Input should be greater than or equal to 1",
        ),
    ],
)
def test_token_ids_out_of_range_are_a_usage_error(
    database: Path, command: list[str], error: str
) -> None:
    """Bounded as the API bounds ids, not an OverflowError from the database driver."""
    result = CliRunner().invoke(cli, command)

    assert result.exit_code == 2
    # The words of typer's error box, without its frame and line breaks.
    lines = result.stderr.splitlines()
    box = " ".join(" ".join(line.strip("│╭╮╰╯─ ").split()) for line in lines[3:-1])
    assert (lines[1], box.strip()) == (
        f"Try 'root {' '.join(command[:2])} --help' for help.",
        error,
    )


def test_token_commands_tell_an_unknown_id_in_one_line(database: Path) -> None:
    runner = CliRunner()
    revoke = runner.invoke(cli, ["token", "revoke", "999"])
    create = runner.invoke(cli, ["token", "create", "--person", "99999"])
    assert (revoke.exit_code, revoke.stderr) == (
        1,
        "error: token 999 does not exist or was revoked\n",
    )
    assert (create.exit_code, create.stderr) == (1, "error: person 99999 does not exist\n")


def test_the_command_lines_writes_are_audited_as_system(tmp_path: Path) -> None:
    """In a process of its own (no API app there to install the listener): an import, a token,
    the municipalities, each recorded with role ``system`` and no request id."""
    path = tmp_path / "audited.sqlite3"
    environment = {**os.environ, "COPMATCH_DATABASE_URL": f"sqlite:///{path}"}
    copmatch = str(Path(sys.executable).with_name("copmatch"))
    answers = tmp_path / "antwoorden.csv"
    answers.write_bytes(
        csv_file([HEADER, ["Haarlem", "behoefte", "Hoe werkt de Wgiw voor VvE's?", "", "", ""]])
    )
    for command in (
        ["migrate"],
        ["load-municipalities"],
        ["demo"],
        ["import", str(answers), "--community", DEMO_SLUG],
        ["token", "create", "--admin"],
    ):
        done = subprocess.run(
            [copmatch, *command], env=environment, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(path) as connection:
        events = connection.execute(
            "SELECT role, action, resource, COUNT(*), COUNT(request_id) FROM audit_events"
            " WHERE resource IN ('organisation', 'need', 'token') GROUP BY 1, 2, 3 ORDER BY 3"
        ).fetchall()
        needs, organisations = connection.execute(
            "SELECT (SELECT COUNT(*) FROM needs), (SELECT COUNT(*) FROM organisations)"
        ).fetchone()
    assert (needs, organisations) == (54, 48)  # the demo's 53 and one imported; 44 + 4
    assert events == [
        ("system", "create", "need", needs, 0),
        ("system", "create", "organisation", organisations, 0),
        ("system", "create", "token", 1, 0),
    ]


def test_the_demo_next_to_a_community_of_its_name_is_one_line(database: Path) -> None:
    """Found by review: a community renamed to the demo's name (its slug another) made
    `copmatch demo` a traceback."""
    with session_scope() as session:
        demo = session.scalars(select(Community).where(Community.slug == DEMO_SLUG)).one()
        demo.slug = "warmte-nh"
    result = CliRunner().invoke(cli, ["demo"])
    assert (result.exit_code, result.stderr) == (
        1,
        "error: another community already has name 'CoP Warmtetransitie Noord-Holland'\n",
    )


def test_an_insert_into_a_column_the_schema_lacks_is_not_migrated() -> None:
    """Found by review: SQLite says "has no column named" for an INSERT (a database migrated
    to an older revision), which was a database that could not be used."""
    engine = build_engine("sqlite://")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE api_tokens (id INTEGER PRIMARY KEY)"))
        with pytest.raises(OperationalError) as raised:
            connection.execute(text("INSERT INTO api_tokens (issued_by_person_id) VALUES (1)"))
    assert database_trouble(raised.value) is Trouble.NOT_MIGRATED
