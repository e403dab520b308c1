"""Quality bars on the held-out split of the labelled set (everything was tuned on dev only).

``pytest tests/matching/test_quality.py -s`` prints the comparison table for all systems.
Metric definitions are in :mod:`tests.matching.evaluation` (an offer counts as relevant from
grade 2, "clearly helps"; precision@1 is over answerable needs only).

Two bars: the engine as shipped (with the bundled embedding model, the ``semantic`` extra) and
its fallback on text and topics alone. Without the extra the first test skips, except under
``CI=true`` where it fails: CI installs the extra.
"""

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import yaml

from app.matching.embedding import EMBEDDING_DIMENSIONS, NEED_ADAPTER
from app.matching.scoring import SEMANTIC_GAP_THRESHOLD

from . import evaluation, need_adapter

DEMO_FILE = Path(__file__).resolve().parents[2] / "app" / "data" / "demo.yaml"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# What the engine reached on the 68 held-out needs (55 answerable, 13 gaps) when these were last
# raised, rounded down. With embeddings: P@1 0.818, MRR 0.895, recall@3 0.741, gap precision
# 0.714 (10/14) and recall 0.769 (10/13), coverage 0.889 (dev: P@1 0.928). Text and topics
# alone: P@1 0.582, MRR 0.690, recall@3 0.576. The product target is P@1 ≥ 0.85 and is NOT met
# on held-out; raise these as the engine improves, never lower them to make a change pass.
#
# One bar was lowered, openly: recall@3 0.76 → 0.74, when the need adapter came in (2026-12-07,
# measured once on held-out after it was chosen on the tune, check, validation and demo needs).
# It raised held-out P@1 0.764 → 0.818, MRR 0.851 → 0.895, gap precision 0.625 → 0.714 and
# coverage 0.833 → 0.889, and recall@3 on the check needs 0.712 → 0.737, the validation needs
# 0.491 → 0.590 and the demo 0.886 → 0.901, but held-out recall@3 fell 0.768 → 0.741.
#
# The gap precision and coverage bars allow one need: the model's float32 arithmetic differs in
# the last bits between CPUs, and one answerable held-out need's best score is 0.3228, within
# 0.003 of the threshold (on an AMD EPYC); below it, gap precision is 10/15 and coverage 31/36.
SEMANTIC_BAR = {
    "precision_at_1": 0.81,
    "mrr": 0.89,
    "recall_at_3": 0.74,
    "gap_precision": 0.66,
    "gap_recall": 0.76,
    "coverage": 0.86,
}
LEXICAL_BAR = {"precision_at_1": 0.58, "mrr": 0.69, "recall_at_3": 0.57}

# The validation needs (evaluation.VALIDATION: written apart from the labelled set and the
# taxonomy, most sharing at most one content word with their best offer), rounded down. First
# measured before any change was judged on them: with embeddings P@1 0.579, MRR 0.656, recall@3
# 0.491, gap precision 0.35 and recall 0.93; text and topics alone P@1 0.421, MRR 0.53. With
# the need adapter (never trained on them): P@1 0.618, MRR 0.721, recall@3 0.590. Far below
# held-out: the engine leans on vocabulary written with the dev texts in view.
#
# On the machine of 2026-12-07's second session (an Intel Xeon with AVX-512; the figures above
# came from an AMD EPYC) the same code and labels measured validation MRR 0.718, check P@1 0.772
# (95 of 123: one need fewer) and check coverage 0.932 (41 of 44: one organisation fewer), the
# text-and-topics fallback exactly as before: the embeddings' float32 arithmetic, as for the
# held-out allowance above. Those bars allow that one need now, as the held-out ones do.
VALIDATION_BAR = {"precision_at_1": 0.61, "mrr": 0.71, "recall_at_3": 0.58}
VALIDATION_LEXICAL_BAR = {"precision_at_1": 0.42, "mrr": 0.53}
BASELINES = ("word TF-IDF", "topic-overlap baseline")

