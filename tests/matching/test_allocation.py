import random
from collections import Counter

import pytest

from app.matching import Allocation, Offer, Suggestion, allocate
from app.matching.scoring import to_units

from .factories import offer
from .reference import reference_objective


def suggestion(
    need_id: int, offer_id: int, score: float, *, need_org: int, offer_org: int = 0
) -> Suggestion:
    return Suggestion(need_id, offer_id, need_org, offer_org or 1000 + offer_id, score, (), ())


def objective(allocation: Allocation) -> tuple[int, int]:
    return (
        len(allocation.covered_organisations),
        sum(to_units(s.score) for s in allocation.assignments),
    )


def test_highest_total_score_within_capacity() -> None:
    offers = [offer(1, 100, "", capacity=1), offer(2, 200, "", capacity=1)]
    candidates = [
        suggestion(1, 1, 0.9, need_org=1),
        suggestion(1, 2, 0.8, need_org=1),
        suggestion(2, 1, 0.7, need_org=2),
    ]
    allocation = allocate(candidates, offers)
    # greedy would give need 1 offer 1 (0.9) and leave need 2 without a helper
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(1, 2), (2, 1)]
    assert allocation.total_score == 1.5
    assert allocation.covered_organisations == (1, 2)
    assert allocation.uncovered_organisations == ()


def test_covering_organisations_beats_total_score() -> None:
    offers = [offer(1, 100, "", capacity=2)]
    candidates = [
        suggestion(1, 1, 0.9, need_org=1),
        suggestion(2, 1, 0.9, need_org=1),
        suggestion(3, 1, 0.2, need_org=2),
    ]
    allocation = allocate(candidates, offers)
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(1, 1), (3, 1)]
    assert allocation.covered_organisations == (1, 2)
    assert allocation.total_score == 1.1


@pytest.mark.parametrize("big", [2**33, 2**33 + 1, 2**62])
def test_ids_of_any_size(big: int) -> None:
    """The assigned pairs were looked up by need id × offer id span, which overflowed 64 bits
    from ids of about 3·10⁹: one pair came back twice, or an IndexError."""
    offers = [offer(1, 1000, "", capacity=1), offer(big, 1001, "", capacity=1)]
    candidates = [
        Suggestion(1, big, 2, 1001, 0.9, (), ()),
        Suggestion(big, 1, 3, 1000, 0.8, (), ()),
    ]
    allocation = allocate(candidates, offers)
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(1, big), (big, 1)]
    assert allocation.covered_organisations == (2, 3)
    assert allocation.total_score == 1.7


def test_capacity_is_respected_and_each_need_served_once() -> None:
    offers = [offer(1, 100, "", capacity=2), offer(2, 200, "", capacity=0)]
    candidates = [suggestion(n, o, 0.5, need_org=n) for n in range(1, 6) for o in (1, 2)]
    allocation = allocate(candidates, offers)
    assert len(allocation.assignments) == 2
    assert {s.offer_id for s in allocation.assignments} == {1}
    assert len(allocation.covered_organisations) == 2
    assert len(allocation.uncovered_organisations) == 3


def test_an_organisation_whose_candidates_cannot_take_anyone_is_uncovered() -> None:
    """Its only candidates are offers of capacity 0, or missing from *offers*: it has a
    suggestion and no helper, so it is uncovered (not left out of both lists)."""
    offers = [offer(1, 100, "", capacity=0), offer(2, 200, "", capacity=1)]
    candidates = [
        suggestion(1, 1, 0.9, need_org=1),
        suggestion(2, 2, 0.8, need_org=2),
        suggestion(3, 3, 0.7, need_org=3),  # offer 3 is not among the offers
    ]
    allocation = allocate(candidates, offers)
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(2, 2)]
    assert (allocation.covered_organisations, allocation.uncovered_organisations) == ((2,), (1, 3))
    nothing = allocate(candidates[:1], offers)
    assert (nothing.assignments, nothing.uncovered_organisations) == ((), (1,))


def test_ignores_zero_scores_unknown_offers_and_keeps_best_duplicate() -> None:
    offers = [offer(1, 100, "", capacity=1)]
    candidates = [
        suggestion(1, 1, 0.0, need_org=1),
        suggestion(2, 9, 0.9, need_org=2),
        suggestion(3, 1, 0.3, need_org=3),
        suggestion(3, 1, 0.4, need_org=3),
    ]
    allocation = allocate(candidates, offers)
    assert [(s.need_id, s.score) for s in allocation.assignments] == [(3, 0.4)]
    assert allocate([], offers) == Allocation((), (), (), 0.0)


def random_instance(rng: random.Random) -> tuple[list[Suggestion], list[Offer]]:
    organisations = rng.randint(1, 6)
    needs = [(n, rng.randint(1, organisations)) for n in range(1, rng.randint(2, 16))]
    offers = [
        offer(o, 100 + o, "", capacity=rng.randint(0, 3)) for o in range(1, rng.randint(2, 9))
    ]
    candidates = [
        suggestion(n, o.id, rng.randint(1, 10_000) / 10_000, need_org=org)
        for n, org in needs
        for o in offers
        if rng.random() < 0.4
    ]
    return candidates, offers


@pytest.mark.parametrize("seed", range(40))
def test_matches_networkx_max_flow_min_cost(seed: int) -> None:
    rng = random.Random(seed)
    candidates, offers = random_instance(rng)
    allocation = allocate(candidates, offers)
    assert objective(allocation) == reference_objective(candidates, offers)
    used = Counter(s.offer_id for s in allocation.assignments)
    capacity = {o.id: o.capacity for o in offers}
    assert all(used[o] <= capacity[o] for o in used)
    assert len({s.need_id for s in allocation.assignments}) == len(allocation.assignments)


