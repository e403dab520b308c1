"""Reading import files and checking rows: pure functions, no database."""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet._reader import WorkSheetParser

from app.errors import CopmatchError, UnsupportedMediaType, ValidationFailed
from app.models import Priority
from app.services import import_files, import_rows
from app.services.import_files import (
    MAX_SHEET_COLUMNS,
    MAX_SHEET_ROWS,
    MAX_XLSX_ROW,
    MAX_XLSX_UNCOMPRESSED_BYTES,
    Table,
    decode_text,
    read_table,
    template_csv,
)
from app.services.import_rows import (
    TEMPLATE_HEADER,
    ImportProblem,
    Kind,
    find_header,
    identity_text,
    map_columns,
    parse_date,
    parse_rows,
    quote,
)
from app.services.imports import read_import
from tests.imports import csv_file, xlsx_file


def _table(*rows: tuple[str, ...]) -> Table:
    return Table(header_row=1, header=rows[0], rows=tuple(enumerate(rows[1:], start=2)))


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_csv_delimiter_is_taken_from_the_header_line(delimiter: str) -> None:
    content = csv_file(
        [["Organisatie", "Soort", "Tekst"], ["Haarlem", "need", "a; b, c"]], delimiter=delimiter
    )
    table = read_table(content, "a.csv")
    assert table.header == ("Organisatie", "Soort", "Tekst")
    assert table.rows == ((2, ("Haarlem", "need", "a; b, c")),)


def test_blank_rows_are_skipped_and_rows_keep_their_spreadsheet_numbers() -> None:
    content = b"\r\n;;\r\norganisatie;soort;tekst\r\n\r\n  Haarlem ; need ;  Warmte  \r\n;;\r\n"
    table = read_table(content, "a.csv")
    assert (table.header_row, table.header) == (3, ("organisatie", "soort", "tekst"))
    assert table.rows == ((5, ("Haarlem", "need", "Warmte")),)


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("Café".encode(), "Café"),
        (b"\xef\xbb\xbf" + "Café".encode(), "Café"),
        ("Café ’s".encode("cp1252"), "Café ’s"),
        ("\ufeffCafé".encode("utf-16-le"), "Café"),
        ("Café".encode("utf-16"), "Café"),
        (b"Caf\xe9\x1a", "Café"),
    ],
)
def test_text_is_utf8_utf16_or_windows_1252(content: bytes, text: str) -> None:
    assert decode_text(content) == text


@pytest.mark.parametrize(
    "content", [b"abc\x00def", b"abc\x07def", b"caf\xe9 \x81", b"\xff\xfe\x00\xd8"]
)
def test_binary_or_undecodable_text_is_refused(content: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_text(content)


def test_a_line_break_in_a_quoted_csv_cell_is_the_one_an_xlsx_cell_has() -> None:
    """Excel on Windows writes it as CR LF: stored so, the same answer read from an XLSX later
    counted as changed (updated) and was rewritten."""
    csv_content = b'organisatie;soort;tekst\r\nHaarlem;need;"Regel een\r\nregel twee\rdrie"\r\n'
    xlsx_content = xlsx_file(
        [["organisatie", "soort", "tekst"], ["Haarlem", "need", "Regel een\nregel twee\ndrie"]]
    )
    for content, filename in ((csv_content, "a.csv"), (xlsx_content, "a.xlsx")):
        assert read_table(content, filename).rows == (
            (2, ("Haarlem", "need", "Regel een\nregel twee\ndrie")),
        ), filename


def test_a_vertical_tab_or_form_feed_in_a_cell_is_a_line_break() -> None:
    """Word's Shift+Enter, pasted into a cell: as Excel saves it in CSV (unquoted) and XLSX."""
    csv_content = b"organisatie;soort;tekst\r\nHaarlem;need;Hulp bij\x0bde TVW\x0c!\r\n"
    xlsx_content = _with_sheet_xml(
        xlsx_file([["organisatie", "soort", "tekst"], ["Haarlem", "need", "REGEL"]]),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace("REGEL", "Hulp bij_x000B_de TVW_x000C_!"),
    )
    for content, filename in ((csv_content, "a.csv"), (xlsx_content, "a.xlsx")):
        assert read_table(content, filename).rows == (
            (2, ("Haarlem", "need", "Hulp bij\nde TVW\n!")),
        ), filename


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (
            b"organisatie;soort;tekst\r\nHaarlem;need;Caf\xe9\r\nHaarlem;need;\x81\r\n",
            "the file is neither UTF-8 text (line 2: byte 0xE9 at offset 41) nor Windows-1252 "
            "text (line 3: byte 0x81 at offset 57); save it as CSV UTF-8",
        ),
        (
            b"organisatie\rHaarlem\r\n\nUtrecht\n\x9d",  # lines end in CR, CR LF or LF
            "the file is neither UTF-8 text (line 5: byte 0x9D at offset 30) nor Windows-1252 "
            "text (line 5: byte 0x9D at offset 30); save it as CSV UTF-8",
        ),
        (
            b"\xef\xbb\xbforganisatie;soort;tekst\nHaarlem;need;Caf\xe9\n",
            "the file is not UTF-8 text as its byte-order mark says (line 2: byte 0xE9 at "
            "offset 43); save it as CSV UTF-8",
        ),
        (
            "\ufefforganisatie\r\nHaarlem\r\n".encode("utf-16-le") + b"\x00\xd8",
            "the file is not UTF-16 text as its byte-order mark says (line 3: bytes 0x00 0xD8 "
            "at offset 46); save it as CSV UTF-8",
        ),
        (
            b"organisatie;soort;tekst\r\nHaarlem;need;Hulp bij\x07de TVW\r\n",
            "the file holds binary data (line 2: control character 0x07 at offset 46); it is "
            "not a CSV text file",
        ),
        (
            "\ufeffa\r\nCafé\x01".encode("utf-16-le"),
            "the file holds binary data (line 2: control character 0x01 at offset 16); it is "
            "not a CSV text file",
        ),
        (
            b"\xef\xbb\xbfa\nCaf\xc3\xa9\x1f",
            "the file holds binary data (line 2: control character 0x1F at offset 10); it is "
            "not a CSV text file",
        ),
        (
            b"organisatie\r\nCaf\xe9\n\x00",
            "the file holds binary data (line 3: control character 0x00 at offset 18); it is "
            "not a CSV text file",
        ),
    ],
)
def test_undecodable_text_or_binary_data_is_refused_naming_its_line(
    content: bytes, detail: str
) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        read_table(content, "a.csv")
    assert raised.value.detail == detail


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (
            b'organisatie;soort;tekst\r\nHaarlem;need;"Hulp, wie?\r\nZaanstad;offer;Warmte\r\n',
            'the CSV file cannot be read: the row that begins on line 2 opens a quoted cell (") '
            "that is never closed",
        ),
        (  # a later quote closes it, and more text follows
            b'organisatie;soort;tekst\r\nHaarlem;need;"Hulp\r\nZaanstad;offer;"Warmte"\r\n',
            "the CSV file cannot be read near line 3: ';' expected after '\"'",
        ),
        (
            b'organisatie;soort;tekst\r\n"Haarlem\r\n";need;Hulp\r\nZaanstad;"offer\r\n',
            'the CSV file cannot be read: the row that begins on line 4 opens a quoted cell (") '
            "that is never closed",
        ),
        (
            b'organisatie;soort;tekst\r\nHaarlem;need;"open' + b"x" * 200_000,
            "the CSV file cannot be read near line 2: field larger than field limit (131072)",
        ),
    ],
)
def test_a_broken_csv_quote_is_refused_naming_its_line(content: bytes, detail: str) -> None:
    """A quote never closed is not read as one cell holding every line below it."""
    with pytest.raises(ValidationFailed) as raised:
        read_table(content, "a.csv")
    assert raised.value.detail == detail


