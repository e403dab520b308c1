"""A report document as GitHub-flavoured Markdown, to paste into a plan.

Charts are left out: the same numbers stand in the table next to each chart.
"""

from __future__ import annotations

import re

from app.reports.blocks import BarChart, Cell, Document, Paragraph, Subheading, Table
from app.reports.i18n import Lang, decimal

# Characters that would otherwise start emphasis, links, code, HTML or an entity (&amp;), or
# break a table cell.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&])")
# What makes a line a list item, a rule or a heading's underline: "2023. ", "1) ", "- ", "+ ",
# "---", "===".
_LINE_START = re.compile(r"^(?:([0-9]+)([.)])|([-+=]))")


def escape(value: str) -> str:
    """``value`` as literal Markdown text on one line, within a line (a cell, a heading)."""
    return _SPECIAL.sub(r"\\\1", " ".join(value.split()))


def paragraph(value: str) -> str:
    """``value`` as a literal Markdown line of its own: :func:`escape`, and whatever would make
    the line a list item, a rule or a heading's underline."""
    return _LINE_START.sub(
        lambda match: f"{match[1]}\\{match[2]}" if match[1] else f"\\{match[3]}", escape(value)
    )


def cell(value: Cell, lang: Lang) -> str:
    if value is None or value == "":
        return "—" if value is None else ""
    if isinstance(value, float):
        return decimal(value, lang)
    if isinstance(value, int):
        return str(value)
    return escape(value)


def _numeric(rows: tuple[tuple[Cell, ...], ...], column: int) -> bool:
    values = [row[column] for row in rows if row[column] not in (None, "")]
    return bool(values) and all(isinstance(v, int | float) for v in values)


def _table(table: Table, lang: Lang) -> list[str]:
    align = [
        "---:" if _numeric(table.rows, column) else "---" for column in range(len(table.headers))
    ]
    lines = [
        "| " + " | ".join(escape(h) for h in table.headers) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(cell(v, lang) for v in row) + " |" for row in table.rows]
    return lines


def render_markdown(document: Document) -> str:
    """The whole document: ``#`` title, ``##`` per section, ``###`` per part of a section."""
    lines = [f"# {escape(document.title)}", ""]
    if document.subtitle:
        lines += [paragraph(document.subtitle), ""]
    lines += [f"_{escape(document.generated)}_", ""]
    for section in document.sections:
        lines += [f"## {escape(section.heading)}", ""]
        for block in section.blocks:
            if isinstance(block, Subheading):
                lines += [f"### {escape(block.text)}", ""]
            elif isinstance(block, Paragraph):
                lines += [f"_{escape(block.text)}_" if block.note else paragraph(block.text), ""]
            elif isinstance(block, Table):
                lines += [*_table(block, document.lang), ""]
            elif isinstance(block, BarChart):
                continue
    return "\n".join(lines).rstrip() + "\n"
