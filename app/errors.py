"""One error hierarchy. Services raise these; ``app.api.problems`` renders them as RFC 9457
``application/problem+json``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InvalidParam:
    """One offending field: its name (``body.cbsCode``, ``query.limit``) and why."""

    name: str
    reason: str


class CopmatchError(Exception):
    """Base of every error a client may cause; carries its HTTP status."""

    status: int = 500
    title: str = "Internal server error"
    slug: str = "internal-error"

    def __init__(self, detail: str, *, invalid_params: list[InvalidParam] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid_params = invalid_params or []


class BadRequest(CopmatchError):
    status = 400
    title = "Bad request"
    slug = "bad-request"


class NotFound(CopmatchError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(CopmatchError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class ValidationFailed(CopmatchError):
    status = 422
    title = "Unprocessable content"
    slug = "validation-failed"


class ServiceUnavailable(CopmatchError):
    status = 503
    title = "Service unavailable"
    slug = "service-unavailable"


def not_found(detail: str, *, field: str | None = None) -> NotFound:
    """A missing object (404); ``field`` names the body property that referred to it."""
    return NotFound(detail, invalid_params=[InvalidParam(field, detail)] if field else None)