def test_xlsx_cells_read_as_a_person_sees_them() -> None:
    content = xlsx_file(
        [
            ["organisatie", "soort", "tekst", "capaciteit", "bijeenkomst"],
            ["Haarlem", "offer", "Warmte", 3.0, None],
            [None, None, None, None, None],
            ["Zaanstad", "offer", 12345, 2.5, dt.datetime(2023, 6, 14)],  # type: ignore[list-item]
        ]
    )
    table = read_table(content, "whatever.bin")
    assert table.rows == (
        (2, ("Haarlem", "offer", "Warmte", "3")),
        (4, ("Zaanstad", "offer", "12345", "2.5", "2023-06-14")),
    )


def test_xlsx_that_unpacks_too_large_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (MAX_XLSX_UNCOMPRESSED_BYTES + 1))
    assert len(buffer.getvalue()) < 200_000  # a zip bomb: small packed, large unpacked
    with pytest.raises(ValidationFailed) as raised:
        read_table(buffer.getvalue(), "bom.xlsx")
    assert raised.value.detail == (
        "the workbook unpacks to 67,108,865 bytes; at most 67,108,864 are read"
    )


def _damaged(how: str) -> bytes:
    """A workbook openpyxl wrote, damaged as a transfer or a forger damages one."""
    data = xlsx_file([["organisatie", "soort", "tekst"], ["Haarlem", "need", "Warmtenet"]])
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = archive.getinfo("xl/worksheets/sheet1.xml")
    if how == "checksum":
        checksum = struct.pack("<I", info.CRC)
        return data.replace(checksum, struct.pack("<I", info.CRC ^ 0xDEADBEEF))
    if how == "deflate data":
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        damaged = bytearray(data)
        damaged[start + 10] ^= 0xFF
        return bytes(damaged)
    if how == "size":  # understated: the part is cut off there, and fails its checksum
        size = struct.pack("<I", info.file_size)
        return data.replace(size, struct.pack("<I", 100))
    damaged = bytearray(data)
    if how == "directory offset":  # the central directory's offset, 100 bytes too far
        end = data.rfind(b"PK\x05\x06")
        offset = struct.unpack("<I", data[end + 16 : end + 20])[0]
        damaged[end + 16 : end + 20] = struct.pack("<I", offset + 100)
    else:  # the version needed to extract the first part: one no reader knows
        first = data.find(b"PK\x01\x02")
        damaged[first + 6 : first + 8] = struct.pack("<H", 0xFF)
    return bytes(damaged)


@pytest.mark.parametrize(
    ("how", "detail"),
    [
        ("checksum", "its part xl/worksheets/sheet1.xml is damaged"),
        ("deflate data", "its part xl/worksheets/sheet1.xml is damaged"),
        ("size", "its part xl/worksheets/sheet1.xml is damaged"),
        ("directory offset", "its part docProps/app.xml is damaged"),
        ("version", "broken ZIP"),
    ],
)
def test_a_damaged_workbook_is_refused_not_a_crash(how: str, detail: str) -> None:
    """A BadZipFile, zlib.error, ValueError or NotImplementedError from a damaged archive went
    up as a 500 (and a traceback from the CLI)."""
    with pytest.raises(ValidationFailed) as raised:
        read_table(_damaged(how), "antwoorden.xlsx")
    assert raised.value.detail == f"the file is not a valid XLSX workbook ({detail})"


LONGEST_CELL = [["organisatie", "soort", "tekst"], ["Haarlem", "need", "x" * 32_767]]
"""A header and a row whose text is as long as Excel keeps one."""


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (
            lambda xml: xml.replace("<sheetData>", "<!--" + "x" * 8_000_000 + "--><sheetData>"),
            "holds XML declarations, comments or processing instructions no spreadsheet program "
            "writes; save it again from one",
        ),
        (
            lambda xml: xml.replace("<sheetData>", "<?pi data?><sheetData>"),
            "holds XML declarations, comments or processing instructions no spreadsheet program "
            "writes; save it again from one",
        ),
        (
            lambda xml: xml.replace("<sheetData>", '<sheetData a="' + ">" * 300_000 + '">', 1),
            "holds a stretch of more than 262,144 bytes without markup, longer than any cell a "
            "spreadsheet program writes",
        ),
    ],
)
def test_xml_that_would_cost_the_parser_minutes_is_refused(
    change: Callable[[str], str], detail: str
) -> None:
    """A comment of tens of megabytes in a worksheet (a 66 KB upload) kept a worker busy for
    minutes: the XML parser looks through an unfinished token again at every chunk."""
    upload = _with_sheet_xml(xlsx_file(LONGEST_CELL), "xl/worksheets/sheet1.xml", change)
    with pytest.raises(ValidationFailed) as raised:
        read_table(upload, "bom.xlsx")
    assert raised.value.detail == f"the workbook's part xl/worksheets/sheet1.xml {detail}"


