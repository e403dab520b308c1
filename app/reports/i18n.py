"""Words of the human-readable reports in Dutch and English; topic and theme labels come from
the taxonomy (``app/data/topics.yaml``)."""

from __future__ import annotations

import datetime as dt
import string
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from app.services.topics import taxonomy

Lang = Literal["nl", "en"]

REPORT_ZONE = ZoneInfo("Europe/Amsterdam")
"""Reports are read in the Netherlands: their dates (and file names) are Dutch days."""


def report_day(moment: dt.datetime) -> str:
    """The day of *moment* (aware) in the Netherlands, as YYYY-MM-DD."""
    return moment.astimezone(REPORT_ZONE).date().isoformat()


def decimal(value: float, lang: Lang) -> str:
    """*value* with two decimals as a reader of *lang* writes it: 0,32 in Dutch, 0.32 in
    English (thousands are not grouped: the report's decimals are scores).

    Cut off after two decimals, not rounded: a gap's best score of 0.3158 reads 0,31 under
    "below 0,32", never as the threshold it is below, while every score at the threshold or
    above still reads as at least the threshold. The cut is made on the number's shortest
    decimal form (0.29, not the binary 0.28999…)."""
    shown = str(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
    return shown.replace(".", ",") if lang == "nl" else shown


# key: (nl, en)
_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Programmaplan", "Programme plan"),
    "organisation-title": ("Overzicht voor {organisation}", "Overview for {organisation}"),
    "generated": ("Gemaakt op {date} door copmatch.", "Generated on {date} by copmatch."),
    "summary": ("Samenvatting", "Summary"),
    "participation": ("1. Deelname", "1. Participation"),
    "demand-supply": ("2. Vraag en aanbod per thema", "2. Demand and supply per theme"),
    "gaps": (
        "3. Lacunes: kandidaten voor externe experts",
        "3. Gaps: candidates for outside experts",
    ),
    "working-groups": ("4. Voorgestelde werkgroepen", "4. Suggested working groups"),
    "peer-help": ("5. Collegiale hulp", "5. Peer help"),
    "format-preferences": ("6. Voorkeuren voor werkvormen", "6. Format preferences"),
    "knowledge-retention": ("7. Kennisborging", "7. Knowledge retention"),
    "allocation": ("Toewijzing binnen capaciteit", "Allocation within capacity"),
    "reciprocal-pairs": ("Wederkerige koppels", "Reciprocal pairs"),
    "suggestions": ("Suggesties", "Suggestions"),
    "unmet-offers": ("Aanbod waar niemand om vroeg", "Offers nobody asked for"),
    "single-person-offers": ("Aanbod dat op één persoon rust", "Offers resting on one person"),
    "single-author-organisations": (
        "Organisaties waarvan al het aanbod van één persoon komt",
        "Organisations whose offers all come from one person",
    ),
    "departed": (
        "Antwoorden van mensen die vertrokken of verwijderd zijn",
        "Answers by people who have left or were removed",
    ),
    "chart-demand": ("Vraag en aanbod per thema", "Needs and offers per theme"),
    "chart-formats": ("Voorkeuren voor werkvormen", "Format preferences"),
    "own-needs": ("Onze vragen en wie kan helpen", "Our needs and who can help"),
    "own-offers": ("Ons aanbod en wie erom vroeg", "Our offers and who asked"),
    "own-working-groups": ("Werkgroepen waarin wij zitten", "Working groups we are in"),
    "own-reciprocal-pairs": (
        "Organisaties waarmee we elkaar kunnen helpen",
        "Organisations we can help both ways",
    ),
    "own-formats": ("Onze voorkeuren voor werkvormen", "Our format preferences"),
    "people": ("Deelnemers", "People"),
    "per-topic": ("Per onderwerp", "Per topic"),
    "single-department": ("Eén afdeling", "One department"),
    "job-title": ("Functie", "Job title"),
    "name": ("Naam", "Name"),
    "department": ("Afdeling", "Department"),
    "group": ("Groep", "Group"),
    "partner": ("Partner", "Partner"),
    "participation-note": (
        "{organisations:organisatie|organisaties} met {people:actieve deelnemer|actieve "
        "deelnemers} uit {departments:afdeling|afdelingen}; bij {single:gemeente|"
        "gemeenten} neemt maar één afdeling deel.",
        "{organisations:organisation|organisations} with {people:active person|active people} "
        "from {departments:department|departments}; at {single:municipality|municipalities} "
        "only one department takes part.",
    ),
    "formats-note": (
        "{organisations:organisatie gaf|organisaties gaven} een voorkeur op.",
        "{organisations:organisation|organisations} stated a preference.",
    ),
    "single-author-note": (
        "Organisaties met twee of meer aanbiedingen die allemaal van dezelfde persoon komen.",
        "Organisations with two or more offers that all come from the same person.",
    ),
    "departed-note": (
        "Deze antwoorden blijven van de organisatie; zoek een nieuwe contactpersoon.",
        "These answers stay with the organisation; find a new contact person.",
    ),
    "no-helpers": ("nog niemand", "nobody yet"),
    "nobody-asked": ("nog niemand", "nobody yet"),
    "better-offers-asked": (
        "niet voorgesteld: wie erom vraagt, heeft betere aanbiedingen",
        "not suggested: the needs it suits have better offers",
    ),
    # explanations
    "single-department-note": (
        "⚑ = van deze gemeente neemt maar één afdeling deel; de warmtetransitie vraagt meer "
        "afdelingen.",
        "⚑ = only one department of this municipality takes part; the heat transition needs "
        "more of them.",
    ),
    "counting-note": (
        "Een vraag of aanbod telt mee bij elk onderwerp waarmee het getagd is, en één keer per "
        "thema.",
        "A need or offer counts for every topic it is tagged with, and once per theme.",
    ),
    "gaps-note": (
        "Vragen waarvan de beste suggestie onder {threshold} scoort. Een vraag met meer "
        "onderwerpen staat bij elk ervan; de samenvatting telt haar één keer.",
        "Needs whose best suggestion scores below {threshold}. A need with several topics is "
        "listed under each of them; the summary counts it once.",
    ),
    "suggestions-note": (
        "Per vraag de beste {per_need} ({shown} van {total:suggestie|suggesties}); de volledige "
        "tabel staat in de CSV- en Excel-versie.",
        "The best {per_need} per need ({shown} of {total:suggestion|suggestions}); the full table "
        "is in the CSV and Excel versions.",
    ),
    "allocation-note": (
        "{assigned} van {candidates:vraag|vragen} met kandidaten toegewezen; totale score {score}.",
        "{assigned} of {candidates:need|needs} with candidates assigned; total score {score}.",
    ),
    "uncovered-note": (
        "Zonder helper door capaciteitsgebrek: {organisations}.",
        "Left without a helper for lack of capacity: {organisations}.",
    ),
    "single-person-note": (
        "Geen andere actieve collega van dezelfde organisatie biedt een van de onderwerpen aan.",
        "No other active colleague of the same organisation offers any of its topics.",
    ),
    "none": ("Geen.", "None."),
    "none-close": ("geen", "none"),
    "no-topic": ("Zonder onderwerp", "No topic"),
    "untagged": (
        "Zonder onderwerp: {needs:vraag|vragen}, {offers:aanbieding|aanbiedingen}.",
        "Without topic: {needs:need|needs}, {offers:offer|offers}.",
    ),
    # column headings
    "organisation": ("Organisatie", "Organisation"),
    "organisations": ("Organisaties", "Organisations"),
    "kind": ("Soort", "Kind"),
    "people-count": ("Mensen", "People"),
    "departments": ("Afdelingen", "Departments"),
    "needs": ("Vragen", "Needs"),
    "offers": ("Aanbod", "Offers"),
    "formats": ("Werkvormen", "Formats"),
    "theme": ("Thema", "Theme"),
    "topic": ("Onderwerp", "Topic"),
    "topics": ("Onderwerpen", "Topics"),
    "need": ("Vraag", "Need"),
    "offer": ("Aanbod", "Offer"),
    "need-organisation": ("Vragende organisatie", "Asking organisation"),
    "offer-organisation": ("Aanbiedende organisatie", "Offering organisation"),
    "score": ("Score", "Score"),
    "best-score": ("Beste score", "Best score"),
    "closest-offer": ("Dichtstbijzijnde aanbod", "Closest offer"),
    "closest-need": ("Dichtstbijzijnde vraag", "Closest need"),
    "reasons": ("Redenen", "Reasons"),
    "status": ("Status", "Status"),
    "allocated": ("Toegewezen", "Allocated"),
    "reason-topic": ("onderwerp {topics}", "topic {topics}"),
    "reason-topics": ("onderwerpen {topics}", "topics {topics}"),
    "reason-text": ("beide noemen {terms}", "both mention {terms}"),
    "reason-wording": ("vergelijkbare bewoording", "similar wording"),
    "reason-topic-wording": (
        "verwante termen van een gedeeld onderwerp",
        "related terms of a shared topic",
    ),
    "reason-semantic": ("verwant in betekenis", "close in meaning"),
    "reason-region": ("beide in regio {region}", "both in region {region}"),
    "reason-reciprocity": (
        "{helper} kan {helped} ook helpen",
        "{helper} can help {helped} in return",
    ),
    "priority": ("Prioriteit", "Priority"),
    "hosts": ("Gastheren", "Hosts"),
    "format": ("Werkvorm", "Format"),
    "notes": ("Toelichting", "Notes"),
    "person": ("Persoon", "Person"),
    "person-status": ("Status persoon", "Person status"),
    "answer": ("Antwoord", "Answer"),
    "answer-kind": ("Soort antwoord", "Answer kind"),
    "capacity": ("Capaciteit", "Capacity"),
    "helpers": ("Wie kan helpen", "Who can help"),
    "asked-by": ("Wie vroeg erom", "Who asked"),
    "gap": ("lacune", "gap"),
    "yes": ("ja", "yes"),
    "no": ("nee", "no"),
    "suggestion-id": ("Suggestie", "Suggestion"),
    "need-id": ("Vraag-id", "Need id"),
    "offer-id": ("Aanbod-id", "Offer id"),
    "first": ("Organisatie A", "Organisation A"),
    "second": ("Organisatie B", "Organisation B"),
    "count": ("Aantal", "Count"),
    "item": ("Onderdeel", "Item"),
    "suggestions-count": ("Suggesties", "Suggestions"),
    "declined-count": ("Afgewezen suggesties", "Declined suggestions"),
    "working-groups-count": ("Werkgroepen", "Working groups"),
    "gaps-count": ("Lacunes", "Gaps"),
    "reciprocal-count": ("Wederkerige koppels", "Reciprocal pairs"),
    "format-preferences-count": ("Voorkeuren voor werkvormen", "Format preferences"),
    "left": ("vertrokken", "left"),
    "erased": ("verwijderd", "removed"),
    "active": ("actief", "active"),
    "need-kind": ("vraag", "need"),
    "offer-kind": ("aanbod", "offer"),
    "formatPreference-kind": ("werkvorm", "format preference"),
}