# The second set's 148 check needs (evaluation.SECOND: written in the labelled set's post-it
# style by other hands after everything was chosen; 123 answerable, 25 gaps), measured beside the
# dev needs alone as held-out is, with the need adapter (never trained on them), rounded down:
# P@1 0.780, MRR 0.856, recall@3 0.737, coverage 0.955, gap precision 0.60 and recall 0.48.
# Text and topics alone: P@1 0.577, MRR 0.687; word TF-IDF P@1 0.585 (MRR 0.659) and the
# topic-overlap baseline 0.228. (The first 48 of them, before the adapter: P@1 0.744.)
CHECK_BAR = {"precision_at_1": 0.77, "mrr": 0.85, "recall_at_3": 0.73, "coverage": 0.93}
CHECK_LEXICAL_BAR = {"precision_at_1": 0.57, "mrr": 0.68}

# The check needs again, scored as the service scores written answers (evaluation.
# incremental_engine, seed 0): the index of the first 20 needs (or offers) stays in use, and
# every later one is scored on it. Measured (needs arriving / offers arriving): P@1 0.797 /
# 0.789, MRR 0.858 / 0.859, recall@3 0.734 / 0.735, coverage 0.932 / 0.932 (41 of 44), against
# 0.780, 0.856, 0.737 and 0.955 scored all at once; seeds 1 and 2 gave P@1 0.764–0.813. So the
# suggestions that writes keep current are as good as a recompute's. Rounded down; coverage
# allows one organisation (float32 rounding between CPUs, as for held-out).
INCREMENTAL_BAR = {"precision_at_1": 0.78, "mrr": 0.85, "recall_at_3": 0.73, "coverage": 0.90}


def _embedded(labelled: evaluation.LabelledSet) -> evaluation.LabelledSet:
    """*labelled*, embedded; skips without the semantic extra, except in CI."""
    try:
        return evaluation.embedded(labelled)
    except RuntimeError as error:
        if IN_CI:
            pytest.fail(str(error))
        pytest.skip(str(error))


def _compared(
    labelled: evaluation.LabelledSet, splits: tuple[str, ...]
) -> dict[tuple[str, str], evaluation.Metrics]:
    """Every system on *splits* of *labelled* (embedded), with the table printed."""
    found = evaluation.comparison(labelled, evaluation.load_taxonomy(), splits)
    print("\n" + evaluation.table(found))
    return found


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, str], evaluation.Metrics]:
    return _compared(_embedded(evaluation.load()), ("dev", "heldout"))


@pytest.fixture(scope="module")
def validation_results() -> dict[tuple[str, str], evaluation.Metrics]:
    return _compared(_embedded(evaluation.load_validation()), ("dev", "validation"))


@pytest.fixture(scope="module")
def check_needs() -> evaluation.LabelledSet:
    return _embedded(evaluation.load_second("check"))


@pytest.fixture(scope="module")
def second_results(
    check_needs: evaluation.LabelledSet,
) -> dict[tuple[str, str], evaluation.Metrics]:
    return _compared(check_needs, ("check",))


def _reaches(metrics: evaluation.Metrics, bar: dict[str, float]) -> dict[str, float]:
    """The metrics of *bar* that *metrics* falls short of (empty: it reaches the bar)."""
    return {
        name: getattr(metrics, name) for name, low in bar.items() if getattr(metrics, name) < low
    }


def test_engine_reaches_the_bar_on_heldout(
    results: dict[tuple[str, str], evaluation.Metrics],
) -> None:
    engine = results[("engine", "heldout")]
    assert _reaches(engine, SEMANTIC_BAR) == {}
    lexical = results[("engine, lexical only", "heldout")]
    assert engine.precision_at_1 > lexical.precision_at_1
    assert engine.mrr > lexical.mrr