def test_a_worksheet_in_utf16_is_refused_and_one_with_a_byte_order_mark_read() -> None:
    """The checks against costly markup read bytes: UTF-16 would hide a comment from them."""
    content = xlsx_file(LONGEST_CELL)
    source, target, marked = io.BytesIO(content), io.BytesIO(), io.BytesIO()
    with (
        zipfile.ZipFile(source) as old,
        zipfile.ZipFile(target, "w") as wide,
        zipfile.ZipFile(marked, "w") as bom,
    ):
        for item in old.infolist():
            data = old.read(item)
            sheet = item.filename == "xl/worksheets/sheet1.xml"
            utf16 = data.decode().replace("UTF-8", "UTF-16").encode("utf-16")
            wide.writestr(item.filename, utf16 if sheet else data)
            bom.writestr(item.filename, b"\xef\xbb\xbf" + data if sheet else data)
    with pytest.raises(ValidationFailed) as raised:
        read_table(target.getvalue(), "wijd.xlsx")
    assert raised.value.detail == (
        "the workbook's part xl/worksheets/sheet1.xml is not UTF-8 XML, as spreadsheet "
        "programs write it; save it again from one"
    )
    assert [row[2] for _, row in read_table(marked.getvalue(), "bom.xlsx").rows] == ["x" * 32_767]


def test_a_cell_of_the_longest_text_excel_keeps_is_read() -> None:
    table = read_table(xlsx_file(LONGEST_CELL), "lang.xlsx")
    assert [cells[2] for _, cells in table.rows] == ["x" * 32_767]


def test_too_many_columns_is_refused() -> None:
    content = csv_file([["organisatie", *[""] * 60], ["Haarlem", *[""] * 59, "x"]])
    with pytest.raises(ValidationFailed, match=r"^row 2 has more than 50 columns"):
        read_table(content, "a.csv")


def test_headers_match_in_dutch_or_english_whatever_the_case_or_spacing() -> None:
    header = (
        " Organisation ",
        "KIND",
        "text",
        "Onder werpen",
        "Capacity",
        "priority",
        "Note",
        "Person Name",
        "E-Mail",
        "Department",
        "meeting",
    )
    positions, names, problems = map_columns(_table(header))
    assert problems == []
    assert positions == {
        "organisation": 0,
        "kind": 1,
        "text": 2,
        "topics": 3,
        "capacity": 4,
        "priority": 5,
        "note": 6,
        "person_name": 7,
        "email": 8,
        "department": 9,
        "meeting": 10,
    }
    assert names["email"] == "E-Mail"


def test_repeated_column_is_a_problem() -> None:
    _, _, problems = map_columns(_table(("organisatie", "soort", "tekst", "Text")))
    assert problems == [ImportProblem(1, "Text", "Text", "column 'Text' repeats column 'tekst'")]


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("behoefte", Kind.NEED),
        ("Need", Kind.NEED),
        ("AANBOD", Kind.OFFER),
        ("offers", Kind.OFFER),
        ("vorm", Kind.FORMAT),
        ("Format preference", Kind.FORMAT),
    ],
)
def test_kind_words(word: str, kind: Kind) -> None:
    text = "leerkring" if kind is Kind.FORMAT else "Warmte"
    parsed, problems = parse_rows(
        _table(("organisatie", "soort", "tekst"), ("Haarlem", word, text))
    )
    assert problems == []
    assert parsed[0].kind is kind


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("leerkring", "learning-circle"),
        ("Kennissessie", "knowledge-session"),
        ("werkbezoek", "site-visit"),
        ("intervisie", "peer-review"),
        ("Buddy", "one-to-one"),
        ("online community", "online-community"),
        ("Regiobijeenkomst", "regional-meeting"),
        ("serious_game", "serious-game"),
        ("1-op-1", "one-to-one"),
    ],
)
def test_format_words(word: str, value: str) -> None:
    parsed, problems = parse_rows(_table(("organisatie", "soort", "tekst"), ("X", "vorm", word)))
    assert problems == []
    assert parsed[0].text == value


@pytest.mark.parametrize(
    ("cell", "slugs"),
    [
        ("Aquathermie (TEO, TEA, TED)", ("aquathermie",)),
        ("aquathermie (teo,tea ,  ted)", ("aquathermie",)),
        (
            "Omgevingswet, omgevingsvisie en omgevingsplan, Aquathermie (TEO, TEA, TED), "
            "warmtenetten",
            ("aquathermie", "omgevingswet", "warmtenetten"),
        ),
        (
            "Procurement, state aid and contracts; Aanbesteding, staatssteun en contracten",
            ("aanbesteding-staatssteun",),
        ),
        ("warmtenetten, Omgevingswet", ("omgevingswet", "warmtenetten")),
    ],
)
def test_topic_labels_with_commas_are_read_whole(cell: str, slugs: tuple[str, ...]) -> None:
    """As the template's sheet onderwerpen lists them."""
    parsed, problems = parse_rows(
        _table(("organisatie", "soort", "tekst", "onderwerpen"), ("X", "need", "Warmte", cell))
    )
    assert problems == []
    assert parsed[0].topics == slugs


def test_a_topic_label_cut_at_a_comma_is_unknown() -> None:
    _, problems = parse_rows(
        _table(
            ("organisatie", "soort", "tekst", "onderwerpen"),
            ("X", "need", "Warmte", "Aanbesteding, staatssteun"),
        )
    )
    assert [p.message for p in problems] == [
        "unknown topic 'Aanbesteding'; did you mean 'aanbesteding-staatssteun'?",
        "unknown topic 'staatssteun'; did you mean 'aanbesteding-staatssteun'?",
    ]


