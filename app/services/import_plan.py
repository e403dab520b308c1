"""Each checked import row resolved against the database: create, update or unchanged.

See :mod:`app.services.imports` for the rules (identity, absent columns, organisations, people,
meetings). Nothing is written here; :class:`Planner` only reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Community,
    FormatPreference,
    Meeting,
    Membership,
    Need,
    Offer,
    Organisation,
    Person,
)
from app.schemas import (
    AnswerCreate,
    FormatPreferenceCreate,
    NeedCreate,
    OfferCreate,
    PersonCreate,
)
from app.services import matching
from app.services.answers import AnswerModel, given_topics
from app.services.common import fold
from app.services.import_rows import (
    COLUMNS,
    ImportProblem,
    Kind,
    ParsedRow,
    RowReferences,
    closest,
    identity_text,
    parse_date,
    quote,
)
from app.services.organisations import MUNICIPALITY_PREFIX

CBS_CODE = re.compile(r"(?:GM)?([0-9]{1,4})", re.IGNORECASE)
"""A municipality's CBS code: GM0363, or its number alone as a spreadsheet keeps it (363)."""
# The columns that say who gave an answer (a department only describes a new person).
PERSON_COLUMNS = frozenset({"person_name", "email"})
MODELS: dict[Kind, AnswerModel] = {
    Kind.NEED: Need,
    Kind.OFFER: Offer,
    Kind.FORMAT: FormatPreference,
}
SCHEMAS: dict[Kind, type[NeedCreate] | type[OfferCreate] | type[FormatPreferenceCreate]] = {
    Kind.NEED: NeedCreate,
    Kind.OFFER: OfferCreate,
    Kind.FORMAT: FormatPreferenceCreate,
}
# Which column a field of the create schemas comes from, to report a schema error there.
FIELD_COLUMNS = {"text": "text", "format": "text", "topics": "topics", "note": "note"}
PERSON_FIELD_COLUMNS = {"name": "person_name", "email": "email", "department": "department"}
Validated = TypeVar("Validated", bound=BaseModel)

ProgressCallback = Callable[[str, int, int], None]
"""Called with (stage, done, total); stages: checking, writing, matching."""

Identity = tuple[int, Kind, str]
Answer = Need | Offer | FormatPreference


MAX_NAME_HINTS = 100
"""Distinct unknown organisation names of one file that get a "did you mean" (difflib against
every known name: about 1.8 ms each among 400 organisations); each is looked up once however
many rows name it, and later ones only point to GET /organisations, so a file of thousands
costs no seconds."""


@dataclass(slots=True)
class NewPerson:
    """A person the import creates (found by e-mail, created once however many rows name them)."""

    organisation_id: int
    first_row: int
    data: PersonCreate
    id: int | None = None


@dataclass(slots=True)
class PlannedRow:
    row: ParsedRow
    body: AnswerCreate
    """The answer as the API would take it (organisation and meeting resolved to ids)."""
    person: int | NewPerson | None
    existing: Answer | None
    changes: dict[str, Any] = field(default_factory=dict)


