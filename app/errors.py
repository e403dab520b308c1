"""One error hierarchy. Services raise these; ``app.api.problems`` renders them as RFC 9457
``application/problem+json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    headers: dict[str, str] = {}  # noqa: RUF012 (read-only; subclasses replace it)

    def __init__(
        self,
        detail: str,
        *,
        invalid_params: list[InvalidParam] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid_params = invalid_params or []
        # Extension members of the problem document, e.g. an import's ``problems``.
        self.extra = extra or {}


class BadRequest(CopmatchError):
    status = 400
    title = "Bad request"
    slug = "bad-request"


class Unauthorized(CopmatchError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="copmatch"'}  # noqa: RUF012


class Forbidden(CopmatchError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(CopmatchError):
    status = 404
    title = "Not found"
    slug = "not-found"


class NotAcceptable(CopmatchError):
    status = 406
    title = "Not acceptable"
    slug = "not-acceptable"
    headers = {"Vary": "Accept"}  # noqa: RUF012 (its answer depends on Accept, as a 200's does)


class Conflict(CopmatchError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(CopmatchError):
    status = 413
    title = "Content too large"
    slug = "content-too-large"


class UnsupportedMediaType(CopmatchError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class PreconditionFailed(CopmatchError):
    status = 412
    title = "Precondition failed"
    slug = "precondition-failed"


class PreconditionRequired(CopmatchError):
    status = 428
    title = "Precondition required"
    slug = "precondition-required"


class ValidationFailed(CopmatchError):
    status = 422
    title = "Unprocessable content"
    slug = "validation-failed"


def not_found(detail: str, *, field: str | None = None) -> NotFound:
    """A missing object (404); ``field`` names the body property that referred to it."""
    return NotFound(detail, invalid_params=[InvalidParam(field, detail)] if field else None)