def test_values_of_a_need_and_an_offer() -> None:
    header = (
        "organisatie",
        "soort",
        "tekst",
        "onderwerpen",
        "capaciteit",
        "prioriteit",
        "e-mail",
        "bijeenkomst",
    )
    parsed, problems = parse_rows(
        _table(
            header,
            (
                "Haarlem",
                "need",
                "Warmte",
                "Aquathermie, wijkuitvoeringsplan;aquathermie",
                "",
                "Hoog",
                "A.Visser@Example.org",
                "14-06-2023",
            ),
            ("Haarlem", "offer", "Hulp", "", "4", "", "", ""),
        )
    )
    assert problems == []
    need, offer = parsed
    assert (need.topics, need.priority, need.email, need.meeting) == (
        ("aquathermie", "wijkuitvoeringsplan"),
        Priority.HIGH,
        "a.visser@example.org",
        "14-06-2023",
    )
    assert (offer.capacity, offer.priority, offer.topics) == (4, Priority.NORMAL, ())
    assert need.columns == frozenset(
        {"organisation", "kind", "text", "topics", "capacity", "priority", "email", "meeting"}
    )


def test_problems_of_single_rows() -> None:
    header = (
        "organisatie",
        "soort",
        "tekst",
        "onderwerpen",
        "capaciteit",
        "toelichting",
        "",
        "afdeling",
    )
    long_text = "x" * 2001
    _, problems = parse_rows(
        _table(
            header,
            ("", "need", long_text, "", "", "", "", ""),
            ("Haarlem", "need", "Warmte", "", "2", "", "", ""),
            ("Haarlem", "vorm", "leerkring", "aquathermie", "", "", "verdwaald", ""),
            ("Haarlem", "offer", "Hulp", "", "1,5", "graag", "", "wonen"),
            ("Haarlem", "", "Hulp", "", "", "", "", ""),
            ("Haarlem", "need", "", "", "", "", "", ""),
            ("Haarlem", "offer", "\u200b\u2060", "", "", "", "", ""),  # shows nothing
        )
    )
    assert [(p.row, p.column, p.message) for p in problems] == [
        (2, "organisatie", "empty; fill in the organisation's name or CBS code"),
        (2, "tekst", f"text '{'x' * 59}…' has 2,001 characters; at most 2,000"),
        (3, "capaciteit", "capacity '2' applies to offers only; this row is a need"),
        (4, "column G", "value 'verdwaald' is in column G, which has no header"),
        (4, "onderwerpen", "topics 'aquathermie' apply to needs and offers only"),
        (5, "capaciteit", "capacity '1,5' is not a whole number from 1 to 100"),
        (5, "toelichting", "note 'graag' applies to formats only; this row is an offer"),
        (
            5,
            "afdeling",
            "department 'wonen' needs a person: fill in e-mail (and naam for someone new)",
        ),
        (6, "soort", "empty; use need, offer or format (behoefte, aanbod, vorm)"),
        (7, "tekst", "empty; fill in the text of the need or offer"),
        (8, "tekst", "empty; fill in the text of the need or offer"),
    ]


@pytest.mark.parametrize(
    ("cell", "capacity"),
    [("1", 1), ("100", 100), ("007", 7), (5.0, 5), (12, 12), ("  8 ", 8)],
)
def test_capacity_is_a_whole_number(cell: str | float, capacity: int) -> None:
    """As typed in a CSV file, or a whole number in an XLSX cell (a CSV's "5.0" is not)."""
    rows = [["organisatie", "soort", "tekst", "capaciteit"], ["Haarlem", "offer", "Hulp", cell]]
    files = [(xlsx_file(rows), "a.xlsx")]
    files += [] if isinstance(cell, float) else [(csv_file(rows), "a.csv")]
    for content, filename in files:
        parsed, problems = parse_rows(read_table(content, filename))
        assert (problems, [row.capacity for row in parsed]) == ([], [capacity])


@pytest.mark.parametrize(
    "cell",
    ["1.000", "1_0", "1e2", "4.0", "2,5", "0", "000", "101", "+3", "-3", "\uff13", "9" * 5000],
)
def test_capacity_that_is_no_plain_whole_number_is_a_problem(cell: str) -> None:
    """Not read loosely: "1.000" (a thousand, in Dutch) is not 1, "1_0" not 10."""
    _, problems = parse_rows(
        _table(("organisatie", "soort", "tekst", "capaciteit"), ("Haarlem", "offer", "Hulp", cell))
    )
    assert [(p.column, p.value) for p in problems] == [("capaciteit", cell)]
    assert problems[0].message == (f"capacity {quote(cell)} is not a whole number from 1 to 100")


def test_too_many_topics() -> None:
    from app.services.topics import taxonomy

    slugs = [topic.slug for topic in taxonomy().topics][:21]
    _, problems = parse_rows(
        _table(
            ("organisatie", "soort", "tekst", "onderwerpen"),
            ("Haarlem", "need", "Warmte", ";".join(slugs)),
        )
    )
    assert [p.message.split(";")[-1] for p in problems] == [" at most 20"]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            ";".join(f"warmtenet{n:05d}" for n in range(8000)),
            "more than 20 topics in 'warmtenet00000;warmtenet00001;warmtenet00002;warmtenet00003…'"
            "; at most 20",
        ),
        (
            ", ".join(f"w{n}" for n in range(21)),
            "21 topics in 'w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13,…'; "
            "at most 20",
        ),
    ],
)
def test_too_many_topics_is_one_problem_before_any_is_looked_up(cell: str, message: str) -> None:
    """Each unknown topic costs a search for the closest known one: not thousands per cell."""
    _, problems = parse_rows(
        _table(("organisatie", "soort", "tekst", "onderwerpen"), ("Haarlem", "need", "W", cell))
    )
    assert [(p.column, p.message) for p in problems] == [("onderwerpen", message)]


def test_only_a_files_first_unknown_topics_get_a_closest_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(import_rows, "MAX_TOPIC_HINTS", 2)
    header = ("organisatie", "soort", "tekst", "onderwerpen")
    rows = [("Haarlem", "need", f"W{n}", "aquatermie") for n in range(2)]

    _, problems = parse_rows(_table(header, *rows, ("Haarlem", "need", "W", "warmtenet; aqua")))

    assert [(p.row, p.message) for p in problems] == [
        (2, "unknown topic 'aquatermie'; did you mean 'aquathermie'?"),
        (3, "unknown topic 'aquatermie'; did you mean 'aquathermie'?"),
        (4, "unknown topic 'warmtenet'; see GET /topics"),
        (4, "unknown topic 'aqua'; see GET /topics"),
    ]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2023-06-14", dt.date(2023, 6, 14)),
        ("14-06-2023", dt.date(2023, 6, 14)),
        ("14/6/2023", dt.date(2023, 6, 14)),
        ("31-02-2023", None),
        ("Kick-off", None),
    ],
)
def test_parse_date(text: str, day: dt.date | None) -> None:
    assert parse_date(text) == day