# short names for spreadsheet tabs (at most 31 characters, no : / ? * [ ])
_SHEETS: dict[str, tuple[str, str]] = {
    "summary": ("Samenvatting", "Summary"),
    "participation": ("1 Deelname", "1 Participation"),
    "demand-supply": ("2 Vraag en aanbod", "2 Demand and supply"),
    "gaps": ("3 Lacunes", "3 Gaps"),
    "working-groups": ("4 Werkgroepen", "4 Working groups"),
    "peer-help": ("5 Collegiale hulp", "5 Peer help"),
    "format-preferences": ("6 Werkvormen", "6 Formats"),
    "knowledge-retention": ("7 Kennisborging", "7 Knowledge retention"),
}

_VALUES: dict[str, tuple[str, str]] = {
    # formats
    "learning-circle": ("Leerkring", "Learning circle"),
    "knowledge-session": ("Kennissessie", "Knowledge session"),
    "site-visit": ("Werkbezoek", "Site visit"),
    "peer-review": ("Intervisie", "Peer review"),
    "one-to-one": ("Eén-op-één", "One-to-one"),
    "online-community": ("Online community", "Online community"),
    "regional-meeting": ("Regiobijeenkomst", "Regional meeting"),
    "serious-game": ("Serious game", "Serious game"),
    # suggestion statuses
    "proposed": ("voorgesteld", "proposed"),
    "introduced": ("voorgesteld aan elkaar", "introduced"),
    "accepted": ("geaccepteerd", "accepted"),
    "declined": ("afgewezen", "declined"),
    "completed": ("afgerond", "completed"),
    # priorities
    "low": ("laag", "low"),
    "normal": ("normaal", "normal"),
    "high": ("hoog", "high"),
    # organisation kinds
    "municipality": ("gemeente", "municipality"),
    "province": ("provincie", "province"),
    "agency": ("uitvoeringsorganisatie", "agency"),
    "regional-body": ("regionaal samenwerkingsverband", "regional body"),
    "other": ("overig", "other"),
}


