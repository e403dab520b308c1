"""The three kick-off answers: needs, offers and format preferences of a community's members.

An answer belongs to its organisation; the person who gave it is an optional, informative link
that survives the person leaving (``active = false``) or being erased.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from app.db import utcnow
from app.errors import Conflict, InvalidParam, NotFound
from app.models import (
    Community,
    FormatPreference,
    Need,
    NeedTopic,
    Offer,
    OfferTopic,
    TopicSource,
)
from app.schemas import (
    AnswerCreate,
    AnswerUpdate,
    FormatPreferenceCreate,
    NeedCreate,
    OfferCreate,
)
from app.services import matching
from app.services.common import apply_changes, paginate
from app.services.communities import get_meeting, is_member
from app.services.organisations import get_organisation, get_person
from app.services.topics import check_topic_slugs

Answer = Need | Offer | FormatPreference
AnswerModel = type[Need] | type[Offer] | type[FormatPreference]

RESOURCE_NAMES: dict[AnswerModel, str] = {
    Need: "need",
    Offer: "offer",
    FormatPreference: "format preference",
}


def get_answer(
    session: Session, model: AnswerModel, community: Community, answer_id: int
) -> Answer:
    """An answer of ``community``; one of another community is as unknown as a missing one."""
    # Needs and offers come with their topic tags in the same query (one round trip, not two).
    tags = getattr(model, "topic_tags", None)
    options = [joinedload(tags)] if tags is not None else []
    answer = cast(Answer | None, session.get(model, answer_id, options=options))
    if answer is None or answer.community_id != community.id:
        raise NotFound(
            f"{RESOURCE_NAMES[model]} {answer_id} does not exist in community {community.id}"
        )
    return answer


def list_answers(
    session: Session,
    model: AnswerModel,
    community: Community,
    *,
    filters: dict[str, Any],
    limit: int,
    offset: int,
) -> tuple[list[Answer], int]:
    """A page of a community's answers; ``filters`` maps attribute names to wanted values
    (``None`` = no filter) and may hold ``topic`` for tagged answers."""
    statement: Select[Any] = (
        select(model).where(model.community_id == community.id).order_by(model.id)
    )
    for name, value in filters.items():
        if value is None:
            continue
        if name == "topic":
            statement = statement.where(_has_topic(model, value))
        else:
            statement = statement.where(getattr(model, name) == value)
    return paginate(session, statement, limit=limit, offset=offset)


def _has_topic(model: AnswerModel, topic: str) -> Any:
    if model is Need:
        return Need.topic_tags.any(NeedTopic.topic == topic)
    if model is Offer:
        return Offer.topic_tags.any(OfferTopic.topic == topic)
    raise TypeError(f"{model.__name__} has no topics")


def _check_references(
    session: Session,
    community: Community,
    organisation_id: int,
    *,
    person_id: int | None,
    meeting_id: int | None,
) -> None:
    """The organisation is a member, the person works there and the meeting is the community's."""
    organisation = get_organisation(session, organisation_id, field="body.organisationId")
    if not is_member(session, community.id, organisation.id):
        raise Conflict(
            f"organisation {organisation.id} ({organisation.name}) is not a member of community "
            f"{community.id}; add it with POST /api/v1/communities/{community.id}/members first",
            invalid_params=[InvalidParam("body.organisationId", "not a member of this community")],
        )
    if person_id is not None:
        person = get_person(session, person_id, field="body.personId")
        if person.organisation_id != organisation.id:
            raise Conflict(
                # Not which one: the caller may not see that organisation's people.
                f"person {person_id} is not a person of organisation {organisation.id}",
                invalid_params=[InvalidParam("body.personId", "belongs to another organisation")],
            )
    if meeting_id is not None:
        get_meeting(session, community, meeting_id, field="body.meetingId")


def given_topics(answer: Need | Offer) -> tuple[str, ...]:
    """The answer's given topics (not those the tagger inferred), sorted."""
    return tuple(sorted(tag.topic for tag in answer.topic_tags if tag.source == TopicSource.GIVEN))


def set_given_topics(answer: Need | Offer, slugs: list[str]) -> bool:
    """Make *slugs* the answer's given topics (the inferred ones follow at the next retag);
    False, and nothing touched, when they are the given topics already.

    The topics are part of the answer though stored in rows of their own: a change of them is
    an edit of the answer, so its row is updated too. That moves its version (the ETag) and
    updatedAt on, so a stale If-Match cannot overwrite them, and the audit log records it.
    """
    wanted = tuple(sorted(check_topic_slugs(slugs)))
    if wanted == given_topics(answer):
        return False
    link = NeedTopic if isinstance(answer, Need) else OfferTopic
    answer.topic_tags = [  # type: ignore[assignment]
        link(topic=slug, source=TopicSource.GIVEN.value) for slug in wanted
    ]
    if answer.id is not None:  # an edit, not a new answer
        answer.updated_at = utcnow()
    return True