def test_identity_ignores_case_and_white_space() -> None:
    assert identity_text("  Warmtenet\tin de  WIJK ") == identity_text("warmtenet in de wijk")
    assert identity_text("Warmtenet") != identity_text("Warmtenetten")


def test_csv_template_reads_back_as_the_header() -> None:
    content = template_csv(TEMPLATE_HEADER)
    assert content.startswith(b"\xef\xbb\xbf")
    with pytest.raises(CopmatchError, match="but no rows below it"):
        read_table(content, "template.csv")


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("A.Visser@Example.org", "a.visser@example.org"),
        ("jan@haarlem.local", "jan@haarlem.local"),  # the API takes special-use domains too
        ("Jan <jan@example.org>", None),  # a display name is not an address, there either
        ("geen-adres", None),
    ],
)
def test_email_addresses_are_those_the_api_takes(email: str, stored: str | None) -> None:
    parsed, problems = parse_rows(
        _table(("organisatie", "soort", "tekst", "e-mail"), ("Haarlem", "need", "Warmte", email))
    )
    assert [row.email for row in parsed] == ([stored] if stored else [])
    assert [p.column for p in problems] == ([] if stored else ["e-mail"])


def _with_sheet_xml(content: bytes, part: str, change: Callable[[str], str]) -> bytes:
    """*content* (an XLSX file) with one of its XML parts changed, as other tools write it."""
    source, target = io.BytesIO(content), io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            new.writestr(item, change(data.decode()).encode() if item.filename == part else data)
    return target.getvalue()


def test_xlsx_rows_beyond_the_size_the_sheet_declares_are_read() -> None:
    rows = [
        ["organisatie", "soort", "tekst"],
        *[["Haarlem", "need", f"vraag {n}"] for n in range(5)],
    ]
    content = _with_sheet_xml(
        xlsx_file(rows),
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:C2"', xml),
    )
    assert [row[1][2] for row in read_table(content, "a.xlsx").rows] == [
        f"vraag {n}" for n in range(5)
    ]


def test_a_hidden_first_worksheet_is_passed_over_and_the_one_read_is_named() -> None:
    """A workbook opening on its answers behind a hidden explanation sheet: the explanation
    was read, and the problem did not say which sheet it was about."""
    workbook = openpyxl.Workbook()
    explanation = workbook.active
    assert explanation is not None
    explanation.title = "uitleg"
    explanation.append(["Vul het blad antwoorden in."])
    explanation.sheet_state = "hidden"
    answers = workbook.create_sheet("antwoorden")
    answers.append(["organisatie", "soort", "tekst"])
    answers.append(["Haarlem", "need", "Warmte"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table(buffer.getvalue(), "a.xlsx")
    assert (table.sheet, table.rows) == ("antwoorden", ((2, ("Haarlem", "need", "Warmte")),))

    answers.delete_rows(2)
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(ValidationFailed) as raised:
        read_table(buffer.getvalue(), "a.xlsx")
    assert raised.value.detail == (
        "the worksheet 'antwoorden' has a header (row 1) but no rows below it"
    )


def test_xlsx_escapes_and_line_ends_read_as_the_text_a_person_typed() -> None:
    content = _with_sheet_xml(
        xlsx_file([["organisatie", "soort", "tekst"], ["Haarlem", "need", "REGEL"]]),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace("REGEL", "Warmtenet_x000D_\nbusinesscase"),  # as Excel writes CRLF
    )
    assert read_table(content, "a.xlsx").rows == (
        (2, ("Haarlem", "need", "Warmtenet\nbusinesscase")),
    )


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("Warmte _xD83D__xDD25_ net", "Warmte \U0001f525 net"),  # both halves: the emoji
        ("Warmte _xD83D_ net", "Warmte \ufffd net"),  # half of one: no text can hold it
        ("_xDD25_ eerst", "\ufffd eerst"),
    ],
)
def test_xlsx_escaped_utf16_halves_read_as_characters(escaped: str, text: str) -> None:
    """A lone half (a surrogate) in a cell reached the problem's JSON, which cannot hold it: 500."""
    content = _with_sheet_xml(
        xlsx_file([["organisatie", "soort", "tekst"], ["Haarlem", "need", "REGEL"]]),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace("REGEL", escaped),
    )
    assert read_table(content, "a.xlsx").rows == ((2, ("Haarlem", "need", text)),)


def test_a_meeting_date_with_a_time_is_its_date() -> None:
    assert parse_date("2023-06-14T10:00:00") == dt.date(2023, 6, 14)


def _formula_workbook(*rows: list[object]) -> bytes:
    """An XLSX as openpyxl writes formulas: ``<f>…</f><v />``, with no saved result."""
    return xlsx_file([["organisatie", "soort", "tekst", "capaciteit"], *rows])  # type: ignore[list-item]


def test_xlsx_formulas_read_as_their_saved_result() -> None:
    content = _with_sheet_xml(
        _formula_workbook(["Haarlem", "offer", '="Warmte"&"net"', "=1+1", '=""']),
        "xl/worksheets/sheet1.xml",
        # As a spreadsheet program saves them: each with its result (an empty text as t="str").
        lambda xml: (
            xml.replace(
                '<c r="C2"><f>"Warmte"&amp;"net"</f><v /></c>',
                '<c r="C2" t="str"><f>"Warmte"&amp;"net"</f><v>Warmtenet</v></c>',
            )
            .replace('<c r="D2"><f>1+1</f><v /></c>', '<c r="D2"><f>1+1</f><v>2</v></c>')
            .replace('<c r="E2"><f>""</f><v /></c>', '<c r="E2" t="str"><f>""</f><v /></c>')
        ),
    )
    table = read_table(content, "a.xlsx")
    assert (table.rows, table.unsaved_formulas) == (
        ((2, ("Haarlem", "offer", "Warmtenet", "2")),),
        frozenset(),
    )
    parsed, problems = parse_rows(table)
    assert (problems, [(row.text, row.capacity) for row in parsed]) == ([], [("Warmtenet", 2)])


