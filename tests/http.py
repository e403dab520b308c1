"""Requests that follow the optimistic-locking protocol: GET the ETag, send it as If-Match."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient


def current_etag(client: TestClient, url: str) -> str | None:
    """The resource's ETag as the client's admin sees it, or None when it cannot be read (then
    the write's own error shows)."""
    response = client.get(url)
    return response.headers.get("etag") if response.status_code == 200 else None


def _headers(client: TestClient, url: str, headers: dict[str, str] | None) -> dict[str, str]:
    etag = current_etag(client, url)
    return {**({"If-Match": etag} if etag else {}), **(headers or {})}


def patch(
    client: TestClient, url: str, json: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    """PATCH with the current ETag; ``headers`` may act as another caller."""
    return client.patch(url, json=json, headers=_headers(client, url, headers))


def delete(client: TestClient, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.delete(url, headers=_headers(client, url, headers))


def every_page(client: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    """All items of a collection, page after page (of the largest page size); the total of
    every page must agree."""
    items: list[dict[str, Any]] = []
    while True:
        response = client.get(url, params={**params, "limit": 100, "offset": len(items)})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            assert len(items) == page["total"], (len(items), page["total"])
            return items
