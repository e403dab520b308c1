"""Importing answers from CSV and XLSX through the HTTP API, on both databases."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, func, select
from sqlalchemy.orm import Session

from app import matching as engine
from app.api import session as request_session
from app.db import utcnow
from app.matching.embedding import to_bytes
from app.models import (
    ApiToken,
    AuditEvent,
    Community,
    FormatPreference,
    Meeting,
    Membership,
    Need,
    NeedEmbedding,
    Offer,
    Organisation,
    Person,
    Priority,
    Suggestion,
)
from app.schemas import MeetingCreate
from app.services import communities, demo, organisations, tokens
from app.services.import_plan import Planner
from app.services.import_rows import TEMPLATE_HEADER, ImportProblem, Kind, ParsedRow
from tests import factories
from tests.http import patch
from tests.imports import HEADER, before_reading_the_file, csv_file, upload, xlsx_file
from tests.problems import assert_problem

EXPORT_HEADER = [
    "Organisation",
    "Kind",
    "Text",
    "Topics",
    "Capacity",
    "Priority",
    "Note",
    "Person name",
    "E-mail",
    "Department",
    "Meeting",
]


def _export(session: Session, community: Community) -> bytes:
    """The community's answers as an XLSX in the import format (English headers)."""
    organisations_by_id = {o.id: o for o in session.scalars(select(Organisation))}
    people = {p.id: p for p in session.scalars(select(Person))}
    meetings = {m.id: m for m in session.scalars(select(Meeting))}
    rows: list[list[object]] = [EXPORT_HEADER]
    for model in (Need, Offer, FormatPreference):
        for answer in session.scalars(
            select(model).where(model.community_id == community.id).order_by(model.id)
        ):
            organisation = organisations_by_id[answer.organisation_id]
            person = people.get(answer.person_id or 0)
            meeting = meetings.get(answer.meeting_id or 0)
            given = [t.topic for t in getattr(answer, "topic_tags", []) if t.source == "given"]
            rows.append(
                [
                    organisation.cbs_code or organisation.name,
                    {Need: "need", Offer: "offer", FormatPreference: "format"}[model],
                    answer.format if isinstance(answer, FormatPreference) else answer.text,
                    "; ".join(given) or None,
                    answer.capacity if isinstance(answer, Offer) else None,
                    answer.priority if isinstance(answer, Need) else None,
                    answer.note if isinstance(answer, FormatPreference) else None,
                    person.name if person else None,
                    person.email if person else None,
                    person.department if person else None,
                    meeting.title if meeting else None,
                ]
            )
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _suggestions(session: Session, community_id: int) -> set[tuple[str, str, float]]:
    rows = session.execute(
        select(Need.text, Offer.text, Suggestion.score)
        .join(Need, Need.id == Suggestion.need_id)
        .join(Offer, Offer.id == Suggestion.offer_id)
        .where(Suggestion.community_id == community_id)
    )
    return {(need, offer, round(score, 9)) for need, offer, score in rows}


def _count(session: Session, model: type[object], community: Community) -> int:
    column = model.community_id  # type: ignore[attr-defined]
    return int(session.scalar(select(func.count()).where(column == community.id)) or 0)


def _counts(session: Session, community: Community) -> tuple[int, ...]:
    people = int(session.scalar(select(func.count()).select_from(Person)) or 0)
    models = (Need, Offer, FormatPreference, Membership, Suggestion)
    return (*(_count(session, model, community) for model in models), people)


def test_round_trip_of_the_demo_gives_the_same_suggestions(
    client: TestClient, session: Session
) -> None:
    organisations.load_municipalities(session)
    original = session.get_one(Community, demo.load_demo(session).community_id)
    data = _export(session, original)
    copy = factories.community(session, "CoP kopie")
    communities.create_meeting(
        session,
        copy,
        MeetingCreate(title="Kick-off CoP Warmtetransitie", date=dt.date(2023, 6, 14)),
    )
    members = sorted(
        session.scalars(
            select(Membership.organisation_id).where(Membership.community_id == original.id)
        )
    )

    response = upload(client, copy.id, data, "demo.xlsx")

    assert response.status_code == 200, response.text
    answers = sum(_count(session, m, original) for m in (Need, Offer, FormatPreference))
    body = response.json()
    outcomes = body.pop("outcomes")
    assert body == {
        "dryRun": False,
        "rows": answers,
        "created": answers,
        "unchanged": 0,
        "updated": 0,
        "membersAdded": members,
        "peopleCreated": 0,
        "problems": [],
    }
    assert [o["row"] for o in outcomes] == list(range(2, answers + 2))
    assert {o["outcome"] for o in outcomes} == {"created"}
    created = {(o["kind"], o["answerId"]) for o in outcomes}
    for model, kind in ((Need, "need"), (Offer, "offer"), (FormatPreference, "format-preference")):
        stored = session.scalars(select(model.id).where(model.community_id == copy.id)).all()
        assert {answer for found, answer in created if found == kind} == set(stored)
    expected = _suggestions(session, original.id)
    assert len(expected) > 0
    assert _suggestions(session, copy.id) == expected
    assert _counts(session, copy)[:4] == _counts(session, original)[:4]


def _small_community(session: Session) -> tuple[Community, Organisation, Organisation]:
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    zaanstad = factories.municipality(session, "Zaanstad", "GM0479")
    return factories.community(session, "CoP import", haarlem), haarlem, zaanstad


