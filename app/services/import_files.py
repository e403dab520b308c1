"""Reading an uploaded CSV or XLSX file into a plain table, and writing the import template.

No database here: bytes in, a :class:`Table` out (or a 413 / 415 / 422 error that says what is
wrong with the file as a whole). What the cells mean is :mod:`app.services.import_rows`' job.

* **Which reader.** Old Excel (``.xls``, OLE2 content), OpenDocument (``.ods``) and Numbers
  files are refused with 415. Content starting with the ZIP signature is read as XLSX, whatever
  its name; a file named ``.xlsx`` that is no ZIP archive is a broken workbook (422); anything
  else must be text and is read as CSV.
* **CSV text.** UTF-8 or UTF-16 when it starts with that byte-order mark, otherwise UTF-8, else
  Windows-1252 (what Excel on Dutch Windows saves). Bytes that are no text in that encoding
  are refused with 415 naming their line and offset, and so is binary content (NUL or other
  control characters, but for tab, line ends, and the vertical tab and form feed that a cell
  reads as line breaks, as an XLSX cell does). The delimiter is whichever of ``;``, ``,`` and
  tab occurs most in the header line (Excel in a Dutch locale writes ``;``). Quotes are read
  strictly: a quoted cell never closed (or closed and followed by more text) is a 422 naming
  the line, where the lax reading would take every line below it into that one cell.
* **XLSX.** The first visible worksheet, read with openpyxl in read-only mode with each
  formula's saved result. A formula without one (in a file a script wrote and no spreadsheet
  program saved) reads as ``None`` there, as an empty cell does; so the sheet's XML is first
  streamed once (:func:`_scan_sheet`) to find such cells, which
  :attr:`Table.unsaved_formulas` lists and the row checks report, cells whose value is an
  error (``#N/A``, which openpyxl reads as that text; :attr:`Table.error_values`), and the
  last row with content (a value, an inline text or a formula).
  openpyxl then reads down to that row, whatever size the sheet declares (some tools write a
  wrong one), and not through the empty rows below it (formatting can pad a sheet with a
  million). Against ZIP bombs and sheets that would keep openpyxl busy, the archive's
  declared uncompressed size is capped (the ZIP reader stops at the declared size), content
  below row :data:`MAX_XLSX_ROW` is refused naming its cell (however many empty rows come
  before it), as are more than :data:`MAX_XLSX_CELLS` cells down to the last row with content,
  a row of more cells than a worksheet has columns and rows out of order; content right of
  column :data:`MAX_COLUMNS` is refused naming its cell, as a CSV line with more cells is.
* **Rows.** The first non-blank row is the header; blank rows are skipped; row numbers are
  those a spreadsheet shows (the header is usually row 1). At most :data:`MAX_ROWS` data rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO
from xml.etree import ElementTree as ET

import numpy as np
import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.escape import unescape
from openpyxl.worksheet.datavalidation import DataValidation

from app.errors import UnsupportedMediaType, ValidationFailed

MAX_ROWS = 5_000
"""Data rows (below the header) one import accepts; more is a 422."""

MAX_COLUMNS = 50
MAX_XLSX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_MARKUP_BYTES = 256 * 1024
"""The longest stretch of a workbook's XML between two ``<`` that is read (see
:func:`_refuse_costly_markup`). Excel keeps a cell's text to 32,767 characters (at most 128 KiB
in UTF-8), so no workbook a spreadsheet program wrote comes near it."""
MAX_SHEET_ROWS = 1_048_576  # Excel's own limit; a sheet claiming more rows is not genuine
MAX_SHEET_COLUMNS = 16_384  # Excel's own limit; a row with more cells is not genuine

MAX_XLSX_ROW = 10 * MAX_ROWS
"""The last worksheet row read: content below it is a 422 naming its cell. Ten rows for each
data row an import takes leaves room for blank rows and stray values, and keeps the rows
openpyxl parses (each costs it microseconds and memory, empty or not) few."""

MAX_XLSX_CELLS = 1_000_000
"""Cells a worksheet may have down to its last row with content (values, formulas or only
formatting; openpyxl parses each): four times those of the largest import, 5,001 rows of 50
columns. More is a 422."""

ZIP_SIGNATURE = b"PK\x03\x04"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _CELL, _FORMULA, _VALUE, _INLINE_TEXT = (
    f"{_MAIN}{name}" for name in ("row", "c", "f", "v", "is")
)
OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
UNSUPPORTED_EXTENSIONS = (".xls", ".ods", ".numbers")
CSV_DELIMITERS = (";", ",", "\t")
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0e-\x1f]")
"""Control characters that are no text: not tab, line feed, carriage return, or the vertical
tab and form feed that :data:`LINE_BREAKS` reads as line breaks."""
SPREADSHEET_ERRORS = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
    }
)
"""Excel's error values: what a spreadsheet saves as a CSV cell's text where a formula failed
(an XLSX marks them as errors, ``t="e"``). Never an answer's text."""

