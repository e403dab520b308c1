"""Errors as RFC 9457 ``application/problem+json``, registered in one place.

Validation of the path and query is a 400, validation of the body a 422; both list the offending
fields in ``invalidParams`` (as the NL GOV API Design Rules' problem extension does). A body that
cannot be read as JSON is no payload to validate: 400 when malformed, 415 when of another type.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from app import __version__
from app.api.deps import caller_apart, needs_a_caller
from app.api.middleware import REQUEST_ID_HEADER, REQUEST_ID_STATE, cors_headers
from app.db import Trouble, database_trouble, describe_database_error
from app.errors import (
    BadRequest,
    CopmatchError,
    InvalidParam,
    Unauthorized,
    UnsupportedMediaType,
)

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:copmatch:problem:"
RETRY_AFTER_SECONDS = 5


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def _error_types(error: type[CopmatchError]) -> dict[str, str]:
    """The title of each problem type of the error hierarchy, by slug."""
    titles = {error.slug: error.title}
    for subclass in error.__subclasses__():
        titles |= _error_types(subclass)
    return titles


TITLES = {
    **_error_types(CopmatchError),
    "database-unavailable": "Service unavailable",
    "database-busy": "Service unavailable",
    "database-not-migrated": "Service unavailable",
    "database-newer-schema": "Service unavailable",
}
"""One title per problem type (RFC 9457 §3.1.3: it does not change from occurrence to
occurrence), by slug; a type raised by Starlette alone takes its status's phrase."""


def title_of(slug: str, status: int) -> str:
    """The title of problem type *slug*: TITLES', or the phrase of *status* ("Method not
    allowed"), written as TITLES' are."""
    phrase = HTTPStatus(status).phrase
    return TITLES.get(slug, phrase[:1] + phrase[1:].lower())


def problem(
    request: Request,
    *,
    status: int,
    detail: str,
    slug: str,
    invalid_params: list[InvalidParam] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> ProblemResponse:
    """Render one problem. Carries ``API-Version`` and ``X-Request-ID`` itself because responses
    made by Starlette's outermost error middleware bypass the app's own middleware."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_BASE}{slug}",
        "title": title_of(slug, status),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if invalid_params:
        body["invalidParams"] = [{"name": p.name, "reason": p.reason} for p in invalid_params]
    if extra:
        body.update(extra)
    all_headers = {"API-Version": __version__, **(headers or {})}
    request_id: str | None = getattr(request.state, REQUEST_ID_STATE, None)
    if request_id is not None:
        all_headers[REQUEST_ID_HEADER] = request_id
    return ProblemResponse(body, status_code=status, headers=all_headers)


def _location_name(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


async def _copmatch_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, CopmatchError)
    return problem(
        request,
        status=exc.status,
        detail=exc.detail,
        slug=exc.slug,
        invalid_params=exc.invalid_params,
        extra=exc.extra,
        headers=exc.headers,
    )


def _unreadable_body(request: Request, errors: Sequence[Any]) -> CopmatchError | None:
    """The error of a body FastAPI could not read as JSON, which it reports as a validation
    error: 400 for malformed JSON (at a character offset), 415 for a body sent as another media
    type (handed to the model as raw bytes)."""
    for error in errors:
        location = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            reason = f"{error.get('ctx', {}).get('error')} at character {location[-1]}"
            return BadRequest(
                f"the body is not valid JSON: {reason}",
                invalid_params=[InvalidParam("body", f"not valid JSON: {reason}")],
            )
        if location == ("body",) and isinstance(error.get("input"), bytes):
            sent = request.headers.get("content-type")
            return UnsupportedMediaType(
                f"the body must be sent as application/json, not {sent or 'without a type'}",
                invalid_params=[InvalidParam("header.Content-Type", "not application/json")],
            )
    return None


async def _unknown_caller(request: Request) -> ProblemResponse | None:
    """The 401 of a request refused before its route authenticated the caller, when the route
    needs one and the caller is unknown: they learn that, not what they got wrong."""
    if getattr(request.state, "principal", None) is not None or not needs_a_caller(request):
        return None
    try:
        await caller_apart(request)
    except Unauthorized as unknown:
        return await _copmatch_error(request, unknown)
    return None


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    # The route's dependencies, which authenticate, did not run on an invalid path or query.
    unknown = await _unknown_caller(request)
    if unknown is not None:
        return unknown
    errors = exc.errors()
    unreadable = _unreadable_body(request, errors)
    if unreadable is not None:
        return await _copmatch_error(request, unreadable)
    params = [
        InvalidParam(_location_name(tuple(error.get("loc", ()))), str(error.get("msg", "invalid")))
        for error in errors
    ]
    in_body = any(tuple(error.get("loc", ()))[:1] == ("body",) for error in errors)
    status = 422 if in_body else 400
    names = ", ".join(dict.fromkeys(p.name for p in params))
    return problem(
        request,
        status=status,
        detail=f"invalid value(s) for {names}",
        slug="validation-failed" if in_body else "bad-request",
        invalid_params=params,
    )


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    headers = dict(exc.headers or {})
    invalid_params = None
    if exc.status_code == 400:
        # Starlette's reading of a form ("Invalid multipart data") runs before the route's
        # dependencies, which authenticate: as for an invalid path or query, an unknown caller
        # is told so first.
        unknown = await _unknown_caller(request)
        if unknown is not None:
            return unknown
        invalid_params = [InvalidParam("body", detail)]
    if exc.status_code == 404 and detail == phrase:
        detail = f"no resource at {request.url.path}"
    if exc.status_code == 405:
        # Starlette names only the first route's methods; collect those of every route here.
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; use {' or '.join(allowed)}"
    return problem(
        request,
        status=exc.status_code,
        detail=detail,
        slug=phrase.lower().replace(" ", "-"),
        headers=headers,
        invalid_params=invalid_params,
    )


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at the requested path (asked of each route as Starlette's
    router asks, method by method): the API's, and the documentation's too (``/docs``, the
    OpenAPI document), which the OpenAPI document does not list."""
    methods = {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")  # middleware.HeadAsGet
    return sorted(methods)


async def _integrity_error(request: Request, exc: Exception) -> ProblemResponse:
    # The checks in the services give the precise message; this is the race-condition backstop.
    assert isinstance(exc, IntegrityError)
    logger.info(
        "integrity error on %s %s: %s",
        request.method,
        request.url.path,
        describe_database_error(exc),
    )
    return problem(
        request,
        status=409,
        detail="the change conflicts with data stored meanwhile; reload and try again",
        slug="conflict",
    )


async def _database_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, DBAPIError)
    trouble = database_trouble(exc)
    if trouble is None:
        return await _unexpected_error(request, exc)
    if trouble is Trouble.COLLISION:
        logger.warning(
            "transaction collided on %s %s: %s",
            request.method,
            request.url.path,
            describe_database_error(exc),
        )
        return unavailable(
            request,
            "the database stopped this change because it collided with a concurrent one; "
            "nothing was saved, please retry",
            "database-collision",
        )
    if trouble is Trouble.BUSY:
        # SQLite's writer waited out its busy timeout, or a PostgreSQL write its lock_timeout.
        return await _pool_exhausted(request, exc)
    if trouble is Trouble.NOT_MIGRATED:
        logger.error(
            "database schema behind the code on %s %s: %s",
            request.method,
            request.url.path,
            describe_database_error(exc),
        )
        return problem(
            request,
            status=503,
            detail="the database schema is older than this copmatch; nothing was saved (its "
            "operator runs copmatch migrate)",
            slug="database-not-migrated",
        )
    logger.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.url.path,
        describe_database_error(exc),
    )
    return unavailable(
        request,
        "the database is unreachable or the connection was lost; nothing was saved, please retry",
        "database-unavailable",
    )


