"""Organisations (municipalities and the other bodies of a CoP) and their people."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.auth import person_key
from app.db import utcnow
from app.errors import Conflict, CopmatchError, InvalidParam, NotFound, ValidationFailed, not_found
from app.models import (
    ApiToken,
    AuditEvent,
    Community,
    CommunityOrganiser,
    FormatPreference,
    IdempotencyRecord,
    Membership,
    Need,
    Offer,
    Organisation,
    OrganisationKind,
    Person,
    TopicSource,
)
from app.schemas import (
    AnswerExport,
    AuditEventRead,
    IdempotencyExport,
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    PersonCreate,
    PersonExport,
    PersonRead,
    PersonUpdate,
    TokenRead,
)
from app.services import access, audit
from app.services.common import (
    apply_changes,
    ensure_unique,
    fold,
    get_or_404,
    paginate,
    queue_name_writes,
)

PROVINCE_NOORD_HOLLAND = "Noord-Holland"


def _check_cbs_code(
    kind: str, cbs_code: str | None, *, error: type[CopmatchError] = ValidationFailed
) -> None:
    if kind == OrganisationKind.MUNICIPALITY and cbs_code is None:
        raise error(
            "a municipality needs its CBS code (GM followed by 4 digits)",
            invalid_params=[InvalidParam("body.cbsCode", "required when kind is municipality")],
        )
    if kind != OrganisationKind.MUNICIPALITY and cbs_code is not None:
        raise error(
            f"only municipalities have a CBS code, not kind {kind!r}",
            invalid_params=[InvalidParam("body.cbsCode", "only allowed when kind is municipality")],
        )


def get_organisation(
    session: Session, organisation_id: int, *, field: str | None = None
) -> Organisation:
    return get_or_404(session, Organisation, organisation_id, resource="organisation", field=field)


def list_organisations(
    session: Session,
    *,
    kind: OrganisationKind | None,
    cbs_code: str | None,
    name_contains: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Organisation], int]:
    statement = select(Organisation).order_by(Organisation.id)
    if kind is not None:
        statement = statement.where(Organisation.kind == kind.value)
    if cbs_code is not None:
        statement = statement.where(Organisation.cbs_code == cbs_code.upper())
    name_contains = (name_contains or "").strip()
    if name_contains:
        statement = statement.where(Organisation.id.in_(_names_containing(session, name_contains)))
    return paginate(session, statement, limit=limit, offset=offset)


MUNICIPALITY_PREFIX = "gemeente "
"""How a municipality's name is often written, and not stored ("Gemeente Hoorn": Hoorn)."""


def _names_containing(session: Session, text: str) -> list[int]:
    """The organisations whose name contains *text*, both folded: case, accents, spacing and
    invisible characters aside, as an import and :func:`ensure_name_free` compare names (SQL's
    lower() knows only ASCII on SQLite). A municipality is stored by its name alone: "Gemeente
    Hoorn" finds Hoorn, as an import does. The organisations are a few hundred, read as three
    columns."""
    searched = fold(text)
    bare = searched.removeprefix(MUNICIPALITY_PREFIX)
    rows = session.execute(select(Organisation.id, Organisation.name, Organisation.kind))
    return [
        ident
        for ident, name, kind in rows
        if searched in (folded := fold(name))
        or (bare != searched and kind == OrganisationKind.MUNICIPALITY and bare in folded)
    ]


def ensure_name_free(session: Session, name: str | None, *, exclude_id: int | None = None) -> None:
    """Refuse, with a 409 naming ``body.name``, a name that another organisation holds or that
    differs from its name only in case, accents, spacing or invisible characters (``fold``):
    an import finds organisations by their folded names ("haarlem" is Haarlem), and two such
    names are one organisation to the people who read them. On PostgreSQL such writes queue,
    so two alike names never get in side by side; the unique constraint on the exact name stays
    the last line of defence."""
    if name is None:
        return
    queue_name_writes(session, Organisation)
    key = fold(name)
    statement = select(Organisation.id, Organisation.name).order_by(Organisation.id)
    for ident, other in session.execute(statement):
        if ident != exclude_id and fold(other) == key:
            alike = "" if other == name else ", which differs only in case, accents or spacing"
            raise Conflict(
                f"organisation {ident} is named {other!r}{alike}",
                invalid_params=[InvalidParam("body.name", f"{name!r} is already taken")],
            )


