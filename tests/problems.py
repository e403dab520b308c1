"""Assertions on RFC 9457 problem responses."""

from __future__ import annotations

from typing import Any

import httpx

from app import __version__


def assert_problem(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """The response is a problem+json of ``status`` that names exactly ``fields`` (if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["api-version"] == __version__
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["type"].startswith("urn:copmatch:problem:")
    if fields:
        named = {param["name"] for param in body.get("invalidParams", [])}
        assert named == set(fields), body
    return body