LINE_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\n"})
"""A vertical tab (Word's Shift+Enter, pasted into a cell) or form feed in a cell is the line
break its writer typed."""

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class Table:
    """A file's header and its non-blank data rows, each with its spreadsheet row number."""

    header_row: int
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    sheet: str = ""
    """The worksheet read (XLSX); empty for CSV."""
    unsaved_formulas: frozenset[tuple[int, int]] = frozenset()
    """Cells (row number, column index from 0) of the header and rows that hold a formula
    without a saved result; their text in ``header`` or ``rows`` is empty."""
    error_values: frozenset[tuple[int, int]] = frozenset()
    """Cells (as :attr:`unsaved_formulas`) whose value is an error such as ``#N/A`` (mostly a
    formula's saved result; in a CSV file, a cell whose text is one of SPREADSHEET_ERRORS);
    their text is the error."""


@dataclass(frozen=True, slots=True)
class _Record:
    """One line or worksheet row as read: its cells' text, and which of them (column indexes
    from 0) hold a formula without a saved result or an error value."""

    cells: tuple[str, ...]
    unsaved_formulas: tuple[int, ...] = ()
    error_values: tuple[int, ...] = ()


_EMPTY = _Record(())
"""A row without any value."""


def read_table(data: bytes, filename: str | None = None, *, delimiter: str | None = None) -> Table:
    """The table in an uploaded CSV or XLSX file; a file that cannot be read raises a
    :class:`~app.errors.CopmatchError` (415 or 422) that says why. A CSV file is split at
    *delimiter* when given, else at the one its first line that has one uses most."""
    name = (filename or "").lower()
    if not data.strip():
        raise ValidationFailed("the file is empty")
    if data.startswith(OLE2_SIGNATURE) or name.endswith(UNSUPPORTED_EXTENSIONS):
        raise UnsupportedMediaType(
            "this is not a CSV or XLSX file (old Excel .xls or OpenDocument?); "
            "save it as .xlsx or .csv"
        )
    if data.startswith(ZIP_SIGNATURE):
        return _xlsx_table(data)
    if name.endswith(".xlsx"):
        raise ValidationFailed(f"{filename!r} is not a valid XLSX workbook (not a ZIP archive)")
    return _table(_csv_rows(decode_text(data), delimiter))


def is_csv(data: bytes) -> bool:
    """Would :func:`read_table` read *data* as CSV (not as a workbook)?"""
    return not data.startswith((ZIP_SIGNATURE, OLE2_SIGNATURE))