def create_organisation(session: Session, data: OrganisationCreate) -> Organisation:
    _check_cbs_code(data.kind, data.cbs_code)
    ensure_name_free(session, data.name)
    ensure_unique(
        session, Organisation, "cbs_code", data.cbs_code, field="cbsCode", resource="organisation"
    )
    organisation = Organisation(
        name=data.name,
        kind=data.kind.value,
        cbs_code=data.cbs_code,
        province=data.province,
        region=data.region,
    )
    session.add(organisation)
    session.flush()
    return organisation


def update_organisation(
    session: Session, organisation: Organisation, data: OrganisationUpdate
) -> Organisation:
    changes = data.changes()
    if "kind" in changes:
        changes["kind"] = changes["kind"].value
        if changes["kind"] != OrganisationKind.MUNICIPALITY:
            _check_cbs_code(changes["kind"], changes.get("cbs_code"))
            changes["cbs_code"] = None  # only municipalities have one
    # What the body asks is consistent; it may still clash with what is stored.
    _check_cbs_code(
        changes.get("kind", organisation.kind),
        changes.get("cbs_code", organisation.cbs_code),
        error=Conflict,
    )
    # Only a name that changes: a client sends back what it read, and names stored alike
    # before they were refused stay editable.
    name = changes.get("name")
    ensure_name_free(
        session, name if name != organisation.name else None, exclude_id=organisation.id
    )
    ensure_unique(
        session,
        Organisation,
        "cbs_code",
        changes.get("cbs_code"),
        field="cbsCode",
        resource="organisation",
        exclude_id=organisation.id,
    )
    _apply_organisation_changes(session, {organisation: changes})
    return organisation


def _apply_organisation_changes(
    session: Session,
    changes: dict[Organisation, dict[str, Any]],
) -> None:
    """Apply *changes* to organisations, and keep what is stored about them current: rewrite
    the reasons that name a renamed one (reciprocity), and re-score the pairs that a change of
    region changes in each community where the organisation has needs or offers.

    Both write suggestions' rows: first queue behind the writes of every community the
    organisations take part in, in community id order whatever the organisations, so that two
    such changes never wait for each other's lock; then lock the organisations' rows."""
    # Imported here: the matching bridge needs this module's lookups.
    from app.services.matching import queue_answer_writes, relocate, rename_in_reasons

    renamed = [org for org, values in changes.items() if values.get("name", org.name) != org.name]
    moved = {
        org.id: (_region_shown(org.region), _region_shown(values["region"]))
        for org, values in changes.items()
        if _region_shown(values.get("region", org.region)) != _region_shown(org.region)
    }
    communities = (
        list(
            session.scalars(
                select(Community)
                .where(
                    Community.id.in_(
                        select(Membership.community_id).where(
                            Membership.organisation_id.in_([*(org.id for org in renamed), *moved])
                        )
                    )
                )
                .order_by(Community.id)
            )
        )
        if renamed or moved
        else []
    )
    for community in list(communities):
        try:
            queue_answer_writes(session, community)
        except NotFound:  # deleted by a transaction this one waited for: nothing to keep current
            communities.remove(community)
    for organisation, values in changes.items():
        apply_changes(organisation, values)
    session.flush()
    for organisation in renamed:
        rename_in_reasons(session, organisation.id)
    if moved:
        answered = set(
            session.scalars(
                select(Need.community_id)
                .where(Need.organisation_id.in_(moved))
                .union(select(Offer.community_id).where(Offer.organisation_id.in_(moved)))
            )
        )
        for community in communities:
            if community.id in answered:
                relocate(session, community, moved)


def _region_shown(region: str | None) -> str | None:
    """The region as scores and reasons use it: a blank one is none (no region factor), any
    other as written (the reason names it so: "both in region Kennemerland")."""
    return region if region and region.strip() else None