def test_deterministic_under_shuffled_input() -> None:
    rng = random.Random(3)
    candidates, offers = random_instance(rng)
    expected = allocate(candidates, offers)
    for _ in range(3):
        rng.shuffle(candidates)
        rng.shuffle(offers)
        assert allocate(candidates, offers) == expected


def test_a_committed_pair_is_kept_and_takes_a_place_of_its_offer() -> None:
    offers = [offer(1, 100, "", capacity=1), offer(2, 200, "", capacity=1)]
    candidates = [
        suggestion(1, 1, 0.9, need_org=1),
        suggestion(1, 2, 0.5, need_org=1),
        suggestion(2, 2, 0.8, need_org=2),
    ]
    # Without the commitment the solver gives need 1 offer 1 and need 2 offer 2.
    assert [(s.need_id, s.offer_id) for s in allocate(candidates, offers).assignments] == [
        (1, 1),
        (2, 2),
    ]
    allocation = allocate(candidates, offers, committed=[candidates[1]])
    # Need 1 keeps offer 2 and gets no other helper; offer 2 is full, so need 2 gets none.
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(1, 2)]
    assert allocation.covered_organisations == (1,)
    assert allocation.uncovered_organisations == (2,)
    assert allocation.total_score == 0.5


def test_an_organisation_covered_by_a_commitment_needs_no_other_helper_for_coverage() -> None:
    offers = [offer(5, 500, "", capacity=1), offer(6, 600, "", capacity=1)]
    committed = suggestion(1, 6, 0.1, need_org=1)
    candidates = [
        committed,
        suggestion(2, 5, 0.9, need_org=1),
        suggestion(3, 5, 0.2, need_org=2),
    ]
    allocation = allocate(candidates, offers, committed=[committed])
    # Organisation 1 is covered by its commitment: offer 5 goes to organisation 2's need.
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(1, 6), (3, 5)]
    assert allocation.covered_organisations == (1, 2)
    assert allocation.total_score == 0.3


def test_commitments_beyond_an_offers_capacity_are_all_kept() -> None:
    offers = [offer(1, 100, "", capacity=1)]
    committed = [suggestion(1, 1, 0.4, need_org=1), suggestion(2, 1, 0.3, need_org=2)]
    candidates = [*committed, suggestion(3, 1, 0.9, need_org=3)]
    allocation = allocate(candidates, offers, committed=committed)
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(1, 1), (2, 1)]
    assert allocation.uncovered_organisations == (3,)


def test_a_need_with_two_commitments_counts_once_among_needs_assigned() -> None:
    offers = [offer(1, 100, "", capacity=2), offer(2, 200, "", capacity=2)]
    committed = [suggestion(1, 1, 0.4, need_org=1), suggestion(1, 2, 0.3, need_org=1)]
    candidates = [*committed, suggestion(2, 1, 0.5, need_org=3)]
    allocation = allocate(candidates, offers, committed=committed)
    assert [(s.need_id, s.offer_id) for s in allocation.assignments] == [(1, 1), (1, 2), (2, 1)]
    assert allocation.needs_assigned == 2


def brute_force_objective(
    candidates: list[Suggestion], offers: list[Offer], committed: list[Suggestion]
) -> tuple[int, int]:
    """The best (organisations covered, total units) over every assignment that keeps the
    committed pairs, by enumeration (small instances only)."""
    capacity = Counter({o.id: o.capacity for o in offers})
    capacity.subtract(Counter(s.offer_id for s in committed))
    fixed = {s.need_id for s in committed}
    by_need: dict[int, list[Suggestion]] = {}
    for s in candidates:
        if s.need_id not in fixed and s.score > 0:
            by_need.setdefault(s.need_id, []).append(s)
    needs = sorted(by_need)
    best = (0, 0)

    def walk(position: int, chosen: list[Suggestion], used: Counter[int]) -> None:
        nonlocal best
        if position == len(needs):
            picked = [*committed, *chosen]
            value = (
                len({s.need_organisation_id for s in picked}),
                sum(to_units(s.score) for s in picked),
            )
            best = max(best, value)
            return
        walk(position + 1, chosen, used)
        for s in by_need[needs[position]]:
            if used[s.offer_id] < capacity[s.offer_id]:
                used[s.offer_id] += 1
                walk(position + 1, [*chosen, s], used)
                used[s.offer_id] -= 1

    walk(0, [], Counter())
    return best


@pytest.mark.parametrize("seed", range(40))
def test_committed_pairs_against_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    needs = [(n, rng.randint(1, 4)) for n in range(1, rng.randint(2, 8))]
    offers = [offer(o, 100 + o, "", capacity=rng.randint(0, 2)) for o in range(1, 5)]
    candidates = [
        suggestion(n, o.id, rng.randint(1, 10_000) / 10_000, need_org=org)
        for n, org in needs
        for o in offers
        if rng.random() < 0.5
    ]
    committed = [s for s in candidates if rng.random() < 0.15]
    allocation = allocate(candidates, offers, committed=committed)
    assert objective(allocation) == brute_force_objective(candidates, offers, committed)
    assert set(committed) <= set(allocation.assignments)
    fixed = {s.need_id for s in committed}
    others = [s for s in allocation.assignments if s.need_id not in fixed]
    assert len({s.need_id for s in others}) == len(others)
    used = Counter(s.offer_id for s in others) + Counter(s.offer_id for s in committed)
    assert all(
        used[o.id] <= max(o.capacity, Counter(s.offer_id for s in committed)[o.id]) for o in offers
    )
