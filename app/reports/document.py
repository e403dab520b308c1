"""The programme plan as a document (``app.reports.blocks``) in one language."""

from __future__ import annotations

from collections import defaultdict

from app.reports import schemas as r
from app.reports.blocks import (
    BarChart,
    Block,
    Cell,
    Document,
    Paragraph,
    Section,
    Series,
    Subheading,
    section,
    table_block,
)
from app.reports.i18n import (
    Lang,
    decimal,
    report_day,
    text,
    topic_label,
    topic_labels,
    value_label,
)
from app.reports.reasons import reasons_text

SUGGESTIONS_PER_NEED = 3
"""Suggestions per need in the readable plan; the CSV and XLSX carry them all."""

NEEDS_COLOUR = "#c2410c"
OFFERS_COLOUR = "#1d4ed8"
FORMATS_COLOUR = "#0f766e"


def person_name(person: r.PersonSummary, status: r.PersonStatus, lang: Lang) -> str:
    """A person as a report names them: erased people only by their status."""
    if status == "erased" or not person.name:
        return f"({text('erased', lang)})"
    return person.name


def closest(answer: r.AnswerRef | None, score: float, lang: Lang) -> str:
    """The answer that came closest to a gap or an unmet offer: "Organisation: text"; none
    when nothing came close at all (a score of 0 is no near miss)."""
    if answer is None or score <= 0:
        return text("none-close", lang)
    return f"{answer.organisation.name}: {answer.text}"


def _summary(report: r.CommunityReport, lang: Lang) -> Section:
    s = report.summary
    counts = [
        ("organisations", s.organisations),
        ("people-count", s.people),
        ("needs", s.needs),
        ("offers", s.offers),
        ("format-preferences-count", s.format_preferences),
        ("suggestions-count", s.suggestions),
        ("declined-count", s.declined_suggestions),
        ("working-groups-count", s.working_groups),
        ("gaps-count", s.gaps),
        ("reciprocal-count", s.reciprocal_pairs),
    ]
    rows = [(text(key, lang), value) for key, value in counts]
    return section("summary", lang, [table_block("summary", lang, ["item", "count"], rows)])


def _participation(p: r.Participation, lang: Lang) -> Section:
    rows = [
        (
            item.organisation.name,
            value_label(item.kind, lang),
            len(item.people),
            ", ".join(item.departments),
            "⚑" if item.single_department else "",
            item.needs,
            item.offers,
            item.format_preferences,
        )
        for item in p.items
    ]
    headers = ["organisation", "kind", "people-count", "departments", "single-department"]
    return section(
        "participation",
        lang,
        [
            Paragraph(
                text(
                    "participation-note",
                    lang,
                    organisations=p.organisations,
                    people=p.people,
                    departments=p.departments,
                    single=p.single_department_organisations,
                )
            ),
            table_block("participation", lang, [*headers, "needs", "offers", "formats"], rows),
            Paragraph(text("single-department-note", lang), note=True),
        ],
    )


def _demand_supply(d: r.DemandSupply, lang: Lang) -> Section:
    labels = tuple(topic_label(theme.slug, lang) for theme in d.themes)
    chart = BarChart(
        key="demand",
        title=text("chart-demand", lang),
        categories=labels,
        series=(
            Series("needs", text("needs", lang), NEEDS_COLOUR, tuple(t.needs for t in d.themes)),
            Series(
                "offers", text("offers", lang), OFFERS_COLOUR, tuple(t.offers for t in d.themes)
            ),
        ),
    )
    themes = [(label, t.needs, t.offers) for label, t in zip(labels, d.themes, strict=True)]
    topics = [
        (topic_label(theme.slug, lang), topic_label(topic.slug, lang), topic.needs, topic.offers)
        for theme in d.themes
        for topic in theme.topics
    ]
    return section(
        "demand-supply",
        lang,
        [
            chart,
            table_block("themes", lang, ["theme", "needs", "offers"], themes),
            Subheading(text("per-topic", lang)),
            table_block("topics", lang, ["theme", "topic", "needs", "offers"], topics),
            Paragraph(text("counting-note", lang), note=True),
            Paragraph(
                text("untagged", lang, needs=d.untagged_needs, offers=d.untagged_offers), note=True
            ),
        ],
    )


