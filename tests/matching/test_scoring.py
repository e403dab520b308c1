import numpy as np
import pytest

from app.matching import DEFAULT_WEIGHTS, SEMANTIC_WEIGHTS, Weights
from app.matching.scoring import (
    SEMANTIC_HIGH,
    SEMANTIC_LOW,
    clamp_unit,
    contribution,
    hub_floor,
    hubness,
    ochiai_overlaps,
    reciprocity,
    region_match,
    round_score,
    round_scores,
    semantic_component,
    semantic_components,
    semantic_shift,
    text_component,
    text_components,
    to_units,
    topic_overlap,
    topic_overlaps,
    total,
    totals,
)


def test_topic_overlap() -> None:
    a, b, c, d = "a", "b", "c", "d"
    assert topic_overlap(frozenset(), frozenset()) == 0.0
    assert topic_overlap(frozenset({a}), frozenset()) == 0.0
    assert topic_overlap(frozenset(), frozenset({a})) == 0.0
    assert topic_overlap(frozenset({a}), frozenset({b})) == 0.0
    assert topic_overlap(frozenset({a}), frozenset({a})) == 1.0
    assert topic_overlap(frozenset({a, b}), frozenset({a, b})) == 1.0
    assert topic_overlap(frozenset({a}), frozenset({a, b, c, d})) == 0.5
    assert topic_overlap(frozenset({a, b, c, d}), frozenset({a})) == 0.5
    assert topic_overlap(frozenset({a, b}), frozenset({a, c})) == 0.5
    assert topic_overlap(frozenset({a, b}), frozenset({b, c, d, a})) == pytest.approx(2 / 8**0.5)
    assert topic_overlap(frozenset({a, b, c, d}), frozenset({a, b, c, d})) == 1.0


def test_text_component() -> None:
    assert text_component(0.0) == 0.0
    assert text_component(0.5) == 0.5
    assert text_component(1.0) == 1.0
    assert text_component(-0.1) == 0.0
    assert text_component(1.2) == 1.0
    assert text_component(0.1, floor=0.2) == 0.0
    assert text_component(0.2, floor=0.2) == 0.0
    assert text_component(0.625, floor=0.25) == 0.5
    assert text_component(1.0, floor=0.2) == 1.0
    assert text_component(0.9, floor=1.0) == 0.0


def test_hubness() -> None:
    assert hubness([]) == 0.0
    assert hubness([0.4]) == pytest.approx(0.4)
    assert hubness([0.1, 0.5, 0.3], neighbours=2) == pytest.approx(0.4)
    assert hubness([0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) == pytest.approx(0.54)
    assert hubness([0.5, 0.5], neighbours=0) == 0.0


def test_hub_floor() -> None:
    assert hub_floor(0.3, 0.3) == 0.0
    assert hub_floor(0.2, 0.3) == 0.0
    assert hub_floor(0.5, 0.3) == pytest.approx(0.2)
    assert hub_floor(0.5, 0.3, weight=0.5) == pytest.approx(0.1)
    assert hub_floor(0.5, 0.3, weight=0.0) == 0.0


def test_region_match() -> None:
    assert region_match(None, None) == 0.0
    assert region_match("Zuid-Kennemerland", None) == 0.0
    assert region_match(None, "Zuid-Kennemerland") == 0.0
    assert region_match("", "") == 0.0
    assert region_match("  ", " ") == 0.0
    assert region_match("Zuid-Kennemerland", "Zuid-Kennemerland") == 1.0
    assert region_match("zuid-kennemerland ", "Zuid-Kennemerland") == 1.0
    assert region_match("Zuid-Kennemerland", "West-Friesland") == 0.0


def test_reciprocity() -> None:
    assert reciprocity(True) == 1.0
    assert reciprocity(False) == 0.0


def test_round_score_and_clamp() -> None:
    assert round_score(0.0) == 0.0
    assert round_score(0.12344) == 0.1234
    assert round_score(0.12346) == 0.1235
    assert round_score(1.0) == 1.0
    assert clamp_unit(-1.0) == 0.0
    assert clamp_unit(0.25) == 0.25
    assert clamp_unit(3.0) == 1.0


def test_contribution() -> None:
    assert contribution(0.4, 0.0) == 0.0
    assert contribution(0.4, 1.0) == 0.4
    assert contribution(0.4, 0.5) == 0.2
    assert contribution(0.45, 1 / 3) == 0.15
    assert contribution(0.45, 0.123456) == 0.0556
    assert contribution(0.05, 1.0) == 0.05
    assert contribution(0.1, 0.0) == 0.0


def test_total_is_the_rounded_sum() -> None:
    assert total([]) == 0.0
    assert total([0.1, 0.2]) == 0.3
    assert total([0.4, 0.45, 0.05, 0.1]) == 1.0
    assert total([0.1234, 0.0001]) == 0.1235
    assert total([0.3333, 0.3333, 0.3333]) == 0.9999


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, 0.0),
        (0.12344, 0.1234),
        (0.12346, 0.1235),
        (0.00005, 0.0001),  # the double is a little above the half
        (0.00015, 0.0001),  # ... and this one a little below
        (0.30000000000000004, 0.3),
        (0.99995, 1.0),
        (1.0, 1.0),
    ],
)
def test_round_scores_is_round_score_on_every_value(value: float, expected: float) -> None:
    assert round_score(value) == expected
    assert round_scores(np.array([value])).tolist() == [expected]


