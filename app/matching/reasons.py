"""Reasons: why an offer is suggested for a need, one per factor that adds to the score.

Each reason carries its factor, its contribution (the factor's weight times its component,
rounded to 4 decimals) and a detail in words: the topics both answers are tagged with, the words
they share ("both mention *warmtenet*, *businesscase*", :mod:`app.matching.correspondence`), the
region they share, or that the organisations can help each other both ways. The suggestion's
score is the total of its reasons' contributions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from app.matching import parallel, scoring, text
from app.matching.correspondence import SharedTerms
from app.matching.sides import Prepared
from app.matching.taxonomy import Taxonomy
from app.matching.text import Word, spelled
from app.matching.types import Factor, Reason, Suggestion

UNNAMED_WORDS: frozenset[str] = text.word_set(
    """
    via per incl inclusief etc etcetera bijv bijvoorbeeld oa ivm mbt tbv tav obv nav mbv evt
    bv dwz zgn icm ipv iom gaan gaat ga moeten moet mogen mag komen komt krijgen krijg maken
    maakt staan staat zien weten houden laten zetten zitten zit net even echt steeds vaak
    nieuw nieuwe jaar jaren eerste tweede get make just new
    """
)
"""Words two answers may share that a text reason does not name: abbreviations and common verbs
and adverbs too general to say why they match ("net" is mostly "just", not a grid). Text
similarity still counts them, as it counts every content word."""

_NOTHING = scoring.total([])
"""The score of a suggestion without reasons (every contribution 0)."""

SIMILAR_WORDING = "similar wording"
"""The text reason of a pair that shares no word a reason names, and no topic: parts of words
are alike."""

TOPIC_WORDING = "related terms of a shared topic"
"""The text reason of a pair that shares no word a reason names but a topic: the texts are
compared with their topics' labels and abbreviations added (:mod:`app.matching.documents`), so
"heat network tariffs" meets "warmtenet aansluiting" through them."""

NAMED_WORDS = 4
"""How many shared words a text reason names at most, the most specific (longest) first."""


def named_terms(terms: Iterable[str]) -> list[str]:
    """The shared words a text reason names: not UNNAMED_WORDS, and no single letters (what is
    left of dotted abbreviations and initials: "o.a." gives *o* and *a*); one form of a word
    ("warmtenetten", not also "warmtenet"); at most NAMED_WORDS, in the given order."""
    named: list[str] = []
    for term in terms:
        if len(term) < 2 or term in UNNAMED_WORDS:
            continue
        # Two forms of one word share its root, so they begin alike: roots are compared only
        # for words that do (a community explains thousands of distinct lists).
        start = term[:2]
        for other in named:
            if other[:2] == start and text.root(other) == text.root(term):
                break
        else:
            named.append(term)
            if len(named) == NAMED_WORDS:
                break
    return named


def pair_suggestion(
    need: Prepared,
    offer: Prepared,
    score: float,
    reasons: tuple[Reason, ...] = (),
    matched_topics: tuple[str, ...] = (),
) -> Suggestion:
    """The suggestion of *offer* for *need* (without reasons: ranked, to be explained later)."""
    # Positional arguments: tens of thousands are made per community, and keywords cost more.
    return Suggestion(
        need.id,
        offer.id,
        need.organisation_id,
        offer.organisation_id,
        score,
        reasons,
        matched_topics,
    )


def _mention(words: Sequence[str]) -> str:
    """The text reason's detail naming *words*."""
    return "both mention " + ", ".join(f"*{word}*" for word in words)


