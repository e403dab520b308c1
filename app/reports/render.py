"""Every representation of a report: media type, bytes and a file name to save it under."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from app.matching import collector_paused
from app.reports import schemas as r
from app.reports.document import community_document
from app.reports.html import render_html
from app.reports.i18n import Lang, report_day
from app.reports.markdown import render_markdown
from app.reports.organisation import organisation_document
from app.reports.tables import render_csv, render_xlsx
from app.services.communities import slugify


class ReportFormat(enum.StrEnum):
    """The representations, by the file extension they are saved with."""

    JSON = "json"
    MARKDOWN = "md"
    HTML = "html"
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES: dict[ReportFormat, str] = {
    ReportFormat.JSON: "application/json",
    ReportFormat.MARKDOWN: "text/markdown",
    ReportFormat.HTML: "text/html",
    ReportFormat.CSV: "text/csv",
    ReportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
"""Media type per format, in order of preference when a client accepts several equally."""

CONTENT_TYPES: dict[ReportFormat, str] = {
    ReportFormat.JSON: "application/json",
    ReportFormat.MARKDOWN: "text/markdown; charset=utf-8; variant=GFM",
    ReportFormat.HTML: "text/html; charset=utf-8",
    ReportFormat.CSV: "text/csv; charset=utf-8; header=present",
    ReportFormat.XLSX: MEDIA_TYPES[ReportFormat.XLSX],
}

ORGANISATION_FORMATS = (ReportFormat.JSON, ReportFormat.MARKDOWN, ReportFormat.HTML)

# Pages a browser shows; files it saves. ``curl -OJ`` uses the file name either way.
_DISPOSITION: dict[ReportFormat, Literal["inline", "attachment"] | None] = {
    ReportFormat.JSON: None,
    ReportFormat.MARKDOWN: "inline",
    ReportFormat.HTML: "inline",
    ReportFormat.CSV: "attachment",
    ReportFormat.XLSX: "attachment",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    content: bytes
    content_type: str
    filename: str
    disposition: Literal["inline", "attachment"] | None

    @property
    def content_disposition(self) -> str | None:
        """The ``Content-Disposition`` header value (file names are ASCII slugs)."""
        if self.disposition is None:
            return None
        return f'{self.disposition}; filename="{self.filename}"'


def community_filename(report: r.CommunityReport, report_format: ReportFormat) -> str:
    """``<community slug>-plan-<date>.<ext>``; the CSV is the suggestions table."""
    kind = "suggestions" if report_format == ReportFormat.CSV else "plan"
    return f"{report.community.slug}-{kind}-{report_day(report.generated_at)}.{report_format}"


def render_community(
    report: r.CommunityReport, report_format: ReportFormat, lang: Lang
) -> Rendered:
    """The community's plan as ``report_format``; ``lang`` applies to all but JSON.

    Rendered with the cyclic garbage collector paused, as the plan was built: a document makes
    as many objects again as the plan has rows."""
    with collector_paused():
        if report_format == ReportFormat.JSON:
            content = report.model_dump_json(by_alias=True).encode()
        elif report_format == ReportFormat.MARKDOWN:
            content = render_markdown(community_document(report, lang, complete=False)).encode()
        elif report_format == ReportFormat.HTML:
            content = render_html(community_document(report, lang, complete=False)).encode()
        elif report_format == ReportFormat.CSV:
            content = render_csv(report, lang).encode()
        else:
            content = render_xlsx(community_document(report, lang, complete=True))
    return Rendered(
        content=content,
        content_type=CONTENT_TYPES[report_format],
        filename=community_filename(report, report_format),
        disposition=_DISPOSITION[report_format],
    )


def render_organisation(
    report: r.OrganisationReport, report_format: ReportFormat, lang: Lang
) -> Rendered:
    """One member's page as JSON, Markdown or HTML (the collector paused, as for the plan)."""
    with collector_paused():
        if report_format == ReportFormat.JSON:
            content = report.model_dump_json(by_alias=True).encode()
        elif report_format == ReportFormat.MARKDOWN:
            content = render_markdown(organisation_document(report, lang)).encode()
        elif report_format == ReportFormat.HTML:
            content = render_html(organisation_document(report, lang)).encode()
        else:
            raise ValueError(f"an organisation report has no {report_format} representation")
    name = slugify(report.organisation.name) or f"organisation-{report.organisation.id}"
    date = report_day(report.generated_at)
    return Rendered(
        content=content,
        content_type=CONTENT_TYPES[report_format],
        filename=f"{report.community.slug}-{name}-{date}.{report_format}",
        disposition=_DISPOSITION[report_format],
    )