def test_round_scores_matches_round_to_the_bit_near_halves() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            rng.random(20_000),
            (rng.integers(0, 10_000, 20_000) + 0.5) / 10_000,  # halves, as close as doubles get
            np.nextafter((np.arange(10_000) + 0.5) / 10_000, 1.0),
        ]
    )
    assert round_scores(values).tolist() == [round_score(value) for value in values.tolist()]


@pytest.mark.parametrize(
    "components",
    [
        (0.0, 0.0, 0.0, 0.0, 0.0),
        (1.0, 1.0, 1.0, 1.0, 1.0),
        (0.5, 0.123456, 0.0, 1.0, 0.0),
        (1 / 3, 2 / 3, 0.71234, 0.0, 1.0),
        (0.00049, 0.00051, 0.99999, 1.0, 1.0),
    ],
)
def test_totals_is_the_scalar_total_of_contributions(
    components: tuple[float, float, float, float, float],
) -> None:
    for weights in (DEFAULT_WEIGHTS, SEMANTIC_WEIGHTS):
        factors = ("topic", "text", "semantic", "region", "reciprocity")
        expected = total(
            [
                value
                for factor, component in zip(factors, components, strict=True)
                if (value := contribution(getattr(weights, factor), component)) > 0
            ]
        )
        assert totals(weights, np.array(components)[:, None]).tolist() == [expected]


def test_to_units() -> None:
    assert to_units(0.0) == 0
    assert to_units(0.0001) == 1
    assert to_units(0.3) == 3000
    assert to_units(0.9999) == 9999
    assert to_units(1.0) == 10000


