"""What the columns of an import file mean, and each row checked on its own (no database).

Header names are matched without regard to case, spaces, hyphens or accents, in Dutch or English
(:data:`COLUMNS`). Cell values are trimmed. Every problem names the spreadsheet row, the column
as written in the file and the offending value, quoted in the message.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

from openpyxl.utils import get_column_letter
from pydantic import TypeAdapter, ValidationError

from app.errors import ValidationFailed
from app.models import CAPACITY_MAX, NAME_MAX, NOTE_MAX, TEXT_MAX, Format, Priority
from app.schemas import (
    MAX_TOPICS,
    PLACEHOLDER_MESSAGE,
    EmailAddress,
    is_placeholder,
    shows_nothing,
)
from app.services.common import fold
from app.services.import_files import CONTROL_CHARACTER, Table
from app.services.topics import taxonomy

DEFAULT_CAPACITY = 3
DEPARTMENT_MAX = 100
MAX_TOPIC_HINTS = 100
"""Unknown topics of one file that get a "did you mean" (difflib against every slug and label,
about 0.65 ms each); later ones only point to GET /topics, so a file of thousands costs no
seconds."""


class Kind(enum.StrEnum):
    NEED = "need"
    OFFER = "offer"
    FORMAT = "format"


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the import file: its key, its Dutch (template) and English header and the
    other headers accepted for it."""

    key: str
    dutch: str
    english: str
    aliases: tuple[str, ...] = ()
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("organisation", "organisatie", "organisation", ("organization", "gemeente"), True),
    Column("kind", "soort", "kind", ("type", "categorie", "category"), True),
    Column("text", "tekst", "text", ("antwoord", "answer"), True),
    Column("topics", "onderwerpen", "topics", ("onderwerp", "topic")),
    Column("capacity", "capaciteit", "capacity"),
    Column("priority", "prioriteit", "priority"),
    Column("note", "toelichting", "note", ("notitie", "opmerking")),
    Column("person_name", "naam", "person name", ("name", "persoon", "person")),
    Column("email", "e-mail", "email", ("e-mailadres", "email address", "mail")),
    Column("department", "afdeling", "department"),
    Column("meeting", "bijeenkomst", "meeting"),
)
TEMPLATE_HEADER = tuple(column.dutch for column in COLUMNS)
REQUIRED = tuple(column for column in COLUMNS if column.required)

KIND_WORDS: dict[str, Kind] = {
    **dict.fromkeys(("need", "needs", "behoefte", "behoeften", "vraag"), Kind.NEED),
    **dict.fromkeys(("offer", "offers", "aanbod", "aanbieding"), Kind.OFFER),
    **dict.fromkeys(
        ("format", "formats", "vorm", "vormen", "werkvorm", "formatpreference"), Kind.FORMAT
    ),
}
PRIORITY_WORDS: dict[str, Priority] = {
    **{priority.value: priority for priority in Priority},
    "laag": Priority.LOW,
    "normaal": Priority.NORMAL,
    "gemiddeld": Priority.NORMAL,
    "hoog": Priority.HIGH,
}
FORMAT_ALIASES: dict[Format, tuple[str, ...]] = {
    Format.LEARNING_CIRCLE: ("leerkring", "lerend-netwerk"),
    Format.KNOWLEDGE_SESSION: ("kennissessie", "kennisbijeenkomst"),
    Format.SITE_VISIT: ("werkbezoek", "excursie"),
    Format.PEER_REVIEW: ("intervisie", "collegiale-toetsing"),
    Format.ONE_TO_ONE: ("buddy", "een-op-een", "1-op-1"),
    Format.ONLINE_COMMUNITY: ("online-platform", "online-omgeving"),
    Format.REGIONAL_MEETING: ("regiobijeenkomst", "regionale-bijeenkomst"),
    Format.SERIOUS_GAME: ("spel",),
}
FORMAT_WORDS: dict[str, Format] = {
    word: fmt for fmt in Format for word in (fmt.value, *FORMAT_ALIASES[fmt])
}
ARTICLES = {Kind.NEED: "a", Kind.OFFER: "an", Kind.FORMAT: "a"}
DUTCH_DATE = re.compile(r"^([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})$")


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One thing wrong with a file: spreadsheet row, column as written, value and why."""

    row: int
    column: str
    value: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row that passed the checks that need no database.

    ``text`` is the format value for format rows. ``columns`` holds the keys of the columns the
    file has: a property whose column is absent is left as it is on an existing answer.
    """

    row: int
    organisation: str
    kind: Kind
    text: str
    topics: tuple[str, ...]
    priority: Priority
    capacity: int
    note: str | None
    person_name: str | None
    email: str | None
    department: str | None
    meeting: str | None
    columns: frozenset[str]