def delete_organisation(session: Session, organisation: Organisation) -> None:
    """Delete an organisation, its people and their tokens; refused while it takes part in a
    community: as a member, because its answers there would go with it, and through a person
    who organises one, because ending an organiser role revokes the tokens they issued and is
    audited (DELETE of the organiser), which the rows' cascade would skip. The tokens its
    people issued for others are revoked as when their issuer leaves (where their person takes
    part in a community)."""
    from app.services.tokens import revoke_tokens_beyond_issuer

    communities = session.scalar(
        select(func.count()).where(Membership.organisation_id == organisation.id)
    )
    if communities:
        raise Conflict(
            f"organisation {organisation.id} is a member of {communities} "
            "community(ies); remove it from them first"
        )
    people = list(
        session.scalars(select(Person.id).where(Person.organisation_id == organisation.id))
    )
    organised = sorted(
        set(
            session.scalars(
                select(CommunityOrganiser.community_id).where(
                    CommunityOrganiser.person_id.in_(people)
                )
            )
        )
    )
    if organised:
        raise Conflict(
            f"people of organisation {organisation.id} organise community(ies) "
            f"{', '.join(map(str, organised))}; remove them as organisers first"
        )
    for person_id in people:  # they organise nothing now, so they run no community
        revoke_tokens_beyond_issuer(session, person_id)
    # Through the session, not the rows' cascade, so the audit log records each deletion.
    for token in session.scalars(select(ApiToken).where(ApiToken.person_id.in_(people))):
        session.delete(token)
    for person in session.scalars(select(Person).where(Person.id.in_(people))):
        session.delete(person)
    session.flush()
    session.delete(organisation)
    session.flush()


# --- people ----------------------------------------------------------------------------------


def get_person(session: Session, person_id: int, *, field: str | None = None) -> Person:
    person = get_or_404(session, Person, person_id, resource="person", field=field)
    if person.erased_at is not None:
        # An erased person is gone for every client; only the tombstone stays.
        raise not_found(f"person {person_id} does not exist", field=field)
    return person


def list_people(
    session: Session, organisation: Organisation, *, active: bool | None, limit: int, offset: int
) -> tuple[list[Person], int]:
    statement = (
        select(Person)
        .where(Person.organisation_id == organisation.id, Person.erased_at.is_(None))
        .order_by(Person.id)
    )
    if active is not None:
        statement = statement.where(Person.active.is_(active))
    return paginate(session, statement, limit=limit, offset=offset)


def create_person(session: Session, organisation: Organisation, data: PersonCreate) -> Person:
    email = data.email.lower()
    ensure_unique(session, Person, "email", email, field="email", resource="person")
    person = Person(
        organisation_id=organisation.id,
        name=data.name,
        email=email,
        department=data.department,
        job_title=data.job_title,
        active=data.active,
    )
    session.add(person)
    session.flush()
    return person


def update_person(session: Session, person: Person, data: PersonUpdate) -> Person:
    """Change a person. One who leaves (``active`` to false) has their tokens revoked, and so
    have the tokens they issued as an organiser (they run no community any more)."""
    # Imported here: the tokens service needs this module's lookups.
    from app.services.tokens import revoke_tokens_beyond_issuer

    changes = data.changes()
    if "email" in changes:
        changes["email"] = changes["email"].lower()
        ensure_unique(
            session,
            Person,
            "email",
            changes["email"],
            field="email",
            resource="person",
            exclude_id=person.id,
        )
    apply_changes(person, changes)
    if changes.get("active") is False:
        # They left: their tokens stop for good. Should they come back, they are issued a new
        # one, and one that leaked meanwhile stays dead. So do the copies of the tokens they
        # issued as an organiser: they run no community any more, and are no longer listed as
        # its organiser (through the session: the audit log records each role ended).
        for token in session.scalars(
            select(ApiToken).where(ApiToken.person_id == person.id, ApiToken.revoked_at.is_(None))
        ):
            token.revoked_at = utcnow()
        for role in session.scalars(
            select(CommunityOrganiser).where(CommunityOrganiser.person_id == person.id)
        ):
            session.delete(role)
        revoke_tokens_beyond_issuer(session, person.id)
    session.flush()
    return person


def erase_person(session: Session, person: Person) -> None:
    """Erase a person's personal data (AVG): their name, e-mail, department and job title, their
    tokens and their organiser roles; the tokens they issued as an organiser are revoked. Their
    organisation's answers stay, and the blank row records that the author has gone (knowledge
    retention). Rows are deleted through the session, so the audit log records each deletion."""
    # Imported here: the tokens service needs this module's lookups.
    from app.services.tokens import revoke_tokens_beyond_issuer

    for row in session.scalars(select(ApiToken).where(ApiToken.person_id == person.id)):
        session.delete(row)
    for role in session.scalars(
        select(CommunityOrganiser).where(CommunityOrganiser.person_id == person.id)
    ):
        session.delete(role)
    person.name = None
    person.email = None
    person.department = None
    person.job_title = None
    person.active = False
    person.erased_at = utcnow()
    session.flush()
    revoke_tokens_beyond_issuer(session, person.id)


