"""The request's database session, the one place that commits, and the admission that bounds
the threads doing database work.

Thread-pool hand-offs: FastAPI runs every sync dependency and sync endpoint in a worker thread,
and each hand-off costs about as much CPU as a small query. So the dependencies that need no
database are ``async def``, and those that do hand off exactly the blocking part
(:func:`in_thread`), holding a slot of :class:`DatabaseSlots`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from app.api.middleware import REQUEST_ID_STATE
from app.auth import TOKEN_USED_KEY, note_token_use
from app.db import autocommit_bind, begin_for_writing, describe_database_error, snapshot_bind
from app.services.audit import REQUEST_ID_KEY

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


async def in_thread(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking ``function`` (database work) in a worker thread and wait for it.

    Called while holding a slot of :class:`DatabaseSlots`, which bounds these threads: one per
    slot at a time. Each call gets its own limiter, as FastAPI does for a dependency's exit: a
    request that holds a connection (or a lock) must be able to give it back, never queued, as
    on a shared limiter, behind threads that wait for one.
    """

    def call() -> R:
        return function(*args, **kwargs)

    return await anyio.to_thread.run_sync(call, limiter=anyio.CapacityLimiter(1))


class DatabaseSlots:
    """Admission to the database: as many slots as the connection pool has connections. Every
    use of the pool (a request's session, the token note after it, the health check) takes a
    slot first, waiting on the event loop, without a thread, while all are taken, and gives it
    back once its connection is back in the pool.

    So the pool never makes a thread wait: the worker threads doing database work are at most
    one per slot, where before every request of an overload held one, waiting for a
    connection. And no thread waits for a connection that a request holds while it waits for
    a thread, the deadlock :func:`in_thread`'s own limiters avoid. A request that finds no
    free slot within ``timeout`` seconds fails as one that finds no free connection: 503 with
    Retry-After.
    """

    def __init__(self, capacity: int, timeout: float) -> None:
        self.capacity = capacity
        self._free = anyio.Semaphore(capacity, max_value=capacity, fast_acquire=True)
        self.timeout = timeout

    @asynccontextmanager
    async def taken(self) -> AsyncIterator[None]:
        """Hold a slot for the body of the ``async with``."""
        with anyio.move_on_after(self.timeout) as waiting:
            await self._free.acquire()
        if waiting.cancelled_caught:
            raise PoolTimeout(f"no free database slot within {self.timeout:g} s")
        try:
            yield
        finally:
            self._free.release()


def _finish(session: Session, *, commit: bool) -> None:
    """Commit (or roll back) and close: one hand-off at the end of a request."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def _note_token_use(
    slots: DatabaseSlots, factory: sessionmaker[Session], token_id: int, when: dt.datetime
) -> None:
    """Note a token's use after the request that used it (a background task), in a session and
    transaction of its own: that request's reads stay reads (a read-only snapshot on PostgreSQL;
    no lock upgrade on SQLite, which fails outright when a writer got in between). Best effort:
    a timestamp is not worth an error, so a failure is only logged."""
    try:
        async with slots.taken():
            await in_thread(_record_token_use, factory, token_id, when)
    except (DBAPIError, PoolTimeout) as error:
        cause = describe_database_error(error) if isinstance(error, DBAPIError) else str(error)
        logger.warning("could not note the use of token %s: %s", token_id, cause)


def _record_token_use(factory: sessionmaker[Session], token_id: int, when: dt.datetime) -> None:
    with factory() as session:  # closing it rolls back a failed write
        note_token_use(session, token_id, when)
        session.commit()


_ONE_SNAPSHOT = "copmatch_one_snapshot"
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def one_snapshot(endpoint: _Endpoint) -> _Endpoint:
    """Mark a reading endpoint whose queries must agree with each other: ids that one query
    finds, the next looks up. On PostgreSQL, where each autocommit statement sees the latest
    commit, its session then reads in one snapshot, so a write in between cannot make a row
    vanish halfway (a 500 for a missing key)."""
    setattr(endpoint, _ONE_SNAPSHOT, True)
    return endpoint


def reads_one_snapshot(request: Request) -> bool:
    """Is the request's endpoint marked :func:`one_snapshot`?"""
    return bool(getattr(request.scope.get("endpoint"), _ONE_SNAPSHOT, False))


async def get_session(request: Request, background: BackgroundTasks) -> AsyncIterator[Session]:
    """The unit of work of one request: the only place in the app that commits.

    Declared with ``scope="function"`` so the commit happens before the response is sent; a
    failing commit therefore becomes an error response, never a 2xx for lost data. Making the
    session does no I/O. A GET on PostgreSQL reads on an autocommit connection (see
    :func:`~app.db.autocommit_bind`), so ending it does no I/O either, unless its endpoint is
    marked :func:`one_snapshot` (it reads in one REPEATABLE READ transaction,
    :func:`~app.db.snapshot_bind`); any other request commits and closes in one worker-thread
    hand-off. The session carries the request's id for the audit log. The request holds a slot
    of :class:`DatabaseSlots` for as long as the session may hold a connection.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    slots: DatabaseSlots = request.app.state.database_slots
    reading = request.method in SAFE_METHODS
    one = reading and reads_one_snapshot(request)
    bind = (snapshot_bind if one else autocommit_bind)(factory.kw.get("bind")) if reading else None
    async with slots.taken():
        session = factory(bind=bind) if bind is not None else factory()
        session.info[REQUEST_ID_KEY] = getattr(request.state, REQUEST_ID_STATE, None)
        autocommit = bind is not None and not one
        try:
            if not reading:
                await in_thread(begin_for_writing, session)
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await in_thread(_finish, session, commit=False)
            raise
        used = session.info.pop(TOKEN_USED_KEY, None)
        if used is not None:  # after the response, in a transaction of its own
            background.add_task(_note_token_use, slots, factory, *used)
        pending = session.new or session.dirty or session.deleted
        if (autocommit or not session.in_transaction()) and not pending:
            session.close()  # nothing to commit, and no I/O to give the connection back
            return
        with anyio.CancelScope(shield=True):
            await in_thread(_finish, session, commit=True)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