@dataclass(frozen=True, slots=True)
class RowReferences:
    """What a row with problems of its own refers to in the database: its organisation, person
    and meeting, checked all the same, so one round of corrections can find every problem."""

    row: int
    organisation: str
    person_name: str | None
    email: str | None
    department: str | None
    meeting: str | None


def quote(value: str, limit: int = 60) -> str:
    """``'value'``, shortened with … when long."""
    return f"'{value if len(value) <= limit else value[: limit - 1] + '…'}'"


def identity_text(text: str) -> str:
    """An answer text as compared for identity: case and white space do not count."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def header_key(text: str) -> str:
    """``"E-mail "`` → ``"email"``: letters and digits only, lower case."""
    return re.sub(r"[^a-z0-9]", "", fold(text))


def closest(value: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``value`` (difflib ratio at least 0.6), if any."""
    found = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


@lru_cache
def _column_words() -> dict[str, Column]:
    return {
        header_key(word): column
        for column in COLUMNS
        for word in (column.dutch, column.english, column.key, *column.aliases)
    }


def topic_key(text: str) -> str:
    """A topic's slug or label as compared: :func:`fold`, no spaces around commas."""
    return re.sub(r" ?, ?", ",", fold(text))


@lru_cache
def _topic_words() -> dict[str, str]:
    """Topic slugs and labels (:func:`topic_key`) → slug."""
    words: dict[str, str] = {}
    for topic in taxonomy().topics:
        for word in (topic.label.get("en", ""), topic.label.get("nl", ""), topic.slug):
            if word:
                words[topic_key(word)] = topic.slug
    return words


@lru_cache
def _comma_labels() -> dict[str, int]:
    """The labels that hold commas: the key of their first piece → the most pieces of a label
    that begins so."""
    starts: dict[str, int] = {}
    for word in _topic_words():
        pieces = word.split(",")
        if len(pieces) > 1:
            starts[pieces[0]] = max(starts.get(pieces[0], 0), len(pieces))
    return starts


@lru_cache
def _most_label_pieces() -> int:
    """The most pieces a topic's slug or label falls into when split on commas."""
    return max(_comma_labels().values(), default=1)


def topic_parts(value: str) -> dict[str, str]:
    """The topics named in a cell, by :func:`topic_key`: split on ``;`` and ``,``, except that
    the commas of a label written whole ("Aquathermie (TEO, TEA, TED)") do not split it (the
    longest label that the pieces from each one on make is taken)."""
    words, comma_labels = _topic_words(), _comma_labels()
    parts: dict[str, str] = {}
    for group in value.split(";"):
        pieces = [piece.strip() for piece in group.split(",")]
        keys = [fold(piece) for piece in pieces]  # a piece's topic_key: it has no comma
        start = 0
        while start < len(pieces):
            longest = min(len(pieces), start + comma_labels.get(keys[start], 1))
            end = next(
                (
                    end
                    for end in range(longest, start + 1, -1)
                    if ",".join(keys[start:end]) in words
                ),
                start + 1,
            )
            if pieces[start]:
                parts.setdefault(",".join(keys[start:end]), ", ".join(pieces[start:end]))
            start = end
    return parts


