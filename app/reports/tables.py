"""The report for spreadsheets: the suggestions table as CSV, the whole plan as an XLSX workbook
with one sheet per section.

Texts come from post-its, so a cell that a spreadsheet would read as a formula (``=``, ``+``,
``-``, ``@``) is neutralised: prefixed with ``'`` in CSV (the OWASP advice) and stored as a
string in XLSX.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Literal

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # what no XLSX cell may hold
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from app.reports import schemas as r
from app.reports.blocks import BarChart, Cell, Document, Paragraph, Subheading, Table
from app.reports.i18n import Lang, text, topic_labels, value_label
from app.reports.reasons import reasons_text

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_CELL_MAX = 32_767
"""Characters an Excel cell holds; a longer text makes Excel repair the file, cutting it."""


def _fitting(value: str) -> str:
    """*value*, cut to what one cell holds, with an ellipsis where it was cut."""
    return value if len(value) <= XLSX_CELL_MAX else value[: XLSX_CELL_MAX - 1] + "…"


CSV_HEADERS = [
    "suggestion-id",
    "need-id",
    "need-organisation",
    "need",
    "offer-id",
    "offer-organisation",
    "offer",
    "topics",
    "score",
    "reasons",
    "status",
    "allocated",
]
MAX_COLUMN_WIDTH = 60
NUMBER_FORMAT = "0.0000"
"""How the workbook shows a score: to the four decimals it is stored and served with. Two,
rounded by the spreadsheet, showed a gap's best score of 0.3158 as the threshold 0.32 it is
below (the readable plan cuts off after two instead: i18n.decimal)."""
HEADER_FILL = "#F0F4F8"

Style = Literal["plain", "title", "subtitle", "note", "bold"]
STYLES: dict[Style, dict[str, object]] = {
    "plain": {},
    "title": {"bold": True, "font_size": 14},
    "subtitle": {"bold": True, "font_size": 12},
    "note": {"italic": True},
    "bold": {"bold": True},
}


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_START) else value


def render_csv(report: r.CommunityReport, lang: Lang) -> str:
    """Every suggestion of the plan, best first, one row each (RFC 4180, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([text(header, lang) for header in CSV_HEADERS])
    for s in report.peer_help.suggestions:
        writer.writerow(
            [
                s.suggestion_id,
                s.need_id,
                _csv_text(s.need_organisation.name),
                _csv_text(s.need_text),
                s.offer_id,
                _csv_text(s.offer_organisation.name),
                _csv_text(s.offer_text),
                _csv_text(topic_labels(s.topics, lang)),
                f"{s.score:.4f}",
                _csv_text(reasons_text(s, lang)),
                value_label(s.status, lang),
                text("yes" if s.allocated else "no", lang),
            ]
        )
    return buffer.getvalue()


class _Formats:
    """The workbook's cell formats, one per combination in use: XlsxWriter adds every format
    object to the file, so each combination is made once and shared."""

    def __init__(self, workbook: Workbook) -> None:
        self._workbook = workbook
        self._made: dict[tuple[Style, bool, bool, bool], Format | None] = {}

    def get(self, style: Style, *, header: bool, wrap: bool, number: bool) -> Format | None:
        key = (style, header, wrap, number)
        if key not in self._made:
            properties: dict[str, object] = dict(STYLES[style])
            if header:
                properties |= {"bg_color": HEADER_FILL, "pattern": 1}
            if wrap:
                properties |= {"text_wrap": True, "valign": "top"}
            if number:
                properties["num_format"] = NUMBER_FORMAT
            self._made[key] = self._workbook.add_format(properties) if properties else None
        return self._made[key]


class _Sheet:
    """Writes blocks one under the other and remembers how wide each column got."""

    def __init__(self, sheet: Worksheet, formats: _Formats) -> None:
        self.sheet = sheet
        self.formats = formats
        self.row = 0
        self.widths: dict[int, int] = {}

    def write(
        self,
        values: tuple[Cell, ...],
        *,
        style: Style = "plain",
        header: bool = False,
        measure: bool = True,
    ) -> None:
        """One row; ``measure`` lets it widen the columns (headings and notes do not)."""
        for column, value in enumerate(values):
            if isinstance(value, str):
                value = _fitting(ILLEGAL_CHARACTERS_RE.sub("", value))
            if isinstance(value, float) and not math.isfinite(value):
                value = None  # no number to show (XlsxWriter would write it as a formula)
            if value is None or value == "":
                if header:  # an empty cell, but with the heading's fill
                    blank = self.formats.get(style, header=True, wrap=False, number=False)
                    self.sheet.write_blank(self.row, column, None, blank)
            elif isinstance(value, str):
                wrap = len(value) > 40
                cell_format = self.formats.get(style, header=header, wrap=wrap, number=False)
                # write_string: never a formula, a number or a link, whatever the text says.
                self.sheet.write_string(self.row, column, value, cell_format)
            else:
                number = isinstance(value, float)
                cell_format = self.formats.get(style, header=header, wrap=False, number=number)
                self.sheet.write_number(self.row, column, value, cell_format)
            if measure:
                width = min(len(str(value)) + 2 if value is not None else 0, MAX_COLUMN_WIDTH)
                self.widths[column] = max(self.widths.get(column, 8), width)
        self.row += 1

    def skip(self) -> None:
        self.row += 1

    def finish(self) -> None:
        for column, width in self.widths.items():
            self.sheet.set_column(column, column, width)


def render_xlsx(document: Document) -> bytes:
    """One sheet per section: its heading, then its notes and tables one under the other."""
    buffer = io.BytesIO()
    workbook = Workbook(buffer, {"in_memory": True})
    workbook.set_properties({"title": document.title, "author": "copmatch"})
    formats = _Formats(workbook)
    for section in document.sections:
        sheet = _Sheet(workbook.add_worksheet(section.sheet), formats)
        sheet.write((section.heading,), style="title", measure=False)
        sheet.skip()
        for block in section.blocks:
            if isinstance(block, Subheading):
                sheet.write((block.text,), style="subtitle", measure=False)
            elif isinstance(block, Paragraph):
                sheet.write((block.text,), style="note" if block.note else "plain", measure=False)
                sheet.skip()
            elif isinstance(block, Table):
                sheet.write(block.headers, style="bold", header=True)
                for row in block.rows:
                    sheet.write(row)
                sheet.skip()
            elif isinstance(block, BarChart):
                continue  # the table beside it holds the same numbers
        sheet.finish()
    workbook.close()
    return buffer.getvalue()
