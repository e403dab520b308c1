"""The OpenAPI document, shaped for the NL GOV API Design Rules 2.2.

FastAPI generates the document; this module makes it lint clean against the ADR ruleset:
paths relative to the ``/api/v1`` server, the ``API-Version`` header on every success
response, problem+json for every error response, and ``info.contact``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app import __version__
from app.api.deps import API_PREFIX
from app.api.middleware import UNLIMITED_METHODS
from app.config import Settings

UPPER_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "examples": ["urn:copmatch:problem:not-found"],
        },
        "title": {"type": "string", "examples": ["Not found"]},
        "status": {"type": "integer", "minimum": 100, "maximum": 599, "examples": [404]},
        "detail": {"type": "string", "examples": ["organisation 7 does not exist"]},
        "instance": {"type": "string", "examples": ["/api/v1/organisations/7"]},
        "invalidParams": {
            "type": "array",
            "description": "The offending fields, e.g. body.cbsCode or query.limit",
            "items": {
                "type": "object",
                "required": ["name", "reason"],
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "problems": {
            "type": "array",
            "description": "Imports only: every problem in the file (row, column, value, message)",
            "items": {"$ref": "#/components/schemas/ImportProblemRead"},
        },
    },
}

HEALTH_PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "A problem of /health: the database's state besides",
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "required": ["database"],
            "properties": {
                "database": {"enum": ["unreachable", "busy", "not-migrated", "newer-schema"]}
            },
        },
    ],
}

API_VERSION_HEADER: dict[str, Any] = {
    "description": "The full version of the API (semantic versioning)",
    "schema": {"type": "string", "examples": [__version__]},
}

ETAG_HEADER: dict[str, Any] = {
    "description": "A strong validator of this representation: send it back in If-Match to "
    "change or delete what you read, or in If-None-Match to ask whether it changed",
    "schema": {"type": "string", "examples": ['"3"']},
}

LOCATION_HEADER: dict[str, Any] = {
    "description": "Where the created resource is read",
    "schema": {"type": "string", "format": "uri-reference", "examples": ["/api/v1/topics"]},
}

REQUEST_ID_HEADER: dict[str, Any] = {
    "description": "The request's id: the client's own X-Request-ID (at most 64 characters "
    "A-Za-z0-9._-) or a new one, recorded in the audit log",
    "schema": {"type": "string", "examples": ["3f2b8c1e-5d4a-4b7e-9c2d-1a6f0e8b7c55"]},
}

RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "Seconds to wait before retrying (when the database is busy or unreachable)",
    "schema": {"type": "integer", "minimum": 0, "examples": [5]},
}

WWW_AUTHENTICATE_HEADER: dict[str, Any] = {
    "description": "The scheme to authenticate with",
    "schema": {"type": "string", "examples": ['Bearer realm="copmatch"']},
}

IDEMPOTENT_REPLAYED_HEADER: dict[str, Any] = {
    "description": "`true` when this is the stored response to an earlier request with the "
    "same Idempotency-Key, not a new creation",
    "schema": {"type": "string", "enum": ["true"]},
}

VARY_HEADER: dict[str, Any] = {
    "description": "Always `Accept`: the representation depends on it",
    "schema": {"type": "string", "examples": ["Accept"]},
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid path or query parameters",
    "401": "Missing, unknown, expired or revoked bearer token",
    "403": "The token's role may not do this",
    "412": "If-Match does not name the current version (ETag)",
    "428": "If-Match is required",
    "404": "Unknown resource",
    "409": "Conflicts with stored data",
    "413": "Content too large",
    "415": "Unsupported media type",
    "422": "Invalid request body",
    "500": "Unexpected error",
    "503": "Database unreachable, busy, or a collision with a concurrent change; retry",
}


_EVERY_RESPONSE = ("API-Version", "X-Request-ID")
"""The headers every response carries (middleware.ResponseHeaders, problems.problem)."""

_ERROR_HEADERS = {"401": ("WWW-Authenticate",), "503": ("Retry-After",)}
"""Headers of some errors besides _EVERY_RESPONSE's."""