HEADER_SEARCH_ROWS = 10
"""How many of a file's first non-blank rows :func:`find_header` looks at for its header."""


def names_a_column(table: Table) -> bool:
    """Does the header of *table* name at least one known column?"""
    words = _column_words()
    return any(header_key(cell) in words for cell in table.header)


def find_header(table: Table) -> Table:
    """*table* with its header found: when its first row names none of the known columns (a
    title or a note above the header, as spreadsheets often have), the first of its first
    HEADER_SEARCH_ROWS rows that names every required column, the rows above it left out.
    Otherwise *table* as it is: its first row is the header, and map_columns says what is
    wrong with it."""
    words = _column_words()

    def columns(cells: tuple[str, ...]) -> set[str]:
        return {words[key].key for cell in cells if (key := header_key(cell)) in words}

    if columns(table.header):
        return table
    for index, (number, cells) in enumerate(table.rows[: HEADER_SEARCH_ROWS - 1]):
        if all(column.key in columns(cells) for column in REQUIRED):
            rows = table.rows[index + 1 :]
            if not rows:
                where = f"the worksheet {table.sheet!r}" if table.sheet else "the file"
                raise ValidationFailed(f"{where} has a header (row {number}) but no rows below it")
            return replace(table, header_row=number, header=cells, rows=rows)
    return table


def map_columns(table: Table) -> tuple[dict[str, int], dict[str, str], list[ImportProblem]]:
    """Column key → position and key → header as written; problems with the header."""
    positions: dict[str, int] = {}
    names: dict[str, str] = {}
    problems: list[ImportProblem] = []
    words = _column_words()
    for index, name in enumerate(table.header):
        if not name:
            continue
        column = words.get(header_key(name))
        if column is None:
            known = ", ".join(TEMPLATE_HEADER)
            guess = closest(header_key(name), words)
            hint = f"did you mean {quote(words[guess].dutch)}? " if guess else ""
            message = f"unknown column {quote(name)}; {hint}known columns: {known}"
            problems.append(ImportProblem(table.header_row, name, name, message))
        elif column.key in positions:
            message = f"column {quote(name)} repeats column {quote(names[column.key])}"
            problems.append(ImportProblem(table.header_row, name, name, message))
        else:
            positions[column.key], names[column.key] = index, name
    for column in REQUIRED:
        if column.key not in positions:
            message = f"required column {quote(column.dutch)} ({column.english}) is missing"
            problems.append(ImportProblem(table.header_row, column.dutch, None, message))
    return positions, names, problems


def parse_rows(table: Table) -> tuple[list[ParsedRow], list[ImportProblem]]:
    """Every row checked on its own: the rows without problems, and all problems found."""
    parsed, problems, _ = read_rows(table)
    return parsed, problems


def read_rows(
    table: Table,
) -> tuple[list[ParsedRow], list[ImportProblem], list[RowReferences]]:
    """:func:`parse_rows`, and what each row with problems refers to (to check those too)."""
    unreadable = _unreadable_cells(table)
    header_problems = list(unreadable.get(table.header_row, {}).values())
    positions, names, problems = map_columns(table)
    if header_problems or problems:
        return [], [*header_problems, *problems], []
    parsed: list[ParsedRow] = []
    references: list[RowReferences] = []
    hints = _Hints(MAX_TOPIC_HINTS)
    for number, cells in table.rows:
        cell_problems = unreadable.get(number, {})
        row = _RowReader(number, cells, positions, names, hints, frozenset(cell_problems))
        result = row.parse()
        problems.extend(cell_problems.values())
        problems.extend(row.problems)
        if result is not None and not cell_problems:
            parsed.append(result)
        elif row.references is not None:
            references.append(row.references)
    return parsed, problems, references


