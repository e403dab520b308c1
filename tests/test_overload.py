"""Overload: requests beyond the connection pool wait for a database slot on the event loop,
without a worker thread each; they get 503 when none comes free in time; none deadlocks."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app import db
from app.api.session import SessionDep, in_thread
from app.config import Settings
from app.main import create_app
from tests.problems import assert_problem

HELD = "/api/v1/test-held"
HELD_AT_MOST = 5.0
"""Seconds held work waits to be released: a failing test must end, not hang on a thread."""


class HandOffs:
    """Counts the worker-thread hand-offs in flight (``anyio.to_thread.run_sync``, which
    in_thread and FastAPI use): each holds a worker thread, or waits for one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 0
        self.most = 0
        real = anyio.to_thread.run_sync

        async def counted(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                return await real(function, *args, **kwargs)
            finally:
                self.now -= 1

        monkeypatch.setattr(anyio.to_thread, "run_sync", counted)


def pool_of(monkeypatch: pytest.MonkeyPatch, size: int, timeout: float) -> None:
    """Apps and engines made from now on pool ``size`` connections, waiting ``timeout`` s."""
    monkeypatch.setattr(db, "POOL_SIZE", size)
    monkeypatch.setattr(db, "POOL_OVERFLOW", 0)
    monkeypatch.setattr(db, "POOL_TIMEOUT_SECONDS", timeout)


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """Set to let the held database work go on; set at the end whatever happened, so no worker
    thread outlives the test."""
    event = threading.Event()
    yield event
    event.set()


def with_held_route(app: FastAPI, hold: Callable[[Session], None]) -> FastAPI:
    """``app`` with a route that runs ``hold`` in one hand-off, then uses the connection it
    holds in a second, as a request's commit does."""

    @app.get(HELD)
    async def held(session: SessionDep) -> dict[str, str]:
        await in_thread(hold, session)
        await in_thread(session.execute, text("SELECT 2"))
        return {"status": "done"}

    return app


Meanwhile = Callable[[httpx.AsyncClient], Awaitable[None]]


def get_concurrently(
    app: FastAPI, count: int, meanwhile: Meanwhile, released: threading.Event
) -> list[httpx.Response]:
    """Send ``count`` GETs of the held route at once, run ``meanwhile``, then release the held
    work; the responses once all are done. A deadlock fails within seconds, not hangs."""
    responses: list[httpx.Response] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        with anyio.fail_after(5):
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://copmatch.test") as client,
                anyio.create_task_group() as requests,
            ):

                async def get() -> None:
                    responses.append(await client.get(HELD))

                for _ in range(count):
                    requests.start_soon(get)
                try:
                    await meanwhile(client)
                finally:
                    released.set()

    anyio.run(main)
    return responses


def test_requests_beyond_the_pool_wait_without_a_thread_and_all_complete(
    engine: Engine, settings: Settings, released: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five requests on a pool of two connections: two hold a connection in a worker thread,
    three wait for a slot, without a thread; released, all five complete, each using its
    connection in a second hand-off while others wait. Before, each of the five had a thread
    of its own from the start (three of them blocked on the pool)."""
    pool_of(monkeypatch, 2, timeout=5.0)
    pool = db.build_engine(engine.url.render_as_string(hide_password=False))
    hand_offs = HandOffs(monkeypatch)
    holding: list[Session] = []
    two_holding = anyio.Event()

    def hold(session: Session) -> None:
        session.execute(text("SELECT 1"))  # the session takes a pooled connection
        anyio.from_thread.run_sync(arrived, session)
        released.wait(HELD_AT_MOST)

    def arrived(session: Session) -> None:
        holding.append(session)
        if len(holding) == 2:
            two_holding.set()

    async def meanwhile(_client: httpx.AsyncClient) -> None:
        await two_holding.wait()
        await anyio.wait_all_tasks_blocked()  # the other three went as far as they can
        assert (hand_offs.now, len(holding), pool.pool.checkedout()) == (2, 2, 2)  # type: ignore[attr-defined]

    app = with_held_route(create_app(settings, pool), hold)
    try:
        responses = get_concurrently(app, 5, meanwhile, released)
    finally:
        pool.dispose()
    assert [response.status_code for response in responses] == [200] * 5
    assert (hand_offs.most, len(holding)) == (2, 5)


def test_a_request_that_finds_no_free_slot_in_time_is_503(
    settings: Settings, released: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool_of(monkeypatch, 1, timeout=0.2)
    holding = anyio.Event()

    def hold(_session: Session) -> None:
        anyio.from_thread.run_sync(holding.set)
        released.wait(HELD_AT_MOST)

    async def meanwhile(client: httpx.AsyncClient) -> None:
        await holding.wait()
        with anyio.fail_after(2):
            busy = await client.get(HELD)
        body = assert_problem(busy, 503)
        assert (body["type"], busy.headers["retry-after"]) == (
            "urn:copmatch:problem:database-busy",
            "5",
        )

    app = with_held_route(create_app(settings, db.build_engine("sqlite://")), hold)
    responses = get_concurrently(app, 1, meanwhile, released)
    assert [response.status_code for response in responses] == [200]


@pytest.mark.parametrize(
    ("pool", "slots"),
    [
        ({"pool_size": 3, "max_overflow": 2, "pool_timeout": 7.0}, (5, 7.0)),
        ({"pool_size": 4, "max_overflow": 0, "pool_timeout": 0.5}, (4, 0.5)),
        # No bound on the connections: the bounds build_engine gives.
        ({"pool_size": 2, "max_overflow": -1}, (40, 30.0)),
        ({"poolclass": NullPool}, (40, 30.0)),
    ],
)
def test_the_slots_are_as_many_as_the_engines_pool_holds(
    settings: Settings, tmp_path: Path, pool: dict[str, Any], slots: tuple[int, float]
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pooled.sqlite3'}", **pool)
    try:
        found = create_app(settings, engine).state.database_slots
        assert (found.capacity, found.timeout) == slots
    finally:
        engine.dispose()
