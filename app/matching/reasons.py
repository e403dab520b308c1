"""Reasons: why an offer is suggested for a need, one per factor that adds to the score.

Each reason carries its factor, its contribution (the factor's weight times its component,
rounded to 4 decimals) and a detail in words: the topics both answers are tagged with, the words
they share ("both mention *warmtenet*, *businesscase*", :mod:`app.matching.correspondence`), the
region they share, or that the organisations can help each other both ways. The suggestion's
score is the total of its reasons' contributions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from app.matching import parallel, scoring
from app.matching.correspondence import SharedTerms
from app.matching.sides import Prepared
from app.matching.taxonomy import Taxonomy
from app.matching.text import Word
from app.matching.types import Factor, Reason, Suggestion

UNNAMED_WORDS: frozenset[str] = frozenset(
    {"via", "per", "incl", "inclusief", "etc", "etcetera", "bijv", "bijvoorbeeld", "oa", "ivm"}
)
"""Words two answers may share that a text reason does not name: too general to say why they
match. Text similarity still counts them, as it counts every content word."""

NAMED_WORDS = 4
"""How many shared words a text reason names at most, the most specific (longest) first."""


def named_terms(terms: Iterable[str]) -> list[str]:
    """The shared words a text reason names: not UNNAMED_WORDS, and no single letters (what is
    left of dotted abbreviations and initials: "o.a." gives *o* and *a*); at most NAMED_WORDS, in
    the given order."""
    return [term for term in terms if len(term) > 1 and term not in UNNAMED_WORDS][:NAMED_WORDS]


class Explainer:
    """Suggestions with their reasons, for the pairs of one index's answers."""

    def __init__(self, taxonomy: Taxonomy, texts: Callable[[], Iterable[tuple[Word, ...]]]) -> None:
        """*texts* gives the analysed words of every answer of the index, for the table of
        the words they share (built on first use)."""
        self._taxonomy = taxonomy
        self._texts = texts
        # Reasons other than the text factor's, shared between suggestions (see _reason).
        self._reasons: dict[tuple[object, ...], Reason] = {}

    @parallel.computed_once
    def shared_terms(self) -> SharedTerms:
        """text.shared_terms over the index's vocabulary, worked out once (same answers)."""
        return SharedTerms(self._texts())

    def suggestion(
        self, need: Prepared, offer: Prepared, contributions: Sequence[float]
    ) -> Suggestion:
        """The suggestion of one pair with its reasons, from its factors' *contributions* (in
        scoring.FACTOR_ORDER); the score is their total."""
        shared_topics = tuple(sorted(need.topics & offer.topics))
        reasons = tuple(
            self._reason(factor, value, need, offer, shared_topics)
            for factor, value in zip(scoring.FACTOR_ORDER, contributions, strict=True)
            if value > 0
        )
        return Suggestion(
            need_id=need.id,
            offer_id=offer.id,
            need_organisation_id=need.organisation_id,
            offer_organisation_id=offer.organisation_id,
            score=scoring.total([reason.contribution for reason in reasons]),
            reasons=reasons,
            matched_topics=shared_topics,
        )

    def _reason(
        self,
        factor: Factor,
        contribution: float,
        need: Prepared,
        offer: Prepared,
        shared_topics: tuple[str, ...],
    ) -> Reason:
        """Reason(factor, contribution, its detail), one shared instance per distinct reason.

        Apart from the text factor, a reason depends on few things (the shared topics, the
        region, the two organisations), so most suggestions of a community repeat a handful of
        them; reasons are immutable, and sharing them saves building each one again.
        """
        if factor == "text":
            return Reason(factor, contribution, self._detail(factor, need, offer, shared_topics))
        key: tuple[object, ...]
        if factor == "topic":
            key = (factor, contribution, shared_topics)
        elif factor == "region":
            key = (factor, contribution, need.region)
        elif factor == "reciprocity":
            key = (factor, contribution, need.organisation_id, offer.organisation_id)
        else:
            key = (factor, contribution)
        reason = self._reasons.get(key)
        if reason is None:
            reason = Reason(factor, contribution, self._detail(factor, need, offer, shared_topics))
            self._reasons[key] = reason
        return reason

    def _detail(
        self, factor: Factor, need: Prepared, offer: Prepared, shared_topics: tuple[str, ...]
    ) -> str:
        if factor == "topic":
            labels = [self._topic_display(slug) for slug in shared_topics]
            return ("topic " if len(labels) == 1 else "topics ") + ", ".join(labels)
        if factor == "text":
            terms = named_terms(self.shared_terms.between(need.words, offer.words))
            if not terms:
                return "similar wording"
            return "both mention " + ", ".join(f"*{term}*" for term in terms)
        if factor == "semantic":
            return "close in meaning"
        if factor == "region":
            return f"both in region {need.region}"
        return (
            f"organisation {need.organisation_id} can help organisation "
            f"{offer.organisation_id} in return"
        )

    def _topic_display(self, slug: str) -> str:
        topic = self._taxonomy.get(slug)
        return topic.display if topic else slug