def _unreadable_cells(table: Table) -> dict[int, dict[int, ImportProblem]]:
    """A problem for each XLSX cell that holds a formula without a saved result, and each cell
    that holds an error value (``#N/A``; in a CSV file its text), by row number and column
    index, in column order."""
    texts = {table.header_row: table.header, **dict(table.rows)}
    found: dict[tuple[int, int], ImportProblem] = {}
    for number, index in table.unsaved_formulas | table.error_values:
        letter = get_column_letter(index + 1)
        header = table.header[index] if index < len(table.header) else ""
        column = header if header and number != table.header_row else f"column {letter}"
        sheet = f" of sheet {quote(table.sheet)}" if table.sheet else ""  # CSV: no sheet
        where = f"cell {letter}{number}{sheet} holds"
        if (number, index) in table.unsaved_formulas:
            value = None
            message = (
                f"{where} a formula without a saved result; open the file in a spreadsheet "
                "program and save it, or paste the values instead of the formulas"
            )
        else:
            value = texts[number][index]
            message = (
                f"{where} the error {quote(value)}; correct the formula that gives it (or "
                "the value), or empty the cell"
            )
        found[number, index] = ImportProblem(number, column, value, message)
    by_row: dict[int, dict[int, ImportProblem]] = {}
    for number, index in sorted(found):
        by_row.setdefault(number, {})[index] = found[number, index]
    return by_row