class _Counting(string.Formatter):
    """str.format, where ``{count:one|more}`` writes the count and the word that goes with it:
    "1 organisatie", "2 organisaties" (the word may be several: "organisatie gaf")."""

    def format_field(self, value: object, format_spec: str) -> str:
        if "|" in format_spec:
            one, more = format_spec.split("|", 1)
            return f"{value} {one if value == 1 else more}"
        return str(super().format_field(value, format_spec))


_COUNTING = _Counting()


def text(key: str, lang: Lang, **values: object) -> str:
    """The report text ``key`` in ``lang``, with ``values`` filled in (see _Counting)."""
    nl, en = _TEXT[key]
    template = nl if lang == "nl" else en
    return _COUNTING.format(template, **values) if values else template


def sheet_name(section: str, lang: Lang) -> str:
    """The spreadsheet tab of a section; the section key where there is no short name."""
    pair = _SHEETS.get(section)
    if pair is None:
        return section[:31]
    return pair[0] if lang == "nl" else pair[1]


def value_label(value: str, lang: Lang) -> str:
    """A vocabulary value (format, status, priority, organisation kind) for people to read."""
    pair = _VALUES.get(value)
    if pair is None:
        return value
    return pair[0] if lang == "nl" else pair[1]


@lru_cache
def _labels() -> dict[str, dict[str, str]]:
    data = taxonomy()
    labels = {theme.slug: theme.label for theme in data.themes}
    labels.update({topic.slug: topic.label for topic in data.topics})
    return labels


def topic_label(slug: str, lang: Lang) -> str:
    """The taxonomy label of a topic or theme in ``lang``; the slug if it is unknown."""
    return _labels().get(slug, {}).get(lang, slug)


def topic_labels(slugs: list[str], lang: Lang) -> str:
    """Topic labels in a list; a semicolon between them, as labels hold commas themselves
    ("Aanbesteding, staatssteun en contracten")."""
    return "; ".join(topic_label(slug, lang) for slug in slugs)
