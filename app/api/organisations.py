"""Organisations, the people who take part for them, and people's tokens and data export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import (
    IfMatch,
    OrganisationId,
    PagingDep,
    PersonId,
    PrincipalDep,
    check_version,
    page_of,
    set_etag,
    set_location,
)
from app.api.session import SessionDep
from app.models import OrganisationKind
from app.schemas import (
    NO_NUL,
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    Page,
    PersonCreate,
    PersonExport,
    PersonRead,
    PersonUpdate,
)
from app.services import access
from app.services import organisations as service

router = APIRouter(tags=["organisations"])


@router.get("/organisations", response_model=Page[OrganisationRead], summary="List organisations")
def list_organisations(
    session: SessionDep,
    principal: PrincipalDep,
    paging: PagingDep,
    kind: OrganisationKind | None = None,
    cbs_code: Annotated[
        str | None, Query(alias="cbsCode", pattern=r"^[Gg][Mm][0-9]{4}$", description="e.g. GM0392")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="Name contains (case-insensitive; spaces around it are ignored; "
            '"Gemeente Hoorn" also finds the municipality Hoorn)',
        ),
    ] = None,
) -> Page[OrganisationRead]:
    items, total = service.list_organisations(
        session,
        kind=kind,
        cbs_code=cbs_code,
        name_contains=q,
        limit=paging.limit,
        offset=paging.offset,
    )
    return page_of(OrganisationRead, items, total, paging)


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationRead,
    summary="Create an organisation (admin)",
)
def create_organisation(
    session: SessionDep, principal: PrincipalDep, body: OrganisationCreate, response: Response
) -> OrganisationRead:
    access.require_admin(principal)
    organisation = service.create_organisation(session, body)
    set_location(response, f"/organisations/{organisation.id}")
    set_etag(response, organisation)
    return OrganisationRead.model_validate(organisation)


@router.get(
    "/organisations/{organisationId}",
    response_model=OrganisationRead,
    summary="Get an organisation",
)
def get_organisation(
    session: SessionDep,
    principal: PrincipalDep,
    organisation_id: OrganisationId,
    response: Response,
) -> OrganisationRead:
    organisation = service.get_organisation(session, organisation_id)
    set_etag(response, organisation)
    return OrganisationRead.model_validate(organisation)


@router.patch(
    "/organisations/{organisationId}",
    response_model=OrganisationRead,
    summary="Change an organisation (admin)",
)
def update_organisation(
    session: SessionDep,
    principal: PrincipalDep,
    organisation_id: OrganisationId,
    body: OrganisationUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> OrganisationRead:
    access.require_admin(principal)
    organisation = service.get_organisation(session, organisation_id)
    check_version(organisation, if_match)
    updated = service.update_organisation(session, organisation, body)
    set_etag(response, updated)
    return OrganisationRead.model_validate(updated)


@router.delete(
    "/organisations/{organisationId}",
    status_code=204,
    summary="Delete an organisation (admin)",
    description="With its people. Refused (409) while it is a member of a community, or one "
    "of its people organises one: remove it, or them as organisers, first.",
)
def delete_organisation(
    session: SessionDep,
    principal: PrincipalDep,
    organisation_id: OrganisationId,
    if_match: IfMatch = None,
) -> None:
    access.require_admin(principal)
    organisation = service.get_organisation(session, organisation_id)
    check_version(organisation, if_match)
    service.delete_organisation(session, organisation)


@router.get(
    "/organisations/{organisationId}/people",
    response_model=Page[PersonRead],
    summary="List an organisation's people",
)
def list_people(
    session: SessionDep,
    principal: PrincipalDep,
    organisation_id: OrganisationId,
    paging: PagingDep,
    active: Annotated[bool | None, Query(description="Only (in)active people")] = None,
) -> Page[PersonRead]:
    organisation = service.get_organisation(session, organisation_id)
    access.require_people_manager(session, principal, organisation.id)
    items, total = service.list_people(
        session, organisation, active=active, limit=paging.limit, offset=paging.offset
    )
    return page_of(PersonRead, items, total, paging)


@router.post(
    "/organisations/{organisationId}/people",
    status_code=201,
    response_model=PersonRead,
    summary="Add a person to an organisation",
)
def create_person(
    session: SessionDep,
    principal: PrincipalDep,
    organisation_id: OrganisationId,
    body: PersonCreate,
    response: Response,
) -> PersonRead:
    organisation = service.get_organisation(session, organisation_id)
    access.require_people_manager(session, principal, organisation.id)
    person = service.create_person(session, organisation, body)
    set_location(response, f"/people/{person.id}")
    set_etag(response, person)
    return PersonRead.model_validate(person)


@router.get("/people/{personId}", response_model=PersonRead, summary="Get a person")
def get_person(
    session: SessionDep, principal: PrincipalDep, person_id: PersonId, response: Response
) -> PersonRead:
    person = service.get_person(session, person_id)
    access.require_person_access(session, principal, person)
    set_etag(response, person)
    return PersonRead.model_validate(person)


@router.patch(
    "/people/{personId}",
    response_model=PersonRead,
    summary="Change a person",
    description="The person, their colleagues, their organisation's communities' organisers "
    "and admins. A new `email` or `active`, which act on the person in every community they "
    "take part in: only the person, admins and organisers of all those communities.",
)
def update_person(
    session: SessionDep,
    principal: PrincipalDep,
    person_id: PersonId,
    body: PersonUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> PersonRead:
    person = service.get_person(session, person_id)
    access.require_person_access(session, principal, person)
    if access.changes_account(person, body.changes()):
        access.require_account_manager(session, principal, person)
    check_version(person, if_match)
    updated = service.update_person(session, person, body)
    set_etag(response, updated)
    return PersonRead.model_validate(updated)


@router.delete(
    "/people/{personId}",
    status_code=204,
    summary="Erase a person's personal data",
    description="Name, e-mail, department, job title, tokens and organiser roles are erased; "
    "the answers the person gave stay with their organisation (knowledge retention). The "
    "person, admins, and organisers of every community the person takes part in.",
)
def delete_person(
    session: SessionDep, principal: PrincipalDep, person_id: PersonId, if_match: IfMatch = None
) -> None:
    person = service.get_person(session, person_id)
    access.require_account_manager(session, principal, person)
    check_version(person, if_match)
    service.erase_person(session, person)


@router.get(
    "/people/{personId}/export",
    response_model=PersonExport,
    summary="Everything stored about a person (right of access)",
    description="The person's details and organisation, the answers they gave, the communities "
    "they organise, their tokens (without secrets) and the audit log's events of the writes "
    "they made and of changes to their record. Feedback on suggestions is stored without its "
    "author; the events name the suggestions the person changed. For the person themself, "
    "admins, and organisers of every community the person takes part in: the export spans all "
    "of those communities. An organiser's export leaves out what belongs to communities they do "
    "not run (answers, roles, kept responses and events of a community the person has left).",
)
def export_person(
    session: SessionDep, principal: PrincipalDep, person_id: PersonId
) -> PersonExport:
    person = service.get_person(session, person_id)
    access.require_account_manager(session, principal, person, "export everything about them")
    own = principal.is_admin or principal.person_id == person.id
    return service.export_person(
        session, person, communities=None if own else principal.organiser_of
    )
