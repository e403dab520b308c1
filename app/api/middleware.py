"""ASGI middleware: the ``API-Version`` and ``X-Request-ID`` headers, the request body cap and
``HEAD``."""

from __future__ import annotations

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__

API_VERSION_HEADER = (b"api-version", __version__.encode())
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_STATE = "request_id"
"""Where the request's id is kept: ``request.state.request_id``."""
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
"""A client's own X-Request-ID is kept when it matches; otherwise one is made."""
SAFE_REQUEST_ID = re.compile(REQUEST_ID_PATTERN.encode())
"""A client's own request id that is kept: fits ``AuditEvent.request_id``, safe in logs."""
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode()
_ADDED_NAMES = frozenset({API_VERSION_HEADER[0], _REQUEST_ID_NAME})
_NO_CONTENT = frozenset({204, 304})
"""Statuses without content, so without a ``Content-Type`` (RFC 9110 §15.3.5, §15.4.5)."""
CORS_ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    REQUEST_ID_HEADER,
)
"""Every request header the API reads (for CORS preflights; the safelisted ones need none)."""
CORS_EXPOSED_HEADERS = (
    "ETag",
    "Location",
    "API-Version",
    REQUEST_ID_HEADER,
    "Content-Disposition",
    "Retry-After",
    "Idempotent-Replayed",
)
"""Every response header the API sets that a script may want to read."""


def cors_headers(origin: str | None, allowed: list[str]) -> dict[str, str]:
    """What CORSMiddleware adds to a simple response for a request from *origin*, given the
    *allowed* origins: for the responses made outside it (Starlette's outermost error
    middleware answers an unexpected error, a 500, around every other middleware)."""
    if origin is None or origin not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": ", ".join(CORS_EXPOSED_HEADERS),
        "Vary": "Origin",
    }


UNLIMITED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods whose body :class:`BodySizeLimit` does not read: every other one may get a 413."""


class ResponseHeaders:
    """Adds ``API-Version`` (NL GOV ADR /core/version-header) and ``X-Request-ID`` to every
    response, and takes ``Content-Type`` off those without content.

    The request id is echoed to the client and recorded with the audit events the request
    writes: the client's own (a proxy's, a caller's) when it is a safe token of at most 64
    characters ``[A-Za-z0-9._-]``, otherwise a new random one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})[REQUEST_ID_STATE] = request_id
        added = (API_VERSION_HEADER, (_REQUEST_ID_NAME, request_id.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A problem response sets both itself (see problems.problem); keep one of each.
                headers = [h for h in message.get("headers", []) if h[0] not in _ADDED_NAMES]
                if message["status"] in _NO_CONTENT:  # FastAPI gives a 204 its JSON type
                    headers = [h for h in headers if h[0] != b"content-type"]
                message["headers"] = [*headers, *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """Answers ``HEAD`` as the ``GET`` of the same URL without its body (RFC 9110 §9.3.2): the
    same authentication, status and headers (``Content-Length`` and ``ETag`` included).

    The routes see a copy of the scope whose method is ``GET``; the server keeps its own, so it
    knows the response has no body. A path without ``GET`` answers ``HEAD`` with 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_NAME:
            return value.decode("ascii") if SAFE_REQUEST_ID.fullmatch(value) else None
    return None


class BodySizeLimit:
    """Refuses request bodies over a limit with 413: by ``Content-Length`` before reading, and
    by counting while reading, so a chunked body without a length is stopped too.

    The body is read here (at most ``limit`` bytes are held) and handed on to the app; reading
    it inside the app instead would turn the refusal into the framework's generic 400.
    ``larger`` maps path suffixes (``/imports``) to their own, larger limits, each with what
    its refusal adds (the limit of the file in the body, say).
    """

    def __init__(
        self, app: ASGIApp, *, limit: int, larger: dict[str, tuple[int, str]] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.larger = larger or {}

    def _limit_for(self, path: str) -> tuple[int, str]:
        for suffix, found in self.larger.items():
            if path.endswith(suffix):
                return found
        return self.limit, ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in UNLIMITED_METHODS:
            await self.app(scope, receive, send)
            return
        limit, why = self._limit_for(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(scope, send, limit, why)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(scope, send, limit, why)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(scope: Scope, send: Send, limit: int, why: str) -> None:
    body = json.dumps(
        {
            "type": "urn:copmatch:problem:content-too-large",
            "title": "Content too large",
            "status": 413,
            "detail": f"the request body is larger than {limit:,} bytes{why}",
            "instance": scope["path"],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                API_VERSION_HEADER,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
