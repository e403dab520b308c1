"""A report as a document: sections of paragraphs, tables and bar charts, in one language.

The Markdown, HTML and XLSX renderers all render this one structure, so they never disagree on
what a section contains; only the JSON representation skips it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.reports.i18n import Lang, sheet_name, text

Cell = str | int | float | None


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str
    note: bool = False


@dataclass(frozen=True, slots=True)
class Subheading:
    text: str


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    name: str
    colour: str
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BarChart:
    key: str
    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]


Block = Paragraph | Subheading | Table | BarChart


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    heading: str
    sheet: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Document:
    lang: Lang
    title: str
    subtitle: str
    generated: str
    sections: tuple[Section, ...] = field(default_factory=tuple)


def section(key: str, lang: Lang, blocks: list[Block]) -> Section:
    """A section headed by the text ``key`` in ``lang``."""
    return Section(
        key=key, heading=text(key, lang), sheet=sheet_name(key, lang), blocks=tuple(blocks)
    )


def table_block(key: str, lang: Lang, headers: list[str], rows: Sequence[Sequence[Cell]]) -> Block:
    """A table with localised headings, or "None." when it has no rows."""
    if not rows:
        return Paragraph(text("none", lang))
    return Table(
        key=key,
        headers=tuple(text(h, lang) for h in headers),
        rows=tuple(tuple(row) for row in rows),
    )