# --- the Noord-Holland municipalities (package data) -------------------------------------------


@dataclass(frozen=True, slots=True)
class MunicipalityFact:
    cbs_code: str
    name: str
    region: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    created: int
    updated: int
    unchanged: int


def municipality_facts() -> list[MunicipalityFact]:
    """The 44 municipalities of Noord-Holland (CBS 2023), shipped with the package."""
    text = (
        resources.files("app")
        .joinpath("data/municipalities-noord-holland-2023.csv")
        .read_text(encoding="utf-8")
    )
    return [
        MunicipalityFact(
            cbs_code=row["gm_code"], name=row["cbs_name"], region=row["veiligheidsregio"]
        )
        for row in csv.DictReader(io.StringIO(text))
    ]


def load_municipalities(session: Session) -> LoadResult:
    """Create or bring up to date the Noord-Holland municipalities; safe to run repeatedly.
    An organisation that is not the municipality but has its name, or one alike
    (:func:`ensure_name_free`), is a 409 naming both, before anything is written."""
    created = unchanged = 0
    queue_name_writes(session, Organisation)  # as ensure_name_free: it checks names, then writes
    existing = {
        org.cbs_code: org
        for org in session.scalars(select(Organisation).where(Organisation.cbs_code.is_not(None)))
    }
    facts = municipality_facts()
    codes = {fact.cbs_code for fact in facts}
    # By folded name (see ensure_name_free). Another municipality of the list that has the
    # name will be renamed by this load.
    taken = {
        fold(org.name): org
        for org in session.scalars(select(Organisation).order_by(Organisation.id))
        if org.cbs_code not in codes
    }
    clashes = [
        f"organisation {holder.id} ({holder.kind}) has the name {holder.name!r}"
        f"{'' if holder.name == fact.name else f', alike {fact.name!r}'}"
        f" of municipality {fact.cbs_code}"
        for fact in facts
        if (holder := taken.get(fold(fact.name))) is not None
    ]
    if clashes:
        them = "it" if len(clashes) == 1 else "them"
        raise Conflict(f"{'; '.join(clashes)}: rename {them} (PATCH /organisations/{{id}}) first")
    changes: dict[Organisation, dict[str, Any]] = {}
    for fact in facts:
        wanted = {"name": fact.name, "province": PROVINCE_NOORD_HOLLAND, "region": fact.region}
        organisation = existing.get(fact.cbs_code)
        if organisation is None:
            session.add(
                Organisation(
                    kind=OrganisationKind.MUNICIPALITY.value, cbs_code=fact.cbs_code, **wanted
                )
            )
            created += 1
        elif any(getattr(organisation, key) != value for key, value in wanted.items()):
            changes[organisation] = wanted
        else:
            unchanged += 1
    _apply_organisation_changes(session, changes)
    return LoadResult(created=created, updated=len(changes), unchanged=unchanged)


_COMMUNITY_PATH = re.compile(r"/api/v1/communities/([0-9]+)(?:/|$)")
"""The community a kept response's path is in (IdempotencyRecord.path)."""


