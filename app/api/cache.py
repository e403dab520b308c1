"""Serialised response bodies kept in memory, with strong ETags and ``If-None-Match`` → 304.

The cache knows nothing of invalidation: callers key entries on everything the body depends
on, including a version the database bumps in the same transaction as any change (see
``app.services.suggestion_versions``), so a stale entry is never looked up again and simply
ages out. Authorisation is checked before the cache is consulted, on every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Response

from app.lru import LRU


@dataclass(frozen=True, slots=True)
class CachedBody:
    body: bytes
    etag: str
    """Strong: a digest of the body itself, so equal bodies share their tag across versions."""


class ResponseCache:
    """The most recently used bodies (at most ``size``); safe across threads."""

    def __init__(self, size: int) -> None:
        self._bodies: LRU[Hashable, CachedBody] = LRU(size)

    def get(self, key: Hashable) -> CachedBody | None:
        return self._bodies.get(key)

    def put(self, key: Hashable, body: bytes) -> CachedBody:
        entry = CachedBody(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')
        self._bodies.put(key, entry)
        return entry

    def __len__(self) -> int:
        return len(self._bodies)


IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=1000,
        description="ETags of representations you hold; 304 (no body) if one is still current",
    ),
]

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the representation you hold is current"}
}
"""The extra OpenAPI response of a route that honours ``If-None-Match``."""


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks) or is ``*``."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def json_response(entry: CachedBody, if_none_match: str | None) -> Response:
    """200 with the cached JSON body and its ETag, or 304 when the client holds it already."""
    if matches(if_none_match, entry.etag):
        return Response(status_code=304, headers={"ETag": entry.etag})
    return Response(content=entry.body, media_type="application/json", headers={"ETag": entry.etag})