def decode_text(data: bytes) -> str:
    """CSV bytes as text: UTF-16 or UTF-8 as a byte-order mark says, otherwise UTF-8, else
    Windows-1252. Bytes that are no text in that encoding are a 415 that names their line."""
    mark = 0  # bytes of the byte-order mark
    if data.startswith(UTF16_BOMS):
        text = _decode_as_marked(data, "utf-16", "UTF-16")
        encoding, mark = ("utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"), 2
    elif b"\x00" in data:  # binary (or UTF-16 without its mark): refused before decoding
        offset = data.index(b"\x00")
        raise _binary_data(data[:offset].decode("latin-1"), "\x00", offset)
    elif data.startswith(UTF8_BOM):
        # Not Windows-1252 when UTF-8 fails: the mark would be the first header's "ï»¿".
        text = _decode_as_marked(data, "utf-8", "UTF-8").removeprefix("\ufeff")
        encoding, mark = "utf-8", len(UTF8_BOM)
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as not_utf8:
            try:
                text, encoding = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError as not_cp1252:
                raise UnsupportedMediaType(
                    f"the file is neither UTF-8 text ({_undecodable(data, not_utf8)}) nor "
                    f"Windows-1252 text ({_undecodable(data, not_cp1252)}); save it as CSV UTF-8"
                ) from not_cp1252
    text = text.removesuffix("\x1a")  # the end-of-file mark of old DOS tools
    control = CONTROL_CHARACTER.search(text)
    if control is not None:
        before = text[: control.start()]
        raise _binary_data(before, control[0], mark + len(before.encode(encoding)))
    return text


def _binary_data(before: str, control: str, offset: int) -> UnsupportedMediaType:
    """A 415 for the control character *control* at byte *offset*, after the text *before*."""
    line = len(LINE_BREAK.findall(before)) + 1
    return UnsupportedMediaType(
        f"the file holds binary data (line {line}: control character 0x{ord(control):02X} at "
        f"offset {offset:,}); it is not a CSV text file"
    )


def _decode_as_marked(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise UnsupportedMediaType(
            f"the file is not {name} text as its byte-order mark says "
            f"({_undecodable(data, error)}); save it as CSV UTF-8"
        ) from error


def _undecodable(data: bytes, error: UnicodeDecodeError) -> str:
    """Where decoding stopped, as a person finds it in a text editor: ``line 3: byte 0xE9 at
    offset 57`` (lines from 1, ended by CR LF, LF or CR; the offset in bytes from 0)."""
    before = data[: error.start].decode(error.encoding, errors="replace")
    line = len(LINE_BREAK.findall(before)) + 1
    undecodable = data[error.start : error.end]
    shown = " ".join(f"0x{byte:02X}" for byte in undecodable)
    noun = "byte" if len(undecodable) == 1 else "bytes"
    return f"line {line}: {noun} {shown} at offset {error.start:,}"


def _csv_rows(text: str, delimiter: str | None = None) -> Iterator[_Record]:
    if delimiter is None:
        # The delimiter the first line with one uses most (a title above the header may have
        # none; one that has another: see imports.read_import).
        first_line = next(
            (line for line in text.splitlines() if any(map(line.__contains__, CSV_DELIMITERS))),
            "",
        )
        delimiter = max(CSV_DELIMITERS, key=first_line.count)
    # Strict: a quote left open would otherwise swallow every line below it into one cell.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    record_line = 1  # where the record being read begins
    try:
        for record in reader:
            # A line break inside a quoted cell is written as the file's line end (CR LF from
            # Excel on Windows): one \n, as an XLSX cell gives it, so the same answer read from
            # either file is the same text.
            cells = tuple(
                cell.replace("\r\n", "\n").replace("\r", "\n").translate(LINE_BREAKS)
                for cell in record
            )
            errors = tuple(
                index for index, cell in enumerate(cells) if cell.strip() in SPREADSHEET_ERRORS
            )
            yield _Record(cells, error_values=errors)
            record_line = reader.line_num + 1
    except csv.Error as error:
        if str(error) == "unexpected end of data":  # the end of the file inside quotes
            message = (
                f': the row that begins on line {record_line} opens a quoted cell (") that is '
                "never closed"
            )
        else:
            message = f" near line {reader.line_num}: {error}"
        raise ValidationFailed(f"the CSV file cannot be read{message}") from error


DAMAGED_ZIP = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)
"""What reading a damaged ZIP archive raises: a central directory or part damaged in transfer
(a signature, checksum, compressed data, size or offset its headers misstate), a version or
compression no reader knows, encryption."""


