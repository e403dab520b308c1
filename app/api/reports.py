"""The programme-plan report of a community, and one member's page of it.

One resource, several representations: the ``Accept`` header picks JSON (also for ``*/*`` or
no header), Markdown, HTML, CSV or XLSX; anything else is a 406.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import ManagedCommunity, OrganisationId, PrincipalDep
from app.api.session import SessionDep, one_snapshot
from app.errors import InvalidParam, NotAcceptable
from app.models import Community
from app.reports.html import CONTENT_SECURITY_POLICY
from app.reports.i18n import Lang
from app.reports.render import (
    CONTENT_TYPES,
    MEDIA_TYPES,
    ORGANISATION_FORMATS,
    Rendered,
    ReportFormat,
    render_community,
    render_organisation,
)
from app.reports.schemas import CommunityReport, OrganisationReport
from app.schemas import IN_DIGITS, MAX_ID
from app.services import access
from app.services.common import get_or_404
from app.services.organisations import get_organisation
from app.services.reports import community_report, organisation_report

router = APIRouter(tags=["reports"])

LangQuery = Annotated[
    Lang,
    Query(description="Language of headings, labels and column names (every type but JSON)"),
]
# ``Accept`` is not declared as a parameter: OpenAPI ignores one named so. The media types
# are documented as the 200 response's content instead.


# --- content negotiation ---------------------------------------------------------------------


MediaRange = tuple[str, str, frozenset[tuple[str, str]], float]
"""(type, subtype, parameters other than q, q) of one media range of ``Accept``."""


def _media_type(media: str, parameters: Sequence[str]) -> tuple[str, str, dict[str, str]] | None:
    """(type, subtype, parameters) of a media type or range, names and values in lower case
    and unquoted (RFC 9110 §8.3.2: both compare without regard to case here: charset, variant,
    header); None when it is not type/subtype."""
    kind, slash, subtype = media.strip().lower().partition("/")
    if not slash or not kind.strip() or not subtype.strip():
        return None
    values = {}
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        values[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip(), subtype.strip(), values


def _media_ranges(accept: str) -> list[MediaRange]:
    """The media ranges of an ``Accept`` header with their q (RFC 9110 §12.5.1)."""
    ranges = []
    for part in accept.split(","):
        media, *parameters = part.split(";")
        parsed = _media_type(media, parameters)
        if parsed is None:
            continue
        kind, subtype, values = parsed
        quality = 1.0
        if "q" in values:
            try:
                quality = min(max(float(values.pop("q")), 0.0), 1.0)
            except ValueError:
                quality = 0.0
        ranges.append((kind, subtype, frozenset(values.items()), quality))
    return ranges


def _quality(content_type: str, ranges: list[MediaRange]) -> float:
    """The q the most specific range that matches *content_type* gives it (0: not acceptable).

    A range matches when its type and subtype do (or are ``*``) and the representation has
    every parameter the range names: ``text/html;level=1`` does not match a page without
    that parameter, so ``text/html`` decides for it whatever their order (RFC 9110 §12.5.1).
    Among matching ranges a type beats a wildcard, and more matched parameters beat fewer."""
    media, *parameters = content_type.split(";")
    parsed = _media_type(media, parameters)
    if parsed is None:
        raise ValueError(f"not a media type: {content_type!r}")
    kind, subtype, has = parsed
    offered = frozenset(has.items())
    best: tuple[tuple[int, int], float] | None = None
    for range_kind, range_subtype, range_parameters, quality in ranges:
        if (range_kind, range_subtype) == (kind, subtype):
            level = 2
        elif range_kind == kind and range_subtype == "*":
            level = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            level = 0
        else:
            continue
        if not range_parameters <= offered:
            continue
        specificity = (level, len(range_parameters))
        if best is None or specificity > best[0]:
            best = (specificity, quality)
    return best[1] if best else 0.0


_NEGOTIATED: dict[ReportFormat, str] = {
    **CONTENT_TYPES,
    # JSON is UTF-8 by definition (RFC 8259 §8.1), so it is sent without the parameter; a range
    # that asks for it (many clients send application/json; charset=utf-8) matches all the same.
    ReportFormat.JSON: "application/json; charset=utf-8",
}
"""Each format's media type with the parameters a media range of ``Accept`` may name."""


