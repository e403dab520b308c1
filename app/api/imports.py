"""Importing a community's needs, offers and format preferences from a CSV or XLSX file, and the
template to fill in."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import (
    CommunityId,
    ManagedCommunity,
    PrincipalDep,
    ReadableCommunity,
    manages_before_the_session,
    read_apart,
)
from app.api.session import SessionDep, in_thread
from app.errors import Forbidden, InvalidParam, ValidationFailed
from app.schemas import ImportRead
from app.services import access
from app.services import imports as service
from app.services.import_files import CSV_MEDIA_TYPE, MAX_ROWS, XLSX_MEDIA_TYPE
from app.services.matching import EmbeddedAhead, embed_texts_ahead

router = APIRouter(tags=["imports"])

IMPORT_DESCRIPTION = f"""
Upload a `.csv` or `.xlsx` file in the form field `file` (organisers). Columns, in Dutch or
English, case, spaces and hyphens ignored: **organisatie** / organisation (name or CBS code:
`GM0363` or `363`), **soort** / kind (`need`, `offer`, `format`; `behoefte`, `aanbod`, `vorm`),
**tekst** / text (for a format row the format, e.g. `leerkring` or `learning-circle`), and
optionally onderwerpen / topics (slugs or labels separated by `;` or `,`), capaciteit /
capacity (offers), prioriteit / priority (needs: `low`, `normal`, `high`; `laag`, `normaal`,
`hoog`), toelichting / note (format rows), naam / person name, e-mail / email, afdeling /
department, bijeenkomst / meeting (title or date of a meeting of the community). Download a
template from `GET /communities/{{communityId}}/imports/template`.

* Row numbers are those a spreadsheet shows (header = row 1). CSV: UTF-8 (with or without BOM),
  UTF-16 with BOM, otherwise Windows-1252 (bytes that are no text in it: 415 naming their
  line); delimiter `;`, `,` or tab. XLSX: the first worksheet; a formula
  counts by its saved result, and one without (a file no spreadsheet program saved) is a problem.
* **All or nothing**: a file with any problem answers 422 with every problem in `problems`
  (row, column, value, message) and writes nothing. `dryRun=true` checks only and answers 200
  with the same list.
* A row is the same answer as a stored one when organisation, kind and text match (case and
  white space aside; for format rows the format): importing a file twice creates nothing new.
  Such rows count as `unchanged`, or `updated` when priority, capacity, topics, note, person,
  meeting or the exact text differ. A column the file lacks leaves that property as it is.
* Organisations that are not yet members become members (`membersAdded`). A person is found by
  e-mail within the organisation, or created (naam required).
* Limits: the file size setting `COPMATCH_IMPORT_MAX_BYTES` (2 MiB by default; larger: 413) and
  {MAX_ROWS:,} rows (more: 422). Not CSV or XLSX: 415; unreadable or empty: 422.
* Safe to retry: a repeated import changes nothing, so no `Idempotency-Key` is needed.
"""


class ImportUpload(BaseModel):
    """The multipart form of an import."""

    model_config = ConfigDict(extra="forbid")

    file: UploadFile = Field(description="The .csv or .xlsx file")


@dataclass(frozen=True, slots=True)
class ReadUpload:
    """An import as read before the request's session begins (:func:`read_upload`)."""

    file: service.ImportFile
    dry_run: bool
    ahead: EmbeddedAhead | None
    """The rows' embeddings, computed with no lock held (none for a dry run)."""


async def read_upload(
    request: Request,
    community_id: CommunityId,
    may_import: Annotated[bool, Depends(manages_before_the_session)],
    upload: Annotated[ImportUpload, Form(media_type="multipart/form-data")],
    dry_run: Annotated[
        bool, Query(alias="dryRun", description="Check the file and report; write nothing")
    ] = False,
) -> ReadUpload:
    """The uploaded file, read, its rows checked and (unless a dry run) the texts it would write
    embedded, before the request's session begins: a writing request's session holds SQLite's
    write lock from its start (on PostgreSQL, an open transaction), a large XLSX takes a while
    to read, and the embedding model about a tenth of a second a text. Only for a caller who may
    import into the community: no one else makes the server read a file. An unreadable file's
    error is raised by the service, after the community and the caller's right are checked
    again."""
    if not may_import:
        # Not read: the checks in the request's session answer 404 or 403 first.
        refused = service.ImportFile(error=Forbidden("only the community's organisers may import"))
        return ReadUpload(refused, dry_run, None)
    if len((await request.form()).getlist("file")) > 1:  # the form model keeps the last one
        two = ValidationFailed(
            "send one file per import",
            invalid_params=[InvalidParam("body.file", "given more than once")],
        )
        return ReadUpload(service.ImportFile(error=two), dry_run, None)
    max_bytes: int = request.app.state.settings.import_max_bytes
    # One byte over the limit is enough to know the file is too large.
    data = await in_thread(upload.file.file.read, max_bytes + 1)
    read = await in_thread(service.read_import, data, upload.file.filename, max_bytes=max_bytes)
    if dry_run:
        return ReadUpload(read, dry_run, None)
    texts = await read_apart(request, service.texts_to_embed, community_id, read)
    return ReadUpload(read, dry_run, await in_thread(embed_texts_ahead, texts))


class TemplateFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@router.post(
    "/communities/{communityId}/imports",
    response_model=ImportRead,
    summary="Import needs, offers and format preferences from a CSV or XLSX file (organisers)",
    description=IMPORT_DESCRIPTION,
    operation_id="importAnswers",
    responses={
        413: {"description": "The file is larger than COPMATCH_IMPORT_MAX_BYTES"},
        415: {"description": "Not a CSV or XLSX file"},
    },
)
def import_answers(
    # First: FastAPI resolves dependencies in the order of the parameters.
    upload: Annotated[ReadUpload, Depends(read_upload)],
    session: SessionDep,
    principal: PrincipalDep,
    community: ManagedCommunity,
) -> ImportRead:
    result = service.import_answers(
        session,
        community,
        upload.file,
        dry_run=upload.dry_run,
        ahead=upload.ahead,
        people_of=access.people_managed(session, principal),
    )
    return ImportRead.model_validate(result)


@router.get(
    "/communities/{communityId}/imports/template",
    response_class=Response,
    summary="Download the import template (CSV or XLSX)",
    description="The XLSX template has the header row with drop-down lists and sheets that "
    "explain the columns, formats, topics and this community's meetings; the CSV template is "
    "the header line (`;`-separated, UTF-8 with BOM, as Excel in a Dutch locale expects).",
    operation_id="getImportTemplate",
    responses={
        200: {
            "description": "The template, as an attachment",
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="{slug}-import-template.{format}"',
                    "schema": {"type": "string"},
                }
            },
            "content": {
                CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def get_import_template(
    session: SessionDep,
    community: ReadableCommunity,
    file_format: Annotated[
        TemplateFormat, Query(alias="format", description="csv or xlsx (default)")
    ] = TemplateFormat.XLSX,
) -> Response:
    template = service.import_template(session, community, file_format.value)
    return Response(
        template.content,
        media_type=template.media_type,
        headers={"Content-Disposition": f'attachment; filename="{template.filename}"'},
    )
