"""Scoring formulas: small functions, each stating its formula, plus the documented weights.

A suggestion's score is::

    score = Σ contribution(f)      over factors f in (topic, text, region, reciprocity)
    contribution(f) = round4(weight(f) · component(f))

with every component in [0, 1] and the weights summing to 1, so the score lies in [0, 1] and
the reasons shown to people add up to exactly the score shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCORE_DECIMALS = 4
"""Contributions and scores are rounded to this many decimals."""

GAP_THRESHOLD = 0.25
"""A need whose best suggestion scores below this is a gap; an offer no need reaches is unmet.

Suggestions below it are not shown by default and are never allocated."""

TEXT_FLOOR = 0.0
"""Cosine similarity of character n-grams that unrelated texts already reach; mapped to 0."""

RECIPROCITY_THRESHOLD = 0.25
"""Content score (topic + text contributions) from which one organisation "can help" another."""


@dataclass(frozen=True, slots=True)
class Weights:
    """Weight of each factor in a suggestion's score; they must sum to 1."""

    topic: float
    text: float
    region: float
    reciprocity: float

    def __post_init__(self) -> None:
        parts = (self.topic, self.text, self.region, self.reciprocity)
        if any(part < 0 for part in parts) or not math.isclose(sum(parts), 1.0):
            raise ValueError(f"weights must be non-negative and sum to 1, got {parts}")


DEFAULT_WEIGHTS = Weights(topic=0.10, text=0.80, region=0.05, reciprocity=0.05)
"""Chosen on the dev split of the labelled set only (``python -m tests.matching.evaluation``).

On dev, a heavier topic factor (0.4) lost precision@1 (0.57 vs 0.60): the shipped taxonomy's
broad synonym lists tag many texts with the same topics, so topic overlap separates offers less
well than character n-grams do. Text alone scored 0.61; a little topic, region and reciprocity
weight is kept so those reasons still show and break near-ties. The labelled set has no
regions, so the region weight is a judgement call, not a tuned value."""


def round_score(value: float) -> float:
    """round(value, 4), the one rounding used for contributions and scores."""
    return round(value, SCORE_DECIMALS)


def clamp_unit(value: float) -> float:
    """min(1, max(0, value))."""
    return min(1.0, max(0.0, value))


def topic_overlap(need_topics: frozenset[str], offer_topics: frozenset[str]) -> float:
    """Ochiai coefficient: |N ∩ O| / √(|N| · |O|), and 0 when either side has no topics.

    Symmetric and in [0, 1]; unlike |N ∩ O| / |N| it does not reward an offer for claiming
    every topic of the taxonomy.
    """
    if not need_topics or not offer_topics:
        return 0.0
    shared = len(need_topics & offer_topics)
    return shared / math.sqrt(len(need_topics) * len(offer_topics))


def text_component(cosine: float, floor: float = TEXT_FLOOR) -> float:
    """clamp((cosine − floor) / (1 − floor)): the text similarity above what noise reaches."""
    if floor >= 1.0:
        return 0.0
    return clamp_unit((cosine - floor) / (1.0 - floor))


def region_match(need_region: str | None, offer_region: str | None) -> float:
    """1 when both regions are known and equal (ignoring case and outer spaces), else 0."""
    if not need_region or not offer_region:
        return 0.0
    return 1.0 if need_region.strip().casefold() == offer_region.strip().casefold() else 0.0


def reciprocity(helps_back: bool) -> float:
    """1 when the need's organisation can help the offer's organisation in return, else 0."""
    return 1.0 if helps_back else 0.0


def contribution(weight: float, component: float) -> float:
    """round4(weight · component)."""
    return round_score(weight * component)


def total(contributions: list[float]) -> float:
    """round4(Σ contributions): the score, equal to the sum of what the reasons show."""
    return round_score(sum(contributions))


def to_units(score: float) -> int:
    """The score in integer units of 10⁻⁴, exact for rounded scores (used by allocation)."""
    units: int = round(score * 10**SCORE_DECIMALS)
    return units
