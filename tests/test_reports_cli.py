"""``copmatch report``: the plan without a server, on a migrated SQLite file."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.db import build_engine, get_engine, session_scope
from app.migrate import upgrade_to_head
from tests import factories
from tests.test_reports import SECTIONS_EN, SHEETS_NL


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file with a two-member community, as COPMATCH_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'report.sqlite3'}"
    upgrade_to_head(url)
    engine = build_engine(url)
    with session_scope(engine) as session:
        haarlem = factories.municipality(session, "Haarlem", "GM0392")
        zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
        community = factories.community(session, "CoP Cli", haarlem, zaanstad)
        factories.need(session, community, haarlem, "Aquathermie (TEO) voor een wijk?")
        factories.offer(session, community, zaanstad, "Ervaring met TEO uit de Zaan")
    engine.dispose()
    monkeypatch.setenv("COPMATCH_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        yield url
    finally:
        get_engine().dispose()
        get_engine.cache_clear()
        get_settings.cache_clear()


def report(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", "--community", "cop-cli", *arguments])
    return result.exit_code, result.stdout, result.stderr


def test_report_writes_each_format(database: str, tmp_path: Path) -> None:
    code, _, messages = report("--format", "md", "--output", "plan.md", "--lang", "en")
    assert code == 0, messages
    assert (
        messages.strip().splitlines()[-1]
        == f"wrote plan.md ({(tmp_path / 'plan.md').stat().st_size} bytes)"
    )
    headings = [
        line for line in (tmp_path / "plan.md").read_text().splitlines() if line.startswith("## ")
    ]
    assert headings == SECTIONS_EN

    code, printed, messages = report("--format", "json", "--output", "-")
    assert code == 0, messages
    plan = json.loads(printed)
    assert (plan["summary"]["needs"], plan["summary"]["offers"]) == (1, 1)

    code, _, messages = report("--format", "xlsx")  # a dated file name in the current directory
    assert code == 0, messages
    (workbook_file,) = tmp_path.glob("cop-cli-plan-*.xlsx")
    assert load_workbook(workbook_file, read_only=True).sheetnames == SHEETS_NL

    code, _, _ = report("--format", "csv", "-o", "suggestions.csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "suggestions.csv").read_text())))
    assert len(rows) - 1 == plan["summary"]["suggestions"]


def test_report_refuses_unknown_community_format_and_language(database: str) -> None:
    result = CliRunner().invoke(cli, ["report", "--community", "nope", "--format", "md"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no community with slug 'nope'"
    assert report("--format", "pdf")[0] == 2
    assert report("--format", "md", "--lang", "fr")[0] == 2


def test_report_into_a_directory_takes_its_own_name(database: str, tmp_path: Path) -> None:
    """ "-o plans/" wrote a file named plans; a directory that is there refused the command."""
    (tmp_path / "here").mkdir()
    into_slash = report("--format", "md", "-o", "plans/")
    (tmp_path / "plans").mkdir()
    into_new = report("--format", "md", "-o", "plans/")
    into_existing = report("--format", "json", "-o", "here")

    assert into_slash == (1, "", "error: no directory 'plans/' to write the report in\n")
    assert into_new[0] == 0, into_new
    assert into_existing[0] == 0, into_existing
    (in_plans,) = (tmp_path / "plans").iterdir()
    (in_here,) = (tmp_path / "here").iterdir()
    assert re.fullmatch(r"cop-cli-plan-\d{4}-\d{2}-\d{2}\.md", in_plans.name), in_plans
    assert re.fullmatch(r"cop-cli-plan-\d{4}-\d{2}-\d{2}\.json", in_here.name), in_here


def test_report_says_so_when_it_cannot_write(database: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "plan.md"
    code, _, stderr = report("--format", "md", "-o", str(missing))
    assert (code, stderr.strip()) == (
        1,
        f"error: no directory {str(missing.parent)!r} to write plan.md in",
    )
    # A directory that takes no new files, even for root.
    code, _, stderr = report("--format", "md", "-o", "/proc/copmatch-plan.md")
    assert code == 1
    assert stderr.strip().startswith("error: cannot write /proc/copmatch-plan.md: ")


def test_a_report_that_fails_to_write_leaves_the_file_that_was_there(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: on a full disk the report was cut off over the previous plan."""
    plan = tmp_path / "plan.md"
    plan.write_text("the plan of last week\n", encoding="utf-8")
    write_bytes = Path.write_bytes

    def disk_full(self: Path, data: bytes) -> int:
        write_bytes(self, data[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    code, _, stderr = report("--format", "md", "-o", str(plan))
    assert (code, stderr.strip()) == (1, f"error: cannot write {plan}: No space left on device")
    assert plan.read_text(encoding="utf-8") == "the plan of last week\n"
    assert [path.name for path in tmp_path.glob("*plan.md*")] == ["plan.md"]


def test_a_file_that_is_no_database_and_a_setting_that_is_no_list_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: both were a traceback."""
    not_a_database = tmp_path / "notes.sqlite3"
    not_a_database.write_text("boodschappen: melk, brood\n" * 100, encoding="utf-8")
    monkeypatch.setenv("COPMATCH_DATABASE_URL", f"sqlite:///{not_a_database}")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["token", "create", "--admin"])
        assert result.exit_code == 1
        assert result.stderr.startswith(
            f"error: the database sqlite:///{not_a_database} refused the command: DatabaseError"
        )
        assert "Traceback" not in result.output
        monkeypatch.setenv("COPMATCH_CORS_ORIGINS", "*")
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["token", "create", "--admin"])
        assert (result.exit_code, result.stderr.splitlines()[0]) == (
            2,
            'error: settings: error parsing value for field "cors_origins" from source '
            '"EnvSettingsSource"',
        )
    finally:
        get_engine().dispose()
        get_engine.cache_clear()
        get_settings.cache_clear()


def test_a_dot_env_that_is_no_utf8_text_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: a .env saved as Latin-1 ("é" as one byte) was a traceback."""
    (tmp_path / ".env").write_bytes(b"COPMATCH_ADMIN_TOKEN=caf\xe9\n")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["token", "create", "--admin"])
    finally:
        get_settings.cache_clear()
    assert (result.exit_code, result.stderr) == (
        2,
        "error: settings: .env is not UTF-8 text (invalid continuation byte at byte 24)\n",
    )


def test_the_help_reads_as_prose_and_keeps_the_file_names() -> None:
    """Found by review: the commands' help broke lines mid-sentence and showed ``recompute``
    literally; rendered as markdown, it dropped <slug>, <date> and <format> as HTML tags."""
    wide = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
    overview = CliRunner().invoke(cli, ["--help"], env=wide).output
    report = CliRunner().invoke(cli, ["report", "--help"], env=wide).output
    assert "then score the communities no copmatch has scored" in overview
    assert "``" not in overview
    assert "<slug>-plan-<date>.<format>, <slug>-suggestions-<date>.csv" in report