def _headers(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _problem_response(code: str, description: str, schema: str = "Problem") -> dict[str, Any]:
    return {
        "description": description,
        "headers": _headers(*_EVERY_RESPONSE, *_ERROR_HEADERS.get(code, ())),
        "content": {
            "application/problem+json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        },
    }


PUBLIC_PATHS = {f"{API_PREFIX}/health"}


def _error_codes(method: str, operation: dict[str, Any], *, public: bool) -> list[str]:
    codes = ["400", "500", "503"] if public else ["400", "401", "403", "500", "503"]
    parameters = {p.get("name") for p in operation.get("parameters", [])}
    if "If-Match" in parameters:
        codes += ["412", "428"]
    has_path_params = any(p.get("in") == "path" for p in operation.get("parameters", []))
    if has_path_params:
        codes.append("404")
    if method in {"post", "patch", "put"}:
        codes += ["409", "422"]
    elif method == "delete":
        codes.append("409")
    if method.upper() not in UNLIMITED_METHODS:
        codes.append("413")  # BodySizeLimit reads the body of every such request
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        codes.append("415")  # a body sent as another type (problems._unreadable_body)
    # Errors a route declares itself (e.g. 413 for uploads, with its own limit) are
    # problem+json too.
    declared = [code for code in operation.get("responses", {}) if code.startswith(("4", "5"))]
    return list(dict.fromkeys([*codes, *declared]))


def _collapse_nullable(node: Any) -> Any:
    """``anyOf: [X, {type: null}]`` → X with ``null`` added to its type, so formats such as
    ``date`` stay visible to linters and generators."""
    if isinstance(node, list):
        return [_collapse_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _collapse_nullable(value) for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (other,) = [option for option in options if option != {"type": "null"}]
        if "type" in other and "$ref" not in other and isinstance(other["type"], str):
            merged = {**other, "type": [other["type"], "null"]}
            if "enum" in merged:
                merged["enum"] = [*merged["enum"], None]
            rest = {key: value for key, value in node.items() if key != "anyOf"}
            return {**merged, **rest}
    return node


def _rename_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Give generic models their UpperCamelCase title as schema name (``Page_TopicRead_`` →
    ``TopicReadPage``) and point every ``$ref`` at the new names."""
    schemas = document.get("components", {}).get("schemas", {})
    renames = {
        name: schema["title"]
        for name, schema in schemas.items()
        if not UPPER_CAMEL.fullmatch(name)
        and UPPER_CAMEL.fullmatch(schema.get("title", ""))
        and schema["title"] not in schemas
    }
    if not renames:
        return document
    text = json.dumps(document)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed: dict[str, Any] = json.loads(text)
    components = renamed["components"]["schemas"]
    for old, new in renames.items():
        components[new] = components.pop(old)
    return renamed


# Creations whose object lives under another path than "<collection>/{id}".
ITEM_PATHS = {
    "/organisations/{organisationId}/people": "/people/{personId}",
    "/people/{personId}/tokens": "/tokens/{tokenId}",
}
PATH_PARAMETER = re.compile(r"\{([^}]+)\}")


def _schema_properties(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def _add_links(document: dict[str, Any]) -> None:
    """OpenAPI links from each creating POST to the reads and writes of what it created, so
    stateful clients (and fuzzers) can chain create → read → update → delete."""
    paths = document["paths"]
    for collection, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        target = ITEM_PATHS.get(collection)
        if target is None:
            candidates = [
                path
                for path in paths
                if path.startswith(collection + "/{")
                and path.count("/") == collection.count("/") + 1
            ]
            if len(candidates) != 1:
                continue
            target = candidates[0]
        identifier = PATH_PARAMETER.findall(target)[-1]
        body = created.get("content", {}).get("application/json", {}).get("schema", {})
        source = identifier if identifier in _schema_properties(document, body) else "id"
        links: dict[str, Any] = {}
        for method, operation in paths[target].items():
            parameters: dict[str, str] = {}
            for name in PATH_PARAMETER.findall(target):
                parameters[name] = (
                    f"$response.body#/{source}" if name == identifier else f"$request.path.{name}"
                )
            if any(p.get("name") == "If-Match" for p in operation.get("parameters", [])):
                parameters["header.If-Match"] = "$response.header.ETag"
            links[operation["operationId"]] = {
                "operationId": operation["operationId"],
                "parameters": parameters,
                "description": f"{method.upper()} the created object",
            }
        if links:
            created["links"] = links


def _header_names(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p.get("in") == "header"}


def _add_validator_headers(paths: dict[str, Any]) -> None:
    """Declare the ``Location`` of every 201 and the ``ETag`` of every versioned
    representation: a resource whose PATCH takes If-Match is versioned, and every 200 or 201
    that answers with its schema (its GET, its PATCH, the POST that creates it) sends its ETag;
    a GET that takes If-None-Match sends the ETag of its page (with its 304)."""

    def schema_of(response: dict[str, Any]) -> str | None:
        found = response.get("content", {}).get("application/json", {}).get("schema", {})
        reference: str | None = found.get("$ref")
        return reference

    versioned = {
        schema_of(item["get"]["responses"]["200"])
        for item in paths.values()
        if "If-Match" in _header_names(item.get("patch", {})) and "get" in item
    } - {None}
    for item in paths.values():
        for method, operation in item.items():
            responses = operation.get("responses", {})
            if "201" in responses:
                headers = responses["201"].setdefault("headers", {})
                headers |= _headers("Location")
                if "Idempotency-Key" in _header_names(operation):
                    headers |= _headers("Idempotent-Replayed")
            tagged = [
                code for code in ("200", "201") if schema_of(responses.get(code, {})) in versioned
            ]
            if method == "get" and "If-None-Match" in _header_names(operation):
                tagged += ["200", "304"]
            for code in tagged:
                responses[code].setdefault("headers", {}).update(_headers("ETag"))


def build_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """Generate the document once and adapt it to the ADR conventions."""
    document = get_openapi(
        title="copmatch",
        version=__version__,
        summary="Needs-and-offers matchmaking for Communities of Practice on the heat transition",
        description=(
            "Municipalities of a Community of Practice record what they need, what they can "
            "offer and how they want to work together; copmatch keeps those answers per "
            "organisation. Errors are `application/problem+json` (RFC 9457); every response "
            "carries the `API-Version` header, and `X-Request-ID`: the client's own (at most "
            "64 characters `A-Za-z0-9._-`) or a new one, recorded in the audit log. `HEAD` is "
            "answered wherever `GET` is, as the `GET` without its body."
        ),
        routes=app.routes,
        contact={
            "name": settings.contact_name,
            "email": settings.contact_email,
            "url": settings.contact_url,
        },
        license_info={"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        servers=[{"url": f"{settings.base_url}{API_PREFIX}"}],
    )
    paths: dict[str, Any] = {}
    for path, item in document.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's own validation schema; replaced below
            for code, response in responses.items():
                if code.startswith(("2", "3")):
                    response.setdefault("headers", {}).update(_headers(*_EVERY_RESPONSE))
            public = path in PUBLIC_PATHS
            if public:
                operation["security"] = []
            # A representation chosen by Accept varies by it, its 406 too.
            varies = "Vary" in responses.get("200", {}).get("headers", {})
            for code in _error_codes(method, operation, public=public):
                schema = "HealthProblem" if public and code == "503" else "Problem"
                responses[code] = _problem_response(
                    code,
                    responses.get(code, {}).get("description") or ERROR_DESCRIPTIONS[code],
                    schema,
                )
                if varies and code == "406":
                    responses[code]["headers"] |= _headers("Vary")
        paths[path.removeprefix(API_PREFIX) or "/"] = item
    document["paths"] = paths
    _add_validator_headers(paths)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["HealthProblem"] = HEALTH_PROBLEM_SCHEMA
    components["headers"] = {
        "API-Version": API_VERSION_HEADER,
        "ETag": ETAG_HEADER,
        "Location": LOCATION_HEADER,
        "X-Request-ID": REQUEST_ID_HEADER,
        "Retry-After": RETRY_AFTER_HEADER,
        "WWW-Authenticate": WWW_AUTHENTICATE_HEADER,
        "Idempotent-Replayed": IDEMPOTENT_REPLAYED_HEADER,
        "Vary": VARY_HEADER,
    }
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An opaque token from POST /people/{personId}/tokens, "
            "`copmatch token create`, or the bootstrap COPMATCH_ADMIN_TOKEN",
        }
    }
    document["security"] = [{"bearerAuth": []}]
    _add_links(document)
    return _rename_schemas(_collapse_nullable(document))