def _rewritten(
    content: bytes, changes: dict[str, Callable[[str], str]], renamed: dict[str, str]
) -> bytes:
    """*content* (an XLSX file) with parts changed and renamed, as other tools write it."""
    source, target = io.BytesIO(content), io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename in changes:
                data = changes[item.filename](data.decode()).encode()
            new.writestr(renamed.get(item.filename, item.filename), data)
    return target.getvalue()


SHEET = "xl/worksheets/sheet1.xml"
PREFIXED = 'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _prefixed(xml: str) -> str:
    """The sheet's elements with a namespace prefix (x:row, x:c, x:f), as some tools write."""
    xml = xml.replace('xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"', PREFIXED)
    return re.sub(r"<(/?)(?![?])([A-Za-z]+)([ >/])", r"<\1x:\2\3", xml)


def _moved(content: bytes) -> bytes:
    """The worksheet's part under another name, as the workbook's relations say."""
    moved = "xl/sheets/Data.XML"
    return _rewritten(
        content,
        {
            "xl/_rels/workbook.xml.rels": lambda xml: xml.replace(
                "/xl/worksheets/sheet1.xml", "/" + moved
            ).replace("worksheets/sheet1.xml", "sheets/Data.XML"),
            "[Content_Types].xml": lambda xml: xml.replace(
                "/xl/worksheets/sheet1.xml", "/" + moved
            ),
        },
        {SHEET: moved},
    )


@pytest.mark.parametrize(
    ("label", "written"),
    [
        ("as openpyxl writes it", lambda content: content),
        ("a text result without <v>", lambda content: _rewritten(
            content, {SHEET: lambda xml: xml.replace('<c r="D2">', '<c r="D2" t="str">')
                      .replace("<f>1+1</f><v />", "<f>1+1</f>")}, {},
        )),
        ("a shared formula", lambda content: _rewritten(
            content, {SHEET: lambda xml: xml.replace(
                "<f>1+1</f><v />", '<f t="shared" si="0" ref="D2:D2">1+1</f>'
            )}, {},
        )),
        ("namespace prefixes", lambda content: _rewritten(content, {SHEET: _prefixed}, {})),
        ("the sheet in another part", _moved),
    ],
)  # fmt: skip
def test_a_formula_without_a_saved_result_is_found_however_the_sheet_is_written(
    label: str, written: Callable[[bytes], bytes]
) -> None:
    content = written(_formula_workbook(["Haarlem", "offer", "Warmtenet", "=1+1"]))
    table = read_table(content, "a.xlsx")
    assert (table.rows, table.unsaved_formulas) == (
        ((2, ("Haarlem", "offer", "Warmtenet")),),
        frozenset({(2, 3)}),
    ), label


def test_an_xlsx_formula_without_a_saved_result_is_a_problem_of_its_cell() -> None:
    content = _formula_workbook(
        ["Haarlem", "need", '="Warmte"&"net"'],
        ["Haarlem", "offer", "Hulp", "=1+1"],
        [None, None, "=C2"],  # nothing else in the row: not a blank row
        ["Haarlem", "offer", "Meer hulp", None, "=C3"],  # in a column without a header
    )
    table = read_table(content, "a.xlsx")
    assert table.sheet == "Sheet"
    assert table.unsaved_formulas == frozenset({(2, 2), (3, 3), (4, 2), (5, 4)})
    assert [number for number, _ in table.rows] == [2, 3, 4, 5]

    parsed, problems = parse_rows(table)

    advice = (
        "holds a formula without a saved result; open the file in a spreadsheet program and "
        "save it, or paste the values instead of the formulas"
    )
    assert parsed == []
    assert problems == [
        ImportProblem(2, "tekst", None, f"cell C2 of sheet 'Sheet' {advice}"),
        ImportProblem(3, "capaciteit", None, f"cell D3 of sheet 'Sheet' {advice}"),
        ImportProblem(4, "tekst", None, f"cell C4 of sheet 'Sheet' {advice}"),
        ImportProblem(4, "organisatie", "", "empty; fill in the organisation's name or CBS code"),
        ImportProblem(4, "soort", "", "empty; use need, offer or format (behoefte, aanbod, vorm)"),
        ImportProblem(5, "column E", None, f"cell E5 of sheet 'Sheet' {advice}"),
    ]


def test_an_xlsx_header_formula_without_a_saved_result_is_a_problem() -> None:
    content = xlsx_file([["organisatie", "soort", '="tek"&"st"'], ["Haarlem", "need", "Warmte"]])

    parsed, problems = parse_rows(read_table(content, "a.xlsx"))

    assert parsed == []
    assert [(p.row, p.column, p.message) for p in problems] == [
        (
            1,
            "column C",
            "cell C1 of sheet 'Sheet' holds a formula without a saved result; open the file in "
            "a spreadsheet program and save it, or paste the values instead of the formulas",
        ),
        (1, "tekst", "required column 'tekst' (text) is missing"),
    ]