def test_import_creates_answers_people_members_and_links_meetings(
    client: TestClient, session: Session
) -> None:
    cop, haarlem, zaanstad = _small_community(session)
    kick_off = factories.meeting(session, cop)
    known = factories.person(session, haarlem, name="Fenna Jansen")
    rows = [
        [*HEADER, "Toelichting", "Naam", "E-mail", "Afdeling", "Bijeenkomst"],
        [
            "Haarlem",
            "behoefte",
            "Hoe betrek je VvE's bij het WUP?",
            "vve-aanpak",
            None,
            "hoog",
            None,
            None,
            known.email,
            None,
            "14-06-2023",
        ],
        [
            "GM0479",
            "aanbod",
            "Ervaring met aquathermie uit het Noordzeekanaal",
            "Aquathermie",
            "2",
            None,
            None,
            "Kees Mulder",
            "K.Mulder@Zaanstad.example.org",
            "duurzaamheid",
            "kick-off",
        ],
        [
            "gemeente zaanstad",
            "vorm",
            "Leerkring",
            None,
            None,
            None,
            "maandelijks",
            None,
            "k.mulder@zaanstad.example.org",
            None,
            None,
        ],
    ]

    response = upload(client, cop.id, csv_file(rows))

    assert response.status_code == 200, response.text
    need = session.scalars(select(Need).where(Need.community_id == cop.id)).one()
    offer_id = session.scalars(select(Offer.id).where(Offer.community_id == cop.id)).one()
    preference_id = session.scalars(
        select(FormatPreference.id).where(FormatPreference.community_id == cop.id)
    ).one()
    assert response.json() == {
        "dryRun": False,
        "rows": 3,
        "created": 3,
        "unchanged": 0,
        "updated": 0,
        "membersAdded": [zaanstad.id],
        "peopleCreated": 1,
        "problems": [],
        "outcomes": [
            {"row": 2, "kind": "need", "outcome": "created", "answerId": need.id, "changes": []},
            {"row": 3, "kind": "offer", "outcome": "created", "answerId": offer_id, "changes": []},
            {
                "row": 4,
                "kind": "format-preference",
                "outcome": "created",
                "answerId": preference_id,
                "changes": [],
            },
        ],
    }
    assert (need.organisation_id, need.text, need.priority) == (
        haarlem.id,
        "Hoe betrek je VvE's bij het WUP?",
        "high",
    )
    assert (need.person_id, need.meeting_id) == (known.id, kick_off.id)
    assert ("vve-aanpak", "given") in {(t.topic, t.source) for t in need.topic_tags}
    kees = session.scalars(select(Person).where(Person.email == "k.mulder@zaanstad.example.org"))
    kees_row = kees.one()
    assert (kees_row.name, kees_row.department, kees_row.organisation_id) == (
        "Kees Mulder",
        "duurzaamheid",
        zaanstad.id,
    )
    offer = session.scalars(select(Offer).where(Offer.community_id == cop.id)).one()
    assert (offer.capacity, offer.person_id, offer.meeting_id) == (2, kees_row.id, kick_off.id)
    assert ("aquathermie", "given") in {(t.topic, t.source) for t in offer.topic_tags}
    preference = session.scalars(
        select(FormatPreference).where(FormatPreference.community_id == cop.id)
    ).one()
    assert (preference.format, preference.note, preference.person_id) == (
        "learning-circle",
        "maandelijks",
        kees_row.id,
    )


def test_dry_run_reports_and_writes_nothing(client: TestClient, session: Session) -> None:
    cop, _, zaanstad = _small_community(session)
    rows = [
        [*HEADER, "naam", "e-mail"],
        ["Haarlem", "need", "Warmtenet in de wijk", None, None, "low", None, None],
        [
            "Zaanstad",
            "offer",
            "Ervaring met warmtenetten",
            None,
            "4",
            None,
            "Bram Smit",
            "b.smit@zaanstad.example.org",
        ],
    ]
    before = _counts(session, cop)

    response = upload(client, cop.id, xlsx_file(rows), "antwoorden.xlsx", dry_run=True)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "dryRun": True,
        "rows": 2,
        "created": 2,
        "unchanged": 0,
        "updated": 0,
        "membersAdded": [zaanstad.id],
        "peopleCreated": 1,
        "problems": [],
        "outcomes": [  # a dry run creates nothing: no ids yet
            {"row": 2, "kind": "need", "outcome": "created", "answerId": None, "changes": []},
            {"row": 3, "kind": "offer", "outcome": "created", "answerId": None, "changes": []},
        ],
    }
    session.expire_all()
    assert _counts(session, cop) == before


ROWS = [
    HEADER,
    ["Haarlem", "need", "Warmtenet in de wijk", "warmtenetten", None, "high"],
    ["Haarlem", "need", "Hoe maak je een WUP?", None, None, None],
    ["Zaanstad", "offer", "Ervaring met warmtenetten", None, "4", None],
    ["Zaanstad", "format", "werkbezoek", None, None, None],
]


def test_importing_twice_creates_no_duplicates(client: TestClient, session: Session) -> None:
    cop, _, _ = _small_community(session)
    first = upload(client, cop.id, csv_file(ROWS))
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["unchanged"]) == (4, 0)
    after_first = _counts(session, cop)

    second = upload(client, cop.id, xlsx_file(ROWS), "again.xlsx")

    assert second.status_code == 200, second.text
    assert second.json() == {
        "dryRun": False,
        "rows": 4,
        "created": 0,
        "unchanged": 4,
        "updated": 0,
        "membersAdded": [],
        "peopleCreated": 0,
        "problems": [],
        "outcomes": [{**outcome, "outcome": "unchanged"} for outcome in first.json()["outcomes"]],
    }
    assert [o["outcome"] for o in first.json()["outcomes"]] == ["created"] * 4
    assert _counts(session, cop) == after_first


