"""Plain factory functions: rows made through the services, flushed into the test transaction."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from app.models import Community, Meeting, Need, Offer, Organisation, Person
from app.schemas import (
    CommunityCreate,
    MeetingCreate,
    NeedCreate,
    OfferCreate,
    OrganisationCreate,
    PersonCreate,
)
from app.services import answers, communities, organisations

_sequence = itertools.count(1)


def municipality(
    session: Session, name: str | None = None, cbs_code: str | None = None
) -> Organisation:
    number = next(_sequence)
    return organisations.create_organisation(
        session,
        OrganisationCreate.model_validate(
            {
                "name": name or f"Gemeente {number}",
                "kind": "municipality",
                "cbsCode": cbs_code or f"GM{9000 + number % 1000:04d}",
                "province": "Noord-Holland",
            }
        ),
    )


def agency(session: Session, name: str | None = None) -> Organisation:
    return organisations.create_organisation(
        session, OrganisationCreate(name=name or f"Agentschap {next(_sequence)}", kind="agency")
    )


def person(
    session: Session,
    organisation: Organisation,
    name: str = "Fenna Jansen",
    department: str = "duurzaamheid",
) -> Person:
    number = next(_sequence)
    return organisations.create_person(
        session,
        organisation,
        PersonCreate(name=name, email=f"person{number}@example.org", department=department),
    )


def community(session: Session, name: str | None = None, *members: Organisation) -> Community:
    created = communities.create_community(
        session, CommunityCreate(name=name or f"CoP {next(_sequence)}", region="Noord-Holland")
    )
    for member in members:
        communities.add_member(session, created, member.id)
    return created


def meeting(session: Session, of: Community) -> Meeting:
    return communities.create_meeting(
        session, of, MeetingCreate(title="Kick-off", date=dt.date(2023, 6, 14), location="Haarlem")
    )


def need(
    session: Session,
    of: Community,
    by: Organisation,
    text: str = "warmtenet in de wijk",
    **fields: object,
) -> Need:
    created = answers.create_answer(
        session,
        Need,
        of,
        NeedCreate.model_validate({"organisationId": by.id, "text": text, **fields}),
    )
    assert isinstance(created, Need)
    return created


def offer(
    session: Session,
    of: Community,
    by: Organisation,
    text: str = "ervaring met warmtenetten",
    **fields: object,
) -> Offer:
    created = answers.create_answer(
        session,
        Offer,
        of,
        OfferCreate.model_validate({"organisationId": by.id, "text": text, **fields}),
    )
    assert isinstance(created, Offer)
    return created