def negotiate(accept: str | None, offered: Sequence[ReportFormat]) -> ReportFormat:
    """The offered format the client prefers; the first offered one (JSON) on a tie or without
    ``Accept``; :class:`NotAcceptable` when it accepts none of them."""
    if accept is None or not accept.strip():
        return offered[0]
    ranges = _media_ranges(accept)
    scored = [
        (quality, -position, report_format)
        for position, report_format in enumerate(offered)
        if (quality := _quality(_NEGOTIATED[report_format], ranges)) > 0
    ]
    if not scored:
        choices = ", ".join(MEDIA_TYPES[f] for f in offered)
        raise NotAcceptable(
            f"no representation matches Accept {accept!r}; available: {choices}",
            invalid_params=[InvalidParam("header.Accept", f"one of {choices}")],
        )
    return max(scored)[2]


def _response(rendered: Rendered) -> Response:
    headers = {"Vary": "Accept"}
    if rendered.content_disposition:
        headers["Content-Disposition"] = rendered.content_disposition
    if rendered.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return Response(rendered.content, media_type=rendered.content_type, headers=headers)


def _ok(description: str, formats: Sequence[ReportFormat]) -> dict[int | str, dict[str, Any]]:
    text = {"schema": {"type": "string"}}
    content: dict[str, Any] = {
        MEDIA_TYPES[f]: {"schema": {"type": "string", "format": "binary"}}
        if f == ReportFormat.XLSX
        else text
        for f in formats
        if f != ReportFormat.JSON
    }
    return {
        200: {
            "description": description,
            "content": content,
            "headers": {
                "Content-Disposition": {
                    "description": "File name to save Markdown, HTML, CSV and XLSX under "
                    "(inline for pages, attachment for spreadsheets); absent for JSON",
                    "schema": {"type": "string"},
                },
                "Vary": {
                    "description": "Always `Accept`: the representation depends on it",
                    "schema": {"type": "string"},
                },
            },
        },
        406: {"description": "Accept names none of the available media types"},
    }


# --- the routes ------------------------------------------------------------------------------


@router.get(
    "/communities/{communityId}/report",
    response_model=CommunityReport,
    responses=_ok(
        "The programme plan: participation, demand and supply, gaps, working groups, peer "
        "help, format preferences and knowledge retention. text/csv is the suggestions table; "
        "the XLSX workbook has a sheet per section; HTML is one printable page with charts.",
        tuple(ReportFormat),
    ),
    summary="The community's programme plan (organisers)",
    description="Pick the representation with `Accept`: `application/json` (also for `*/*` "
    "or no header), `text/markdown`, `text/html`, `text/csv` or "
    "`application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`; others get 406. "
    "`lang` (nl, en) sets the language of every representation but JSON.",
)
@one_snapshot
def get_community_report(
    session: SessionDep,
    community: ManagedCommunity,
    request: Request,
    lang: LangQuery = "nl",
) -> Response:
    report_format = negotiate(request.headers.get("accept"), tuple(ReportFormat))
    report = community_report(session, community)
    return _response(render_community(report, report_format, lang))


@router.get(
    "/organisations/{organisationId}/report",
    response_model=OrganisationReport,
    responses=_ok(
        "One member's page: its needs with who can help, its offers with who asked, its "
        "working groups and reciprocal partners.",
        ORGANISATION_FORMATS,
    ),
    summary="One member's page of a community's programme plan",
    description="For the community's organisers and the organisation's own people. `Accept`: "
    "`application/json` (default), `text/markdown` or `text/html`; others get 406. An "
    "organisation that is not a member of the community has no page there: 404.",
)
@one_snapshot
def get_organisation_report(
    session: SessionDep,
    principal: PrincipalDep,
    organisation_id: OrganisationId,
    community_id: Annotated[
        int,
        Query(alias="communityId", ge=1, le=MAX_ID, description="Id of the community"),
        IN_DIGITS,
    ],
    request: Request,
    lang: LangQuery = "nl",
) -> Response:
    organisation = get_organisation(session, organisation_id)
    community = get_or_404(
        session, Community, community_id, resource="community", field="query.communityId"
    )
    access.require_organisation_page_reader(principal, community.id, organisation.id)
    # After the access check, as the community's plan does: who may not read the page learns
    # that, not which formats it comes in.
    report_format = negotiate(request.headers.get("accept"), ORGANISATION_FORMATS)
    report = organisation_report(session, community, organisation)
    return _response(render_organisation(report, report_format, lang))