def test_the_file_is_read_before_the_request_begins_to_write(
    client: TestClient,
    session: Session,
    connection: Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading a large XLSX takes a while: not while the request holds SQLite's write lock
    (taken as a writing request's session begins) or the community's row lock."""
    cop, _, _ = _small_community(session)
    events: list[str] = []
    before_reading_the_file(monkeypatch, lambda: events.append("read the file"))
    begin_for_writing = request_session.begin_for_writing

    def beginning(request_session: Session) -> None:
        events.append("begin to write")
        begin_for_writing(request_session)

    def executing(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        events.append("lock the community" if "pg_advisory_xact_lock" in statement else "query")

    monkeypatch.setattr(request_session, "begin_for_writing", beginning)
    event.listen(connection, "before_cursor_execute", executing)
    try:
        response = upload(client, cop.id, xlsx_file(ROWS), "antwoorden.xlsx")
    finally:
        event.remove(connection, "before_cursor_execute", executing)

    assert response.status_code == 200, response.text
    # SQLite has no advisory locks: its write lock, taken as the transaction begins, queues.
    lock = ["lock the community"] if connection.dialect.name == "postgresql" else []
    steps = [step for step, _ in itertools.groupby(events)]
    # The plan read apart (which texts to embed before the write), then the write.
    assert steps[: 4 + len(lock)] == ["read the file", "query", "begin to write", "query", *lock]


class _RecordingEmbedder:
    """An embedding model that notes what it embeds in *events*."""

    model = "recording"

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def needs(self, texts: Sequence[str]) -> list[bytes]:
        return self._vectors("need", texts)

    def offers(self, texts: Sequence[str]) -> list[bytes]:
        return self._vectors("offer", texts)

    def _vectors(self, kind: str, texts: Sequence[str]) -> list[bytes]:
        self.events += [f"embed {kind} {text}" for text in texts]
        return [to_bytes(np.array([1.0, len(text), ord(text[0])])) for text in texts]


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_rows_are_embedded_before_the_request_begins_to_write(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    """The model takes about a tenth of a second a text: a 5,000-row import embedded them in
    its write transaction for minutes, and on SQLite every other write got a 503 meanwhile.
    They are embedded before it begins now, and stored as they are; a dry run embeds none."""
    cop, _, _ = _small_community(session)
    events: list[str] = []
    monkeypatch.setattr(engine, "load_embedder", lambda: _RecordingEmbedder(events))
    begin_for_writing = request_session.begin_for_writing

    def beginning(request_session: Session) -> None:
        events.append("begin to write")
        begin_for_writing(request_session)

    monkeypatch.setattr(request_session, "begin_for_writing", beginning)
    response = upload(client, cop.id, csv_file(ROWS), dry_run=dry_run)

    assert response.status_code == 200, response.text
    if dry_run:
        assert events == ["begin to write"]  # (a POST's session, as every POST's)
        return
    assert events == [
        "embed need Warmtenet in de wijk",
        "embed need Hoe maak je een WUP?",
        "embed offer Ervaring met warmtenetten",
        "begin to write",
    ]
    stored = session.execute(
        select(Need.text, NeedEmbedding.vector).join(NeedEmbedding).order_by(Need.id)
    ).all()
    assert stored == [
        (text, to_bytes(np.array([1.0, len(text), ord(text[0])])))
        for text in ("Warmtenet in de wijk", "Hoe maak je een WUP?")
    ]

    # Only what the import would write new: nothing for texts stored already (the review that
    # found the model running on every row of a repeated 5,000-row file), nor for a file that
    # is refused.
    changed = [*ROWS[:2], ["Haarlem", "need", "Hoe maak je een WUP? (2024)", None, None, None]]
    for rows, status, embedded in [
        (ROWS, 200, []),
        ([*ROWS, ["Haarlem", "xyz", "Iets", None, None, None]], 422, []),
        ([*ROWS, ["Atlantis", "need", "Iets", None, None, None]], 422, []),
        (changed, 200, ["embed need Hoe maak je een WUP? (2024)"]),
    ]:
        events.clear()
        assert upload(client, cop.id, csv_file(rows)).status_code == status
        assert [event for event in events if event.startswith("embed")] == embedded
    events.clear()
    missing = upload(client, cop.id + 1, csv_file(ROWS))
    assert (missing.status_code, events) == (404, ["begin to write"])


def _post_file(client: TestClient, community_id: int, token: str) -> httpx.Response:
    return client.post(
        f"/api/v1/communities/{community_id}/imports",
        files={"file": ("antwoorden.csv", csv_file(ROWS))},
        headers={"Authorization": f"Bearer {token}" if token else ""},
    )


def test_only_a_caller_who_may_import_makes_the_server_read_a_file(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is read before the write transaction begins, but only for a caller who may
    import into the community: others get their 401, 404 or 403 without the file being read.
    The caller is authenticated again in the write transaction: a token revoked while the file
    was read is refused. The import is written in the organiser's name."""
    cop, haarlem, _ = _small_community(session)
    reads: list[str] = []
    before_reading_the_file(monkeypatch, lambda: reads.append("read"))
    member = factories.person(session, haarlem, "Mila Lid", "wonen")
    member_token = tokens.issue_token(session, member, lifetime_days=1).token
    refused = [
        _post_file(client, cop.id, "").status_code,
        _post_file(client, cop.id, "not-a-token").status_code,
        _post_file(client, cop.id, member_token).status_code,
        _post_file(client, cop.id + 1000, member_token).status_code,
    ]
    assert (refused, reads) == ([401, 401, 403, 404], [])

    organiser = factories.person(session, haarlem, "Olga Organisator", "duurzaamheid")
    tokens.add_organiser(session, cop, organiser.id)
    issued = tokens.issue_token(session, organiser, lifetime_days=1)
    response = _post_file(client, cop.id, issued.token)
    assert response.status_code == 200, response.text
    assert reads == ["read"]
    authors = session.execute(
        select(AuditEvent.token_id, AuditEvent.person_id, AuditEvent.role)
        .where(AuditEvent.resource == "need")
        .distinct()
    ).all()
    assert authors == [(issued.id, organiser.id, "person")]

    def revoke() -> None:  # the first spy still counts the read
        session.get_one(ApiToken, issued.id).revoked_at = utcnow()
        session.flush()

    before_reading_the_file(monkeypatch, revoke)
    assert_problem(_post_file(client, cop.id, issued.token), 401)
    assert reads == ["read", "read"]


def test_changed_rows_count_as_updated(client: TestClient, session: Session) -> None:
    cop, haarlem, _ = _small_community(session)
    assert upload(client, cop.id, csv_file(ROWS)).status_code == 200
    changed = [
        HEADER,
        # Same identity (case and white space aside), other text, topics and priority.
        ["Haarlem", "need", "warmtenet  in de WIJK", "aquathermie", None, "low"],
        ["Haarlem", "need", "Hoe maak je een WUP?", None, None, None],
        ["Zaanstad", "offer", "Ervaring met warmtenetten", None, "1", None],
        ["Zaanstad", "format", "site-visit", None, None, None],
    ]

    response = upload(client, cop.id, csv_file(changed))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 2, 2)
    assert [(o["row"], o["outcome"], o["changes"]) for o in body["outcomes"]] == [
        (2, "updated", ["priority", "text", "topics"]),
        (3, "unchanged", []),
        (4, "updated", ["capacity"]),
        (5, "unchanged", []),
    ]
    need = session.scalars(
        select(Need).where(Need.organisation_id == haarlem.id, Need.text.startswith("warmtenet"))
    ).one()
    session.refresh(need)
    assert (need.text, need.priority) == ("warmtenet  in de WIJK", "low")
    assert [t.topic for t in need.topic_tags if t.source == "given"] == ["aquathermie"]
    offer = session.scalars(select(Offer).where(Offer.community_id == cop.id)).one()
    session.refresh(offer)
    assert offer.capacity == 1
    assert _count(session, Need, cop) == 2


def test_a_row_cannot_lower_an_offers_capacity_below_the_peers_introduced_to_it(
    client: TestClient, session: Session
) -> None:
    cop, _, zaanstad = _small_community(session)
    rows = [
        HEADER,
        ["Haarlem", "need", "Warmtenet in de wijk", "warmtenetten", None, None],
        ["Haarlem", "need", "Warmtenetten aanleggen in een oude wijk", None, None, None],
        ["Zaanstad", "offer", "Ervaring met warmtenetten in wijken", None, "3", None],
    ]
    assert upload(client, cop.id, csv_file(rows)).status_code == 200
    url = f"/api/v1/communities/{cop.id}/suggestions"
    found = client.get(url).json()["items"]
    assert len(found) == 2
    for suggestion in found:
        introduced = patch(client, f"{url}/{suggestion['id']}", {"status": "introduced"})
        assert introduced.status_code == 200, introduced.text
    before = _counts(session, cop)
    rows[3][4] = "1"
    expected = [
        {
            "row": 4,
            "column": "capaciteit",
            "value": "1",
            "message": "2 peer(s) were introduced to this offer already; its capacity cannot "
            "go below 2",
        }
    ]

    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422, "file.rows[4].capaciteit")
    assert body["problems"] == expected
    assert _counts(session, cop) == before
    dry = upload(client, cop.id, csv_file(rows), dry_run=True)
    assert (dry.status_code, dry.json()["problems"], dry.json()["updated"]) == (200, expected, 0)
    rows[3][4] = "2"  # room for the two
    assert upload(client, cop.id, csv_file(rows)).json()["updated"] == 1
    offer = session.scalars(select(Offer).where(Offer.organisation_id == zaanstad.id)).one()
    session.refresh(offer)
    assert offer.capacity == 2