class Planner:
    """Resolves each parsed row against the database and decides create, update or unchanged."""

    def __init__(
        self,
        session: Session,
        community: Community,
        column_names: dict[str, str],
        *,
        name_hints: bool = True,
        people_of: Collection[int] | None = None,
    ) -> None:
        """*name_hints*: look for the closest known name of an unknown organisation (each
        lookup is difflib against every organisation), for the problems a caller is shown.
        *people_of*: the organisations whose people the file's author may see (None: all);
        rows of others that name a person are a problem, whoever the person is."""
        self.session, self.community = session, community
        self.people_of = people_of
        self.hinting = name_hints
        self.column_names = column_names  # column key → header as written in the file
        self.problems: list[ImportProblem] = []
        self.members_added: set[int] = set()
        self.new_people: dict[str, NewPerson] = {}
        rows = session.execute(select(Organisation.id, Organisation.name, Organisation.cbs_code))
        self.organisations: dict[int, str] = {}
        self.by_cbs_code: dict[str, int] = {}
        for ident, name, cbs_code in rows:
            self.organisations[ident] = name
            if cbs_code:
                self.by_cbs_code[cbs_code.upper()] = ident
        named: dict[str, list[int]] = {}
        for ident, name in sorted(self.organisations.items()):
            named.setdefault(fold(name), []).append(ident)
        self.by_name = {key: idents[0] for key, idents in named.items() if len(idents) == 1}
        self.municipalities = set(self.by_cbs_code.values())  # only they have a CBS code
        # Names that fold alike, stored before organisations.ensure_name_free refused them.
        self.alike = {key: idents for key, idents in named.items() if len(idents) > 1}
        # The closest known name per unknown one, for the first MAX_NAME_HINTS of the file.
        self.name_hints: dict[str, str | None] = {}
        self.members = set(
            session.scalars(
                select(Membership.organisation_id).where(Membership.community_id == community.id)
            )
        )
        self.meetings = list(
            session.scalars(select(Meeting).where(Meeting.community_id == community.id))
        )
        self.existing: dict[Identity, Answer] = {}
        for kind, model in MODELS.items():
            statement = select(model).where(model.community_id == community.id)
            for row in session.scalars(statement.order_by(model.id)):
                answer = cast(Answer, row)
                self.existing.setdefault(_identity(answer, kind), answer)
        # The erased people (few: their records are tombstones), authors of answers or not.
        self.erased_authors = set(
            session.scalars(select(Person.id).where(Person.erased_at.is_not(None)))
        )
        self.people_by_email: dict[str, Person] = {}
        self.people_by_organisation: dict[int, list[Person]] = {}

    def problem(self, row: ParsedRow | RowReferences, key: str, value: str, message: str) -> None:
        column = self.column_names.get(key) or next(c.dutch for c in COLUMNS if c.key == key)
        self.problems.append(ImportProblem(row.row, column, value, message))

    def plan(
        self,
        rows: Sequence[ParsedRow],
        progress: ProgressCallback | None,
        *,
        references: Sequence[RowReferences] = (),
    ) -> list[PlannedRow]:
        """The plan of each row without problems; the organisation, person and meeting of the
        rows with problems (*references*) are checked too, so every problem is found at once."""
        self._load_people([*rows, *references])
        for reference in references:
            organisation_id = self._organisation(reference)
            self._meeting(reference)
            if organisation_id is not None:
                self._person(reference, organisation_id)
        plans: list[PlannedRow] = []
        seen: dict[Identity, int] = {}
        for done, row in enumerate(rows, start=1):
            if progress:
                progress("checking", done, len(rows))
            before = len(self.problems)
            organisation_id = self._organisation(row)
            if organisation_id is None:
                self._meeting(row)  # reported too; the person depends on the organisation
                continue
            identity = (organisation_id, row.kind, _identity_value(row.kind, row.text))
            existing = self.existing.get(identity)
            # An answer whose author was erased keeps them (found by review: the file that
            # named them, imported again, brought the erased name and e-mail back).
            person: int | NewPerson | None
            if existing is not None and existing.person_id in self.erased_authors:
                person = existing.person_id
            else:
                person = self._person(row, organisation_id)
            meeting_id = self._meeting(row)
            body = self._body(row, organisation_id, meeting_id)
            if identity in seen:
                self.problem(
                    row,
                    "text",
                    row.text,
                    f"{quote(row.text)} repeats row "
                    f"{seen[identity]} (same organisation, kind and text)",
                )
            seen.setdefault(identity, row.row)
            if len(self.problems) > before or body is None:
                continue
            if organisation_id not in self.members:
                self.members_added.add(organisation_id)
            plan = PlannedRow(row, body, person, existing)
            if existing is not None:
                plan.changes = _changes(row, existing, person, meeting_id)
                if not self._room_for(plan):
                    continue
            plans.append(plan)
        return plans

    def _room_for(self, plan: PlannedRow) -> bool:
        """Does the row leave its offer room for the peers already introduced to it? An
        offer's capacity cannot go below the places its introduced, accepted and completed
        suggestions take (see matching.places_taken); a row that would is a problem."""
        offer, capacity = plan.existing, plan.changes.get("capacity")
        if not isinstance(offer, Offer) or capacity is None or capacity >= offer.capacity:
            return True
        _, taken = matching.places_taken(self.session, offer.id)
        if capacity >= taken:
            return True
        self.problem(
            plan.row,
            "capacity",
            str(capacity),
            f"{taken} peer(s) were introduced to this offer already; its capacity cannot go "
            f"below {taken}",
        )
        return False

    def _organisation(self, row: ParsedRow | RowReferences) -> int | None:
        reference = row.organisation
        if code := CBS_CODE.fullmatch(reference):
            cbs_code = f"GM{int(code[1]):04d}"
            found = self.by_cbs_code.get(cbs_code)
            if found is None:
                self.problem(row, "organisation", reference, f"unknown CBS code {quote(cbs_code)}")
            return found
        key = fold(reference)
        bare = key.removeprefix(MUNICIPALITY_PREFIX)
        for name in (key, bare):
            if name in self.alike:
                return self._alike(row, reference, self.alike[name], municipal=name != key)
            if name in self.by_name:
                return self.by_name[name]
        if self.hinting and key not in self.name_hints and len(self.name_hints) < MAX_NAME_HINTS:
            self.name_hints[key] = self._closest_name(key)
        guess = self.name_hints.get(key)
        hint = (
            f"did you mean {quote(guess)}?"
            if guess
            else "use its name in GET /organisations or its CBS code (GM0363 or 363)"
        )
        self.problem(
            row, "organisation", reference, f"unknown organisation {quote(reference)}; {hint}"
        )
        return None

    def _alike(
        self, row: ParsedRow | RowReferences, reference: str, alike: list[int], *, municipal: bool
    ) -> int | None:
        """Of organisations named *alike*, the one named *reference* exactly (white space
        around it aside), or, for a *municipal* reference ("Gemeente Haarlem"), the one
        municipality; none, and a problem, when there is no such one."""
        found = [
            ident
            for ident in alike
            if (
                ident in self.municipalities
                if municipal
                else self.organisations[ident] == reference.strip()
            )
        ]
        if len(found) == 1:
            return found[0]
        names = ", ".join(quote(self.organisations[ident]) for ident in alike)
        self.problem(
            row,
            "organisation",
            reference,
            f"several organisations are named like {quote(reference)} ({names}); "
            "use the exact name or the CBS code",
        )
        return None

    def _closest_name(self, key: str) -> str | None:
        """The known name most like ``key``; "Bergen" finds "Bergen (NH.)" by its bare name."""
        bare = [
            ident
            for name, ident in self.by_name.items()
            if re.sub(r"\s*\(.*?\)", "", name).strip() == key
        ]
        if len(bare) == 1:
            return self.organisations[bare[0]]
        guess = closest(key, self.by_name)
        return self.organisations[self.by_name[guess]] if guess else None

    def _load_people(self, rows: Sequence[ParsedRow | RowReferences]) -> None:
        emails = sorted({row.email for row in rows if row.email})
        for start in range(0, len(emails), 500):
            chunk = emails[start : start + 500]
            for person in self.session.scalars(select(Person).where(Person.email.in_(chunk))):
                self.people_by_email[str(person.email)] = person

    def _person(
        self, row: ParsedRow | RowReferences, organisation_id: int
    ) -> int | NewPerson | None:
        organisation = self.organisations[organisation_id]
        if (row.email or row.person_name) and not self._may_see_people_of(organisation_id):
            # Whether the person exists, or is of another organisation, is not said either
            # way: a dry run would tell whose e-mail an address is, or who works where.
            column = "email" if row.email else "person_name"
            self.problem(
                row,
                column,
                row.email or row.person_name or "",
                f"{quote(organisation)} is in no community you organise yet, so its people are "
                "not looked up: leave name and e-mail empty in its rows, and give them in a "
                "later import, once this one has made it a member",
            )
            return None
        if row.email:
            person = self.people_by_email.get(row.email)
            if person is not None:
                if person.organisation_id == organisation_id:
                    return person.id
                # Which organisation is not said: the file's author may not see its people.
                message = f"{quote(row.email)} is the e-mail of a person of another organisation"
                self.problem(row, "email", row.email, f"{message}, not of {quote(organisation)}")
                return None
            return self._new_person(row, organisation_id, row.email)
        if row.person_name:
            if organisation_id not in self.people_by_organisation:
                self.people_by_organisation[organisation_id] = list(
                    self.session.scalars(
                        select(Person).where(
                            Person.organisation_id == organisation_id, Person.erased_at.is_(None)
                        )
                    )
                )
            named = [
                person.id
                for person in self.people_by_organisation[organisation_id]
                if fold(person.name or "") == fold(row.person_name)
            ]
            if len(named) == 1:
                return named[0]
            how_many = "several people" if named else "nobody"
            self.problem(
                row,
                "person_name",
                row.person_name,
                f"{how_many} named "
                f"{quote(row.person_name)} at {quote(organisation)}; fill in e-mail "
                "to tell who it is or to add them",
            )
        return None

    def _may_see_people_of(self, organisation_id: int) -> bool:
        return self.people_of is None or organisation_id in self.people_of

    def _new_person(
        self, row: ParsedRow | RowReferences, organisation_id: int, email: str
    ) -> NewPerson | None:
        known = self.new_people.get(email)
        if known is not None:
            if known.organisation_id != organisation_id:
                message = (
                    f"{quote(email)} is given for another organisation in row {known.first_row}"
                )
                self.problem(row, "email", email, message)
                return None
            # One new person, described once: other details in a later row would be lost.
            for key, what, given, first in (
                ("person_name", "name", row.person_name, known.data.name),
                ("department", "department", row.department, known.data.department),
            ):
                if given and fold(given) != fold(first or ""):
                    self.problem(
                        row,
                        key,
                        given,
                        f"{quote(email)} is given in row {known.first_row} with the {what} "
                        f"{quote(first) if first else 'none'}; a new person has one {what}",
                    )
            return known
        if not row.person_name:
            self.problem(
                row,
                "email",
                email,
                f"{quote(email)} is not known yet; fill in naam to add this person",
            )
            return None
        body = {"name": row.person_name, "email": email, "department": row.department}
        data = self._validated(row, PersonCreate, body, PERSON_FIELD_COLUMNS)
        if data is None:
            return None
        self.new_people[email] = NewPerson(organisation_id, row.row, data)
        return self.new_people[email]

    def _meeting(self, row: ParsedRow | RowReferences) -> int | None:
        value = row.meeting
        if not value:
            return None
        day = parse_date(value)
        if day is not None:
            found = [meeting for meeting in self.meetings if meeting.date == day]
        else:
            found = [meeting for meeting in self.meetings if fold(meeting.title) == fold(value)]
        if len(found) == 1:
            return found[0].id
        if found:
            other = "title" if day else "date"
            message = f"several meetings match {quote(value)}; give the {other} instead"
        else:
            known = "; ".join(f"{quote(m.title)} ({m.date.isoformat()})" for m in self.meetings)
            titles = {fold(meeting.title): meeting.title for meeting in self.meetings}
            guess = None if day else closest(fold(value), titles)
            hint = f"did you mean {quote(titles[guess])}? " if guess else ""
            message = f"no meeting {quote(value)} in this community; {hint}its meetings: " + (
                known or "none"
            )
        self.problem(row, "meeting", value, message)
        return None

    def _body(
        self, row: ParsedRow, organisation_id: int, meeting_id: int | None
    ) -> AnswerCreate | None:
        """The create body (without the person, who may not exist yet); schema errors become
        problems, so the write cannot fail on validation."""
        body: dict[str, Any] = {"organisationId": organisation_id, "meetingId": meeting_id}
        if row.kind is Kind.FORMAT:
            body |= {"format": row.text, "note": row.note}
        else:
            body |= {"text": row.text, "topics": list(row.topics)}
            body |= {"priority": row.priority} if row.kind is Kind.NEED else {}
            body |= {"capacity": row.capacity} if row.kind is Kind.OFFER else {}
        return self._validated(row, SCHEMAS[row.kind], body, FIELD_COLUMNS)

    def _validated(
        self,
        row: ParsedRow | RowReferences,
        schema: type[Validated],
        body: dict[str, Any],
        columns: dict[str, str],
    ) -> Validated | None:
        """``body`` as ``schema`` takes it; each schema error becomes a problem of the column
        its field comes from (``columns``: field → column key; ``text`` when not listed)."""
        try:
            return schema.model_validate(body)
        except ValidationError as error:
            for detail in error.errors():
                key = columns.get(str(detail["loc"][0]), "text")
                value = str(detail.get("input", ""))
                self.problem(row, key, value, f"{quote(value)}: {detail['msg']}")
            return None


