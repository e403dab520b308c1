"""Importing a community's answers from a CSV or XLSX file (kick-off post-its typed up).

:func:`read_import` reads the file (:mod:`app.services.import_files`) and checks each row on its
own (:mod:`app.services.import_rows`): no database, so callers do it before their write
transaction begins, which on SQLite holds the database's write lock from its start.
:func:`import_answers` then checks the rows against the database (organisation, person and
meeting references, repeats within the file) and writes a file without any problem, all of it
in the caller's transaction; ``dry_run`` stops before writing.

Rules (also in the README and the OpenAPI description):

* **Identity.** A row is the same answer as a stored one when organisation, kind and text match
  (case and white space do not count; for a format row the format itself). Such a row is
  *unchanged*, or *updated* when its text (exactly), priority, capacity, given topics, note,
  person or meeting differ. Two rows with the same identity in one file are a problem.
* **Absent columns** leave that property of a stored answer as it is; an empty cell in a present
  column means the default (priority normal, capacity 3, no topics, no note, no person, no
  meeting).
* **Organisations** are found by name (case-insensitive; "Gemeente " in front is allowed) or
  CBS code (GM0363, or 363 as a spreadsheet keeps the number); an unknown one is a problem
  with the closest known name. One that is not yet a member of the community becomes a member
  (reported in ``members_added``).
* **People** are found by e-mail; the person must work for the row's organisation. An unknown
  e-mail creates the person (naam required, afdeling optional); a stored person is linked but
  not changed. A name without e-mail must match exactly one person of the organisation. The
  person of a stored answer changes only in a file with a naam or e-mail column (afdeling only
  describes a new person).
* **Meetings** must exist in the community: a title (case-insensitive) or a date.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import CopmatchError, InvalidParam, PayloadTooLarge, ValidationFailed
from app.models import (
    Community,
    Meeting,
    Need,
    Offer,
    Organisation,
)
from app.services import answers, communities, matching, organisations
from app.services.import_files import (
    CSV_DELIMITERS,
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    Table,
    TemplateSheet,
    is_csv,
    read_table,
    template_csv,
    template_xlsx,
)
from app.services.import_plan import (
    MODELS,
    Answer,
    NewPerson,
    PlannedRow,
    Planner,
    ProgressCallback,
)
from app.services.import_rows import (
    COLUMNS,
    FORMAT_ALIASES,
    TEMPLATE_HEADER,
    ImportProblem,
    Kind,
    ParsedRow,
    RowReferences,
    find_header,
    map_columns,
    names_a_column,
    read_rows,
)
from app.services.topics import taxonomy

MAX_PROBLEMS = 1_000
"""Problems listed in one answer; a file with more shows the first ones."""


@dataclass(frozen=True, slots=True)
class ImportFile:
    """An import file read and its rows checked on their own (:func:`read_import`)."""

    rows: int = 0
    parsed: tuple[ParsedRow, ...] = ()
    """The rows without problems."""
    problems: tuple[ImportProblem, ...] = ()
    references: tuple[RowReferences, ...] = ()
    """What the rows with problems refer to (organisation, person, meeting), to check too."""
    column_names: dict[str, str] = field(default_factory=dict)
    """Column key → header as written in the file."""
    error: CopmatchError | None = None
    """Why the file cannot be imported at all (413, 415 or 422); :func:`import_answers`
    raises it, after the caller's own checks (who may import, into which community)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    dry_run: bool
    rows: int
    created: int
    unchanged: int
    updated: int
    members_added: tuple[int, ...]
    people_created: int
    problems: tuple[ImportProblem, ...]
    outcomes: tuple[RowOutcome, ...] = ()


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What an import does (or a dry run would do) with one row of the file."""

    row: int
    kind: str
    outcome: str
    """created, updated or unchanged"""
    answer_id: int | None
    """The answer the row is (None: a new answer of a dry run)."""
    changes: tuple[str, ...]
    """The properties an update changes, as the API names them (personId, topics, …)."""


def read_import(data: bytes, filename: str | None, *, max_bytes: int) -> ImportFile:
    """Read an uploaded file and check each row on its own: the part of an import that needs
    no database, and can take a while (a large XLSX). A file that cannot be read is kept as
    :attr:`ImportFile.error`, not raised."""
    try:
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"the file is larger than {max_bytes:,} bytes; split it")
        table = _table_with_header(data, filename)
    except CopmatchError as error:
        return ImportFile(error=error)
    parsed, problems, references = read_rows(table)
    _, column_names, _ = map_columns(table)
    return ImportFile(
        rows=len(table.rows),
        parsed=tuple(parsed),
        problems=tuple(problems),
        references=tuple(references),
        column_names=column_names,
    )


def _table_with_header(data: bytes, filename: str | None) -> Table:
    """The file's table from its header on (import_rows.find_header). A CSV file whose first
    line with a delimiter is a title (a comma in "Kick-off, 14 juni" above a header split at
    semicolons) is read at the delimiter that finds the header: the first read may find none,
    or fail (a quoted cell read at the wrong delimiter); its error stands if none does."""
    failed: ValidationFailed | None = None
    try:
        table = find_header(read_table(data, filename))
        if names_a_column(table) or not is_csv(data):
            return table
    except ValidationFailed as error:
        if not is_csv(data):
            raise
        failed = error
    for delimiter in CSV_DELIMITERS:
        try:
            other = find_header(read_table(data, filename, delimiter=delimiter))
        except ValidationFailed:
            continue
        if names_a_column(other):
            return other
    if failed is not None:
        raise failed
    return table


def texts_to_embed(
    session: Session, community_id: int, upload: ImportFile
) -> dict[type[Need] | type[Offer], list[str]]:
    """The need and offer texts an import of *upload* would write new, planned in a read of
    its own before the write transaction, so the model (about a tenth of a second a text) runs
    with no lock held (:func:`matching.embed_texts_ahead`). No texts for a file that will be
    refused (unreadable, a problem in a row, an unknown community), and none of rows whose
    text is stored already: the write transaction plans again and embeds anything else."""
    texts: dict[type[Need] | type[Offer], list[str]] = {Need: [], Offer: []}
    community = session.get(Community, community_id)
    if upload.error is not None or upload.problems or community is None:
        return texts
    planner = Planner(session, community, upload.column_names, name_hints=False)
    plans = planner.plan(upload.parsed, None, references=upload.references)
    if planner.problems:
        return texts
    for plan in plans:
        if plan.row.kind is not Kind.FORMAT and (plan.existing is None or "text" in plan.changes):
            texts[Need if plan.row.kind is Kind.NEED else Offer].append(plan.row.text)
    return texts


def import_answers(
    session: Session,
    community: Community,
    upload: ImportFile,
    *,
    dry_run: bool,
    progress: ProgressCallback | None = None,
    ahead: matching.EmbeddedAhead | None = None,
    people_of: Collection[int] | None = None,
) -> ImportResult:
    """Check a file read by :func:`read_import` against the database and, unless ``dry_run``,
    write its answers to ``community`` (all or nothing: any problem raises a 422 that lists
    them all) and recompute the suggestions. A file that could not be read raises its error.
    *ahead*: the embeddings of :func:`texts_to_embed`; the model runs for the rest (texts
    written meanwhile) under the community's lock. *people_of*: the organisations whose
    people the caller may see (None: all; see Planner)."""
    if upload.error is not None:
        raise upload.error
    if not dry_run:
        # One import of a community at a time, and no answer write beside it: the plan (create,
        # update or leave each row) reads what is stored, and two imports planning side by side
        # would both create every row. SQLite queues writers anyway; on PostgreSQL an advisory
        # lock does, the one every write of the community's answers takes.
        matching.queue_answer_writes(session, community)
    planner = Planner(session, community, upload.column_names, people_of=people_of)
    plans = planner.plan(upload.parsed, progress, references=upload.references)
    problems = sorted([*upload.problems, *planner.problems], key=lambda problem: problem.row)
    if problems and not dry_run:
        listed = problems[:MAX_PROBLEMS]
        shown = "" if len(listed) == len(problems) else f" (the first {len(listed)} are listed)"
        raise ValidationFailed(
            f"{len(problems)} problem(s) in the file{shown}; nothing was imported",
            invalid_params=[
                InvalidParam(f"file.rows[{p.row}].{p.column}", p.message) for p in listed
            ],
            extra={"problems": [problem_json(p) for p in listed]},
        )
    created = sum(plan.existing is None for plan in plans)
    updated = sum(plan.existing is not None and bool(plan.changes) for plan in plans)
    members_added = tuple(sorted(planner.members_added))
    # Only the people of rows without problems (what a dry run reports is what would happen).
    people_created = len(
        {plan.person.data.email for plan in plans if isinstance(plan.person, NewPerson)}
    )
    created_ids: dict[int, int] = {}
    if not dry_run:
        created_ids = _apply(session, community, plans, planner, progress, ahead)
    return ImportResult(
        dry_run=dry_run,
        rows=upload.rows,
        created=created,
        unchanged=len(plans) - created - updated,
        updated=updated,
        members_added=members_added,
        people_created=people_created,
        problems=tuple(problems[:MAX_PROBLEMS]),
        outcomes=tuple(_outcome(plan, created_ids) for plan in plans),
    )


_KINDS = {Kind.NEED: "need", Kind.OFFER: "offer", Kind.FORMAT: "format-preference"}


def _outcome(plan: PlannedRow, created_ids: dict[int, int]) -> RowOutcome:
    if plan.existing is None:
        outcome, answer_id = "created", created_ids.get(plan.row.row)
    else:
        outcome = "updated" if plan.changes else "unchanged"
        answer_id = plan.existing.id
    return RowOutcome(
        row=plan.row.row,
        kind=_KINDS[plan.row.kind],
        outcome=outcome,
        answer_id=answer_id,
        changes=tuple(sorted(to_camel(name) for name in plan.changes)),
    )


def problem_json(problem: ImportProblem) -> dict[str, Any]:
    """A problem as it appears in responses (``row``, ``column``, ``value``, ``message``)."""
    return {
        "row": problem.row,
        "column": problem.column,
        "value": problem.value,
        "message": problem.message,
    }


def _apply(
    session: Session,
    community: Community,
    plans: Sequence[PlannedRow],
    planner: Planner,
    progress: ProgressCallback | None,
    ahead: matching.EmbeddedAhead | None,
) -> dict[int, int]:
    """Write the plans; returns the id of each answer created, by its row."""
    created: dict[int, int] = {}
    for organisation_id in sorted(planner.members_added):
        communities.add_member(session, community, organisation_id)
    for new in planner.new_people.values():
        organisation = session.get_one(Organisation, new.organisation_id)
        new.id = organisations.create_person(session, organisation, new.data).id
    for done, plan in enumerate(plans, start=1):
        if progress:
            progress("writing", done, len(plans))
        person_id = plan.person.id if isinstance(plan.person, NewPerson) else plan.person
        if plan.existing is None:
            body = plan.body.model_copy(update={"person_id": person_id})
            answer = answers.create_answer(
                session, MODELS[plan.row.kind], community, body, refresh=False
            )
            created[plan.row.row] = answer.id
        elif plan.changes:
            _update(plan.existing, plan.changes, person_id)
    session.flush()
    if not any(plan.existing is None or plan.changes for plan in plans):
        return created  # nothing new to match
    if progress:
        progress("matching", 0, 1)
    matching.recompute(session, community, ahead=ahead)
    if progress:
        progress("matching", 1, 1)
    return created


def _update(answer: Answer, changes: dict[str, Any], person_id: int | None) -> None:
    for name, value in changes.items():
        if name == "topics":
            answers.set_given_topics(answer, value)  # type: ignore[arg-type]
        elif name == "person_id":
            answer.person_id = person_id
        else:
            setattr(answer, name, value)


# --- the template -------------------------------------------------------------------------

COLUMN_HELP = {
    "organisation": "Verplicht. Naam van de organisatie zoals copmatch die kent, of de CBS-code "
    "(GM0392).",
    "kind": "Verplicht. behoefte, aanbod of vorm (ook: need, offer, format).",
    "text": "Verplicht. De tekst van de post-it; bij soort vorm de werkvorm, bijvoorbeeld "
    "leerkring (zie het blad werkvormen).",
    "topics": "Alleen bij behoefte en aanbod: onderwerpen (slug of naam, zie het blad "
    "onderwerpen), gescheiden door ; of ,",
    "capacity": "Alleen bij aanbod: aan hoeveel organisaties jullie hulp kunnen bieden, 1 tot "
    "100 (leeg: 3).",
    "priority": "Alleen bij behoefte: laag, normaal of hoog (leeg: normaal).",
    "note": "Alleen bij vorm: een toelichting op de voorkeur.",
    "person_name": "Wie het antwoord gaf; nodig bij een e-mailadres dat copmatch nog niet kent.",
    "email": "Vindt de persoon bij de organisatie, of voegt die toe (met naam en afdeling).",
    "department": "Afdeling van een nieuwe persoon.",
    "meeting": "Titel of datum (JJJJ-MM-DD of DD-MM-JJJJ) van een bijeenkomst van de community "
    "(zie het blad bijeenkomsten).",
}
TEMPLATE_CHOICES: dict[str, tuple[str, ...]] = {
    "soort": ("behoefte", "aanbod", "vorm"),
    "prioriteit": ("laag", "normaal", "hoog"),
}


@dataclass(frozen=True, slots=True)
class ImportTemplate:
    content: bytes
    media_type: str
    filename: str


def import_template(session: Session, community: Community, file_format: str) -> ImportTemplate:
    """The file to fill in for ``community``: ``csv`` (the header line) or ``xlsx`` (the header
    with drop-down lists, and sheets explaining columns, formats, topics and meetings)."""
    filename = f"{community.slug}-import-template.{file_format}"
    if file_format == "csv":
        return ImportTemplate(template_csv(TEMPLATE_HEADER), CSV_MEDIA_TYPE, filename)
    meetings = session.scalars(
        select(Meeting).where(Meeting.community_id == community.id).order_by(Meeting.date)
    )
    sheets = (
        TemplateSheet(
            "toelichting",
            ("kolom", "ook toegestaan", "uitleg"),
            tuple(
                (c.dutch, ", ".join((c.english, *c.aliases)), COLUMN_HELP[c.key]) for c in COLUMNS
            ),
        ),
        TemplateSheet(
            "werkvormen",
            ("werkvorm", "ook toegestaan"),
            tuple((fmt.value, ", ".join(words)) for fmt, words in FORMAT_ALIASES.items()),
        ),
        TemplateSheet(
            "onderwerpen",
            ("onderwerp", "naam", "name"),
            tuple((t.slug, t.label["nl"], t.label["en"]) for t in taxonomy().topics),
        ),
        TemplateSheet(
            "bijeenkomsten",
            ("titel", "datum"),
            tuple((meeting.title, meeting.date.isoformat()) for meeting in meetings),
        ),
    )
    content = template_xlsx(TEMPLATE_HEADER, TEMPLATE_CHOICES, sheets)
    return ImportTemplate(content, XLSX_MEDIA_TYPE, filename)