def test_a_row_that_changes_only_topics_is_an_edit_of_the_answer(
    client: TestClient, session: Session
) -> None:
    cop, _, _ = _small_community(session)
    assert upload(client, cop.id, csv_file(ROWS)).status_code == 200
    changed = [list(row) for row in ROWS]
    changed[1][3] = "aquathermie"  # Haarlem's first need: other topics, same everything else

    response = upload(client, cop.id, csv_file(changed))

    assert response.status_code == 200, response.text
    assert (response.json()["updated"], response.json()["unchanged"]) == (1, 3)
    need = session.scalars(select(Need).where(Need.text == "Warmtenet in de wijk")).one()
    session.refresh(need)
    assert [t.topic for t in need.topic_tags if t.source == "given"] == ["aquathermie"]
    assert need.version == 2  # its ETag moves on, as after a PATCH of its topics


def test_a_column_the_file_lacks_leaves_the_property_as_it_is(
    client: TestClient, session: Session
) -> None:
    cop, _, _ = _small_community(session)
    assert upload(client, cop.id, csv_file(ROWS)).status_code == 200
    without_priority = [row[:5] for row in ROWS]

    response = upload(client, cop.id, csv_file(without_priority))

    assert (response.json()["updated"], response.json()["unchanged"]) == (0, 4)
    priorities = session.scalars(
        select(Need.priority).where(Need.community_id == cop.id).order_by(Need.id)
    )
    assert list(priorities) == ["high", "normal"]


def test_a_department_column_alone_leaves_the_person_as_it_is(
    client: TestClient, session: Session
) -> None:
    """Afdeling describes a new person; without naam or e-mail it says nothing about who."""
    cop, haarlem, _ = _small_community(session)
    known = factories.person(session, haarlem, name="Fenna Jansen")
    with_person = [[*HEADER, "e-mail"], [*ROWS[1], known.email]]
    assert upload(client, cop.id, csv_file(with_person)).status_code == 200

    response = upload(client, cop.id, csv_file([[*HEADER, "afdeling"], [*ROWS[1], None]]))

    assert response.status_code == 200, response.text
    assert (response.json()["updated"], response.json()["unchanged"]) == (0, 1)
    need = session.scalars(select(Need).where(Need.community_id == cop.id)).one()
    session.refresh(need)
    assert need.person_id == known.id


def test_every_invalid_row_is_reported_and_nothing_is_written(
    client: TestClient, session: Session
) -> None:
    cop, _, _ = _small_community(session)
    rows = [
        HEADER,
        ["Haarlem", "need", "Goed", None, None, None],
        ["Haarlem", "vraagje", "Wat?", None, None, None],
        ["Haarlem", "need", "Urgent", None, None, "urgent"],
        ["Zaanstad", "offer", "Veel", None, "veel", None],
        ["Zaanstad", "offer", "Nul", None, "0", None],
        ["Zaanstad", "offer", "Tekst", "aquatermie; warmtenetten", None, None],
        ["Zaanstad", "offer", "Prioriteit", None, None, "hoog"],
        ["Zaanstad", "format", "borrel", None, None, None],
        ["Haarlem", "need", "goed ", None, None, None],
    ]
    before = _counts(session, cop)
    expected = [
        {
            "row": 3,
            "column": "soort",
            "value": "vraagje",
            "message": "unknown kind 'vraagje'; use need, offer or format (behoefte, aanbod, vorm)",
        },
        {
            "row": 4,
            "column": "prioriteit",
            "value": "urgent",
            "message": "unknown priority 'urgent'; use low, normal or high (laag, normaal, hoog)",
        },
        {
            "row": 5,
            "column": "capaciteit",
            "value": "veel",
            "message": "capacity 'veel' is not a whole number from 1 to 100",
        },
        {
            "row": 6,
            "column": "capaciteit",
            "value": "0",
            "message": "capacity '0' is not a whole number from 1 to 100",
        },
        {
            "row": 7,
            "column": "onderwerpen",
            "value": "aquatermie; warmtenetten",
            "message": "unknown topic 'aquatermie'; did you mean 'aquathermie'?",
        },
        {
            "row": 8,
            "column": "prioriteit",
            "value": "hoog",
            "message": "priority 'hoog' applies to needs only; this row is an offer",
        },
        {
            "row": 9,
            "column": "tekst",
            "value": "borrel",
            "message": "unknown format 'borrel'; use one of learning-circle, knowledge-session, "
            "site-visit, peer-review, one-to-one, online-community, regional-meeting, "
            "serious-game",
        },
        {
            "row": 10,
            "column": "tekst",
            "value": "goed",
            "message": "'goed' repeats row 2 (same organisation, kind and text)",
        },
    ]

    response = upload(client, cop.id, csv_file(rows))

    body = assert_problem(response, 422)
    assert body["detail"] == "8 problem(s) in the file; nothing was imported"
    assert body["problems"] == expected
    assert body["invalidParams"][0] == {
        "name": "file.rows[3].soort",
        "reason": expected[0]["message"],
    }
    assert len(body["invalidParams"]) == 8
    assert _counts(session, cop) == before

    dry = upload(client, cop.id, csv_file(rows), dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["problems"] == expected
    assert (dry.json()["rows"], dry.json()["created"]) == (9, 1)


def test_a_formula_without_a_saved_result_is_a_problem_of_its_cell(
    client: TestClient, session: Session
) -> None:
    """openpyxl (and other scripts) write formulas without their result, which Excel saves."""
    cop, _, _ = _small_community(session)
    rows = [
        HEADER,
        ["Haarlem", "need", "Warmtenet in de wijk", None, None, None],
        ["Haarlem", "need", '="Hoe maak je "&"een WUP?"', None, None, None],
    ]
    expected = [
        {
            "row": 3,
            "column": "tekst",
            "value": None,
            "message": "cell C3 of sheet 'Sheet' holds a formula without a saved result; open "
            "the file in a spreadsheet program and save it, or paste the values instead of the "
            "formulas",
        }
    ]
    before = _counts(session, cop)

    response = upload(client, cop.id, xlsx_file(rows), "script.xlsx")

    body = assert_problem(response, 422, "file.rows[3].tekst")
    assert body["detail"] == "1 problem(s) in the file; nothing was imported"
    assert body["problems"] == expected
    assert _counts(session, cop) == before

    dry = upload(client, cop.id, xlsx_file(rows), "script.xlsx", dry_run=True)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["problems"], dry.json()["created"]) == (expected, 1)