class Explainer:
    """Suggestions with their reasons, for the pairs of one index's answers."""

    def __init__(self, taxonomy: Taxonomy, texts: Callable[[], Iterable[tuple[Word, ...]]]) -> None:
        """*texts* gives the analysed words of every answer of the index, for the table of
        the words they share (built on first use)."""
        self._taxonomy = taxonomy
        self._texts = texts
        # Reasons other than the text factor's by factor, shared between suggestions (see
        # _factor_reasons).
        self._reasons: dict[Factor, dict[tuple[object, ...], Reason]] = {}

    @parallel.computed_once
    def shared_terms(self) -> SharedTerms:
        """text.shared_terms over the index's vocabulary, worked out once (same answers)."""
        return SharedTerms(self._texts(), self._taxonomy.words)

    def suggestion(
        self, need: Prepared, offer: Prepared, contributions: Sequence[float]
    ) -> Suggestion:
        """The suggestion of one pair with its reasons, from its factors' *contributions* (in
        scoring.FACTOR_ORDER); the score is their total."""
        return self.suggestions([(need, offer)], [contributions])[0]

    def suggestions(
        self,
        pairs: Sequence[tuple[Prepared, Prepared]],
        contributions: Sequence[Sequence[float]],
    ) -> list[Suggestion]:
        """:meth:`suggestion` of many (need, offer) *pairs*, a factor at a time: the words the
        pairs share are looked up together (:meth:`SharedTerms.between_pairs`), and the scores
        are added up at once (:func:`scoring.sums`: the scalar total to the bit, as reasons
        leave out only contributions of 0)."""
        shared_topics = [tuple(sorted(need.topics & offer.topics)) for need, offer in pairs]
        columns = list(zip(*contributions, strict=True)) or [()] * len(scoring.FACTOR_ORDER)
        scores = scoring.sums(np.array(columns, dtype=np.float64)).tolist()
        by_factor = [
            self._factor_reasons(factor, values, pairs, shared_topics)
            for factor, values in zip(scoring.FACTOR_ORDER, columns, strict=True)
        ]
        found = []
        for (need, offer), topics, score, factor_reasons in zip(
            pairs, shared_topics, scores, zip(*by_factor, strict=True), strict=True
        ):
            reasons = tuple([reason for reason in factor_reasons if reason is not None])
            # Without reasons the scalar total is total([]), Python's int 0: kept as it was.
            found.append(
                pair_suggestion(need, offer, score if reasons else _NOTHING, reasons, topics)
            )
        return found

    def _factor_reasons(
        self,
        factor: Factor,
        values: Sequence[float],
        pairs: Sequence[tuple[Prepared, Prepared]],
        shared_topics: Sequence[tuple[str, ...]],
    ) -> list[Reason | None]:
        """The reason of one *factor* for each pair, None where its contribution is 0.

        A text reason names the words of its own pair. Any other depends on few things (the
        shared topics, the region, the two organisations), so most suggestions of a community
        repeat a handful of them; reasons are immutable, and one instance per distinct reason
        saves building each one again.
        """
        if factor == "text":
            details = iter(
                self._text_details(
                    [pair for pair, value in zip(pairs, values, strict=True) if value > 0]
                )
            )
            return [Reason(factor, value, next(details)) if value > 0 else None for value in values]
        keys: Iterable[tuple[object, ...]]
        if factor == "topic":
            keys = zip(values, shared_topics, strict=True)
        elif factor == "region":
            keys = ((value, need.region) for value, (need, _) in zip(values, pairs, strict=True))
        elif factor == "reciprocity":
            keys = (
                (value, need.organisation_id, offer.organisation_id)
                for value, (need, offer) in zip(values, pairs, strict=True)
            )
        else:
            keys = ((value,) for value in values)
        known = self._reasons.setdefault(factor, {})
        reasons: list[Reason | None] = []
        for value, key, (need, offer), topics in zip(
            values, keys, pairs, shared_topics, strict=True
        ):
            if value <= 0:
                reasons.append(None)
                continue
            reason = known.get(key)
            if reason is None:
                reason = known[key] = Reason(
                    factor, value, self._detail(factor, need, offer, topics)
                )
            reasons.append(reason)
        return reasons

    def _text_details(self, pairs: Sequence[tuple[Prepared, Prepared]]) -> list[str]:
        """The text reason's detail of each (need, offer): the words both mention, written as
        the need or the offer writes them (capitals, accents: :func:`text.spelled`); where none
        is named, TOPIC_WORDING or SIMILAR_WORDING."""
        shared = self.shared_terms.between_pairs(
            [need.words for need, _ in pairs], [offer.words for _, offer in pairs]
        )
        # Pairs often share the same words: each distinct list is chosen and worded once, and
        # again only for the pairs whose need or offer writes one of them otherwise (TVW).
        chosen: dict[tuple[str, ...], tuple[list[str], frozenset[str], str]] = {}
        spellings: dict[tuple[str, str | None, str | None], str] = {}
        details: dict[tuple[str, ...], str] = {}
        found = []
        for (need, offer), terms in zip(pairs, shared, strict=True):
            entry = chosen.get(terms)
            if entry is None:
                named = named_terms(terms)
                entry = chosen[terms] = (named, frozenset(named), _mention(named) if named else "")
            named, shared_words, detail = entry
            if not detail:
                found.append(TOPIC_WORDING if need.topics & offer.topics else SIMILAR_WORDING)
                continue
            need_spellings, offer_spellings = need.spellings, offer.spellings
            if (need_spellings or offer_spellings) and not (
                shared_words.isdisjoint(need_spellings) and shared_words.isdisjoint(offer_spellings)
            ):
                written = []
                for term in named:
                    # A word written the same ways is spelt the same: once per call.
                    key = (term, need_spellings.get(term), offer_spellings.get(term))
                    spelling = spellings.get(key)
                    if spelling is None:
                        spelling = spellings[key] = spelled(
                            term, need_spellings, offer_spellings, words=self._taxonomy.words
                        )
                    written.append(spelling)
                worded = tuple(written)
                detail = details.get(worded) or details.setdefault(worded, _mention(written))
            found.append(detail)
        return found

    def _detail(
        self, factor: Factor, need: Prepared, offer: Prepared, shared_topics: tuple[str, ...]
    ) -> str:
        if factor == "topic":
            labels = [self._topic_display(slug) for slug in shared_topics]
            # A semicolon between labels, which hold commas themselves.
            return ("topic " if len(labels) == 1 else "topics ") + "; ".join(labels)
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