def test_lexical_fallback_reaches_its_bar_on_heldout(
    results: dict[tuple[str, str], evaluation.Metrics],
) -> None:
    engine = results[("engine, lexical only", "heldout")]
    assert _reaches(engine, LEXICAL_BAR) == {}
    for baseline in BASELINES:
        assert engine.precision_at_1 > results[(baseline, "heldout")].precision_at_1
        assert engine.mrr > results[(baseline, "heldout")].mrr


def _demo_answers(kind: str) -> list[tuple[str, str]]:
    """(organisation, text) of every need or offer of the demo community, in file order."""
    demo = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8"))
    return [
        (str(member["organisation"]), item["text"] if isinstance(item, dict) else str(item))
        for member in demo["members"]
        for item in member.get(kind) or []
    ]


def test_the_demo_labels_are_the_demo_answers() -> None:
    """The labels of the demo (evaluation.DEMO) stay in step with app/data/demo.yaml."""
    labels = yaml.safe_load(evaluation.DEMO.read_text(encoding="utf-8"))
    for kind in ("needs", "offers"):
        labelled = [(str(item["organisation"]), item["text"]) for item in labels[kind]]
        assert labelled == _demo_answers(kind)
    _assert_graded(labels["needs"], labels["offers"])


def _assert_graded(needs: list[dict[str, Any]], offers: list[dict[str, Any]]) -> None:
    """Every grade of *needs* is 1 to 3 and names one of *offers* of another organisation."""
    organisation_of = {item["id"]: str(item["organisation"]) for item in offers}
    for need in needs:
        for offer_id, grade in need["relevant"].items():
            assert grade in (1, 2, 3)
            assert organisation_of[offer_id] != str(need["organisation"])  # never its own


def _assert_bars(
    results: dict[tuple[str, str], evaluation.Metrics],
    split: str,
    bar: dict[str, float],
    lexical_bar: dict[str, float],
) -> None:
    """The engine reaches *bar* on *split*, its fallback *lexical_bar*; the engine ranks first
    better than its fallback and each baseline, and the fallback ranks better than each
    baseline by MRR. (On the check needs, word TF-IDF ranks first as often as the fallback.)"""
    engine = results[("engine", split)]
    assert _reaches(engine, bar) == {}
    lexical = results[("engine, lexical only", split)]
    assert _reaches(lexical, lexical_bar) == {}
    assert engine.precision_at_1 > lexical.precision_at_1
    for baseline in BASELINES:
        assert engine.precision_at_1 > results[(baseline, split)].precision_at_1
        assert lexical.mrr > results[(baseline, split)].mrr


def test_engine_reaches_the_bar_on_the_validation_needs(
    validation_results: dict[tuple[str, str], evaluation.Metrics],
) -> None:
    _assert_bars(validation_results, "validation", VALIDATION_BAR, VALIDATION_LEXICAL_BAR)
    lexical = validation_results[("engine, lexical only", "validation")]
    for baseline in BASELINES:
        assert lexical.precision_at_1 > validation_results[(baseline, "validation")].precision_at_1


def test_the_validation_needs_are_graded_against_the_labelled_offers() -> None:
    """Every validation need is in split "validation", has a unique id, and grades (1 to 3)
    only offers of the labelled set that belong to another organisation."""
    labelled = yaml.safe_load(evaluation.DATA.read_text(encoding="utf-8"))
    validation = yaml.safe_load(evaluation.VALIDATION.read_text(encoding="utf-8"))
    ids = [need["id"] for need in validation["needs"]]
    assert len(ids) == len(set(ids)) == 90
    assert not set(ids) & {need["id"] for need in labelled["needs"]}
    assert {need["split"] for need in validation["needs"]} == {"validation"}
    _assert_graded(validation["needs"], labelled["offers"])


def test_engine_reaches_the_bar_on_the_second_sets_check_needs(
    second_results: dict[tuple[str, str], evaluation.Metrics],
) -> None:
    _assert_bars(second_results, "check", CHECK_BAR, CHECK_LEXICAL_BAR)


