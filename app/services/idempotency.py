"""``Idempotency-Key`` on the POSTs that create answers (needs, offers, format preferences).

The first response to a (caller, key) pair is stored in the same transaction as the write; a
retry with the same key and the same request gets that response again (and no second row); the
same key with another request is refused. Keys are scoped per caller, so two callers never
see each other's responses. A response is kept for :data:`KEPT_FOR`: retries come within
minutes, and the table must not grow forever.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db import utcnow, wait_for_advisory_lock
from app.errors import InvalidParam, ValidationFailed
from app.models import IdempotencyRecord

KEPT_FOR = dt.timedelta(hours=24)
"""How long a first response is replayed; after that its key may be used anew."""


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    principal: str
    key: str
    method: str
    path: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A request's ``Idempotency-Key`` and what it sent, before its route names the path."""

    principal: str
    key: str
    method: str
    query: str
    body: bytes

    def at(self, path: str) -> IdempotentRequest:
        """The request as made at ``path``: the route's path with its parsed ids, not the URL
        as sent, so ``/communities/01/needs`` and ``/communities/1/needs`` are the same request
        and a path padded with zeros still fits ``IdempotencyRecord.path``."""
        return IdempotentRequest(
            principal=self.principal,
            key=self.key,
            method=self.method,
            path=path,
            request_hash=fingerprint(self.method, path, self.query, self.body),
        )


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


KEY_LOCK = 0x69646D  # "idm": the advisory lock space of idempotency keys
"""First key of the PostgreSQL advisory lock a request with an ``Idempotency-Key`` holds from
its look-up to its commit (the second is a hash of the caller and the key)."""

KEY_LOCK_TIMEOUT = "30s"
"""How long a retry waits for the request that went first, as a write waits for its
community's lock; then 503 database-busy."""


def previous(session: Session, request: IdempotentRequest) -> IdempotencyRecord | None:
    """The stored first response for this key, or None; another request under it is a 422.

    On PostgreSQL it first waits for any other transaction under the same caller and key, and
    holds the key until this one ends: a retry sent while the first request still runs would
    not see its uncommitted record, write again and meet the unique key (a 409); now it waits,
    then replays the first response. SQLite runs one writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        wait_for_advisory_lock(session, KEY_LOCK, key_lock_of(request), KEY_LOCK_TIMEOUT)
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal == request.principal,
            IdempotencyRecord.key == request.key,
        )
    )
    if record is None or record.created_at <= utcnow() - KEPT_FOR:
        # Expired: the key starts afresh. Not deleted here: that would lock its row before the
        # request takes its community's lock, while another request holding that lock sweeps
        # expired rows (remember): each would wait for the other. remember replaces it.
        return None
    if (record.method, record.path, record.request_hash) != (
        request.method,
        request.path,
        request.request_hash,
    ):
        raise ValidationFailed(
            "this Idempotency-Key was used for another request; use a new key for a new request",
            invalid_params=[InvalidParam("header.Idempotency-Key", "reused with another body")],
        )
    return record


def key_lock_of(request: IdempotentRequest) -> int:
    """The second key of *request*'s advisory lock: 32 bits of a hash of caller and key (two
    pairs that share it only wait for each other)."""
    digest = hashlib.sha256(f"{request.principal}\n{request.key}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def remember(
    session: Session,
    request: IdempotentRequest,
    *,
    status: int,
    body: Any,
    location: str | None,
    etag: str | None,
) -> None:
    """Store the first response to *request*; every expired one goes meanwhile, except those
    another transaction is deleting (it does so itself): two sweeps never wait for each other.
    The expired record of this very key is this transaction's to delete: other requests under
    the key wait for it (previous)."""
    cutoff = utcnow() - KEPT_FOR
    expired = select(IdempotencyRecord.id).where(IdempotencyRecord.created_at <= cutoff)
    session.execute(
        delete(IdempotencyRecord)
        .where(
            IdempotencyRecord.principal == request.principal,
            IdempotencyRecord.key == request.key,
            IdempotencyRecord.created_at <= cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.id.in_(expired.with_for_update(skip_locked=True)))
        .execution_options(synchronize_session=False)
    )
    session.add(
        IdempotencyRecord(
            principal=request.principal,
            key=request.key,
            method=request.method,
            path=request.path,
            request_hash=request.request_hash,
            status=status,
            body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
            location=location,
            etag=etag,
        )
    )
    session.flush()