def test_an_xlsx_error_value_is_a_problem_of_its_cell() -> None:
    """Excel saves a formula's error result (t="e") as the error's text, which would otherwise
    read as the cell's value."""
    errors = {
        "C2": "<f>VLOOKUP(A2,Blad2!A:B,2,FALSE)</f><v>#N/A</v>",
        "D3": "<f>1/0</f><v>#DIV/0!</v>",
        "A4": "<v>#REF!</v>",  # typed, without a formula
        "E4": "<f>#REF!</f><v>#REF!</v>",  # in a column without a header
    }
    content = _with_sheet_xml(
        _formula_workbook(
            ["Haarlem", "need", "C2"],
            ["Haarlem", "offer", "Hulp", "D3"],
            ["A4", "offer", "Meer hulp", None, "E4"],
        ),
        SHEET,
        lambda xml: re.sub(
            r'<c r="([A-E][2-4])"[^>]*>.*?</c>',
            lambda cell: (
                f'<c r="{cell[1]}" t="e">{errors[cell[1]]}</c>' if cell[1] in errors else cell[0]
            ),
            xml,
        ),
    )
    table = read_table(content, "a.xlsx")
    assert table.error_values == frozenset({(2, 2), (3, 3), (4, 0), (4, 4)})

    parsed, problems = parse_rows(table)

    advice = "correct the formula that gives it (or the value), or empty the cell"
    assert parsed == []
    assert problems == [
        ImportProblem(
            2, "tekst", "#N/A", f"cell C2 of sheet 'Sheet' holds the error '#N/A'; {advice}"
        ),
        ImportProblem(
            3,
            "capaciteit",
            "#DIV/0!",
            f"cell D3 of sheet 'Sheet' holds the error '#DIV/0!'; {advice}",
        ),
        ImportProblem(
            4, "organisatie", "#REF!", f"cell A4 of sheet 'Sheet' holds the error '#REF!'; {advice}"
        ),
        ImportProblem(
            4, "column E", "#REF!", f"cell E4 of sheet 'Sheet' holds the error '#REF!'; {advice}"
        ),
    ]


def _with_rows_below(rows_below: str) -> bytes:
    """An XLSX of a header and :data:`TWO_ROWS` with *rows_below* (worksheet XML) under them."""
    content = xlsx_file(
        [
            ["organisatie", "soort", "tekst"],
            ["Haarlem", "need", "Warmte"],
            ["Zaanstad", "offer", "Hulp"],
        ]
    )
    return _with_sheet_xml(
        content, SHEET, lambda xml: xml.replace("</sheetData>", f"{rows_below}</sheetData>")
    )


TWO_ROWS = ((2, ("Haarlem", "need", "Warmte")), (3, ("Zaanstad", "offer", "Hulp")))


def _formula_row(number: int) -> str:
    """Row *number* with a formula (without a saved result) in column C."""
    return f'<row r="{number}"><c r="C{number}"><f>1+1</f></c></row>'


