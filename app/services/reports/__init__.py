"""The programme plan of a community, gathered in one place from the database and the
matching bridge (``app.services.matching``); ``app.reports`` renders it.

Reading only: the stored suggestions are what the plan shows (they are kept current on every
write), so making a report never changes the database.

Definitions the report relies on:

* **Taking part** — the active people (not left, not erased) of a member organisation; an
  organisation whose people all work in one department is flagged (``singleDepartment``).
* **Demand and supply** — a need or offer counts once for every topic it is tagged with (given
  or inferred), and once for a theme when at least one of its topics is in that theme.
* **Gaps** — needs with no (not declined) suggestion at the gap threshold or above and none a
  member acted on, grouped per topic (a need with two topics is listed under both; one without
  topics under "no topic").
* **Single-person offer** — an offer of organisation X such that no *other active* person of X
  offers any of its topics in the community. Its knowledge rests on its author alone (an offer
  without topics therefore always does). Offers without a recorded author are not judged.
* **Single-author organisation** — an organisation with two or more offers with a recorded
  author, all by one person (offers without one are not judged, as above).
* **Departed authors** — answers whose author has left (``active`` false) or was erased
  (``erasedAt`` set; the person row stays as a tombstone).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import InvalidParam, NotFound
from app.models import (
    Community,
    Membership,
    Organisation,
    Suggestion,
    SuggestionStatus,
)
from app.reports import schemas as r
from app.services import matching
from app.services.reports import sections
from app.services.reports.loading import (
    REPORT_STEPS,
    Progress,
    load_rows,
    no_progress,
    person_summary,
)
from app.services.reports.retention import knowledge_retention

__all__ = ["REPORT_STEPS", "Progress", "community_report", "organisation_report"]


def _community(community: Community) -> r.ReportCommunity:
    return r.ReportCommunity(
        id=community.id,
        name=community.name,
        slug=community.slug,
        region=community.region,
        description=community.description,
    )


def community_report(
    session: Session,
    community: Community,
    *,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> r.CommunityReport:
    """The programme plan of ``community``; ``progress`` is told each of :data:`REPORT_STEPS`.

    Its rows are made with the cyclic garbage collector paused: at Netherlands scale (58,925
    suggestions) its passes over the process's objects took 60% of the plan's time."""
    with matching.collector_paused():
        return _community_report(session, community, progress=progress, now=now)


def _community_report(
    session: Session,
    community: Community,
    *,
    progress: Progress | None,
    now: dt.datetime | None,
) -> r.CommunityReport:
    step = progress or no_progress
    data = load_rows(session, community, step)
    participation = sections.participation(data)
    peer_help = sections.peer_help(session, community, data, step)
    step(REPORT_STEPS[4])
    groups = sections.working_groups(session, community, data)
    step(REPORT_STEPS[5])
    gaps = sections.gaps(session, community, data)
    step(REPORT_STEPS[6])
    retention = knowledge_retention(data)
    return r.CommunityReport(
        community=_community(community),
        generated_at=now or utcnow(),
        summary=r.ReportSummary(
            organisations=participation.organisations,
            people=participation.people,
            needs=len(data.needs),
            offers=len(data.offers),
            format_preferences=len(data.preferences),
            suggestions=sum(s.status != "declined" for s in peer_help.suggestions),
            declined_suggestions=sum(s.status == "declined" for s in peer_help.suggestions),
            gaps=gaps.total,
            working_groups=len(groups),
            reciprocal_pairs=len(peer_help.reciprocal_pairs),
        ),
        participation=participation,
        demand_supply=sections.demand_supply(data),
        gaps=gaps,
        working_groups=groups,
        peer_help=peer_help,
        format_preferences=sections.format_preferences(data),
        knowledge_retention=retention,
    )


def organisation_report(
    session: Session,
    community: Community,
    organisation: Organisation,
    *,
    now: dt.datetime | None = None,
) -> r.OrganisationReport:
    """One member's page: its needs with who can help, its offers with who asked.

    An organisation that is not a member has no page in the community: 404, naming the query.
    """
    member = session.scalar(
        select(Membership.id).where(
            Membership.community_id == community.id,
            Membership.organisation_id == organisation.id,
        )
    )
    if member is None:
        message = f"organisation {organisation.id} is not a member of community {community.id}"
        raise NotFound(message, invalid_params=[InvalidParam("query.communityId", message)])
    with matching.collector_paused():  # as for the plan
        return _organisation_report(session, community, organisation, now=now)


def _organisation_report(
    session: Session, community: Community, organisation: Organisation, *, now: dt.datetime | None
) -> r.OrganisationReport:
    own = organisation.id
    data = load_rows(session, community, no_progress)
    # Only the suggestions this member is in, not the plan's every one; a declined pair is no
    # help, as in the plan's own tables. Allocation, groups, pairs and gaps are the community's.
    rows = sections.stored_suggestions(
        session,
        Suggestion.community_id == community.id,
        or_(Suggestion.need_organisation_id == own, Suggestion.offer_organisation_id == own),
        Suggestion.status != SuggestionStatus.DECLINED.value,
    )
    offered = sections.suggestion_rows(
        data, rows, sections.allocation_section(session, community, data)
    )
    gap_ids = {gap.need_id for gap in matching.gaps(session, community)}
    unmet_ids = {unmet.offer_id for unmet in matching.unmet_offers(session, community)}
    return r.OrganisationReport(
        organisation=data.ref(own),
        kind=organisation.kind,
        community=_community(community),
        generated_at=now or utcnow(),
        people=[person_summary(person) for person in sections.active_people(data, own)],
        needs=[
            r.OwnNeed(
                need_id=need.id,
                text=need.text,
                topics=need.topics,
                priority=need.priority,
                gap=need.id in gap_ids,
                helpers=[s for s in offered if s.need_id == need.id],
            )
            for need in data.needs
            if need.organisation_id == own
        ],
        offers=[
            r.OwnOffer(
                offer_id=offer.id,
                text=offer.text,
                topics=offer.topics,
                capacity=offer.capacity,
                unmet=offer.id in unmet_ids,
                asked_by=[s for s in offered if s.offer_id == offer.id],
            )
            for offer in data.offers
            if offer.organisation_id == own
        ],
        format_preferences=[
            r.OwnFormatPreference(format=p.format, note=p.note)
            for p in data.preferences
            if p.organisation_id == own
        ],
        working_groups=[
            group
            for group in sections.working_groups(session, community, data)
            if own in {o.id for o in group.organisations} | {o.id for o in group.hosts}
        ],
        reciprocal_partners=[
            pair
            for pair in sections.reciprocal_pairs(session, community, data)
            if own in (pair.first_organisation.id, pair.second_organisation.id)
        ],
    )