def _gaps(g: r.Gaps, lang: Lang) -> Section:
    rows = [
        (
            topic_label(group.topic, lang) if group.topic else text("no-topic", lang),
            item.organisation.name,
            item.text,
            value_label(item.priority, lang),
            closest(item.best_offer, item.best_score, lang),
            item.best_score,
        )
        for group in g.groups
        for item in group.needs
    ]
    headers = ["topic", "organisation", "need", "priority", "closest-offer", "best-score"]
    return section(
        "gaps",
        lang,
        [
            Paragraph(text("gaps-note", lang, threshold=decimal(g.threshold, lang))),
            table_block("gaps", lang, headers, rows),
        ],
    )


def _formats(counts: list[tuple[str, int]], lang: Lang) -> str:
    return ", ".join(f"{value_label(name, lang)} ({count})" for name, count in counts)


def working_group_rows(groups: list[r.WorkingGroup], lang: Lang) -> list[tuple[Cell, ...]]:
    """The groups as rows, each under its number in the plan (a member's page shows some)."""
    return [
        (
            group.number,
            topic_labels(group.topics, lang),
            ", ".join(o.name for o in group.organisations),
            ", ".join(o.name for o in group.hosts),
            _formats([(f.format.value, f.organisations) for f in group.preferred_formats], lang),
        )
        for group in groups
    ]


WORKING_GROUP_HEADERS = ["group", "topics", "organisations", "hosts", "formats"]


def _working_groups(groups: list[r.WorkingGroup], lang: Lang) -> Section:
    rows = working_group_rows(groups, lang)
    return section(
        "working-groups", lang, [table_block("working-groups", lang, WORKING_GROUP_HEADERS, rows)]
    )


def suggestion_cells(s: r.SuggestionRow, lang: Lang) -> tuple[Cell, ...]:
    """One suggestion as the readable tables show it (the CSV has every field apart)."""
    status = value_label(s.status, lang)
    if s.allocated:
        status = f"{status}, {text('allocated', lang).lower()}"
    return (
        s.need_organisation.name,
        s.need_text,
        s.offer_organisation.name,
        s.offer_text,
        s.score,
        status,
        reasons_text(s, lang),
    )


SUGGESTION_HEADERS = [
    "need-organisation",
    "need",
    "offer-organisation",
    "offer",
    "score",
    "status",
    "reasons",
]


def _peer_help(p: r.PeerHelp, lang: Lang, *, complete: bool) -> Section:
    by_id = {s.suggestion_id: s for s in p.suggestions}
    allocation = p.allocation
    assigned = [
        (
            a.need_organisation.name,
            by_id[a.suggestion_id].need_text,
            a.offer_organisation.name,
            by_id[a.suggestion_id].offer_text,
            a.score,
            value_label(a.status, lang),
        )
        for a in allocation.assignments
    ]
    blocks: list[Block] = [
        Subheading(text("allocation", lang)),
        Paragraph(
            text(
                "allocation-note",
                lang,
                assigned=allocation.needs_assigned,
                candidates=allocation.needs_with_candidates,
                score=decimal(allocation.total_score, lang),
            )
        ),
    ]
    if allocation.uncovered_organisations:
        names = ", ".join(o.name for o in allocation.uncovered_organisations)
        blocks.append(Paragraph(text("uncovered-note", lang, organisations=names)))
    headers = ["need-organisation", "need", "offer-organisation", "offer", "score", "status"]
    blocks.append(table_block("allocation", lang, headers, assigned))
    pairs = [
        (pair.first_organisation.name, pair.second_organisation.name, pair.score)
        for pair in p.reciprocal_pairs
    ]
    blocks += [
        Subheading(text("reciprocal-pairs", lang)),
        table_block("reciprocal-pairs", lang, ["first", "second", "score"], pairs),
        Subheading(text("suggestions", lang)),
    ]
    shown = p.suggestions
    if not complete:
        per_need: dict[int, int] = defaultdict(int)
        shown = []
        for s in p.suggestions:
            if s.status != "declined" and per_need[s.need_id] < SUGGESTIONS_PER_NEED:
                per_need[s.need_id] += 1
                shown.append(s)
        blocks.append(
            Paragraph(
                text(
                    "suggestions-note",
                    lang,
                    per_need=SUGGESTIONS_PER_NEED,
                    shown=len(shown),
                    total=sum(s.status != "declined" for s in p.suggestions),
                ),
                note=True,
            )
        )
    rows = [suggestion_cells(s, lang) for s in shown]
    blocks.append(table_block("suggestions", lang, SUGGESTION_HEADERS, rows))
    unmet = [
        (
            u.organisation.name,
            u.text,
            topic_labels(u.topics, lang),
            closest(u.best_need, u.best_score, lang),
            u.best_score,
        )
        for u in p.unmet_offers
    ]
    headers = ["organisation", "offer", "topics", "closest-need", "best-score"]
    blocks += [
        Subheading(text("unmet-offers", lang)),
        table_block("unmet-offers", lang, headers, unmet),
    ]
    return section("peer-help", lang, blocks)


