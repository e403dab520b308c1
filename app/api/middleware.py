"""ASGI middleware: the ``API-Version`` header and the request body cap."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__

API_VERSION_HEADER = (b"api-version", __version__.encode())


class ApiVersionHeader:
    """Adds ``API-Version`` to every response (NL GOV ADR /core/version-header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != API_VERSION_HEADER[0]]
                message["headers"] = [*headers, API_VERSION_HEADER]
            await send(message)

        await self.app(scope, receive, send_with_version)


class BodySizeLimit:
    """Refuses request bodies over a limit with 413: by ``Content-Length`` before reading, and
    by counting while reading, so a chunked body without a length is stopped too.

    The body is read here (at most ``limit`` bytes are held) and handed on to the app; reading
    it inside the app instead would turn the refusal into the framework's generic 400.
    ``larger`` maps path suffixes (``/imports``) to their own, larger limits.
    """

    def __init__(self, app: ASGIApp, *, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = larger or {}

    def _limit_for(self, path: str) -> int:
        for suffix, limit in self.larger.items():
            if path.endswith(suffix):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(scope, send, limit)
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
                await _refuse(scope, send, limit)
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


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "urn:copmatch:problem:content-too-large",
            "title": "Content too large",
            "status": 413,
            "detail": f"the request body is larger than {limit} bytes",
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
