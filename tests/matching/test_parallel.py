"""The engine's parallel blocks: same results on one worker as on several, in order."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from app.matching import MatchIndex, parallel, vectors
from app.matching import index as index_module
from app.matching.community import community_report
from app.matching.shortlist import exact_cosines, shortlist

from . import synthetic


def test_ordered_map_keeps_the_order_of_the_items() -> None:
    assert parallel.ordered_map(lambda value: value * value, range(10), workers=3) == [
        value * value for value in range(10)
    ]


def test_ordered_imap_runs_the_blocks_in_other_threads() -> None:
    names = set(
        parallel.ordered_imap(lambda _: threading.current_thread().name, range(6), workers=2)
    )
    assert threading.current_thread().name not in names


def test_one_worker_runs_the_blocks_in_this_thread() -> None:
    names = parallel.ordered_map(lambda _: threading.current_thread().name, range(3), workers=1)
    assert names == [threading.current_thread().name] * 3


def test_ordered_imap_holds_at_most_workers_plus_one_blocks_in_flight() -> None:
    started: list[int] = []
    consumed = []
    for value in parallel.ordered_imap(
        lambda item: started.append(item) or item, range(8), workers=2
    ):
        consumed.append(value)
        assert len(started) <= len(consumed) + 2
    assert consumed == list(range(8))


def test_an_error_in_a_block_reaches_the_caller() -> None:
    def fail(item: int) -> int:
        if item == 3:
            raise ValueError("block 3")
        return item

    with pytest.raises(ValueError, match="block 3"):
        parallel.ordered_map(fail, range(6), workers=2)


@pytest.mark.parametrize("workers", [1, 2])
def test_in_background_gives_the_result_or_the_error(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(parallel, "WORKERS", workers)
    with parallel.in_background(lambda: 6 * 7) as answer:
        pass
    assert answer.result() == 42
    with parallel.in_background(lambda: 1 // 0) as failed:
        pass
    with pytest.raises(ZeroDivisionError):
        failed.result()


def test_blas_runs_on_one_thread_inside_the_blocks_and_as_before_after() -> None:
    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    inside = parallel.ordered_map(lambda _: blas_threads(), range(2), workers=2)
    assert inside == [[1] * len(before)] * 2
    assert blas_threads() == before


def test_results_do_not_depend_on_the_number_of_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    data = synthetic.community(30, per_organisation=8, seed=5)
    # Many small blocks of hub floors and reciprocity, and the shortlist path of the report.
    monkeypatch.setattr(index_module, "_BLOCK", 16)
    monkeypatch.setattr(vectors, "GRAM_BLOCK_ROWS", 32)
    monkeypatch.setattr(index_module, "EXACT_PAIR_LIMIT", 0)
    found = {}
    for workers in (1, 2, 3):
        monkeypatch.setattr(parallel, "WORKERS", workers)
        index = MatchIndex(data.taxonomy, data.needs, data.offers)
        needs, offers = index._need_side, index._offer_side
        listed = shortlist(
            needs.matrix,
            offers.matrix,
            12,
            query_groups=needs.organisations,
            target_groups=offers.organisations,
            work_budget=2e5,
            memory_budget=40 * 2_000,
        )
        rows, positions = listed.pairs()
        cosines = exact_cosines(needs.matrix, offers.matrix, rows, positions, memory_budget=1)
        found[workers] = (
            listed.targets.tolist(),
            listed.products.tolist(),
            cosines.tolist(),
            [offer.text_floor for offer in offers.items],
            index._scorer.helps.tolist(),
            community_report(index, data.formats),
        )
        assert listed.chunks > 2
        assert listed.threshold > 0
    assert found[1] == found[2] == found[3]
    assert np.isfinite(found[1][1]).all()


def test_overlapping_blocks_of_two_threads_release_blas_when_the_last_one_leaves() -> None:
    """The first block in limits BLAS, the last one out releases it, whatever the order."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def first() -> None:
        with parallel.single_threaded_blas():
            seen["limits of the first"] = parallel._blas_limits
            first_in.set()
            second_in.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with parallel.single_threaded_blas():
            seen["users with both in"] = parallel._blas_users
            second_in.set()
            first_out.wait()
            seen["users after the first left"] = parallel._blas_users
            seen["limits after the first left"] = parallel._blas_limits

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["users with both in"] == 2
    assert seen["users after the first left"] == 1
    assert seen["limits after the first left"] is seen["limits of the first"] is not None
    assert parallel._blas_users == 0
    assert parallel._blas_limits is None
