"""Section 7 of the programme plan: knowledge retention (definitions in the package docstring)."""

from __future__ import annotations

from collections import defaultdict

from app.models import FormatPreference, Need, Offer
from app.reports import schemas as r
from app.services.reports.loading import CommunityRows, person_status, person_summary


def _active(data: CommunityRows, person_id: int | None) -> bool:
    person = data.people.get(person_id) if person_id is not None else None
    return person is not None and person_status(person) == "active"


def knowledge_retention(data: CommunityRows) -> r.KnowledgeRetention:
    """Single-person offers, single-author organisations and answers by departed people."""
    single: list[r.SinglePersonOffer] = []
    by_organisation: dict[int, list[Offer]] = defaultdict(list)
    for offer in data.offers:
        by_organisation[offer.organisation_id].append(offer)
    for offer in data.offers:
        author = data.people.get(offer.person_id) if offer.person_id else None
        if author is None:
            continue
        backers = {
            other.person_id
            for other in by_organisation[offer.organisation_id]
            if other.person_id != author.id
            and _active(data, other.person_id)
            and set(other.topics) & set(offer.topics)
        }
        if not backers:
            single.append(
                r.SinglePersonOffer(
                    offer_id=offer.id,
                    organisation=data.ref(offer.organisation_id),
                    text=offer.text,
                    topics=offer.topics,
                    person=person_summary(author),
                    person_status=person_status(author),
                )
            )
    single_author: list[r.SingleAuthorOrganisation] = []
    for organisation_id in data.organisations:
        # Offers without a recorded author are not judged (see the package docstring).
        offers = [o for o in by_organisation[organisation_id] if o.person_id is not None]
        authors = {offer.person_id for offer in offers}
        person = data.people.get(offers[0].person_id or 0) if len(authors) == 1 else None
        if len(offers) >= 2 and person is not None:
            single_author.append(
                r.SingleAuthorOrganisation(
                    organisation=data.ref(organisation_id),
                    offers=len(offers),
                    person=person_summary(person),
                    person_status=person_status(person),
                )
            )
    return r.KnowledgeRetention(
        single_person_offers=single,
        single_author_organisations=single_author,
        departed=_departed(data),
    )


def _departed(data: CommunityRows) -> list[r.DepartedOrganisation]:
    answers: dict[int, list[r.DepartedAnswer]] = defaultdict(list)
    rows: list[tuple[r.AnswerKind, Need | Offer | FormatPreference, str]] = [
        *(("need", need, need.text) for need in data.needs),
        *(("offer", offer, offer.text) for offer in data.offers),
        *(("formatPreference", p, p.format) for p in data.preferences),
    ]
    for kind, row, text in rows:
        author = data.people.get(row.person_id) if row.person_id else None
        if author is None or person_status(author) == "active":
            continue
        answers[row.organisation_id].append(
            r.DepartedAnswer(
                kind=kind,
                id=row.id,
                text=text,
                person=person_summary(author),
                person_status=person_status(author),
            )
        )
    result = []
    for organisation_id in data.organisations:
        found = answers.get(organisation_id)
        if not found:
            continue
        statuses = {answer.person.id: answer.person_status for answer in found}
        result.append(
            r.DepartedOrganisation(
                organisation=data.ref(organisation_id),
                people_left=sum(status == "left" for status in statuses.values()),
                people_erased=sum(status == "erased" for status in statuses.values()),
                answers=found,
            )
        )
    return result