def test_unknown_organisation_suggests_the_closest_known_name(
    client: TestClient, session: Session
) -> None:
    organisations.load_municipalities(session)
    cop = factories.community(session, "CoP Noord-Holland Noord")
    rows = [
        ["Organisation", "Kind", "Text"],
        ["Bergen", "need", "Warmtenet"],
        ["Hoorm", "need", "Warmtenet"],
        ["GM9999", "need", "Warmtenet"],
        ["Gemeente Xyzzy-Plugh", "need", "Warmtenet"],
    ]

    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422)

    assert [(p["row"], p["column"], p["message"]) for p in body["problems"]] == [
        (2, "Organisation", "unknown organisation 'Bergen'; did you mean 'Bergen (NH.)'?"),
        (3, "Organisation", "unknown organisation 'Hoorm'; did you mean 'Hoorn'?"),
        (4, "Organisation", "unknown CBS code 'GM9999'"),
        (
            5,
            "Organisation",
            "unknown organisation 'Gemeente Xyzzy-Plugh'; use its name in GET /organisations "
            "or its CBS code (GM0363 or 363)",
        ),
    ]


def test_a_cbs_code_as_a_spreadsheet_keeps_it_finds_the_municipality(
    client: TestClient, session: Session
) -> None:
    """Typed into Excel, 0363 is the number 363: it was an unknown organisation, and the hint
    said to use the CBS code just given."""
    organisations.load_municipalities(session)
    cop = factories.community(session, "CoP Noord-Holland")
    rows = [
        ["Organisation", "Kind", "Text"],
        [363, "offer", "Ervaring met aardgasvrije wijken"],
        ["0363", "offer", "Ervaring met het WUP"],
        ["gm0392", "need", "Hulp bij de TVW"],
        [9999, "need", "Warmtenet"],
    ]

    body = assert_problem(upload(client, cop.id, xlsx_file(rows), "codes.xlsx"), 422)
    assert [(p["row"], p["message"]) for p in body["problems"]] == [
        (5, "unknown CBS code 'GM9999'")
    ]

    response = upload(client, cop.id, xlsx_file(rows[:-1]), "codes.xlsx")
    assert response.status_code == 200, response.text
    names = session.execute(
        select(Organisation.name, Need.text)
        .join(Need, Need.organisation_id == Organisation.id)
        .where(Need.community_id == cop.id)
    ).all()
    assert names == [("Haarlem", "Hulp bij de TVW")]
    offers = session.scalars(
        select(Organisation.name)
        .join(Offer, Offer.organisation_id == Organisation.id)
        .where(Offer.community_id == cop.id)
    ).all()
    assert offers == ["Amsterdam", "Amsterdam"]


@pytest.mark.parametrize("placeholder", ["n.v.t.", "-", "?"])
def test_a_placeholder_row_is_a_problem(
    client: TestClient, session: Session, placeholder: str
) -> None:
    """A kick-off sheet says "n.v.t." (or "-", found by review) where a municipality has
    nothing to offer: as an offer it was matched with every other placeholder need."""
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    cop = factories.community(session, "CoP Noord-Holland", haarlem)
    rows = [
        ["Organisation", "Kind", "Text"],
        ["Haarlem", "need", "Hulp bij de TVW"],
        ["Haarlem", "offer", placeholder],
    ]
    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422)
    assert [(p["row"], p["column"], p["message"]) for p in body["problems"]] == [
        (
            3,
            "Text",
            f"'{placeholder}' is a placeholder, not a need or offer: leave it out, or say what is "
            "meant",
        )
    ]
    assert session.scalars(select(Need.text)).all() == []


def test_two_files_in_one_import_are_refused(client: TestClient, session: Session) -> None:
    """Found by review: a form with two ``file`` parts imported the second, silently."""
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    cop = factories.community(session, "CoP Noord-Holland", haarlem)
    first, second = (
        csv_file([["Organisation", "Kind", "Text"], ["Haarlem", "need", text]])
        for text in ("Hulp bij de TVW", "Hulp bij het WUP")
    )
    response = client.post(
        f"/api/v1/communities/{cop.id}/imports",
        files=[("file", ("a.csv", first)), ("file", ("b.csv", second))],
    )
    body = assert_problem(response, 422, "body.file")
    assert body["detail"] == "send one file per import"
    assert session.scalars(select(Need.text)).all() == []


def test_organisations_named_alike_are_told_apart_by_the_exact_name_or_refused(
    client: TestClient, session: Session
) -> None:
    """Found by review: with two stored names that fold alike (stored before such names were
    refused), a row went to whichever was read last, silently, and made it a member."""
    haarlem = factories.municipality(session, "Haarlem", "GM0392")
    twin = Organisation(name="Haarlém", kind="other")  # not a municipality
    session.add(twin)
    session.flush()
    cop = factories.community(session, "CoP Noord-Holland", haarlem)
    rows = [["Organisation", "Kind", "Text"], ["HAARLEM", "need", "Hulp bij de TVW"]]

    body = assert_problem(upload(client, cop.id, xlsx_file(rows), "alike.xlsx"), 422)
    assert [(p["row"], p["column"], p["message"]) for p in body["problems"]] == [
        (
            2,
            "Organisation",
            "several organisations are named like 'HAARLEM' ('Haarlem', 'Haarlém'); "
            "use the exact name or the CBS code",
        )
    ]
    rows[1][0] = " Haarlem "
    # "Gemeente …" names a municipality: of the two, Haarlem is one.
    rows.append(["Gemeente HAARLEM", "need", "Hulp bij het WUP"])
    response = upload(client, cop.id, xlsx_file(rows), "alike.xlsx")
    assert (response.status_code, response.json()["membersAdded"]) == (200, [])
    assert session.scalars(select(Need.organisation_id)).all() == [haarlem.id, haarlem.id]


