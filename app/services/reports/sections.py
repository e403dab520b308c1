"""Sections 1 to 6 of the programme plan, each from the loaded rows and the matching bridge."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Row, Text, cast, select
from sqlalchemy.orm import Session

from app.models import Community, Format, OrganisationKind, Person, Suggestion
from app.reports import schemas as r
from app.schemas import FormatCount, LocalisedText, ReasonRead
from app.services import matching
from app.services.reports.loading import (
    REPORT_STEPS,
    CommunityRows,
    Progress,
    person_status,
    person_summary,
)
from app.services.topics import taxonomy

# --- 1. participation -------------------------------------------------------------------------


def participation(data: CommunityRows) -> r.Participation:
    """Section 1: active people and departments per member; a municipality where one
    department takes part is flagged (an agency or a province has no departments to bring in
    the way a municipality's housing, spatial planning and social domain do)."""
    items: list[r.Participant] = []
    every_department: set[str] = set()
    answers: dict[str, defaultdict[int, int]] = {
        kind: defaultdict(int) for kind in ("needs", "offers", "preferences")
    }
    for kind, rows in (
        ("needs", data.needs),
        ("offers", data.offers),
        ("preferences", data.preferences),
    ):
        for row in rows:
            answers[kind][row.organisation_id] += 1
    for organisation in data.organisations.values():
        people = active_people(data, organisation.id)
        # "Wonen" and "wonen " are one department.
        departments: dict[str, str] = {}
        for person in people:
            if person.department and person.department.strip():
                departments.setdefault(person.department.strip().casefold(), person.department)
        every_department |= departments.keys()
        items.append(
            r.Participant(
                organisation=data.ref(organisation.id),
                kind=organisation.kind,
                people=[person_summary(person) for person in people],
                departments=sorted(departments.values(), key=str.casefold),
                single_department=(
                    organisation.kind == OrganisationKind.MUNICIPALITY and len(departments) == 1
                ),
                needs=answers["needs"][organisation.id],
                offers=answers["offers"][organisation.id],
                format_preferences=answers["preferences"][organisation.id],
            )
        )
    return r.Participation(
        organisations=len(items),
        people=sum(len(item.people) for item in items),
        departments=len(every_department),
        single_department_organisations=sum(item.single_department for item in items),
        items=items,
    )


def active_people(data: CommunityRows, organisation_id: int) -> list[Person]:
    """The people of the organisation who take part: not left, not erased (by name)."""
    return [
        person
        for person in data.people.values()
        if person.organisation_id == organisation_id and person_status(person) == "active"
    ]


# --- 2. demand and supply ---------------------------------------------------------------------


def demand_supply(data: CommunityRows) -> r.DemandSupply:
    """Section 2: needs and offers per theme (every theme) and per topic (those used)."""
    topics = {topic.slug: topic for topic in taxonomy().topics}
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_theme: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    untagged = [0, 0]
    for side, answers in ((0, data.needs), (1, data.offers)):
        for answer in answers:
            slugs = [slug for slug in answer.topics if slug in topics]
            if not slugs:
                untagged[side] += 1
            for slug in slugs:
                per_topic[slug][side] += 1
            for theme in {topics[slug].theme for slug in slugs}:
                per_theme[theme][side] += 1
    themes = [
        r.ThemeDemand(
            slug=theme.slug,
            label=LocalisedText.model_validate(theme.label),
            needs=per_theme[theme.slug][0],
            offers=per_theme[theme.slug][1],
            topics=[
                r.TopicDemand(
                    slug=topic.slug,
                    label=LocalisedText.model_validate(topic.label),
                    needs=per_topic[topic.slug][0],
                    offers=per_topic[topic.slug][1],
                )
                for topic in taxonomy().topics
                if topic.theme == theme.slug and topic.slug in per_topic
            ],
        )
        for theme in taxonomy().themes
    ]
    return r.DemandSupply(
        needs=len(data.needs),
        offers=len(data.offers),
        untagged_needs=untagged[0],
        untagged_offers=untagged[1],
        themes=themes,
    )


# --- 3. gaps ----------------------------------------------------------------------------------


def gaps(session: Session, community: Community, data: CommunityRows) -> r.Gaps:
    """Section 3: the gaps, grouped per topic, most gaps first."""
    found = matching.gaps(session, community)
    needs = {need.id: need for need in data.needs}
    offers = {offer.id: offer for offer in data.offers}
    topics = {topic.slug: topic for topic in taxonomy().topics}
    order = {slug: position for position, slug in enumerate(topics)}
    grouped: dict[str | None, list[r.GapItem]] = defaultdict(list)
    for gap in found:
        need = needs[gap.need_id]
        item = r.GapItem(
            need_id=need.id,
            organisation=data.ref(need.organisation_id),
            text=need.text,
            topics=need.topics,
            priority=need.priority,
            best_score=gap.best_score,
            best_offer_id=gap.best_offer_id,
            best_offer=(
                None if gap.best_offer_id is None else data.answer_ref(offers[gap.best_offer_id])
            ),
        )
        known: list[str | None] = [slug for slug in need.topics if slug in topics]
        for slug in known or [None]:
            grouped[slug].append(item)
    keys = sorted(
        grouped, key=lambda slug: (slug is None, -len(grouped[slug]), order.get(slug or "", 0))
    )
    return r.Gaps(
        threshold=matching.gap_threshold(session, community),
        total=len(found),
        groups=[
            r.GapGroup(
                topic=slug,
                theme=topics[slug].theme if slug else None,
                label=LocalisedText.model_validate(topics[slug].label) if slug else None,
                needs=grouped[slug],
            )
            for slug in keys
        ],
    )


# --- 4. working groups ------------------------------------------------------------------------


def working_groups(
    session: Session, community: Community, data: CommunityRows
) -> list[r.WorkingGroup]:
    """Section 4: the engine's working groups with names for ids, numbered from 1."""
    return [
        r.WorkingGroup(
            number=number,
            topics=list(group.topics),
            need_ids=list(group.need_ids),
            organisations=[data.ref(ident) for ident in group.organisation_ids],
            hosts=[data.ref(ident) for ident in group.host_organisation_ids],
            preferred_formats=[
                FormatCount(format=Format(name), organisations=count)
                for name, count in group.preferred_formats
            ],
        )
        for number, group in enumerate(matching.working_groups(session, community), start=1)
    ]


# --- 5. peer help -----------------------------------------------------------------------------


def peer_help(
    session: Session, community: Community, data: CommunityRows, progress: Progress
) -> r.PeerHelp:
    """Section 5: every stored suggestion (best first), the allocation, reciprocal pairs and
    unmet offers."""
    progress(REPORT_STEPS[2])
    rows = stored_suggestions(session, Suggestion.community_id == community.id)
    progress(REPORT_STEPS[3])
    allocation = allocation_section(session, community, data)
    return r.PeerHelp(
        suggestions=suggestion_rows(data, rows, allocation),
        allocation=allocation,
        reciprocal_pairs=reciprocal_pairs(session, community, data),
        unmet_offers=unmet_offers(session, community, data),
    )


_REASONS = TypeAdapter(list[ReasonRead])
SuggestionColumns = Row[int, int, int, int, int, list[str], float, str, str]
"""A stored suggestion as :func:`stored_suggestions` reads it."""


def stored_suggestions(
    session: Session, *where: ColumnElement[bool]
) -> Sequence[SuggestionColumns]:
    """The stored suggestions that match *where*, best first (ties by id), as plain columns
    with the reasons as their JSON text: at Netherlands scale (59,000 rows) ORM objects and
    reasons parsed in Python took half of the report's time."""
    return session.execute(
        select(
            Suggestion.id,
            Suggestion.need_id,
            Suggestion.need_organisation_id,
            Suggestion.offer_id,
            Suggestion.offer_organisation_id,
            Suggestion.matched_topics,
            Suggestion.score,
            cast(Suggestion.reasons, Text),
            Suggestion.status,
        )
        .where(*where)
        .order_by(Suggestion.score.desc(), Suggestion.id)
    ).all()


def suggestion_rows(
    data: CommunityRows, rows: Sequence[SuggestionColumns], allocation: r.Allocation
) -> list[r.SuggestionRow]:
    """The :func:`stored_suggestions` *rows* as the plan lists them, in their order."""
    needs = {need.id: need for need in data.needs}
    offers = {offer.id: offer for offer in data.offers}
    allocated = {assignment.suggestion_id for assignment in allocation.assignments}
    return [
        r.SuggestionRow(
            suggestion_id=ident,
            need_id=need_id,
            need_organisation=data.ref(need_organisation_id),
            need_text=needs[need_id].text,
            offer_id=offer_id,
            offer_organisation=data.ref(offer_organisation_id),
            offer_text=offers[offer_id].text,
            topics=topics,
            score=score,
            reasons=_REASONS.validate_json(reasons),
            status=status,
            allocated=ident in allocated,
        )
        for (
            ident,
            need_id,
            need_organisation_id,
            offer_id,
            offer_organisation_id,
            topics,
            score,
            reasons,
            status,
        ) in rows
    ]


def allocation_section(session: Session, community: Community, data: CommunityRows) -> r.Allocation:
    """The capacity-aware allocation of the whole community."""
    result, stored = matching.allocation(session, community)
    assigned = [stored.ids[a.need_id, a.offer_id] for a in result.assignments]
    return r.Allocation(
        assignments=[
            r.Assignment(
                suggestion_id=ident,
                need_id=a.need_id,
                offer_id=a.offer_id,
                need_organisation=data.ref(a.need_organisation_id),
                offer_organisation=data.ref(a.offer_organisation_id),
                score=a.score,
                status=stored.statuses[a.need_id, a.offer_id],
            )
            for ident, a in zip(assigned, result.assignments, strict=True)
        ],
        covered_organisations=[data.ref(i) for i in result.covered_organisations],
        uncovered_organisations=[data.ref(i) for i in result.uncovered_organisations],
        total_score=result.total_score,
        needs_with_candidates=stored.needs_with_candidates,
        needs_assigned=result.needs_assigned,
    )


def reciprocal_pairs(
    session: Session, community: Community, data: CommunityRows
) -> list[r.ReciprocalPair]:
    """The organisations that can help each other both ways."""
    pairs, pair_rows = matching.reciprocal_pairs(session, community)
    return [
        r.ReciprocalPair(
            first_organisation=data.ref(pair.first_organisation_id),
            second_organisation=data.ref(pair.second_organisation_id),
            score=pair.score,
            first_helps_second_suggestion_id=pair_rows.ids[
                pair.first_helps_second.need_id, pair.first_helps_second.offer_id
            ],
            second_helps_first_suggestion_id=pair_rows.ids[
                pair.second_helps_first.need_id, pair.second_helps_first.offer_id
            ],
        )
        for pair in pairs
    ]


def unmet_offers(session: Session, community: Community, data: CommunityRows) -> list[r.UnmetOffer]:
    """The offers nobody asked for."""
    needs = {need.id: need for need in data.needs}
    offers = {offer.id: offer for offer in data.offers}
    return [
        r.UnmetOffer(
            offer_id=u.offer_id,
            organisation=data.ref(u.organisation_id),
            text=offers[u.offer_id].text,
            topics=offers[u.offer_id].topics,
            best_score=u.best_score,
            best_need=(None if u.best_need_id is None else data.answer_ref(needs[u.best_need_id])),
        )
        for u in matching.unmet_offers(session, community)
    ]


# --- 6. format preferences --------------------------------------------------------------------


def format_preferences(data: CommunityRows) -> r.FormatPreferences:
    """Section 6: every format with the organisations preferring it, most preferred first."""
    organisations: dict[str, set[int]] = defaultdict(set)
    notes: dict[str, list[r.FormatNote]] = defaultdict(list)
    for preference in data.preferences:
        organisations[preference.format].add(preference.organisation_id)
        if preference.note and preference.note.strip():
            notes[preference.format].append(
                r.FormatNote(
                    organisation=data.ref(preference.organisation_id), note=preference.note
                )
            )
    order = list(Format)
    tallies = sorted(order, key=lambda f: (-len(organisations[f.value]), order.index(f)))
    return r.FormatPreferences(
        organisations=len({p.organisation_id for p in data.preferences}),
        items=[
            r.FormatTally(format=f, organisations=len(organisations[f.value]), notes=notes[f.value])
            for f in tallies
        ],
    )
