"""A suggestion's reasons as a report shows them: in the report's language, as plain text.

The engine writes each reason's ``detail`` once, in English, for the API ("topic Aquathermie
(TEO)", "both mention *vve*, *wup*", "close in meaning", "both in region IJmond", "organisation
3 can help organisation 7 in return"; see ``app.matching.reasons``). A report rebuilds each
reason from its factor and the suggestion's own data (its shared topics, the organisations'
names) and takes from the detail only what it cannot know otherwise: the words both texts use
and the region.
"""

from __future__ import annotations

import re

from app.matching.reasons import TOPIC_WORDING
from app.reports import schemas as r
from app.reports.i18n import Lang, text, topic_labels
from app.schemas import ReasonRead

_TERM = re.compile(r"\*([^*]+)\*")
_REGION = "both in region "


def reasons_text(suggestion: r.SuggestionRow, lang: Lang) -> str:
    """Every reason of *suggestion*, in *lang*, joined by semicolons."""
    return "; ".join(reason_text(reason, suggestion, lang) for reason in suggestion.reasons)


def reason_text(reason: ReasonRead, suggestion: r.SuggestionRow, lang: Lang) -> str:
    """One reason in *lang*; a factor the report does not know keeps the engine's detail."""
    if reason.factor == "topic":
        key = "reason-topic" if len(suggestion.topics) == 1 else "reason-topics"
        return text(key, lang, topics=topic_labels(suggestion.topics, lang))
    if reason.factor == "text":
        terms = _TERM.findall(reason.detail)
        if not terms:
            topical = reason.detail == TOPIC_WORDING
            return text("reason-topic-wording" if topical else "reason-wording", lang)
        return text("reason-text", lang, terms=", ".join(terms))
    if reason.factor == "semantic":
        return text("reason-semantic", lang)
    if reason.factor == "region" and reason.detail.startswith(_REGION):
        return text("reason-region", lang, region=reason.detail.removeprefix(_REGION))
    if reason.factor == "reciprocity":
        return text(
            "reason-reciprocity",
            lang,
            helper=suggestion.need_organisation.name,
            helped=suggestion.offer_organisation.name,
        )
    return reason.detail