def test_an_unknown_name_is_looked_up_once_and_only_the_first_100_are(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each close-name lookup is difflib against every organisation (about 1.8 ms among 400):
    a name repeated on every row is looked up once, and names after the first
    MAX_NAME_HINTS distinct ones only point to GET /organisations."""
    organisations.load_municipalities(session)
    cop = factories.community(session, "CoP Noord-Holland Noord")
    looked_up: list[str] = []
    closest_name = Planner._closest_name

    def counted(planner: Planner, key: str) -> str | None:
        looked_up.append(key)
        return closest_name(planner, key)

    monkeypatch.setattr(Planner, "_closest_name", counted)
    names = ["Hoorm", "Hoorm", *(f"Onbekend {number}" for number in range(100)), "Hoorm", "Edamm"]
    rows = [["Organisation", "Kind", "Text"], *([name, "need", "Warmtenet"] for name in names)]

    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422)

    assert looked_up == ["hoorm", *(f"onbekend {number}" for number in range(99))]
    messages = [problem["message"] for problem in body["problems"]]
    assert messages.count("unknown organisation 'Hoorm'; did you mean 'Hoorn'?") == 3
    assert messages[-1] == (
        "unknown organisation 'Edamm'; use its name in GET /organisations or its CBS code "
        "(GM0363 or 363)"
    )


def test_every_problem_of_a_row_is_found_in_one_round(client: TestClient, session: Session) -> None:
    """A row with a problem of its own was never checked against the database, and an unknown
    kind stopped the row's other checks: each round of corrections found new problems."""
    cop, _, _ = _small_community(session)
    header = ["organisatie", "soort", "tekst", "capaciteit", "prioriteit", "bijeenkomst"]
    rows = [
        header,
        ["Haarlm", "offer", "Warmte", "1.000", None, "geen-bijeenkomst"],
        ["Haarlem", "aanbd", "Warmte", "abc", "superhoog", None],
    ]

    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422)

    assert [(p["row"], p["column"], p["value"]) for p in body["problems"]] == [
        (2, "capaciteit", "1.000"),
        (2, "organisatie", "Haarlm"),
        (2, "bijeenkomst", "geen-bijeenkomst"),
        (3, "soort", "aanbd"),
        (3, "prioriteit", "superhoog"),
        (3, "capaciteit", "abc"),
    ]


def test_a_new_person_is_described_the_same_in_every_row(
    client: TestClient, session: Session
) -> None:
    """A later row's other name and department for the same new e-mail were dropped silently."""
    cop, _, _ = _small_community(session)
    header = ["organisatie", "soort", "tekst", "naam", "e-mail", "afdeling"]
    rows = [
        header,
        ["Haarlem", "need", "Een", "Nieuw Mens", "nieuw@haarlem.example.org", "wonen"],
        ["Haarlem", "need", "Twee", "nieuw  mens", "NIEUW@haarlem.example.org", None],
        ["Haarlem", "need", "Drie", "Heel Ander Mens", "Nieuw@Haarlem.example.org", "financien"],
    ]

    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422)

    assert [(p["row"], p["column"], p["message"]) for p in body["problems"]] == [
        (
            4,
            "naam",
            "'nieuw@haarlem.example.org' is given in row 2 with the name 'Nieuw Mens'; a new "
            "person has one name",
        ),
        (
            4,
            "afdeling",
            "'nieuw@haarlem.example.org' is given in row 2 with the department 'wonen'; a new "
            "person has one department",
        ),
    ]


def test_people_and_meetings_must_resolve(client: TestClient, session: Session) -> None:
    cop, haarlem, zaanstad = _small_community(session)
    factories.meeting(session, cop)
    amsterdammer = factories.person(session, zaanstad, name="Anouk Visser")
    factories.person(session, haarlem, name="Sanne de Wit")
    factories.person(session, haarlem, name="Sanne de Wit")
    header = ["organisatie", "soort", "tekst", "naam", "e-mail", "afdeling", "bijeenkomst"]
    rows = [
        header,
        ["Haarlem", "need", "Een", None, amsterdammer.email, None, None],
        ["Haarlem", "need", "Twee", None, "nieuw@haarlem.example.org", None, None],
        ["Haarlem", "need", "Drie", "Sanne de Wit", None, None, None],
        ["Haarlem", "need", "Vier", "Niemand", None, None, None],
        ["Haarlem", "need", "Vijf", None, None, "wonen", None],
        ["Haarlem", "need", "Zes", None, "geen-adres", None, None],
        ["Haarlem", "need", "Zeven", None, None, None, "2023-06-15"],
        ["Haarlem", "need", "Acht", None, None, None, "Kick of"],
    ]

    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422)

    assert [(p["row"], p["column"], p["message"]) for p in body["problems"]] == [
        (
            2,
            "e-mail",
            f"'{amsterdammer.email}' is the e-mail of a person of another organisation, not of "
            "'Haarlem'",
        ),
        (
            3,
            "e-mail",
            "'nieuw@haarlem.example.org' is not known yet; fill in naam to add this person",
        ),
        (
            4,
            "naam",
            "several people named 'Sanne de Wit' at 'Haarlem'; fill in e-mail to tell "
            "who it is or to add them",
        ),
        (
            5,
            "naam",
            "nobody named 'Niemand' at 'Haarlem'; fill in e-mail to tell who it is or to add them",
        ),
        (
            6,
            "afdeling",
            "department 'wonen' needs a person: fill in e-mail (and naam for someone new)",
        ),
        (7, "e-mail", "'geen-adres' is not a valid e-mail address"),
        (
            8,
            "bijeenkomst",
            "no meeting '2023-06-15' in this community; its meetings: 'Kick-off' (2023-06-14)",
        ),
        (
            9,
            "bijeenkomst",
            "no meeting 'Kick of' in this community; did you mean 'Kick-off'? "
            "its meetings: 'Kick-off' (2023-06-14)",
        ),
    ]


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_control_character_in_a_cell_is_a_problem_of_its_cell(
    client: TestClient, session: Session, dry_run: bool
) -> None:
    """Excel writes NUL as _x0000_ (the API refuses it in every text); a vertical tab
    (_x000B_, Word's Shift+Enter) is the line break it stands for."""
    cop, _, _ = _small_community(session)
    header = ["organisatie", "soort", "tekst", "naam", "e-mail", "afdeling"]
    rows = [
        header,
        ["Haarlem", "need", "Een", "Jan_x0000_Jansen", "jan@haarlem.example.org", None],
        ["Haarlem", "need", "Twee", "Piet Smit", "piet@haarlem.example.org", "wonen_x0000_"],
        ["Haarlem", "need", "Drie_x0007_", None, None, None],
        ["Haarlem", "need", "Vier_x000B_regels", None, None, None],
    ]
    before = _counts(session, cop)

    response = upload(client, cop.id, xlsx_file(rows), "a.xlsx", dry_run=dry_run)

    problems = (response.json() if dry_run else assert_problem(response, 422))["problems"]
    assert response.status_code == (200 if dry_run else 422)
    no_text = "which is no text; delete it"
    assert [(p["row"], p["column"], p["value"], p["message"]) for p in problems] == [
        (
            2,
            "naam",
            "Jan\x00Jansen",
            f"'Jan\x00Jansen' holds the control character 0x00, {no_text}",
        ),
        (3, "afdeling", "wonen\x00", f"'wonen\x00' holds the control character 0x00, {no_text}"),
        (4, "tekst", "Drie\x07", f"'Drie\x07' holds the control character 0x07, {no_text}"),
    ]
    assert _counts(session, cop) == before
    if dry_run:
        assert response.json()["created"] == 1  # Vier, with a line break


