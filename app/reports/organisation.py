"""One member's page of the programme plan as a document (rendered like the plan itself)."""

from __future__ import annotations

from app.reports import schemas as r
from app.reports.blocks import Cell, Document, section, table_block
from app.reports.document import WORKING_GROUP_HEADERS, working_group_rows
from app.reports.i18n import Lang, report_day, text, value_label


def _need_rows(needs: list[r.OwnNeed], lang: Lang) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    for need in needs:
        label = f"{need.text} ({text('gap', lang)})" if need.gap else need.text
        first: tuple[Cell, ...] = (label, value_label(need.priority, lang))
        blank: tuple[Cell, ...] = ("", "")
        if not need.helpers:
            rows.append((*first, text("no-helpers", lang), "", None, ""))
        for number, s in enumerate(need.helpers):
            rows.append(
                (
                    *(first if number == 0 else blank),
                    s.offer_organisation.name,
                    s.offer_text,
                    s.score,
                    value_label(s.status, lang),
                )
            )
    return rows


def _offer_rows(offers: list[r.OwnOffer], lang: Lang) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    for offer in offers:
        first: tuple[Cell, ...] = (offer.text, offer.capacity)
        blank: tuple[Cell, ...] = ("", "")  # not None, which reads "—", as if no capacity
        if not offer.asked_by:
            nobody = text("nobody-asked" if offer.unmet else "better-offers-asked", lang)
            rows.append((*first, nobody, "", None, ""))
        for number, s in enumerate(offer.asked_by):
            rows.append(
                (
                    *(first if number == 0 else blank),
                    s.need_organisation.name,
                    s.need_text,
                    s.score,
                    value_label(s.status, lang),
                )
            )
    return rows


def organisation_document(report: r.OrganisationReport, lang: Lang) -> Document:
    """An organisation's needs with who can help and its offers with who asked, in ``lang``."""
    own = report.organisation.id
    people = [(p.name, p.department, p.job_title) for p in report.people]
    partners = [
        (
            pair.second_organisation.name
            if pair.first_organisation.id == own
            else pair.first_organisation.name,
            pair.score,
        )
        for pair in report.reciprocal_partners
    ]
    need_headers = ["need", "priority", "helpers", "offer", "score", "status"]
    offer_headers = ["offer", "capacity", "asked-by", "need", "score", "status"]
    formats = [(value_label(f.format.value, lang), f.note) for f in report.format_preferences]
    groups = working_group_rows(report.working_groups, lang)
    return Document(
        lang=lang,
        title=text("organisation-title", lang, organisation=report.organisation.name),
        subtitle=f"{text('title', lang)} {report.community.name}",
        generated=text("generated", lang, date=report_day(report.generated_at)),
        sections=(
            section(
                "people",
                lang,
                [table_block("people", lang, ["name", "department", "job-title"], people)],
            ),
            section(
                "own-needs",
                lang,
                [table_block("needs", lang, need_headers, _need_rows(report.needs, lang))],
            ),
            section(
                "own-offers",
                lang,
                [table_block("offers", lang, offer_headers, _offer_rows(report.offers, lang))],
            ),
            section(
                "own-formats", lang, [table_block("formats", lang, ["format", "notes"], formats)]
            ),
            section(
                "own-working-groups",
                lang,
                [table_block("working-groups", lang, WORKING_GROUP_HEADERS, groups)],
            ),
            section(
                "own-reciprocal-pairs",
                lang,
                [table_block("reciprocal-pairs", lang, ["partner", "score"], partners)],
            ),
        ),
    )
