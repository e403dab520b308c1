"""``copmatch serve``: what it hands to uvicorn."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import FastAPI
from typer.testing import CliRunner

from app import cli as cli_module
from app.cli import cli
from app.config import get_settings
from app.matching import embedding, text
from app.migrate import upgrade_to_head


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    """Runs ``serve`` with uvicorn.run replaced by a recorder; unfreezes what it froze."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    monkeypatch.setenv("COPMATCH_DATABASE_URL", url)
    upgrade_to_head(url)  # serve refuses a database it cannot use
    monkeypatch.setenv("COPMATCH_ENVIRONMENT", "test")
    monkeypatch.setenv("COPMATCH_ADMIN_TOKEN", "x" * 43)
    # serve sets host and port in the environment: as set here, they are restored after.
    monkeypatch.setenv("COPMATCH_HOST", "127.0.0.1")
    monkeypatch.setenv("COPMATCH_PORT", "8000")
    monkeypatch.delenv("COPMATCH_PUBLIC_URL", raising=False)
    get_settings.cache_clear()
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(
        cli_module.uvicorn, "run", lambda app, **options: calls.append((app, options))
    )
    try:
        yield calls
    finally:
        gc.unfreeze()
        get_settings.cache_clear()


def test_serve_warms_up_and_freezes_start_up_objects(
    served: list[tuple[Any, dict[str, Any]]],
) -> None:
    gc.unfreeze()
    text._lexicon.cache_clear()
    result = CliRunner().invoke(cli, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "API docs: http://127.0.0.1:8123/docs" in result.output
    [(app, options)] = served
    assert isinstance(app, FastAPI)
    assert options["factory"] is False
    assert options["port"] == 8123
    # The document's server is where it listens: Swagger UI's "Try it out" goes there.
    assert app.openapi()["servers"] == [{"url": "http://127.0.0.1:8123/api/v1"}]
    # The embedding model (the semantic extra is installed in the test environment) was loaded
    # before the freeze, so its objects are among the frozen ones.
    assert embedding._loaded is not None
    # So was the common-word list of the tagging's typo rule (0.4 s).
    assert text._lexicon.cache_info().currsize == 1
    assert gc.get_freeze_count() > 10_000


def test_serve_with_reload_imports_the_factory(served: list[tuple[Any, dict[str, Any]]]) -> None:
    gc.unfreeze()
    result = CliRunner().invoke(cli, ["serve", "--reload"])
    assert result.exit_code == 0, result.output
    [(app, options)] = served
    assert app == "app.main:create_app"
    assert options["factory"] is True
    assert options["reload"] is True
    assert gc.get_freeze_count() == 0


def test_the_development_admin_token_is_made_again_where_its_file_is_empty_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: an empty var/admin-token served with an empty admin token, and a
    `var` that is a file was a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "admin-token").write_text("\n", encoding="utf-8")
    token = cli_module.development_admin_token()
    assert len(token) >= 32
    assert (tmp_path / "var" / "admin-token").read_text(encoding="utf-8") == token + "\n"
    assert cli_module.development_admin_token() == token

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "var").write_text("not a directory", encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    with pytest.raises(typer.Exit) as exited:
        cli_module.development_admin_token()
    assert exited.value.exit_code == 1
