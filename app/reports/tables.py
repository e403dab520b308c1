"""The report for spreadsheets: the suggestions table as CSV, the whole plan as an XLSX workbook
with one sheet per section.

Texts come from post-its, so a cell that a spreadsheet would read as a formula (``=``, ``+``,
``-``, ``@``) is neutralised: prefixed with ``'`` in CSV (the OWASP advice) and stored as a
string in XLSX.
"""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

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
HEADER_FILL = PatternFill("solid", fgColor="F0F4F8")
WRAPPED = Alignment(wrap_text=True, vertical="top")
"""One instance for every long cell: openpyxl hashes each style it is given, and a new
Alignment per cell cost 4 s of a Netherlands-scale workbook."""


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


class _Sheet:
    """Writes blocks one under the other and remembers how wide each column got."""

    def __init__(self, sheet: Worksheet) -> None:
        self.sheet = sheet
        self.row = 1
        self.widths: dict[int, int] = {}

    def write(
        self,
        values: tuple[Cell, ...],
        *,
        font: Font | None = None,
        header: bool = False,
        measure: bool = True,
    ) -> None:
        """One row; ``measure`` lets it widen the columns (headings and notes do not)."""
        for column, value in enumerate(values, start=1):
            cell = self.sheet.cell(row=self.row, column=column)
            if isinstance(value, str):
                cell.value = _fitting(ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"  # never a formula
                if len(value) > 40:
                    cell.alignment = WRAPPED
            else:
                cell.value = value
                if isinstance(value, float):
                    cell.number_format = "0.00"
            if font is not None:
                cell.font = font
            if header:
                cell.fill = HEADER_FILL
            if measure:
                width = min(len(str(value)) + 2 if value is not None else 0, MAX_COLUMN_WIDTH)
                self.widths[column] = max(self.widths.get(column, 8), width)
        self.row += 1

    def skip(self) -> None:
        self.row += 1

    def finish(self) -> None:
        for column, width in self.widths.items():
            self.sheet.column_dimensions[get_column_letter(column)].width = width


def render_xlsx(document: Document) -> bytes:
    """One sheet per section: its heading, then its notes and tables one under the other."""
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    workbook.properties.title = document.title
    workbook.properties.creator = "copmatch"
    workbook.properties.language = document.lang
    for section in document.sections:
        sheet = _Sheet(workbook.create_sheet(section.sheet))
        sheet.write((section.heading,), font=Font(bold=True, size=14), measure=False)
        sheet.skip()
        for block in section.blocks:
            if isinstance(block, Subheading):
                sheet.write((block.text,), font=Font(bold=True, size=12), measure=False)
            elif isinstance(block, Paragraph):
                sheet.write((block.text,), font=Font(italic=block.note), measure=False)
                sheet.skip()
            elif isinstance(block, Table):
                sheet.write(block.headers, font=Font(bold=True), header=True)
                for row in block.rows:
                    sheet.write(row)
                sheet.skip()
            elif isinstance(block, BarChart):
                continue  # the table beside it holds the same numbers
        sheet.finish()
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
