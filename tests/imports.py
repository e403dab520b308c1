"""Helpers for the import tests: files built in memory and the upload request (the ``client``
fixture calls as the bootstrap admin)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import httpx
import openpyxl
from fastapi.testclient import TestClient

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