def export_person(
    session: Session, person: Person, *, communities: frozenset[int] | None = None
) -> PersonExport:
    """Everything stored about ``person``: their data, the answers they gave (with all their
    properties), organiser roles, their tokens and those they issued for others, the responses
    kept for their retries, and the audit events recorded under their id or about their record,
    tokens and organiser roles.

    With *communities* (for an organiser, who runs those), what belongs to another community is
    left out: answers, roles, kept responses and audit events of a community the person no
    longer takes part in stay out of the organiser's reach, as its needs do.

    Feedback on suggestions is not theirs to export: it is stored without its author (the
    audit events name the suggestions they changed). An organiser role that ended is known to
    the audit log by the id of its row only, which no longer names the person."""

    def reachable(community_id: int | None) -> bool:
        return communities is None or community_id is None or community_id in communities

    def reachable_person(person_id: int | None) -> bool:
        """Is the person someone whose records the organiser reaches: none (an admin's
        token), or one who takes part in their communities only?"""
        if communities is None or person_id is None:
            return True
        other = session.get(Person, person_id)
        return other is None or access.communities_of(session, other) <= communities

    def path_community(path: str) -> int | None:
        found = _COMMUNITY_PATH.match(path)
        return int(found.group(1)) if found else None

    answers: list[AnswerExport] = []
    kinds: tuple[tuple[type[Need | Offer | FormatPreference], str], ...] = (
        (Need, "need"),
        (Offer, "offer"),
        (FormatPreference, "format-preference"),
    )
    for model, kind in kinds:
        for answer in session.scalars(
            select(model).where(model.person_id == person.id).order_by(model.id)
        ):
            given = cast("Need | Offer | FormatPreference", answer)
            if reachable(given.community_id):
                answers.append(_answer_export(given, kind))
    tokens = list(
        session.scalars(
            select(ApiToken).where(ApiToken.person_id == person.id).order_by(ApiToken.id)
        )
    )
    roles = [
        role
        for role in session.scalars(
            select(CommunityOrganiser)
            .where(CommunityOrganiser.person_id == person.id)
            .order_by(CommunityOrganiser.community_id)
        )
        if reachable(role.community_id)
    ]
    about = [
        (audit.RESOURCES[Person], [person.id]),
        (audit.RESOURCES[ApiToken], [token.id for token in tokens]),
        (audit.RESOURCES[CommunityOrganiser], [role.id for role in roles]),
    ]

    def reachable_event(event: AuditEvent) -> bool:
        """An event of a community the organiser runs; or of none (a write of a person or a
        token): one about the person's own record, tokens or roles, or one they made about a
        person the organiser reaches. Found by review: the person's creation of a colleague,
        or a token they issued, of a community the organiser does not run, was in it."""
        if event.community_id is not None or communities is None:
            return reachable(event.community_id)
        if any(event.resource == kind and event.resource_id in ids for kind, ids in about):
            return True
        if event.resource == audit.RESOURCES[Person]:
            return reachable_person(event.resource_id)
        token = (
            session.get(ApiToken, event.resource_id)
            if event.resource == audit.RESOURCES[ApiToken] and event.resource_id is not None
            else None
        )
        return token is not None and reachable_person(token.person_id)

    return PersonExport(
        person=PersonRead.model_validate(person),
        organisation=OrganisationRead.model_validate(person.organisation),
        answers=answers,
        organiser_of=[role.community_id for role in roles],
        tokens=[TokenRead.model_validate(token) for token in tokens],
        # For an organiser, not those of people elsewhere (found by review).
        tokens_issued=[
            TokenRead.model_validate(token)
            for token in session.scalars(
                select(ApiToken)
                .where(
                    ApiToken.issued_by_person_id == person.id,
                    or_(ApiToken.person_id.is_(None), ApiToken.person_id != person.id),
                )
                .order_by(ApiToken.id)
            )
            if reachable_person(token.person_id)
        ],
        idempotency_records=[
            IdempotencyExport(
                key=record.key,
                method=record.method,
                path=record.path,
                status=record.status,
                response=json.loads(record.body),
                created_at=record.created_at,
            )
            for record in session.scalars(
                select(IdempotencyRecord)
                .where(IdempotencyRecord.principal == person_key(person.id))
                .order_by(IdempotencyRecord.id)
            )
            if reachable(path_community(record.path))
        ],
        audit_events=[
            AuditEventRead.model_validate(event)
            for event in session.scalars(
                select(AuditEvent)
                .where(
                    or_(
                        AuditEvent.person_id == person.id,
                        *(
                            and_(AuditEvent.resource == resource, AuditEvent.resource_id.in_(ids))
                            for resource, ids in about
                            if ids
                        ),
                    )
                )
                .order_by(AuditEvent.id)
            )
            if reachable_event(event)
        ],
    )


def _answer_export(answer: Need | Offer | FormatPreference, kind: str) -> AnswerExport:
    """One answer the person gave, with every property stored with it."""
    if isinstance(answer, FormatPreference):
        text = answer.format if not answer.note else f"{answer.format}: {answer.note}"
        topics: list[str] = []
    else:
        text = answer.text
        topics = [tag.topic for tag in answer.topic_tags if tag.source == TopicSource.GIVEN]
    return AnswerExport(
        kind=kind,
        id=answer.id,
        community_id=answer.community_id,
        organisation_id=answer.organisation_id,
        text=text,
        topics=sorted(topics),
        priority=answer.priority if isinstance(answer, Need) else None,
        capacity=answer.capacity if isinstance(answer, Offer) else None,
        meeting_id=answer.meeting_id,
        created_at=answer.created_at,
    )
