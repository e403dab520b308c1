"""The demo community: the Noord-Holland kick-off, written as realistic post-its.

Loaded through the same use cases as the API, so the demo obeys every rule real data does.
Fictitious people; e-mail addresses under ``example.org``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Community, FormatPreference, Need, Offer, Organisation, Person
from app.schemas import (
    CommunityCreate,
    FormatPreferenceCreate,
    MeetingCreate,
    NeedCreate,
    OfferCreate,
    OrganisationCreate,
    PersonCreate,
)
from app.services import answers, communities, matching, organisations


@dataclass(frozen=True, slots=True)
class DemoResult:
    community_id: int
    created: bool
    members: int
    people: int
    needs: int
    offers: int
    format_preferences: int


def demo_data() -> dict[str, Any]:
    text = resources.files("app").joinpath("data/demo.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _organisation(session: Session, reference: str, extra: dict[str, int]) -> Organisation:
    if reference in extra:
        return session.get_one(Organisation, extra[reference])
    organisation = session.scalar(select(Organisation).where(Organisation.cbs_code == reference))
    if organisation is None:
        raise LookupError(
            f"demo member {reference!r} is unknown; run `copmatch load-municipalities` first"
        )
    return organisation


def load_demo(session: Session) -> DemoResult:
    """Create the demo community unless a community with its slug exists already."""
    data = demo_data()
    spec = data["community"]
    existing = session.scalar(select(Community).where(Community.slug == spec["slug"]))
    if existing is not None:
        return DemoResult(existing.id, False, 0, 0, 0, 0, 0)

    community = communities.create_community(session, CommunityCreate.model_validate(spec))
    meetings = {
        meeting["key"]: communities.create_meeting(
            session,
            community,
            MeetingCreate(
                title=meeting["title"],
                date=dt.date.fromisoformat(str(meeting["date"])),
                location=meeting.get("location"),
            ),
        ).id
        for meeting in data.get("meetings", [])
    }
    extra: dict[str, int] = {}
    for body in data.get("organisations", []):
        found = session.scalar(select(Organisation).where(Organisation.name == body["name"]))
        if found is None:
            fields = {key: value for key, value in body.items() if key != "key"}
            found = organisations.create_organisation(
                session, OrganisationCreate.model_validate(fields)
            )
        extra[body["key"]] = found.id

    counts = {"members": 0, "people": 0, "needs": 0, "offers": 0, "format_preferences": 0}
    for member in data["members"]:
        organisation = _organisation(session, str(member["organisation"]), extra)
        communities.add_member(session, community, organisation.id)
        counts["members"] += 1
        people: dict[str, int] = {}
        for person in member.get("people", []):
            fields = {key: value for key, value in person.items() if key != "key"}
            found_person = session.scalar(select(Person).where(Person.email == fields["email"]))
            if found_person is None:
                found_person = organisations.create_person(
                    session, organisation, PersonCreate.model_validate(fields)
                )
                counts["people"] += 1
            people[person["key"]] = found_person.id

        def refs(
            answer: dict[str, Any], org_id: int = organisation.id, people: dict[str, int] = people
        ) -> dict[str, Any]:
            return {
                "organisationId": org_id,
                "personId": people.get(answer.get("person", "")),
                "meetingId": meetings.get(answer.get("meeting", "")),
            }

        for need in member.get("needs", []):
            body = {**refs(need), "text": need["text"], "priority": need.get("priority", "normal")}
            answers.create_answer(
                session, Need, community, NeedCreate.model_validate(body), refresh=False
            )
            counts["needs"] += 1
        for offer in member.get("offers", []):
            body = {**refs(offer), "text": offer["text"], "capacity": offer.get("capacity", 3)}
            answers.create_answer(
                session, Offer, community, OfferCreate.model_validate(body), refresh=False
            )
            counts["offers"] += 1
        for preference in member.get("formatPreferences", []):
            body = {**refs(preference), "format": preference["format"]}
            if preference.get("note"):
                body["note"] = preference["note"]
            answers.create_answer(
                session, FormatPreference, community, FormatPreferenceCreate.model_validate(body)
            )
            counts["format_preferences"] += 1
    matching.recompute(session, community)
    return DemoResult(community.id, True, **counts)