def _xlsx_table(data: bytes) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except DAMAGED_ZIP as error:
        raise ValidationFailed("the file is not a valid XLSX workbook (broken ZIP)") from error
    if unpacked > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise ValidationFailed(
            f"the workbook unpacks to {unpacked:,} bytes; at most "
            f"{MAX_XLSX_UNCOMPRESSED_BYTES:,} are read"
        )
    _refuse_costly_markup(data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:
        # Broken workbooks fail in many ways (KeyError, XML errors, …); each is the file's fault.
        raise ValidationFailed("the file is not a valid XLSX workbook") from error
    try:
        # The first one a person sees: a hidden first sheet (an explanation) is passed over.
        visible = [sheet for sheet in workbook.worksheets if sheet.sheet_state == "visible"]
        if not visible:
            raise ValidationFailed("the workbook has no visible worksheet")
        sheet = visible[0]
        # The worksheet's part in the archive, as the workbook names it (openpyxl keeps it in
        # a private attribute in read-only mode).
        path: str = getattr(sheet, "_worksheet_path")  # noqa: B009
        try:
            scan = _scan_sheet(data, path, sheet.title)
            # Down to the last row with content, whatever size the sheet declares (rows past a
            # wrong one would be lost without a word); openpyxl stops parsing after max_row.
            rows = (
                sheet.iter_rows(max_row=scan.last_row, max_col=MAX_COLUMNS, values_only=True)
                if scan.last_row  # max_row=0 would mean every row
                else ()
            )
            return _table(_xlsx_rows(rows, scan), sheet=sheet.title)
        except ValidationFailed:
            raise
        except Exception as error:  # as for a broken workbook: XML, ZIP, value errors, …
            raise ValidationFailed(
                f"the worksheet {sheet.title!r} cannot be read; it is damaged"
            ) from error
    finally:
        workbook.close()


def _refuse_costly_markup(data: bytes) -> None:
    """Refuse XML that costs the parser time out of proportion to its size.

    The XML parser (expat, as Python and openpyxl use it) holds a comment, declaration,
    processing instruction or tag whole until it ends, and looks through it again at every
    chunk it is fed: one of tens of megabytes in a worksheet (a 66 KB upload) kept a worker busy
    for minutes, growing fourfold with each doubling. Spreadsheet programs write none of the
    first three inside a part (only the XML declaration that opens it), and a tag never holds a
    ``<`` (XML escapes it inside attribute values): so no ``<!``, no ``<?`` after the start of a
    part, and no stretch longer than MAX_MARKUP_BYTES between two ``<`` bound every token."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if not info.filename.endswith((".xml", ".rels")):
                continue
            try:
                with archive.open(info) as part:
                    _check_markup(part, info.filename)
            except DAMAGED_ZIP as error:
                raise ValidationFailed(
                    f"the file is not a valid XLSX workbook (its part {info.filename} is damaged)"
                ) from error


def _check_markup(part: IO[bytes], name: str) -> None:
    offset, last = 0, 0  # bytes read so far; where the last "<" was
    previous = b""
    while chunk := part.read(1 << 20):
        if b"\x00" in chunk:  # UTF-16 or -32, whose markup these byte checks would not see
            raise ValidationFailed(
                f"the workbook's part {name} is not UTF-8 XML, as spreadsheet programs write it; "
                "save it again from one"
            )
        joined = previous + chunk  # a "<!" or "<?" split between two chunks
        found = joined.find(b"<!")
        # The XML declaration opens a part (after a byte-order mark, if any).
        declaration = 1 + (3 if chunk.startswith(b"\xef\xbb\xbf") else 0)
        question = joined.find(b"<?", declaration if offset == 0 else 0)
        if found >= 0 or question >= 0:
            raise ValidationFailed(
                f"the workbook's part {name} holds XML declarations, comments or processing "
                "instructions no spreadsheet program writes; save it again from one"
            )
        opens = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == ord("<")) + offset
        gaps = np.diff(np.concatenate([[last], opens])) if len(opens) else np.zeros(0)
        if (len(gaps) and gaps.max() > MAX_MARKUP_BYTES) or (
            offset + len(chunk) - (opens[-1] if len(opens) else last) > MAX_MARKUP_BYTES
        ):
            raise ValidationFailed(
                f"the workbook's part {name} holds a stretch of more than {MAX_MARKUP_BYTES:,} "
                "bytes without markup, longer than any cell a spreadsheet program writes"
            )
        if len(opens):
            last = int(opens[-1])
        offset += len(chunk)
        previous = chunk[-1:]


@dataclass(frozen=True, slots=True)
class SheetScan:
    """What one pass over a worksheet's XML finds (:func:`_scan_sheet`)."""

    last_row: int
    """The last row with content: a cell with a value, an inline text or a formula (0: none)."""
    unsaved: dict[int, tuple[int, ...]]
    """The formula cells without a saved result, by row number: their columns (from 0)."""
    errors: dict[int, tuple[int, ...]]
    """The cells whose value is an error (``t="e"``: ``#N/A``, ``#REF!``, …), as ``unsaved``."""


def _scan_sheet(data: bytes, path: str, title: str) -> SheetScan:
    """The last row with content and the formulas without a saved result of the worksheet at
    *path* (named *title*); a sheet past the limits of :data:`MAX_XLSX_ROW`,
    :data:`MAX_XLSX_CELLS` or :data:`MAX_SHEET_COLUMNS` is a 422, raised as soon as the
    stream shows it. No tree is built, so memory stays the same however many rows there are."""
    scanner = _SheetScanner(title)
    parser = ET.XMLParser(target=scanner)
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(path) as part:
        while chunk := part.read(1 << 16):
            parser.feed(chunk)
    parser.close()
    return SheetScan(
        scanner.last_row,
        {number: tuple(columns) for number, columns in scanner.unsaved.items()},
        {number: tuple(columns) for number, columns in scanner.errors.items()},
    )


class _SheetScanner:
    """The target of an XML parser over a worksheet (ElementTree calls ``start``, ``data`` and
    ``end`` for each element and text; the tags are ``{namespace}name`` whatever prefix the
    file uses).

    openpyxl gives a formula's saved result or the formula, and ``None`` both for an empty cell
    and for a formula no spreadsheet program calculated; so a formula without a saved result is
    found here: a cell with an ``<f>`` and no ``<v>``, or an empty one where the result is not
    text (Excel saves an empty text result as ``t="str"`` with ``<v/>``). Rows are numbered as
    openpyxl numbers them: by their ``r``, else one past the row before; a row numbered no
    further down than the one before is refused (openpyxl would drop it without a word, and
    such rows would escape :data:`MAX_XLSX_ROW`)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.row = self.column = self.last_row = 0
        self.cells = self.row_cells = 0  # so far, and in the current row
        self.row_content = self.in_cell = self.in_value = False
        self.cell_type: str | None = None
        # What the current cell holds: a <v>, text in it, an <f>, an <is>.
        self.value = self.text = self.formula = self.inline_text = False
        self.unsaved: dict[int, list[int]] = {}
        self.errors: dict[int, list[int]] = {}

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        if tag == _CELL:
            reference = attributes.get("r")
            self.column = _column(reference) if reference else self.column + 1
            self.cells += 1
            self.row_cells += 1
            if self.row_cells > MAX_SHEET_COLUMNS:
                raise ValidationFailed(
                    f"row {self.row:,} of sheet {self.title!r} has more than "
                    f"{MAX_SHEET_COLUMNS:,} cells, more than a worksheet has columns"
                )
            self.in_cell = True
            self.cell_type = attributes.get("t")
            self.value = self.text = self.formula = self.inline_text = False
        elif tag == _ROW:
            number = int(attributes.get("r") or self.row + 1)
            if number <= self.row:  # openpyxl would skip it, so more rows than numbers
                raise ValidationFailed(
                    f"row {number:,} of sheet {self.title!r} comes after row {self.row:,}; the "
                    "worksheet is damaged"
                )
            self.row = number
            self.column = self.row_cells = 0
            self.row_content = False
        elif self.in_cell:
            if tag == _VALUE:
                self.value = self.in_value = True
            elif tag == _FORMULA:
                self.formula = True
            elif tag == _INLINE_TEXT:
                self.inline_text = True

    def data(self, text: str) -> None:
        if self.in_value and text:
            self.text = True

    def end(self, tag: str) -> None:
        if tag == _VALUE:
            self.in_value = False
        elif tag == _CELL:
            self.in_cell = False
            if self.text or self.inline_text or self.formula:
                self._content()
        elif tag == _ROW and self.row_content and self.cells > MAX_XLSX_CELLS:
            raise ValidationFailed(
                f"sheet {self.title!r} has {self.cells:,} cells (with a value, a formula or "
                f"only formatting) down to row {self.row:,}; at most {MAX_XLSX_CELLS:,} are "
                "read: copy the table into a new workbook"
            )

    def _content(self) -> None:
        """The current cell holds a value, an inline text or a formula."""
        if self.row > MAX_XLSX_ROW:
            raise ValidationFailed(
                f"cell {get_column_letter(self.column)}{self.row} of sheet {self.title!r} holds "
                f"a value or formula, but a sheet is read down to row {MAX_XLSX_ROW:,}; delete "
                "the rows below the table"
            )
        if self.column > MAX_COLUMNS:  # openpyxl is not asked for it: it would be lost
            raise ValidationFailed(
                f"cell {get_column_letter(self.column)}{self.row} of sheet {self.title!r} holds "
                f"a value or formula, but a sheet is read up to column "
                f"{get_column_letter(MAX_COLUMNS)} ({MAX_COLUMNS} columns); delete the columns "
                "right of the table"
            )
        self.last_row = max(self.last_row, self.row)
        self.row_content = True
        saved = self.text or (self.value and self.cell_type == "str")
        if self.formula and not saved:
            self.unsaved.setdefault(self.row, []).append(self.column - 1)
        elif self.cell_type == "e":  # openpyxl reads the error as text: "#N/A"
            self.errors.setdefault(self.row, []).append(self.column - 1)

    def close(self) -> None:
        """The end of the document (the parser's ``close`` returns what this does)."""


def _column(reference: str) -> int:
    """The column (from 1) of a cell reference such as ``C12``."""
    return column_index_from_string(reference.rstrip("0123456789").lstrip("$"))


def _xlsx_rows(rows: Iterable[tuple[object, ...]], scan: SheetScan) -> Iterator[_Record]:
    """The worksheet's rows (from row 1), each with its formulas without a saved result and
    its error values."""
    for number, values in enumerate(rows, start=1):
        formulas = scan.unsaved.get(number, ())
        if not formulas and values.count(None) == len(values):
            yield _EMPTY  # an empty row (a sheet can pad a million of them)
        else:
            cells = tuple(_cell_text(value) for value in values)
            yield _Record(cells, formulas, scan.errors.get(number, ()))


def _cell_text(value: object) -> str:
    """A cell's value as the text a person sees (dates as YYYY-MM-DD, 3.0 as 3)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        # Excel writes a carriage return in a cell as _x000D_, which openpyxl leaves as it is
        # (and a vertical tab as _x000B_).
        text = unescape(value).replace("\r\n", "\n").replace("\r", "\n")
        # _xD83D__xDD25_ is an emoji written as its two UTF-16 halves: join them; a half alone
        # (no text can hold it, nor can a response) becomes U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return text.translate(LINE_BREAKS)
    return str(value)


def _table(records: Iterable[_Record], *, sheet: str = "") -> Table:
    header_row = 0
    header: tuple[str, ...] = ()
    rows: list[tuple[int, tuple[str, ...]]] = []
    unsaved: set[tuple[int, int]] = set()
    errors: set[tuple[int, int]] = set()
    for number, record in enumerate(records, start=1):
        if number > MAX_SHEET_ROWS:
            raise ValidationFailed(f"the file has more than {MAX_SHEET_ROWS:,} rows")
        if record is _EMPTY:  # a sheet can pad a million of them: nothing to look at
            continue
        cells = tuple(cell.strip() for cell in record.cells)
        if not any(cells) and not record.unsaved_formulas:
            continue
        while cells and not cells[-1]:  # XLSX rows come padded to the columns read
            cells = cells[:-1]
        if any(cells[MAX_COLUMNS:]):  # CSV (the XLSX scan refuses such a cell already)
            raise ValidationFailed(
                f"row {number} has more than {MAX_COLUMNS} columns; at most {MAX_COLUMNS} are read"
            )
        unsaved.update((number, index) for index in record.unsaved_formulas)
        errors.update((number, index) for index in record.error_values)
        if not header_row:
            header_row, header = number, cells
            continue
        if len(rows) == MAX_ROWS:
            raise ValidationFailed(
                f"the file has more than {MAX_ROWS:,} rows; split it into smaller files"
            )
        rows.append((number, cells))
    # A workbook's problems name the worksheet read, which need not be the one on screen.
    where = f"the worksheet {sheet!r}" if sheet else "the file"
    if not header_row:
        raise ValidationFailed(f"{where} is empty")
    if not rows:
        raise ValidationFailed(f"{where} has a header (row {header_row}) but no rows below it")
    return Table(
        header_row=header_row,
        header=header,
        rows=tuple(rows),
        sheet=sheet,
        unsaved_formulas=frozenset(unsaved),
        error_values=frozenset(errors),
    )


# --- the template -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateSheet:
    """An extra sheet of the XLSX template: a title, column headings and rows."""

    title: str
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def template_csv(header: Iterable[str]) -> bytes:
    """The CSV template: the header line only, ``;``-separated, UTF-8 with a byte-order mark
    so Excel in a Dutch locale opens it in columns with accents intact."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerow(header)
    return buffer.getvalue().encode("utf-8-sig")


def _cell(value: object) -> object:
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def template_xlsx(
    header: tuple[str, ...],
    choices: dict[str, tuple[str, ...]],
    sheets: Iterable[TemplateSheet],
) -> bytes:
    """The XLSX template: an empty first sheet with ``header`` (drop-down lists for the columns
    in ``choices``), followed by explanatory ``sheets``."""
    workbook = openpyxl.Workbook()
    answers = workbook.active
    assert answers is not None
    answers.title = "antwoorden"
    answers.append(list(header))
    answers.freeze_panes = "A2"
    for index, name in enumerate(header, start=1):
        letter = get_column_letter(index)
        answers[f"{letter}1"].font = Font(bold=True)
        answers.column_dimensions[letter].width = 60 if index == 3 else 18
        if name in choices:
            validation = DataValidation(
                type="list", formula1=f'"{",".join(choices[name])}"', allow_blank=True
            )
            validation.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
            answers.add_data_validation(validation)
    for spec in sheets:
        sheet = workbook.create_sheet(spec.title)
        sheet.append(list(spec.headings))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in spec.rows:
            # Stored texts (a meeting title, say) may hold control characters XLSX cannot.
            sheet.append([_cell(value) for value in row])
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    # Text, whatever it begins with: openpyxl writes "=…" as a formula, which
                    # the spreadsheet program of whoever downloads the template would run.
                    cell.data_type = "s"
        for index in range(1, len(spec.headings) + 1):
            sheet.column_dimensions[get_column_letter(index)].width = 40
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