def _format_preferences(f: r.FormatPreferences, lang: Lang) -> Section:
    labels = tuple(value_label(item.format.value, lang) for item in f.items)
    chart = BarChart(
        key="formats",
        title=text("chart-formats", lang),
        categories=labels,
        series=(
            Series(
                "organisations",
                text("organisations", lang),
                FORMATS_COLOUR,
                tuple(item.organisations for item in f.items),
            ),
        ),
    )
    rows = [
        (
            label,
            item.organisations,
            " · ".join(f"{n.organisation.name}: {n.note}" for n in item.notes),
        )
        for label, item in zip(labels, f.items, strict=True)
    ]
    return section(
        "format-preferences",
        lang,
        [
            Paragraph(text("formats-note", lang, organisations=f.organisations)),
            chart,
            table_block("formats", lang, ["format", "organisations", "notes"], rows),
        ],
    )


def _knowledge_retention(k: r.KnowledgeRetention, lang: Lang) -> Section:
    single = [
        (
            o.organisation.name,
            o.text,
            topic_labels(o.topics, lang),
            person_name(o.person, o.person_status, lang),
            text(o.person_status, lang),
        )
        for o in k.single_person_offers
    ]
    authors = [
        (
            o.organisation.name,
            o.offers,
            person_name(o.person, o.person_status, lang),
            text(o.person_status, lang),
        )
        for o in k.single_author_organisations
    ]
    departed = [
        (
            d.organisation.name,
            text(f"{a.kind}-kind", lang),
            value_label(a.text, lang) if a.kind == "formatPreference" else a.text,
            person_name(a.person, a.person_status, lang),
            text(a.person_status, lang),
        )
        for d in k.departed
        for a in d.answers
    ]
    person = ["person", "person-status"]
    return section(
        "knowledge-retention",
        lang,
        [
            Subheading(text("single-person-offers", lang)),
            Paragraph(text("single-person-note", lang), note=True),
            table_block(
                "single-person-offers", lang, ["organisation", "offer", "topics", *person], single
            ),
            Subheading(text("single-author-organisations", lang)),
            Paragraph(text("single-author-note", lang), note=True),
            table_block(
                "single-author-organisations", lang, ["organisation", "offers", *person], authors
            ),
            Subheading(text("departed", lang)),
            Paragraph(text("departed-note", lang), note=True),
            table_block(
                "departed", lang, ["organisation", "answer-kind", "answer", *person], departed
            ),
        ],
    )


def community_document(report: r.CommunityReport, lang: Lang, *, complete: bool) -> Document:
    """The plan in ``lang``; ``complete`` keeps every suggestion (for spreadsheets)."""
    return Document(
        lang=lang,
        title=f"{text('title', lang)} {report.community.name}",
        subtitle=report.community.description or "",
        generated=text("generated", lang, date=report_day(report.generated_at)),
        sections=(
            _summary(report, lang),
            _participation(report.participation, lang),
            _demand_supply(report.demand_supply, lang),
            _gaps(report.gaps, lang),
            _working_groups(report.working_groups, lang),
            _peer_help(report.peer_help, lang, complete=complete),
            _format_preferences(report.format_preferences, lang),
            _knowledge_retention(report.knowledge_retention, lang),
        ),
    )