def test_xlsx_empty_rows_below_the_table_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Formatting can pad a sheet with empty rows down to its last one (and it then declares
    that size): openpyxl stops after the last row with content."""
    content = _with_sheet_xml(
        _with_rows_below("<row/>" * (MAX_SHEET_ROWS - 3)),
        SHEET,
        lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:C1048576"', xml),
    )
    parsed: list[int] = []
    parse_row = WorkSheetParser.parse_row

    def counted(parser: WorkSheetParser, row: Any) -> Any:
        number, cells = parse_row(parser, row)
        parsed.append(number)
        return number, cells

    monkeypatch.setattr(WorkSheetParser, "parse_row", counted)

    assert read_table(content, "a.xlsx").rows == TWO_ROWS
    assert parsed == [1, 2, 3, 4]  # row 4, the first past the last with content, stops it


def test_xlsx_content_is_read_down_to_the_last_row_read() -> None:
    content = _with_rows_below("<row/>" * (MAX_XLSX_ROW - 4) + _formula_row(MAX_XLSX_ROW))
    table = read_table(content, "a.xlsx")
    assert (table.rows, table.unsaved_formulas) == (
        (*TWO_ROWS, (50_000, ())),
        frozenset({(50_000, 2)}),
    )


@pytest.mark.parametrize("row", [MAX_XLSX_ROW + 1, 1_000_000])
def test_xlsx_content_below_the_last_row_read_is_refused(row: int) -> None:
    """However many empty rows come before it (openpyxl would parse each of them); the
    stream stops at the cell."""
    content = _with_rows_below("<row/>" * (row - 4) + _formula_row(row))
    with pytest.raises(ValidationFailed) as raised:
        read_table(content, "a.xlsx")
    assert raised.value.detail == (
        f"cell C{row} of sheet 'Sheet' holds a value or formula, but a sheet is read down to "
        "row 50,000; delete the rows below the table"
    )


@pytest.mark.parametrize(
    ("cell", "xml"),
    [
        ("AY2", '<c r="AY2" t="inlineStr"><is><t>x</t></is></c>'),  # the first column not read
        ("BH1", '<c r="BH1" t="inlineStr"><is><t>capaciteit</t></is></c>'),  # a header
        ("BH3", '<c r="BH3"><f>1+1</f></c>'),  # a formula without a saved result
    ],
)
def test_xlsx_content_right_of_the_last_column_read_is_refused(cell: str, xml: str) -> None:
    """As a CSV line with more cells is, not left out without a word."""
    row = cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    content = _with_sheet_xml(
        _with_rows_below('<row r="9"><c r="BH9" s="0"/></row>'),  # formatting only: read
        SHEET,
        lambda sheet: re.sub(f'(<row r="{row}"[^>]*>.*?)</row>', rf"\1{xml}</row>", sheet),
    )
    with pytest.raises(ValidationFailed) as raised:
        read_table(content, "a.xlsx")
    assert raised.value.detail == (
        f"cell {cell} of sheet 'Sheet' holds a value or formula, but a sheet is read up to "
        "column AX (50 columns); delete the columns right of the table"
    )


def test_xlsx_formatting_right_of_the_last_column_read_is_no_content() -> None:
    content = _with_rows_below('<row r="9"><c r="BH9" s="0"/><c r="AY9" s="0"><v/></c></row>')
    assert read_table(content, "a.xlsx").rows == TWO_ROWS


def test_an_xlsx_row_with_more_cells_than_a_sheet_has_columns_is_refused() -> None:
    content = _with_rows_below('<row r="9">' + "<c/>" * (MAX_SHEET_COLUMNS + 1) + "</row>")
    with pytest.raises(ValidationFailed) as raised:
        read_table(content, "a.xlsx")
    assert raised.value.detail == (
        "row 9 of sheet 'Sheet' has more than 16,384 cells, more than a worksheet has columns"
    )


def test_xlsx_cells_down_to_the_last_row_with_content_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(import_files, "MAX_XLSX_CELLS", 9)  # those of the header and two rows
    formatted = '<row r="4"><c r="A4" s="1"/></row>'  # below the last with content: not read
    assert read_table(_with_rows_below(formatted), "a.xlsx").rows == TWO_ROWS

    below = '<row r="5"><c r="A5" t="inlineStr"><is><t>Bergen</t></is></c></row>'
    with pytest.raises(ValidationFailed) as raised:
        read_table(_with_rows_below(formatted + below), "a.xlsx")
    assert raised.value.detail == (
        "sheet 'Sheet' has 11 cells (with a value, a formula or only formatting) down to row 5; "
        "at most 9 are read: copy the table into a new workbook"
    )


def test_xlsx_rows_out_of_order_are_refused() -> None:
    """openpyxl skips a row numbered no further down than the one before it (Bergen would be
    lost without a word), after parsing it: any number of them, below no row limit."""
    content = _with_rows_below(
        '<row r="2"><c r="A2" t="inlineStr"><is><t>Bergen</t></is></c></row>'
    )
    with pytest.raises(ValidationFailed) as raised:
        read_table(content, "a.xlsx")
    assert raised.value.detail == (
        "row 2 of sheet 'Sheet' comes after row 3; the worksheet is damaged"
    )


def test_an_xlsx_sheet_of_formatting_only_is_empty() -> None:
    content = _with_sheet_xml(
        xlsx_file([["organisatie"]]),
        SHEET,
        lambda xml: re.sub(
            "<sheetData>.*</sheetData>",
            '<sheetData><row r="1"><c r="A1" s="1"/><c r="B1" t="s"><v /></c></row>'
            + '<row s="1" customFormat="1"/>' * 1_000
            + "</sheetData>",
            xml,
            flags=re.DOTALL,
        ),
    )
    with pytest.raises(ValidationFailed) as raised:
        read_table(content, "a.xlsx")
    assert raised.value.detail == "the worksheet 'Sheet' is empty"


def test_an_error_value_saved_in_a_csv_is_a_problem_of_its_cell() -> None:
    """A spreadsheet saves a failed formula into a CSV as the error's text: refused as in XLSX,
    never stored as an answer."""
    content = (
        b"organisatie;soort;tekst;capaciteit\r\n"
        b"Haarlem;behoefte;#N/A\r\n"
        b"Haarlem;aanbod;Hulp bij de TVW; #DIV/0! \r\n"
        b"Haarlem;aanbod;#N/A is wat onze VLOOKUP gaf;2\r\n"
    )
    table = read_table(content, "a.csv")
    assert table.error_values == frozenset({(2, 2), (3, 3)})

    parsed, problems = parse_rows(table)

    advice = "correct the formula that gives it (or the value), or empty the cell"
    assert [row.text for row in parsed] == ["#N/A is wat onze VLOOKUP gaf"]
    assert problems == [
        ImportProblem(2, "tekst", "#N/A", f"cell C2 holds the error '#N/A'; {advice}"),
        ImportProblem(3, "capaciteit", "#DIV/0!", f"cell D3 holds the error '#DIV/0!'; {advice}"),
    ]


@pytest.mark.parametrize(
    ("content", "header_row"),
    [
        # A title and a note above the header, with no delimiter at all (typed by hand) ...
        (
            b"Post-its kick-off CoP Warmte\r\nIngevuld op 14 juni\r\n\r\n"
            b"organisatie;soort;tekst\r\nHaarlem;need;Warmte, ook voor VvE's\r\n",
            4,
        ),
        # ... or padded with them, as a spreadsheet saves it.
        (
            b"Post-its kick-off CoP Warmte;;\r\n;;\r\norganisatie;soort;tekst\r\n"
            b"Haarlem;need;Warmte, ook voor VvE's\r\n",
            3,
        ),
    ],
)
def test_a_title_above_the_header_is_passed_over(content: bytes, header_row: int) -> None:
    """The title was read as the header: every column unknown, every required one missing."""
    table = find_header(read_table(content, "a.csv"))
    assert (table.header_row, table.header, table.rows) == (
        header_row,
        ("organisatie", "soort", "tekst"),
        ((header_row + 1, ("Haarlem", "need", "Warmte, ook voor VvE's")),),
    )
    assert parse_rows(table)[1] == []


def test_a_header_is_looked_for_only_where_the_first_row_names_no_column() -> None:
    table = read_table(xlsx_file([["Organisatie", "Tekst"], ["organisatie", "soort", "tekst"]]))
    assert find_header(table) is table  # the first row is the header, short of a column
    assert [p.message for p in map_columns(table)[2]] == [
        "required column 'soort' (kind) is missing"
    ]
    titled = read_table(xlsx_file([["Kick-off"], ["organisatie", "soort", "tekst"]]))
    with pytest.raises(ValidationFailed, match=r"has a header \(row 2\) but no rows below it"):
        find_header(titled)


def test_an_upload_is_read_from_its_header_on() -> None:
    upload = read_import(
        b"Post-its kick-off\r\norganisatie;soort;tekst\r\nHaarlem;need;Warmte\r\n",
        "a.csv",
        max_bytes=1_000_000,
    )
    assert (upload.error, upload.rows, upload.problems) == (None, 1, ())
    assert [row.text for row in upload.parsed] == ["Warmte"]


def test_a_title_with_a_comma_above_a_header_split_at_semicolons_is_passed_over() -> None:
    """The title's comma made it the delimiter: the header was not found."""
    upload = read_import(
        b"Post-its kick-off, CoP Warmte\r\norganisatie;soort;tekst\r\nHaarlem;need;Warmte\r\n",
        "a.csv",
        max_bytes=1_000_000,
    )
    assert (upload.error, upload.rows, upload.problems) == (None, 1, ())
    # Read at the comma, a quoted cell below made the file unreadable.
    quoted = read_import(
        b'Kick-off, 14 juni\r\norganisatie;soort;tekst\r\n"Haarlem";behoefte;Hulp bij TVW\r\n',
        "a.csv",
        max_bytes=1_000_000,
    )
    assert (quoted.error, quoted.rows, quoted.problems) == (None, 1, ())
    # A file whose header names no column at all keeps its own problems.
    unknown = read_import(b"a,b\r\nc,d\r\n", "a.csv", max_bytes=1_000_000)
    assert [p.message.split(";")[0] for p in unknown.problems][:2] == [
        "unknown column 'a'",
        "unknown column 'b'",
    ]