def test_weights_sum_to_one() -> None:
    weights = DEFAULT_WEIGHTS
    assert weights.topic + weights.text + weights.region + weights.reciprocity == pytest.approx(1)
    assert Weights(1.0, 0.0, 0.0, 0.0).topic == 1.0
    with pytest.raises(ValueError, match="sum to 1"):
        Weights(0.5, 0.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        Weights(1.5, -0.5, 0.0, 0.0)
    # Contributions are rounded one by one: 0.00005 and 0.99995 would both round up, to 1.0001.
    with pytest.raises(ValueError, match="at most 4 decimals"):
        Weights(0.00005, 0.99995, 0.0, 0.0)


def test_semantic_shift() -> None:
    assert semantic_shift(0.85, 0.85, weight=1.0) == 0.0
    assert semantic_shift(0.90, 0.85, weight=1.0) == pytest.approx(0.05)
    assert semantic_shift(0.80, 0.85, weight=1.0) == pytest.approx(-0.05)
    assert semantic_shift(0.90, 0.85) == 0.0  # off by default (SEMANTIC_HUB_WEIGHT)
    assert semantic_shift(0.90, 0.85, weight=0.5) == pytest.approx(0.025)
    assert semantic_shift(0.90, 0.85, weight=0.0) == 0.0


def test_semantic_component() -> None:
    assert semantic_component(0.80, low=0.80, high=0.95) == 0.0
    assert semantic_component(0.70, low=0.80, high=0.95) == 0.0
    assert semantic_component(0.875, low=0.80, high=0.95) == pytest.approx(0.5)
    assert semantic_component(0.95, low=0.80, high=0.95) == 1.0
    assert semantic_component(0.99, low=0.80, high=0.95) == 1.0
    assert semantic_component(0.90, 0.025, low=0.80, high=0.95) == pytest.approx(0.5)
    assert semantic_component(0.85, -0.025, low=0.80, high=0.95) == pytest.approx(0.5)
    assert semantic_component(0.90, low=0.95, high=0.95) == 0.0
    assert semantic_component(SEMANTIC_LOW) == 0.0
    assert semantic_component(SEMANTIC_HIGH) == 1.0


def test_semantic_weights() -> None:
    assert SEMANTIC_WEIGHTS.semantic == 0.5
    assert DEFAULT_WEIGHTS.semantic == 0.0
    for factor in ("topic", "text", "region", "reciprocity"):
        assert getattr(SEMANTIC_WEIGHTS, factor) == getattr(DEFAULT_WEIGHTS, factor) / 2
    assert Weights(0.0, 0.5, 0.0, 0.0, semantic=0.5).semantic == 0.5
    with pytest.raises(ValueError, match="sum to 1"):
        Weights(0.1, 0.8, 0.05, 0.05, semantic=0.5)
    with pytest.raises(ValueError, match="non-negative"):
        Weights(0.5, 1.0, 0.0, 0.0, semantic=-0.5)


# The vectorised formulas, each against its scalar one to the bit, on the same table of cases.
TOPIC_CASES = [  # (need topics, offer topics)
    ("", ""),
    ("a", ""),
    ("", "a"),
    ("a", "b"),
    ("a", "a"),
    ("ab", "ab"),
    ("a", "abcd"),
    ("abcd", "a"),
    ("ab", "ac"),
    ("ab", "bcda"),
    ("abc", "bcd"),
]


def test_topic_overlaps_and_ochiai_overlaps_are_topic_overlap() -> None:
    expected = [topic_overlap(frozenset(n), frozenset(o)) for n, o in TOPIC_CASES]
    shared = np.array([len(set(n) & set(o)) for n, o in TOPIC_CASES], dtype=np.float64)
    need_sizes = np.array([len(n) for n, _ in TOPIC_CASES], dtype=np.float64)
    offer_sizes = np.array([len(o) for _, o in TOPIC_CASES], dtype=np.float64)
    assert topic_overlaps(shared, need_sizes * offer_sizes).tolist() == expected
    # ochiai_overlaps: every need against every offer, in place.
    matrix = np.array(
        [[len(set(n) & set(o)) for _, o in TOPIC_CASES] for n, _ in TOPIC_CASES], dtype=np.float64
    )
    found = ochiai_overlaps(matrix, need_sizes, offer_sizes, buffer=np.empty_like(matrix))
    assert found is matrix
    assert found.tolist() == [
        [topic_overlap(frozenset(n), frozenset(o)) for _, o in TOPIC_CASES] for n, _ in TOPIC_CASES
    ]


@pytest.mark.parametrize("floor", [0.0, 0.05, 0.3, 0.999, 1.0, 1.2])
def test_text_components_is_text_component(floor: float) -> None:
    cosines = [-0.1, 0.0, 0.04, 0.05, 0.2, 0.31, 0.5, 0.9999, 1.0]
    found = text_components(np.array(cosines), np.full(len(cosines), floor))
    assert found.tolist() == [text_component(cosine, floor) for cosine in cosines]


def test_semantic_components_is_semantic_component() -> None:
    cosines = [-0.2, 0.0, SEMANTIC_LOW, 0.1, 0.25, SEMANTIC_HIGH, 0.6, 1.0]
    for shift in (0.0, 0.04, -0.03):
        shifted = np.array(cosines) - shift
        assert semantic_components(shifted).tolist() == [
            semantic_component(cosine, shift) for cosine in cosines
        ]