def test_a_new_person_the_api_would_refuse_is_a_problem_not_an_error(session: Session) -> None:
    """The planner validates a new person as the API does, so the write cannot fail on it
    (the row checks find such a NUL first)."""
    cop, _, _ = _small_community(session)
    row = ParsedRow(
        row=2,
        organisation="Haarlem",
        kind=Kind.NEED,
        text="Een",
        topics=(),
        priority=Priority.NORMAL,
        capacity=3,
        note=None,
        person_name="Jan\x00Jansen",
        email="jan@haarlem.example.org",
        department="wonen\x00",
        meeting=None,
        columns=frozenset({"organisation", "kind", "text", "person_name", "email", "department"}),
    )
    planner = Planner(session, cop, {})

    assert planner.plan([row], None) == []
    pattern = "String should match pattern '^[^\\x00]*$'"
    assert planner.problems == [
        ImportProblem(2, "naam", "Jan\x00Jansen", f"'Jan\x00Jansen': {pattern}"),
        ImportProblem(2, "afdeling", "wonen\x00", f"'wonen\x00': {pattern}"),
    ]


def test_windows_1252_text_is_decoded(client: TestClient, session: Session) -> None:
    cop, _, _ = _small_community(session)
    text = "Café-aanpak: één loket voor VvE’s"
    content = csv_file([HEADER, ["Haarlem", "behoefte", text, None, None, None]], encoding="cp1252")
    assert content.decode("cp1252").encode("cp1252") == content  # really not UTF-8:
    assert b"\xe9" in content

    response = upload(client, cop.id, content)

    assert response.status_code == 200, response.text
    assert session.scalars(select(Need.text).where(Need.community_id == cop.id)).one() == text


def test_size_and_row_limits(client: TestClient, session: Session) -> None:
    cop, _, _ = _small_community(session)
    limit = 2 * 1024 * 1024

    just_over = upload(client, cop.id, b"x" * (limit + 1))
    body = assert_problem(just_over, 413)
    assert body["detail"] == "the file is larger than 2,097,152 bytes; split it"
    far_over = upload(client, cop.id, b"x" * (limit + 100 * 1024))
    # Refused before the file is read, by the request's size: the file's limit is named too.
    assert assert_problem(far_over, 413)["detail"] == (
        "the request body is larger than 2,162,688 bytes: the file may be at most 2,097,152 "
        "bytes; split it"
    )

    rows = [HEADER] + [["Haarlem", "need", f"Behoefte {n}", None, None, None] for n in range(5001)]
    body = assert_problem(upload(client, cop.id, csv_file(rows)), 422)
    assert body["detail"] == "the file has more than 5,000 rows; split it into smaller files"
    assert _count(session, Need, cop) == 0


def test_unreadable_files_are_clear_problems(client: TestClient, session: Session) -> None:
    cop, _, _ = _small_community(session)
    cases = [
        (b"", "leeg.csv", 422, "the file is empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "leeg.csv", 422, "the file is empty"),
        (csv_file([HEADER]), "kop.csv", 422, "the file has a header (row 1) but no rows below it"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "foto.csv",
            415,
            "the file holds binary data (line 3: control character 0x00 at offset 8); it is "
            "not a CSV text file",
        ),
        (
            bytes(range(256)) * 4,
            "ruis.bin",
            415,
            "the file holds binary data (line 1: control character 0x00 at offset 0); it is "
            "not a CSV text file",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
            "oud.xls",
            415,
            "this is not a CSV or XLSX file (old Excel .xls or OpenDocument?); save it as .xlsx "
            "or .csv",
        ),
        (
            _zip_without_workbook(),
            "rekenblad.ods",
            415,
            "this is not a CSV or XLSX file (old Excel .xls or OpenDocument?); save it as .xlsx "
            "or .csv",
        ),
        (
            b"PK\x03\x04 broken beyond repair",
            "kapot.xlsx",
            422,
            "the file is not a valid XLSX workbook (broken ZIP)",
        ),
        (
            csv_file(ROWS),
            "stiekem.xlsx",
            422,
            "'stiekem.xlsx' is not a valid XLSX workbook (not a ZIP archive)",
        ),
        (_zip_without_workbook(), "archief.xlsx", 422, "the file is not a valid XLSX workbook"),
        (
            csv_file(ROWS) + b"Haarlem;need;\x81\r\n",
            "kapot.csv",
            415,
            "the file is neither UTF-8 text (line 6: byte 0x81 at offset 241) nor Windows-1252 "
            "text (line 6: byte 0x81 at offset 241); save it as CSV UTF-8",
        ),
        (
            csv_file(ROWS[:2]) + b'Haarlem;need;"Hulp, wie?\r\n' + csv_file(ROWS[2:]),
            "open.csv",
            422,
            'the CSV file cannot be read: the row that begins on line 3 opens a quoted cell (") '
            "that is never closed",
        ),
    ]
    for content, filename, status, detail in cases:
        body = assert_problem(upload(client, cop.id, content, filename), status)
        assert body["detail"] == detail, filename
    assert _count(session, Need, cop) == 0


def _zip_without_workbook() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "geen werkmap")
    return buffer.getvalue()


