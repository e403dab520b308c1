"""The taxonomy through the HTTP API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.services.topics import taxonomy
from tests.problems import assert_problem


def test_topics_paging_and_theme_filter(client: TestClient) -> None:
    data = taxonomy()
    page = client.get("/api/v1/topics", params={"limit": 10, "offset": 5}).json()
    assert page["total"] == len(data.topics)
    assert [t["slug"] for t in page["items"]] == [t.slug for t in data.topics[5:15]]
    legal = client.get("/api/v1/topics", params={"theme": "legal"}).json()
    assert [t["slug"] for t in legal["items"]] == [
        t.slug for t in data.topics if t.theme == "legal"
    ]
    assert {t["theme"] for t in legal["items"]} == {"legal"}
    assert_problem(client.get("/api/v1/topics", params={"theme": "astrologie"}), 400, "query.theme")


def test_one_topic_and_the_themes(client: TestClient) -> None:
    tvw = client.get("/api/v1/topics/transitievisie-warmte").json()
    assert tvw["abbreviations"][0] == "TVW"
    assert tvw["label"]["nl"] == "Transitievisie Warmte"
    assert_problem(client.get("/api/v1/topics/kernfusie"), 404)
    assert_problem(client.get("/api/v1/topics/Geen%20Slug"), 400, "path.topicSlug")
    themes = client.get("/api/v1/themes").json()
    assert [t["slug"] for t in themes["items"]] == [t.slug for t in taxonomy().themes]
    assert themes["total"] == 7