class _Hints:
    """The closest known word for the first ``limit`` unknown words of a file; none for later
    ones (see :data:`MAX_TOPIC_HINTS`)."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def closest(self, value: str, candidates: Iterable[str]) -> str | None:
        if self.left == 0:
            return None
        self.left -= 1
        return closest(value, candidates)


class _RowReader:
    def __init__(
        self,
        number: int,
        cells: tuple[str, ...],
        positions: dict[str, int],
        names: dict[str, str],
        hints: _Hints,
        unreadable: frozenset[int] = frozenset(),
    ) -> None:
        self.number, self.cells, self.positions, self.names = number, cells, positions, names
        self.hints = hints
        # Columns whose formula has no saved result or whose value is an error: reported as
        # such, not as empty cells or wrong values.
        self.unreadable = unreadable
        self.problems: list[ImportProblem] = []
        self.references: RowReferences | None = None

    def cell(self, key: str) -> str:
        index = self.positions.get(key)
        return self.cells[index] if index is not None and index < len(self.cells) else ""

    def problem(self, key: str, value: str, message: str) -> None:
        if self.positions.get(key) in self.unreadable:
            return
        column = self.names.get(key) or next(c.dutch for c in COLUMNS if c.key == key)
        self.problems.append(ImportProblem(self.number, column, value, message))

    def parse(self) -> ParsedRow | None:
        self._check_control_characters()
        self._check_headless_cells()
        organisation, kind_text, text = (
            self.cell("organisation"),
            self.cell("kind"),
            self.cell("text"),
        )
        if not organisation:
            self.problem("organisation", "", "empty; fill in the organisation's name or CBS code")
        kind = KIND_WORDS.get(header_key(kind_text))
        if kind is None:
            shown = f"unknown kind {quote(kind_text)}" if kind_text else "empty"
            self.problem(
                "kind", kind_text, f"{shown}; use need, offer or format (behoefte, aanbod, vorm)"
            )
            # What does not depend on the kind is checked all the same: the values' own form
            # (as if the kind took them), and what the row refers to.
            self._priority(Kind.NEED)
            self._capacity(Kind.OFFER)
            self._topics(Kind.NEED)
            self._refers(
                organisation,
                self._limited("person_name", NAME_MAX),
                self._email(),
                self._limited("department", DEPARTMENT_MAX),
            )
            return None
        values = ParsedRow(
            row=self.number,
            organisation=organisation,
            kind=kind,
            text=self._format(text) if kind is Kind.FORMAT else self._text(text),
            topics=self._topics(kind),
            priority=self._priority(kind),
            capacity=self._capacity(kind),
            note=self._note(kind),
            person_name=self._limited("person_name", NAME_MAX),
            email=self._email(),
            department=self._limited("department", DEPARTMENT_MAX),
            meeting=self.cell("meeting") or None,
            columns=frozenset(self.positions),
        )
        if values.department and not (values.email or values.person_name):
            self.problem(
                "department",
                values.department,
                f"department {quote(values.department)} needs a person: fill in "
                "e-mail (and naam for someone new)",
            )
        if self.problems:
            self._refers(organisation, values.person_name, values.email, values.department)
            return None
        return values

    def _refers(
        self,
        organisation: str,
        person_name: str | None,
        email: str | None,
        department: str | None,
    ) -> None:
        """Keep what a row with problems refers to, to be checked against the database too:
        the cells without a problem of their own (each problem is told once)."""
        named = {problem.column for problem in self.problems}
        if self.names.get("organisation") in named or not organisation:
            return
        # The person's cells are checked together (a name that has a problem would make its
        # e-mail look unknown): all of them, or none.
        person = {"person_name": person_name, "email": email, "department": department}
        if any(self.names.get(key) in named for key in person):
            person = dict.fromkeys(person)
        meeting = self.cell("meeting") or None
        self.references = RowReferences(
            self.number,
            organisation,
            **person,
            meeting=None if self.names.get("meeting") in named else meeting,
        )

    def _check_control_characters(self) -> None:
        """An XLSX cell may hold a control character (``_x0007_``) that is no text, which a
        CSV file cannot (:func:`~app.services.import_files.decode_text` refuses it)."""
        headers = {index: self.names[key] for key, index in self.positions.items()}
        for index, value in enumerate(self.cells):
            control = CONTROL_CHARACTER.search(value)
            if control is not None:
                column = headers.get(index, f"column {get_column_letter(index + 1)}")
                message = (
                    f"{quote(value)} holds the control character 0x{ord(control[0]):02X}, "
                    "which is no text; delete it"
                )
                self.problems.append(ImportProblem(self.number, column, value, message))

    def _check_headless_cells(self) -> None:
        used = set(self.positions.values()) | self.unreadable  # those are reported already
        for index, value in enumerate(self.cells):
            if value and index not in used:
                letter = get_column_letter(index + 1)
                message = f"value {quote(value)} is in column {letter}, which has no header"
                self.problems.append(ImportProblem(self.number, f"column {letter}", value, message))

    def _text(self, text: str) -> str:
        if shows_nothing(text):
            self.problem("text", text, "empty; fill in the text of the need or offer")
        elif is_placeholder(text):
            self.problem("text", text, f"{quote(text.strip())} is {PLACEHOLDER_MESSAGE}")
        elif len(text) > TEXT_MAX:
            self.problem(
                "text",
                text,
                f"text {quote(text)} has {len(text):,} characters; at most {TEXT_MAX:,}",
            )
        return text

    def _format(self, text: str) -> str:
        found = FORMAT_WORDS.get(re.sub(r"[\s_]+", "-", fold(text)))
        if found is not None:
            return found.value
        formats = ", ".join(fmt.value for fmt in Format)
        guess = closest(fold(text), FORMAT_WORDS)
        hint = f"did you mean {quote(FORMAT_WORDS[guess].value)}? " if guess else ""
        shown = f"unknown format {quote(text)}" if text else "empty format"
        self.problem("text", text, f"{shown}; {hint}use one of {formats}")
        return text

    def _only_for(self, key: str, kind: Kind, wanted: Kind, label: str) -> str:
        value = self.cell(key)
        if value and kind is not wanted:
            self.problem(
                key,
                value,
                f"{label} {quote(value)} applies to {wanted.value}s only; this row is "
                f"{ARTICLES[kind]} {kind.value}",
            )
            return ""
        return value

    def _topics(self, kind: Kind) -> tuple[str, ...]:
        value = self.cell("topics")
        if value and kind is Kind.FORMAT:
            self.problem("topics", value, f"topics {quote(value)} apply to needs and offers only")
            return ()
        # Too many topics is one problem, before any is looked up: a cell of thousands would
        # otherwise cost seconds. No cell of MAX_TOPICS topics has more pieces than this.
        pieces = len(re.findall(r"[^;,\s][^;,]*", value))
        parts = topic_parts(value) if pieces <= MAX_TOPICS * _most_label_pieces() else {}
        if len(parts) > MAX_TOPICS or pieces > MAX_TOPICS * _most_label_pieces():
            counted = f"{len(parts)}" if parts else f"more than {MAX_TOPICS}"
            self.problem(
                "topics", value, f"{counted} topics in {quote(value)}; at most {MAX_TOPICS}"
            )
            return ()
        slugs: set[str] = set()
        words = _topic_words()
        for key, part in parts.items():
            slug = words.get(key)
            if slug is None:
                guess = self.hints.closest(key, words)
                hint = f"; did you mean {quote(words[guess])}?" if guess else "; see GET /topics"
                self.problem("topics", value, f"unknown topic {quote(part)}{hint}")
            else:
                slugs.add(slug)
        return tuple(sorted(slugs))

    def _priority(self, kind: Kind) -> Priority:
        value = self._only_for("priority", kind, Kind.NEED, "priority")
        if not value:
            return Priority.NORMAL
        priority = PRIORITY_WORDS.get(fold(value))
        if priority is None:
            self.problem(
                "priority",
                value,
                f"unknown priority {quote(value)}; use low, normal or high (laag, normaal, hoog)",
            )
            return Priority.NORMAL
        return priority

    def _capacity(self, kind: Kind) -> int:
        value = self._only_for("capacity", kind, Kind.OFFER, "capacity")
        if not value:
            return DEFAULT_CAPACITY
        # Digits only (an XLSX number cell reads so when whole): not "1.000", "1_0" or "1e2",
        # which float() and int() would take as 1, 10 and 100.
        significant = value.lstrip("0")
        if re.fullmatch(r"[0-9]+", value) and len(significant) <= len(str(CAPACITY_MAX)):
            number = int(significant or "0")
            if 1 <= number <= CAPACITY_MAX:
                return number
        self.problem(
            "capacity",
            value,
            f"capacity {quote(value)} is not a whole number from 1 to {CAPACITY_MAX}",
        )
        return DEFAULT_CAPACITY

    def _note(self, kind: Kind) -> str | None:
        value = self._only_for("note", kind, Kind.FORMAT, "note")
        return self._limited("note", NOTE_MAX) if value else None

    def _limited(self, key: str, limit: int) -> str | None:
        value = self.cell(key)
        if len(value) > limit:
            self.problem(
                key, value, f"{quote(value)} has {len(value):,} characters; at most {limit:,}"
            )
        return value or None

    def _email(self) -> str | None:
        value = self.cell("email")
        if not value:
            return None
        try:
            return str(_EMAIL.validate_python(value)).lower()
        except ValidationError:
            self.problem("email", value, f"{quote(value)} is not a valid e-mail address")
            return None


_EMAIL: TypeAdapter[str] = TypeAdapter(EmailAddress)
"""The API's own rule for e-mail addresses (schemas.EmailAddress), so both take the same."""


def parse_date(value: str) -> dt.date | None:
    """``2023-06-14``, ``14-06-2023`` or ``14/6/2023`` as a date, and a date with a time
    (``2023-06-14T10:00:00``, a spreadsheet's date cell with a time) as its date; anything else
    ``None``."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        pass
    match = DUTCH_DATE.match(value)
    if match is None:
        return None
    day, month, year = (int(part) for part in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
