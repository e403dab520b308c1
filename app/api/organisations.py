"""Organisations and the people who take part for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import OrganisationId, PagingDep, PersonId, SessionDep, set_location
from app.models import OrganisationKind
from app.schemas import (
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    Page,
    PersonCreate,
    PersonRead,
    PersonUpdate,
)
from app.services import organisations as service

router = APIRouter(tags=["organisations"])


@router.get("/organisations", response_model=Page[OrganisationRead], summary="List organisations")
def list_organisations(
    session: SessionDep,
    paging: PagingDep,
    kind: OrganisationKind | None = None,
    cbs_code: Annotated[
        str | None, Query(alias="cbsCode", pattern=r"^[Gg][Mm]\d{4}$", description="e.g. GM0392")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Name contains (case-insensitive)")
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
    return Page(
        items=[OrganisationRead.model_validate(i) for i in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationRead,
    summary="Create an organisation",
)
def create_organisation(
    session: SessionDep, body: OrganisationCreate, response: Response
) -> OrganisationRead:
    organisation = service.create_organisation(session, body)
    set_location(response, f"/organisations/{organisation.id}")
    return OrganisationRead.model_validate(organisation)


@router.get(
    "/organisations/{organisationId}",
    response_model=OrganisationRead,
    summary="Get an organisation",
)
def get_organisation(session: SessionDep, organisation_id: OrganisationId) -> OrganisationRead:
    return OrganisationRead.model_validate(service.get_organisation(session, organisation_id))


@router.patch(
    "/organisations/{organisationId}",
    response_model=OrganisationRead,
    summary="Change an organisation",
)
def update_organisation(
    session: SessionDep, organisation_id: OrganisationId, body: OrganisationUpdate
) -> OrganisationRead:
    organisation = service.get_organisation(session, organisation_id)
    return OrganisationRead.model_validate(service.update_organisation(session, organisation, body))


@router.delete("/organisations/{organisationId}", status_code=204, summary="Delete an organisation")
def delete_organisation(session: SessionDep, organisation_id: OrganisationId) -> None:
    service.delete_organisation(session, service.get_organisation(session, organisation_id))


@router.get(
    "/organisations/{organisationId}/people",
    response_model=Page[PersonRead],
    summary="List an organisation's people",
)
def list_people(
    session: SessionDep,
    organisation_id: OrganisationId,
    paging: PagingDep,
    active: Annotated[bool | None, Query(description="Only (in)active people")] = None,
) -> Page[PersonRead]:
    organisation = service.get_organisation(session, organisation_id)
    items, total = service.list_people(
        session, organisation, active=active, limit=paging.limit, offset=paging.offset
    )
    return Page(
        items=[PersonRead.model_validate(i) for i in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/organisations/{organisationId}/people",
    status_code=201,
    response_model=PersonRead,
    summary="Add a person to an organisation",
)
def create_person(
    session: SessionDep, organisation_id: OrganisationId, body: PersonCreate, response: Response
) -> PersonRead:
    organisation = service.get_organisation(session, organisation_id)
    person = service.create_person(session, organisation, body)
    set_location(response, f"/people/{person.id}")
    return PersonRead.model_validate(person)


@router.get("/people/{personId}", response_model=PersonRead, summary="Get a person")
def get_person(session: SessionDep, person_id: PersonId) -> PersonRead:
    return PersonRead.model_validate(service.get_person(session, person_id))


@router.patch("/people/{personId}", response_model=PersonRead, summary="Change a person")
def update_person(session: SessionDep, person_id: PersonId, body: PersonUpdate) -> PersonRead:
    person = service.get_person(session, person_id)
    return PersonRead.model_validate(service.update_person(session, person, body))


@router.delete(
    "/people/{personId}",
    status_code=204,
    summary="Erase a person's personal data",
    description="Name, e-mail, department and job title are erased; the answers the person "
    "gave stay with their organisation.",
)
def delete_person(session: SessionDep, person_id: PersonId) -> None:
    service.erase_person(session, service.get_person(session, person_id))