def create_answer(
    session: Session,
    model: AnswerModel,
    community: Community,
    data: AnswerCreate,
    *,
    refresh: bool = True,
) -> Answer:
    """Store a need, offer or format preference of a member organisation.

    A need or offer is tagged with topics and scored against its community right away, unless
    ``refresh`` is false: bulk loads tag and score everything once at the end
    (:func:`app.services.matching.recompute`).
    """
    _check_references(
        session,
        community,
        data.organisation_id,
        person_id=data.person_id,
        meeting_id=data.meeting_id,
    )
    values = data.model_dump(exclude={"topics"})
    # In turn with the community's other writes, before this one takes a row lock: a need or
    # offer is scored against what they wrote, and two format preferences at once cannot both
    # pass the check that an organisation gives a format once.
    matching.queue_answer_writes(session, community)
    if isinstance(data, FormatPreferenceCreate):
        _check_format_once(session, community.id, data.organisation_id, data.format.value)
    answer = model(community_id=community.id, **_plain(values))
    if isinstance(data, NeedCreate | OfferCreate) and not isinstance(answer, FormatPreference):
        set_given_topics(answer, data.topics)
    session.add(answer)
    session.flush()
    _rematch(session, answer, refresh=refresh)
    return answer


def _rematch(session: Session, answer: Answer, *, refresh: bool, rewritten: bool = False) -> None:
    # A bulk load (refresh=False) ends with matching.recompute, which tags every answer once;
    # tagging here as well would do that work twice.
    if isinstance(answer, FormatPreference) or not refresh:
        return
    matching.retag(answer)
    session.flush()
    if isinstance(answer, Need):
        matching.refresh_need(session, answer, rewritten=rewritten)
    else:
        matching.refresh_offer(session, answer, rewritten=rewritten)


def update_answer(
    session: Session, model: AnswerModel, answer: Answer, data: AnswerUpdate
) -> Answer:
    changes = data.changes()
    # Only a reference that changes is checked: a client sends back what it read, and the
    # author may have been erased since (the tombstone stays the author; 404 for anyone else).
    person_id, meeting_id = (
        changes.get(name) if changes.get(name, stored) != stored else None
        for name, stored in (("person_id", answer.person_id), ("meeting_id", answer.meeting_id))
    )
    if person_id is not None or meeting_id is not None:
        community = session.get_one(Community, answer.community_id)
        _check_references(
            session, community, answer.organisation_id, person_id=person_id, meeting_id=meeting_id
        )
    _queue_writes(session, answer, meeting=meeting_id is not None)
    if (
        isinstance(answer, FormatPreference)
        and changes.get("format", answer.format) != answer.format
    ):
        matching.writing_community(session, answer.community_id)  # as a new one does
        fmt = changes["format"]
        _check_format_once(
            session, answer.community_id, answer.organisation_id, getattr(fmt, "value", fmt)
        )
    if isinstance(answer, Offer) and changes.get("capacity", answer.capacity) < answer.capacity:
        _check_places(session, answer, changes["capacity"])
    topics = changes.pop("topics", None)
    # What it is matched on changed (a PATCH that sends back what it read re-scores nothing).
    rematch = "text" in changes and changes["text"] != getattr(answer, "text", None)
    if topics is not None and not isinstance(answer, FormatPreference):
        rematch |= set_given_topics(answer, topics)
    apply_changes(answer, _plain(changes))
    session.flush()
    if rematch:
        _rematch(session, answer, refresh=True, rewritten=True)
    return answer


def _check_format_once(session: Session, community_id: int, organisation_id: int, fmt: str) -> None:
    """An organisation prefers a format once in a community: a second preference for it (as
    an import identifies one: organisation and format) is a 409 naming the first."""
    stored = session.scalar(
        select(FormatPreference.id).where(
            FormatPreference.community_id == community_id,
            FormatPreference.organisation_id == organisation_id,
            FormatPreference.format == fmt,
        )
    )
    if stored is not None:
        raise Conflict(
            f"organisation {organisation_id} already prefers {fmt} in this community "
            f"(format preference {stored}); change that one",
            invalid_params=[InvalidParam("body.format", "already preferred")],
        )


def _check_places(session: Session, offer: Offer, capacity: int) -> None:
    """An offer's capacity cannot go below the places its introduced, accepted and completed
    suggestions take (see matching.places_taken)."""
    _, taken = matching.places_taken(session, offer.id)
    if capacity < taken:
        raise Conflict(
            f"{taken} peer(s) were introduced to this offer (introduced, accepted or completed "
            f"suggestions); its capacity cannot go below {taken}",
            invalid_params=[InvalidParam("body.capacity", f"at least {taken}: places taken")],
        )


def delete_answer(session: Session, answer: Answer) -> None:
    """Delete an answer; a need's or offer's suggestions go with it (see
    matching.forget_answer)."""
    if isinstance(answer, FormatPreference):
        session.delete(answer)
        session.flush()
    else:
        matching.forget_answer(session, answer)


def _queue_writes(session: Session, answer: Answer, *, meeting: bool) -> None:
    """For a need or offer, wait until this transaction holds the lock of its community's
    writes (see matching.queue_answer_writes): taken before the write locks any row. A format
    preference, which no suggestion depends on, takes it only when it is given a *meeting*: a
    meeting's delete waits for such writes (communities.delete_meeting)."""
    if meeting or not isinstance(answer, FormatPreference):
        matching.writing_community(session, answer.community_id)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Enum members as their stored string values."""
    return {key: getattr(value, "value", value) for key, value in values.items()}