@pytest.mark.parametrize("side", ["needs", "offers"])
def test_answers_scored_one_at_a_time_reach_the_check_bar(
    check_needs: evaluation.LabelledSet, side: Literal["needs", "offers"]
) -> None:
    """The suggestions users see were mostly stored by writes, each answer scored on an index
    fitted before it came (see evaluation.incremental_engine): they reach the check needs' bar
    as a recompute does, and lose at most 0.03 precision@1 against it."""
    taxonomy = evaluation.load_taxonomy()
    ranking = evaluation.incremental_engine(check_needs, taxonomy, side)
    found = evaluation.evaluate(check_needs, ranking, "check", SEMANTIC_GAP_THRESHOLD)
    assert _reaches(found, INCREMENTAL_BAR) == {}
    at_once = evaluation.evaluate(
        check_needs,
        evaluation.semantic_engine(check_needs, taxonomy),
        "check",
        SEMANTIC_GAP_THRESHOLD,
    )
    assert found.precision_at_1 >= at_once.precision_at_1 - 0.03


def test_the_second_sets_needs_are_graded_against_the_labelled_offers() -> None:
    """650 needs with unique ids of their own, the split fixed by id (every third of sets A to
    C, and sets L and M, in "check"), grades (1 to 3) only of labelled offers of other
    organisations."""
    labelled = yaml.safe_load(evaluation.DATA.read_text(encoding="utf-8"))
    validation = yaml.safe_load(evaluation.VALIDATION.read_text(encoding="utf-8"))
    second = yaml.safe_load(evaluation.SECOND.read_text(encoding="utf-8"))
    ids = [need["id"] for need in second["needs"]]
    assert len(ids) == len(set(ids)) == 650
    earlier = {need["id"] for need in labelled["needs"] + validation["needs"]}
    assert not set(ids) & earlier
    splits = {need["id"]: need["split"] for need in second["needs"]}
    in_check = {
        name
        for name in ids
        if name[:2] in {"wl", "wm"} or (name[:2] in {"wa", "wb", "wc"} and int(name[2:]) % 3 == 0)
    }
    assert splits == {name: "check" if name in in_check else "tune" for name in ids}
    _assert_graded(second["needs"], labelled["offers"])


def test_error_listings_never_show_the_needs_that_are_only_measured() -> None:
    second = evaluation.load_second("check")
    for split in ("heldout", "check"):
        with pytest.raises(ValueError, match=f"the {split} needs must not be read"):
            evaluation.errors(second, evaluation.load_taxonomy(), split)


def test_the_need_adapter_was_trained_on_the_labelled_needs_as_they_are() -> None:
    """The shipped adapter's fingerprint is that of the tunable needs in the files now; when
    they change, retrain it (``python -m tests.matching.need_adapter``)."""
    stored = json.loads(need_adapter.FINGERPRINT.read_text(encoding="utf-8"))
    assert stored == need_adapter.fingerprint()
    assert stored["needs"] == 102 + 302
    adapter = np.load(NEED_ADAPTER)
    assert (adapter.shape, adapter.dtype) == ((EMBEDDING_DIMENSIONS,) * 2, np.float32)


def test_the_adapter_fit_moves_each_need_to_the_offer_that_answers_it() -> None:
    """Two needs that e5 puts nearest the wrong offer; after the fit, each is nearest its own."""
    offers = np.eye(3)
    needs = np.array([[0.8, 0.6, 0.0], [0.0, 0.6, 0.8]])  # nearest offer 0 and offer 2
    adequate = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    allowed = np.array([[True, True, True], [True, True, False]])

    adapter = need_adapter.fit(needs, offers, adequate, allowed)

    mapped = needs @ adapter.T
    assert np.where(allowed, mapped @ offers.T, -np.inf).argmax(axis=1).tolist() == [1, 0]