async def _pool_exhausted(request: Request, exc: Exception) -> ProblemResponse:
    # Every pooled connection stayed in use for POOL_TIMEOUT_SECONDS, SQLite's one writer for
    # its busy timeout, or a write waited out its community's lock: overload, not a bug.
    cause = describe_database_error(exc) if isinstance(exc, DBAPIError) else str(exc)
    logger.warning("database busy on %s %s: %s", request.method, request.url.path, cause)
    return unavailable(
        request, "the database is busy; nothing was saved, please retry", "database-busy"
    )


def unavailable(
    request: Request, detail: str, slug: str, extra: dict[str, Any] | None = None
) -> ProblemResponse:
    """503 with Retry-After: the database cannot serve the request now, so it did nothing."""
    return problem(
        request,
        status=503,
        detail=detail,
        slug=slug,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        extra=extra,
    )


async def _stale_data(request: Request, exc: Exception) -> ProblemResponse:
    # The version check in the UPDATE/DELETE itself found a concurrent change.
    return problem(
        request,
        status=412,
        detail="the resource changed meanwhile; GET it again and retry",
        slug="precondition-failed",
    )


async def _unexpected_error(request: Request, exc: Exception) -> ProblemResponse:
    request_id = getattr(request.state, REQUEST_ID_STATE, None)
    if isinstance(exc, DBAPIError):
        # Where it failed, but not its message (see describe_database_error).
        logger.error(
            "unhandled error on %s %s (request %s): %s\n%s",
            request.method,
            request.url.path,
            request_id,
            describe_database_error(exc),
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
    else:
        logger.exception(
            "unhandled error on %s %s (request %s)",
            request.method,
            request.url.path,
            request_id,
            exc_info=exc,
        )
    return problem(
        request,
        status=500,
        detail="an unexpected error occurred; it has been logged",
        slug="internal-error",
        # Made outside CORSMiddleware: a script on an allowed origin may read it all the same.
        headers=cors_headers(
            request.headers.get("origin"), request.app.state.settings.cors_origins
        ),
    )


_PREFLIGHT_HEADERS = {
    "origin": "Origin",
    "method": "Access-Control-Request-Method",
    "headers": "Access-Control-Request-Headers",
    "private-network": "Access-Control-Request-Private-Network",
}
"""The request header behind each of Starlette's reasons to refuse a CORS preflight."""


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a refused preflight answered as a problem, as every
    other error is, instead of Starlette's plain "Disallowed CORS origin"."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == 400:
                    response = _refused_preflight(Request(scope), response)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _refused_preflight(request: Request, refusal: Response) -> ProblemResponse:
    """Starlette's refusal of a preflight ("Disallowed CORS origin, method") as a problem,
    with the CORS headers it carried."""
    reasons = bytes(refusal.body).decode().removeprefix("Disallowed CORS ").split(", ")
    names = [f"header.{_PREFLIGHT_HEADERS.get(reason, reason)}" for reason in reasons]
    kept = {
        name: value
        for name, value in refusal.headers.items()
        if name.lower() not in {"content-length", "content-type"}
    }
    return problem(
        request,
        status=400,
        detail=f"this API's CORS policy does not allow the preflight's {', '.join(reasons)}",
        slug="bad-request",
        invalid_params=[InvalidParam(name, "not allowed by the CORS policy") for name in names],
        headers=kept,
    )


def register_problem_handlers(app: FastAPI) -> None:
    """Install every exception handler of the app."""
    app.add_exception_handler(CopmatchError, _copmatch_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(Exception, _unexpected_error)
