"""Independent blocks of work spread over the machine's cores with threads.

The engine's heavy steps are sparse and dense matrix products in scipy's and numpy's compiled
code, which release the GIL while they run, so blocks of them (chunks of query rows, steps of the
exact re-scoring, blocks of the index's hub floors, the working groups beside the suggestions)
run in parallel in threads, sharing the index's arrays without copying them. While blocks run in
parallel, BLAS is held to one thread per caller (threadpoolctl): otherwise each block's dense
product starts BLAS threads of its own for the same cores, and they spin against each other
(measured at Netherlands scale: the suggestions and the working groups side by side took 2.16 s
with BLAS on two threads, 1.26 s on one, against 1.57 s one after the other).

Results never depend on the number of workers: each block computes what it computes on its own,
and results come back in the order of the blocks.

Also here, as the other thing a long step asks of the process: :func:`collector_paused`, the
cyclic garbage collector held off while tens of thousands of result objects are made.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Generic, Self, TypeVar, overload

from threadpoolctl import threadpool_limits

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
_Owner = TypeVar("_Owner")


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


WORKERS = max(1, min(4, _cores()))
"""Threads that work on blocks at once: the cores this process may run on, at most 4."""


def ordered_map(
    function: Callable[[_Item], _Result], items: Iterable[_Item], *, workers: int | None = None
) -> list[_Result]:
    """``[function(item) for item in items]``, worked out by up to *workers* threads."""
    return list(ordered_imap(function, items, workers=workers))


def ordered_imap(
    function: Callable[[_Item], _Result], items: Iterable[_Item], *, workers: int | None = None
) -> Iterator[_Result]:
    """``function(item)`` for each item, in order, worked out by up to *workers* threads
    (default WORKERS) ahead of the consumer: at most *workers* + 1 are in flight at a time, so
    blocks too large to hold all at once can be consumed as they come. BLAS is held to one
    thread until the iterator is exhausted or closed. One worker runs them in this thread
    (BLAS held to one thread too: its results differ from a multi-threaded BLAS's in the last
    bits for some shapes, and results must not depend on the number of workers)."""
    workers = WORKERS if workers is None else workers
    if workers <= 1:
        with single_threaded_blas():
            yield from map(function, items)
        return
    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[_Result]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


@contextmanager
def in_background(function: Callable[[], _Result]) -> Iterator[Future[_Result]]:
    """Run *function* in a second thread while the block runs; the future holds its result.

    Leaving the block waits for it. With one worker it runs first, in this thread.
    """
    if WORKERS <= 1:
        future: Future[_Result] = Future()
        try:
            future.set_result(function())
        except Exception as error:  # handed to the caller by future.result()
            future.set_exception(error)
        yield future
        return
    with single_threaded_blas(), ThreadPoolExecutor(1) as pool:
        yield pool.submit(function)


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits: threadpool_limits | None = None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread per caller inside the block.

    BLAS's thread count is one setting for the whole process, and blocks of several requests
    can overlap in a server: the first block to enter sets it to one, the last to leave restores
    what it was (a plain threadpool_limits per block would restore in the wrong order when two
    overlap, and could leave BLAS on one thread for good). What counts is the BLAS of the
    worker threads, which the limit reaches (tested); OpenBLAS 0.3.31 here keeps the thread
    count of a thread that already ran BLAS before the limit, and about once in a hundred
    overlaps it kept one thread after the restore: speed, never a different result.
    """
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            _blas_limits = threadpool_limits(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limits is not None:
                _blas_limits.restore_original_limits()
                _blas_limits = None


class computed_once(Generic[_Owner, _Result]):  # noqa: N801 - used as a decorator, like property
    """A property computed on first use and kept, once per instance even when threads ask for
    it at the same time: the first computes it, the others wait for its value.

    functools.cached_property locked one lock per class in Python 3.11 (an index computing its
    scores held up every other index) and locks nothing from 3.12 (two threads compute it
    twice). Here each instance and attribute has a lock of its own.
    """

    def __init__(self, function: Callable[[_Owner], _Result]) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...

    @overload
    def __get__(self, instance: _Owner, owner: type[Any] | None = None) -> _Result: ...

    def __get__(self, instance: _Owner | None, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        values = instance.__dict__
        # A non-data descriptor: once the value is in the instance's __dict__, Python finds it
        # there and never calls __get__ again. dict.setdefault is atomic: one lock per name.
        lock = values.setdefault(f"_{self.name}_lock", threading.Lock())
        with lock:
            if self.name not in values:
                values[self.name] = self.function(instance)
            return values[self.name]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while ranking a whole community.

    Ranking creates tens of thousands of small, acyclic result objects; each burst of them
    triggers collections that walk every object the process holds (taxonomy, tagger, index),
    which cost more than the ranking itself. Reference counting still frees everything; the
    collector resumes afterwards, or stays off if the caller had switched it off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