def _identity_value(kind: Kind, text: str) -> str:
    return text if kind is Kind.FORMAT else identity_text(text)


def _identity(answer: Answer, kind: Kind) -> Identity:
    value = answer.format if isinstance(answer, FormatPreference) else answer.text
    return (answer.organisation_id, kind, _identity_value(kind, value))


def _changes(
    row: ParsedRow, answer: Answer, person: int | NewPerson | None, meeting_id: int | None
) -> dict[str, Any]:
    """What the row changes on a stored answer (only properties whose column the file has)."""
    wanted: dict[str, Any] = {}
    if isinstance(answer, FormatPreference):
        if "note" in row.columns:
            wanted["note"] = row.note
    else:
        wanted["text"] = row.text
        if "topics" in row.columns and given_topics(answer) != row.topics:
            wanted["topics"] = row.topics
        if isinstance(answer, Need) and "priority" in row.columns:
            wanted["priority"] = row.priority.value
        if isinstance(answer, Offer) and "capacity" in row.columns:
            wanted["capacity"] = row.capacity
    if row.columns & PERSON_COLUMNS:
        wanted["person_id"] = person
    if "meeting" in row.columns:
        wanted["meeting_id"] = meeting_id
    return {
        name: value
        for name, value in wanted.items()
        if name == "topics" or isinstance(value, NewPerson) or getattr(answer, name) != value
    }