def test_missing_and_unknown_columns(client: TestClient, session: Session) -> None:
    cop, _, _ = _small_community(session)
    rows = [["Organisatie", "Tekst", "Prioritiet"], ["Haarlem", "Warmtenet", "hoog"]]

    body = assert_problem(upload(client, cop.id, csv_file(rows, delimiter=",")), 422)

    assert body["problems"] == [
        {
            "row": 1,
            "column": "Prioritiet",
            "value": "Prioritiet",
            "message": "unknown column 'Prioritiet'; did you mean 'prioriteit'? known columns: "
            + ", ".join(TEMPLATE_HEADER),
        },
        {
            "row": 1,
            "column": "soort",
            "value": None,
            "message": "required column 'soort' (kind) is missing",
        },
    ]


def test_the_upload_needs_a_file_and_a_caller(client: TestClient, session: Session) -> None:
    cop, _, _ = _small_community(session)
    url = f"/api/v1/communities/{cop.id}/imports"
    missing = client.post(url, data={"other": "x"})
    assert_problem(missing, 422, "body.file", "body.other")
    anonymous = client.post(url, files={"file": ("a.csv", b"x")}, headers={"Authorization": ""})
    assert_problem(anonymous, 401)
    assert_problem(upload(client, 999_999, csv_file(ROWS)), 404)


def test_template_downloads(client: TestClient, session: Session) -> None:
    cop, _, _ = _small_community(session)
    factories.meeting(session, cop)
    url = f"/api/v1/communities/{cop.id}/imports/template"

    as_csv = client.get(url, params={"format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"] == (
        'attachment; filename="cop-import-import-template.csv"'
    )
    assert as_csv.content == ("\ufeff" + ";".join(TEMPLATE_HEADER) + "\r\n").encode("utf-8")

    as_xlsx = client.get(url)
    assert as_xlsx.status_code == 200, as_xlsx.text
    assert as_xlsx.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert as_xlsx.headers["content-disposition"] == (
        'attachment; filename="cop-import-import-template.xlsx"'
    )
    workbook = openpyxl.load_workbook(io.BytesIO(as_xlsx.content))
    assert workbook.sheetnames == [
        "antwoorden",
        "toelichting",
        "werkvormen",
        "onderwerpen",
        "bijeenkomsten",
    ]
    sheet = workbook["antwoorden"]
    assert [cell.value for cell in sheet[1]] == list(TEMPLATE_HEADER)
    assert [cell.value for cell in workbook["bijeenkomsten"][2]] == ["Kick-off", "2023-06-14"]

    # Filled in, the template imports, with a topic label from its sheet (one with commas).
    topics = workbook["onderwerpen"].iter_rows(min_row=2, values_only=True)
    label = next(str(name) for slug, name, _ in topics if slug == "aquathermie")
    assert label == "Aquathermie (TEO, TEA, TED)"
    sheet.append(
        [
            "Haarlem",
            "behoefte",
            "Warmtenet",
            label,
            None,
            "hoog",
            None,
            None,
            None,
            None,
            "Kick-off",
        ]
    )
    filled = io.BytesIO()
    workbook.save(filled)
    response = upload(client, cop.id, filled.getvalue(), "ingevuld.xlsx")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    need = session.scalars(select(Need).where(Need.community_id == cop.id)).one()
    assert [(t.topic, t.source) for t in need.topic_tags if t.source == "given"] == [
        ("aquathermie", "given")
    ]

    assert_problem(client.get(url, params={"format": "pdf"}), 400, "query.format")


def test_template_writes_stored_texts_as_text_never_as_formulas(
    client: TestClient, session: Session
) -> None:
    """A meeting title is a member's text; a workbook members download must not run it."""
    cop, _, _ = _small_community(session)
    title = '=HYPERLINK("https://example.org/?"&A1,"Kick-off")'
    communities.create_meeting(session, cop, MeetingCreate(title=title, date=dt.date(2024, 1, 10)))

    response = client.get(f"/api/v1/communities/{cop.id}/imports/template")

    assert response.status_code == 200, response.text
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    cells = [cell for row in workbook["bijeenkomsten"].iter_rows(min_row=2) for cell in row]
    assert [(cell.value, cell.data_type) for cell in cells] == [
        (title, "s"),
        ("2024-01-10", "s"),
    ]
    formulas = [
        cell.coordinate
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]
    assert formulas == []


def test_template_copes_with_control_characters_in_stored_texts(client: TestClient) -> None:
    """Found by schemathesis: a meeting title with a control character broke the XLSX template."""
    community = client.post("/api/v1/communities", json={"name": "CoP \u0001 controle"}).json()
    url = f"/api/v1/communities/{community['id']}"
    assert (
        client.post(
            f"{url}/meetings", json={"title": "Kick\u0002off", "date": "2023-06-14"}
        ).status_code
        == 201
    )
    response = client.get(f"{url}/imports/template", params={"format": "xlsx"})
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    titles = [row[0] for row in workbook.worksheets[-1].iter_rows(values_only=True)]
    assert "Kickoff" in titles


EXAMPLE_OUTCOMES = [
    (2, "created", []),  # Heiloo, new to the community
    (3, "created", []),
    (4, "created", []),
    (5, "unchanged", []),  # Haarlem's TEO need, as the demo has it
    (6, "updated", ["priority"]),  # Haarlem's heat network need, now high
    (7, "created", []),
]


def test_the_readmes_example_file_imports_into_the_demo_as_it_says(
    client: TestClient, session: Session
) -> None:
    """docs/examples/antwoorden.csv, as the README uploads it after `make run`."""
    organisations.load_municipalities(session)
    community_id = demo.load_demo(session).community_id
    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "antwoorden.csv"
    heiloo = session.scalars(select(Organisation.id).where(Organisation.name == "Heiloo")).one()
    expected = {
        "dryRun": False,
        "rows": 6,
        "created": 4,
        "unchanged": 1,
        "updated": 1,
        "membersAdded": [heiloo],
        "peopleCreated": 2,
        "problems": [],
    }
    first = upload(client, community_id, example.read_bytes())
    outcomes = first.json().pop("outcomes")
    assert (first.status_code, first.json() | {"outcomes": outcomes}) == (
        200,
        expected | {"outcomes": outcomes},
    )
    assert [(o["row"], o["outcome"], o["changes"]) for o in outcomes] == EXAMPLE_OUTCOMES
    again = upload(client, community_id, example.read_bytes())
    assert again.json() == {
        **expected,
        "created": 0,
        "unchanged": 6,
        "updated": 0,
        "membersAdded": [],
        "peopleCreated": 0,
        "outcomes": [{**o, "outcome": "unchanged", "changes": []} for o in outcomes],
    }
