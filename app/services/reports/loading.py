"""Loading a community's rows for a report, once, and what every section asks of a person."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Community, FormatPreference, Membership, Need, Offer, Organisation, Person
from app.reports import schemas as r
from app.services.common import fold

REPORT_STEPS = (
    "members and people",
    "needs, offers and formats",
    "suggestions",
    "allocation and reciprocal pairs",
    "working groups",
    "gaps and unmet offers",
    "knowledge retention",
)
"""The stages of :func:`community_report`, reported one by one to its ``progress`` callback."""

Progress = Callable[[str], None]


def no_progress(_step: str) -> None:
    """A progress callback that does nothing."""


@dataclass(frozen=True, slots=True)
class CommunityRows:
    """The rows a report is made of, loaded once."""

    organisations: dict[int, Organisation]
    people: dict[int, Person]
    needs: Sequence[Need]
    offers: Sequence[Offer]
    preferences: Sequence[FormatPreference]
    _refs: dict[int, r.OrganisationRef] = field(default_factory=dict)

    def ref(self, organisation_id: int) -> r.OrganisationRef:
        """A member organisation as reports name it: one value per organisation, shared by every
        row that names it (a report names organisations hundreds of thousands of times)."""
        found = self._refs.get(organisation_id)
        if found is None:
            name = self.organisations[organisation_id].name
            found = self._refs[organisation_id] = r.OrganisationRef(id=organisation_id, name=name)
        return found

    def answer_ref(self, answer: Need | Offer) -> r.AnswerRef:
        """A need or offer as reports point to it."""
        return r.AnswerRef(
            id=answer.id, organisation=self.ref(answer.organisation_id), text=answer.text
        )


def person_status(person: Person) -> r.PersonStatus:
    """``erased`` (personal data removed), ``left`` (inactive) or ``active``."""
    if person.erased_at is not None:
        return "erased"
    return "active" if person.active else "left"


def person_summary(person: Person) -> r.PersonSummary:
    """A person as reports show them: no e-mail address."""
    return r.PersonSummary(
        id=person.id, name=person.name, department=person.department, job_title=person.job_title
    )


def load_rows(session: Session, community: Community, progress: Progress) -> CommunityRows:
    """The members (by name), their people and the community's answers (by id)."""
    progress(REPORT_STEPS[0])
    # Sorted here, not by the database: its collation (C on SQLite, the cluster's locale on
    # PostgreSQL) would order "de Rijp" and "Den Helder", or accents, one way or the other, and
    # put the erased (no name) first on one and last on the other.
    members = session.scalars(
        select(Organisation)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.community_id == community.id)
    ).all()
    organisations = {
        organisation.id: organisation
        for organisation in sorted(members, key=lambda org: (fold(org.name), org.name, org.id))
    }
    found = session.scalars(
        select(Person).where(Person.organisation_id.in_(list(organisations)))
    ).all()
    people = {
        person.id: person
        for person in sorted(
            found,
            key=lambda person: (
                person.name is None,
                fold(person.name or ""),
                person.name or "",
                person.id,
            ),
        )
    }
    progress(REPORT_STEPS[1])
    needs = session.scalars(
        select(Need).where(Need.community_id == community.id).order_by(Need.id)
    ).all()
    offers = session.scalars(
        select(Offer).where(Offer.community_id == community.id).order_by(Offer.id)
    ).all()
    preferences = session.scalars(
        select(FormatPreference)
        .where(FormatPreference.community_id == community.id)
        .order_by(FormatPreference.id)
    ).all()
    return CommunityRows(organisations, people, needs, offers, preferences)
