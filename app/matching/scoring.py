"""Scoring formulas: small functions, each stating its formula, plus the documented weights.

A suggestion's score is::

    score = Σ contribution(f)      over factors f in (topic, text, semantic, region, reciprocity)
    contribution(f) = round4(weight(f) · component(f))
    component(text) = text_component(cosine, TEXT_FLOOR + hub_floor(offer))
    component(semantic) = semantic_component(embedding cosine, semantic_shift(offer))

with every component in [0, 1] and the weights summing to 1, so the score lies in [0, 1] and
the reasons shown to people add up to exactly the score shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.matching.types import Factor

FloatArray = npt.NDArray[np.float64]

SCORE_DECIMALS = 4
"""Contributions and scores are rounded to this many decimals."""

GAP_THRESHOLD = 0.32
"""A need whose best suggestion scores below this is a gap; an offer no need reaches is unmet.

Suggestions below it are not shown by default and are never allocated. Chosen on the dev split
of the labelled set (``python -m tests.matching.evaluation --tune``) by the documented objective
precision@1 + MRR + ½·gap F1 + ½·coverage, which weighs catching gaps against hiding real help:
0.32 gave gap precision 0.65 and recall 0.58 on dev; 0.26 scored about the same (precision 0.69,
recall 0.47), 0.40 catches more gaps (recall 0.79) but leaves a fifth of answerable needs without
a shown suggestion."""

SEMANTIC_GAP_THRESHOLD = 0.32
"""GAP_THRESHOLD of an index that scores the semantic factor, tuned with it (see
SEMANTIC_WEIGHTS); it came out equal to GAP_THRESHOLD, which is also what the dev tie-break
preferred: one threshold for people to learn whether or not the extra is installed."""

TEXT_FLOOR = 0.0
"""Cosine similarity of character n-grams that unrelated texts already reach; mapped to 0."""

HUB_NEIGHBOURS = 5
"""How many of an offer's most similar needs its hubness averages (see :func:`hub_floor`)."""

HUB_WEIGHT = 1.0
"""Share of an offer's excess hubness that is raised into its text floor (see :func:`hub_floor`).

Chosen on the dev split: precision@1 rose steadily from weight 0 (0.69) to 0.75–1.5 (0.72–0.75)
for 3 to 10 neighbours and fell from 2.0 on; 5 and 1.0 sit inside that plateau."""

HUB_MIN_NEEDS = 20
"""Hubness is only estimated in an index with at least this many needs; below it (a handful of
needs), an offer's nearest needs are simply its matches, and every floor is 0."""

SEMANTIC_LOW = 0.05
"""Cosine of centred embeddings (see ``MatchIndex._centred``) that maps to 0.

Raw multilingual-e5 cosines of any two Dutch sentences lie in about 0.70–0.95, so they cannot
tell a gap from a match; after each side's mean embedding is taken off, unrelated answers score
around 0 and close ones 0.3–0.7. Chosen on the dev split (see SEMANTIC_WEIGHTS)."""

SEMANTIC_HIGH = 0.60
"""Cosine of centred embeddings that maps to 1 (close paraphrases)."""

SEMANTIC_HUB_NEIGHBOURS = 5
"""How many of an offer's closest needs its semantic hubness averages."""

SEMANTIC_HUB_WEIGHT = 0.0
"""Share of an offer's semantic hubness above (or below) the median that shifts its cosine.

Centred, unlike :func:`hub_floor`: an offer that is close to few needs gains a little, a generic
one loses. Off: with the need adapter (:data:`~app.matching.embedding.NEED_ADAPTER`) needs are
moved towards the offers that answer them, and an offer many needs come close to is as often a
sought-after one as a generic one. Cross-validated on the 404 tunable labelled needs with the
adapter, 0 beat 1 in every setting of the grid (precision@1 0.77–0.80 against 0.61–0.69);
check needs 0.82 against 0.79 with 1. (It was 1 when chosen on the 102 dev needs without an
adapter, where 1 won throughout.)"""

RECIPROCITY_THRESHOLD = 0.25
"""Content score from which one organisation "can help" another (PairScorer.fit_reciprocity): the
unrounded w_topic · topic + w_text · text, plus w_semantic · semantic in an index that scores the
semantic factor."""


