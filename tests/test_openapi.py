"""The OpenAPI document: NL GOV API Design Rules 2.2, checked here and by Spectral."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import __version__
from app.api.openapi import ERROR_DESCRIPTIONS
from app.config import Settings
from app.db import build_engine
from app.main import create_app
from app.services.matching import TRANSITIONS
from tests import factories
from tests.conftest import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parent.parent
RULESET = ROOT / "tests" / "reference" / "nlgov-adr-2.2-ruleset.yaml"
SPECTRAL = ROOT / "node_modules" / ".bin" / "spectral"
LOWER_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
KEBAB_SEGMENT = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*|\{[a-zA-Z]+\})$")
OPERATION_SEGMENT = re.compile(r"^_[a-z]+$")  # ADR: an operation on a resource, e.g. /_recompute


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(environment="test", admin_token=ADMIN_TOKEN)
    app = create_app(settings, build_engine("sqlite://"))
    return app.openapi()


def _properties(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found.extend(value)
            found.extend(_properties(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_properties(item))
    return found


def test_document_basics(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["version"] == __version__
    assert set(document["info"]["contact"]) == {"name", "email", "url"}
    assert document["servers"] == [{"url": "http://127.0.0.1:8000/api/v1"}]


def test_required_paths_exist(document: dict[str, Any]) -> None:
    expected = {
        "/health": {"get"},
        "/topics": {"get"},
        "/organisations": {"get", "post"},
        "/organisations/{organisationId}": {"get", "patch", "delete"},
        "/organisations/{organisationId}/people": {"get", "post"},
        "/people/{personId}": {"get", "patch", "delete"},
        "/communities": {"get", "post"},
        "/communities/{communityId}": {"get", "patch", "delete"},
        "/communities/{communityId}/members": {"get", "post"},
        "/communities/{communityId}/members/{organisationId}": {"get", "delete"},
        "/communities/{communityId}/meetings": {"get", "post"},
        "/communities/{communityId}/needs": {"get", "post"},
        "/communities/{communityId}/needs/{needId}": {"get", "patch", "delete"},
        "/communities/{communityId}/offers": {"get", "post"},
        "/communities/{communityId}/offers/{offerId}": {"get", "patch", "delete"},
        "/communities/{communityId}/format-preferences": {"get", "post"},
    }
    for path, methods in expected.items():
        assert set(document["paths"][path]) >= methods, path


def test_paths_are_kebab_case_without_trailing_slash(document: dict[str, Any]) -> None:
    for path in document["paths"]:
        assert not path.endswith("/"), path
        *segments, last = path.strip("/").split("/")
        for segment in segments:
            assert KEBAB_SEGMENT.match(segment), (path, segment)
        assert KEBAB_SEGMENT.match(last) or OPERATION_SEGMENT.match(last), (path, last)


def test_query_keys_and_json_properties_are_lower_camel_case(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in {"query", "path"}:  # headers keep HTTP's own casing
                    assert LOWER_CAMEL.match(parameter["name"]), (path, parameter["name"])
    properties = set(_properties(document["components"]["schemas"]))
    assert {"cbsCode", "organisationId", "createdAt", "topicTags", "invalidParams"} <= properties
    assert [name for name in properties if not LOWER_CAMEL.match(name)] == []


def test_every_response_declares_version_header_or_problem(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                assert "API-Version" in response["headers"], (path, method, code)
                if code.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"]


def test_413_is_declared_wherever_the_body_limit_applies(document: dict[str, Any]) -> None:
    """BodySizeLimit reads the body of every request but GET, HEAD and OPTIONS."""
    declared = {
        (path, method): "413" in operation["responses"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert {key for key, has in declared.items() if has} == {
        key for key in declared if key[1] in {"post", "patch", "put", "delete"}
    }
    imports = document["paths"]["/communities/{communityId}/imports"]["post"]["responses"]
    assert imports["413"]["description"] != ERROR_DESCRIPTIONS["413"]  # its own, larger limit


def test_a_json_body_may_be_refused_as_another_media_type(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            takes_json = "application/json" in operation.get("requestBody", {}).get("content", {})
            assert ("415" in operation["responses"]) is (takes_json or path.endswith("/imports")), (
                path,
                method,
            )


def test_etag_and_location_are_declared_where_they_are_sent(
    client: TestClient, session: Session, document: dict[str, Any]
) -> None:
    """A client learns from the document which responses carry a validator to send back
    (ETag) and where a created resource is (Location): each is declared exactly where sent."""
    haarlem = factories.municipality(session)
    calls: list[tuple[str, str, httpx.Response]] = []

    def call(method: str, template: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = client.request(method, f"/api/v1{url}", **kwargs)
        assert response.status_code < 300, response.text
        calls.append((method.lower(), template, response))
        return response.json() if response.content else {}

    cop = call("POST", "/communities", "/communities", json={"name": "CoP kop"})
    base = f"/communities/{cop['id']}"
    call(
        "POST",
        "/communities/{communityId}/members",
        f"{base}/members",
        json={"organisationId": haarlem.id},
    )
    need = call(
        "POST",
        "/communities/{communityId}/needs",
        f"{base}/needs",
        json={"organisationId": haarlem.id, "text": "TVW"},
    )
    item = "/communities/{communityId}/needs/{needId}"
    call("GET", item, f"{base}/needs/{need['id']}")
    call(
        "PATCH",
        item,
        f"{base}/needs/{need['id']}",
        json={"priority": "high"},
        headers={"If-Match": '"1"'},
    )
    call("GET", "/communities/{communityId}/needs", f"{base}/needs")
    person = call(
        "POST",
        "/organisations/{organisationId}/people",
        f"/organisations/{haarlem.id}/people",
        json={"name": "Sanne", "email": "sanne@example.org"},
    )
    call("POST", "/people/{personId}/tokens", f"/people/{person['id']}/tokens")
    call("GET", "/communities/{communityId}/suggestions", f"{base}/suggestions")
    call("GET", "/communities/{communityId}/gaps", f"{base}/gaps")

    for method, template, response in calls:
        declared = document["paths"][template][method]["responses"][str(response.status_code)]
        headers = set(declared.get("headers", {}))
        sent = {name for name in ("ETag", "Location") if name.lower() in response.headers}
        assert headers & {"ETag", "Location"} == sent, (method, template)


def test_every_header_sent_is_declared(
    client: TestClient, session: Session, document: dict[str, Any]
) -> None:
    """A generated client reads only the headers the document declares: WWW-Authenticate on a
    401, Retry-After on a 503, Idempotent-Replayed on a replayed creation, Vary on a 406 of a
    representation chosen by Accept, Cache-Control on a new token, X-Request-ID everywhere."""
    haarlem = factories.municipality(session)
    cop = factories.community(session, None, haarlem)
    person = factories.person(session, haarlem)
    needs = f"/communities/{cop.id}/needs"
    replay = {"Idempotency-Key": "need-1"}
    body = {"organisationId": haarlem.id, "text": "TVW"}
    client.post(f"/api/v1{needs}", json=body, headers=replay)
    sent = [
        ("get", "/communities/{communityId}/needs", client.get(f"/api/v1{needs}")),
        (
            "post",
            "/communities/{communityId}/needs",
            client.post(f"/api/v1{needs}", json=body, headers=replay),
        ),
        ("get", "/topics", client.get("/api/v1/topics", headers={"Authorization": ""})),
        ("post", "/people/{personId}/tokens", client.post(f"/api/v1/people/{person.id}/tokens")),
        (
            "get",
            "/communities/{communityId}/report",
            client.get(f"/api/v1/communities/{cop.id}/report", headers={"Accept": "image/png"}),
        ),
    ]
    optional = {"www-authenticate", "idempotent-replayed", "vary", "cache-control", "x-request-id"}
    for method, template, response in sent:
        declared = document["paths"][template][method]["responses"][str(response.status_code)]
        names = {name.lower() for name in declared.get("headers", {})}
        assert {name for name in optional if name in response.headers} <= names, (
            method,
            template,
            response.status_code,
        )
    assert [response.status_code for *_, response in sent] == [200, 201, 401, 201, 406]
    assert sent[1][2].headers["idempotent-replayed"] == "true"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                assert "X-Request-ID" in response["headers"], (path, method, code)
            if "503" in operation["responses"]:
                assert "Retry-After" in operation["responses"]["503"]["headers"]
            assert len(operation["tags"]) == 1, (path, method)  # one API class per operation
    health = document["paths"]["/health"]["get"]["responses"]["503"]["content"]
    assert health["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/HealthProblem"
    }


def _transitions(text: str) -> dict[str, set[str]]:
    """``{"proposed": {"introduced", "declined"}}`` from "proposed → introduced | declined; …"."""
    found: dict[str, set[str]] = {}
    for source, targets in re.findall(r"(\w+) → ((?:\w+)(?: \| \w+)*)", " ".join(text.split())):
        found.setdefault(source, set()).update(targets.split(" | "))
    return found


def test_the_suggestion_lifecycle_is_documented_as_it_is(document: dict[str, Any]) -> None:
    """The status schema and the PATCH operation state the transitions the service allows."""
    allowed = {str(source): set(map(str, targets)) for source, targets in TRANSITIONS.items()}
    allowed = {source: targets for source, targets in allowed.items() if targets}
    status = document["components"]["schemas"]["SuggestionStatus"]["description"]
    patch = document["paths"]["/communities/{communityId}/suggestions/{suggestionId}"]["patch"]
    assert _transitions(status) == allowed
    assert _transitions(patch["description"]) == allowed


@pytest.mark.skipif(
    not SPECTRAL.exists() and os.environ.get("CI", "").lower() != "true",
    reason="Spectral not installed (run `npm ci`); CI installs it",
)
def test_spectral_adr_ruleset_reports_no_errors(document: dict[str, Any], tmp_path: Path) -> None:
    assert shutil.which("node"), "node is needed to run Spectral"
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    result = subprocess.run(
        [str(SPECTRAL), "lint", "-r", str(RULESET), "-f", "json", "--quiet", str(spec)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [
        f"{f['code']} at {'.'.join(map(str, f['path']))}: {f['message']}"
        for f in findings
        if f["severity"] == 0
    ]
    assert errors == []
