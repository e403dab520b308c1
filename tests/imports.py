"""Helpers for the import tests: files built in memory and the upload request (the ``client``
fixture calls as the bootstrap admin)."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.services import imports

HEADER = ["organisatie", "soort", "tekst", "onderwerpen", "capaciteit", "prioriteit"]

Cell = str | int | float | None


def csv_file(
    rows: Sequence[Sequence[Cell]], *, delimiter: str = ";", encoding: str = "utf-8"
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return buffer.getvalue().encode(encoding)


def xlsx_file(rows: Sequence[Sequence[Cell]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(
    client: TestClient,
    community_id: int,
    content: bytes,
    filename: str = "antwoorden.csv",
    *,
    dry_run: bool = False,
) -> httpx.Response:
    return client.post(
        f"/api/v1/communities/{community_id}/imports",
        files={"file": (filename, content)},
        params={"dryRun": "true"} if dry_run else {},
    )


def before_reading_the_file(monkeypatch: pytest.MonkeyPatch, call: Callable[[], None]) -> None:
    """Have ``call`` called each time an import reads its file, just before."""
    read_table = imports.read_table

    def reading(*args: Any, **kwargs: Any) -> Any:
        call()
        return read_table(*args, **kwargs)

    monkeypatch.setattr(imports, "read_table", reading)


def write_lock_is_free(engine: Engine, community_id: int) -> bool:
    """Could another connection take, without waiting, the lock an import writes under:
    SQLite's write lock, or PostgreSQL's lock on the community's row?"""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # "database is locked"
            return False
        finally:
            probe.close()
    with engine.connect() as connection:
        try:
            connection.execute(
                text("SELECT id FROM communities WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": community_id},
            )
            return True
        except OperationalError:  # "could not obtain lock on row"
            return False
        finally:
            connection.rollback()