@dataclass(frozen=True, slots=True)
class Weights:
    """Weight of each factor in a suggestion's score; they must sum to 1."""

    topic: float
    text: float
    region: float
    reciprocity: float
    semantic: float = 0.0

    def __post_init__(self) -> None:
        parts = (self.topic, self.text, self.region, self.reciprocity, self.semantic)
        if any(part < 0 for part in parts) or not math.isclose(sum(parts), 1.0):
            raise ValueError(f"weights must be non-negative and sum to 1, got {parts}")
        # Each contribution is rounded to SCORE_DECIMALS on its own: with finer weights
        # several could round up together, and a score exceed 1.
        if any(round(part, SCORE_DECIMALS) != part for part in parts):
            raise ValueError(f"weights must have at most {SCORE_DECIMALS} decimals, got {parts}")


DEFAULT_WEIGHTS = Weights(topic=0.10, text=0.80, region=0.05, reciprocity=0.05)
"""Kept a little topic, region and reciprocity weight so those reasons still show.

Measured on the dev split of the labelled set only (``python -m tests.matching.evaluation
--tune``): with the expanded texts of :mod:`app.matching.documents`, topic overlap of inferred tags
adds little that the text factor does not already carry: a topic weight of 0 scored
precision@1 0.76 and MRR 0.83 against 0.74 and 0.81 with these weights (idf-weighted topic
overlap did not close that gap). The weight is kept because the topic reason is the clearest
explanation a member sees.
The labelled set has no regions, so the region weight is a judgement call, not a tuned value."""


SEMANTIC_WEIGHTS = Weights(topic=0.05, text=0.40, region=0.025, reciprocity=0.025, semantic=0.50)
"""Weights where every need and offer has an embedding: DEFAULT_WEIGHTS halved, and 0.5 for
the semantic factor.

Chosen with SEMANTIC_LOW, SEMANTIC_HIGH, SEMANTIC_HUB_NEIGHBOURS, SEMANTIC_HUB_WEIGHT and
SEMANTIC_GAP_THRESHOLD on the dev split of the labelled set only, by the objective of
``--tune`` (precision@1 + MRR + ½·gap F1 + ½·coverage) over the grid of
``python -m tests.matching.evaluation --tune-semantic``. Three settings tied at the top
(2.687); the tie went to the higher dev precision@1 (0.916 against 0.904) and then to the
single gap threshold. Dev: precision@1 0.92, MRR 0.94, gap precision 0.70 and recall 0.74,
against 0.73, 0.81, 0.65 and 0.58 for DEFAULT_WEIGHTS without embeddings."""


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


def hubness(cosines: list[float], neighbours: int = HUB_NEIGHBOURS) -> float:
    """Mean of the *neighbours* highest cosines of one offer with the needs (0 without needs).

    A "hub" offer is worded so generally that it is close to many needs at once.
    """
    if not cosines or neighbours <= 0:
        return 0.0
    top = sorted(cosines, reverse=True)[:neighbours]
    return sum(top) / len(top)


def hub_floor(offer_hubness: float, typical: float, weight: float = HUB_WEIGHT) -> float:
    """weight · max(0, hubness − typical): an offer's text floor, 0 for all but hub offers.

    *typical* is the median hubness of the community's offers. Used as the ``floor`` of
    :func:`text_component`, it lowers the text similarity of offers that are close to every need
    (the hubness correction of cross-lingual retrieval, Conneau et al. 2018, "CSLS"), so a
    specific offer wins over a general one at the same cosine.
    """
    return weight * max(0.0, offer_hubness - typical)


def semantic_shift(
    offer_hubness: float, typical: float, weight: float = SEMANTIC_HUB_WEIGHT
) -> float:
    """weight · (hubness − typical): how far an offer's embedding cosines are shifted down.

    *offer_hubness* is the mean of the offer's SEMANTIC_HUB_NEIGHBOURS highest embedding cosines
    with needs of other organisations (:func:`hubness`), *typical* the median over the offers.
    Negative for an offer that is closer to few needs than most: the centred CSLS correction.
    """
    return weight * (offer_hubness - typical)


def semantic_component(
    cosine: float, shift: float = 0.0, low: float = SEMANTIC_LOW, high: float = SEMANTIC_HIGH
) -> float:
    """clamp((cosine − shift − low) / (high − low)): embedding closeness above the noise."""
    if high <= low:
        return 0.0
    return clamp_unit((cosine - shift - low) / (high - low))


def region_match(need_region: str | None, offer_region: str | None) -> float:
    """1 when both regions are known and equal (ignoring case and outer spaces), else 0.

    A blank region ("", "  ") is unknown."""
    need_key = (need_region or "").strip().casefold()
    offer_key = (offer_region or "").strip().casefold()
    return 1.0 if need_key and need_key == offer_key else 0.0


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


FACTOR_ORDER: tuple[Factor, ...] = ("topic", "text", "semantic", "region", "reciprocity")
"""The order contributions are added in, by the scalar :func:`total` and by :func:`totals`."""


def round_scores(values: FloatArray) -> FloatArray:
    """round_score of every value, vectorised and bit for bit equal to ``round(value, 4)``.

    rint(v · 10⁴) / 10⁴ is the double nearest to v rounded to 4 decimals, as Python's round
    gives, except where v · 10⁴ lies within rounding error of a half; those few values are
    rounded by Python itself.
    """
    scale = 10.0**SCORE_DECIMALS
    scaled = np.asarray(values, dtype=np.float64) * scale
    result: FloatArray = np.rint(scaled) / scale
    near_half = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    for position in near_half.tolist():
        result[position] = round_score(float(values[position]))
    return result


def contributions(weights: Weights, components: FloatArray) -> FloatArray:
    """contribution(weight(f), component(f)) of many pairs, bit for bit the scalar values.

    *components* has one row per factor of FACTOR_ORDER and one column per pair; so has the
    result."""
    return np.stack(
        [
            round_scores(getattr(weights, factor) * row)
            for factor, row in zip(FACTOR_ORDER, components, strict=True)
        ]
    )


def sums(contributions: FloatArray) -> FloatArray:
    """total(...) of each column of :func:`contributions`: the same additions in the same order
    (FACTOR_ORDER) as the scalar :func:`total` of a suggestion's reasons."""
    score = np.zeros(contributions.shape[1])
    for row in contributions:
        score = score + row
    return round_scores(score)


def totals(weights: Weights, components: FloatArray) -> FloatArray:
    """total([contribution(weight(f), component(f)) for f in FACTOR_ORDER]) of many pairs.

    *components* has one row per factor of FACTOR_ORDER and one column per pair; the result is
    bit for bit what the scalar formulas give (same products, roundings and order of addition).
    """
    return sums(contributions(weights, components))


def semantic_components(shifted: FloatArray) -> FloatArray:
    """Vectorised semantic_component of cosines from which the shift is already taken."""
    low, high = SEMANTIC_LOW, SEMANTIC_HIGH
    result: FloatArray = np.clip((shifted - low) / (high - low), 0.0, 1.0)
    return result


def topic_overlaps(shared: FloatArray, sizes: FloatArray) -> FloatArray:
    """Vectorised topic_overlap from shared counts and |N|·|O|: 0 where a side has none."""
    result: FloatArray = np.divide(
        shared, np.sqrt(sizes), out=np.zeros_like(sizes), where=sizes > 0
    )
    return result


def text_components(cosine: FloatArray, floor: FloatArray) -> FloatArray:
    """Vectorised text_component: clamp((cosine − floor) / (1 − floor)), 0 where floor ≥ 1."""
    safe = np.where(floor >= 1.0, 0.0, floor)
    result: FloatArray = np.where(
        floor >= 1.0, 0.0, np.clip((cosine - safe) / (1.0 - safe), 0.0, 1.0)
    )
    return result


def ochiai_overlaps(
    shared: FloatArray, sizes_a: FloatArray, sizes_b: FloatArray, *, buffer: FloatArray
) -> FloatArray:
    """Vectorised topic_overlap: shared / √(|A|·|B|), 0 where either side has no topics.

    Overwrites and returns *shared* (float64 counts): where a side has no topics it shares
    none, so the 0 is already there. *buffer*, of the same shape, is overwritten too."""
    denominator = np.multiply.outer(sizes_a, sizes_b, out=buffer)
    np.sqrt(denominator, out=denominator)
    result: FloatArray = np.divide(shared, denominator, out=shared, where=denominator > 0)
    return result
