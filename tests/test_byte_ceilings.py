"""What one request can make the service hold is bounded in bytes too (issue 18, finding 5):
40 items of 7.8 MB listed with limit=100 made a 312 MB answer, and four of them a 1.3 GB worker.

- A page of items carries at most ``MKA1_MAX_PAGE_BYTES`` of item JSON, cut short with
  ``has_more: true`` (never an error), except that its first item is always whole, so paging
  always moves on; the next page starts where it stopped.
- An item is at most ``MKA1_MAX_ITEM_BYTES`` as stored: a create with a larger one is a 413
  naming it, and stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, auth_headers, serve_app
from .conftest import test_settings as settings_for

KIB = 1024
PAGE = 64 * KIB
ITEM = 40 * KIB


@pytest.fixture
def http(database_url: str) -> Iterator[httpx.Client]:
    settings = settings_for(database_url, max_page_bytes=PAGE, max_item_bytes=ITEM)
    with (
        serve_app(settings) as url,
        httpx.Client(base_url=url, headers=auth_headers(KEY_A, "bytes"), timeout=30) as client,
    ):
        yield client


def _message(n: int, size: int) -> dict[str, Any]:
    return {"id": f"msg_{n}", "role": "user", "content": f"{n} " + "x" * size}


def _conversation(http: httpx.Client, sizes: list[int]) -> str:
    conversation: str = http.post(BASE_PATH, json={}).json()["id"]
    for n, size in enumerate(sizes):
        added = http.post(f"{BASE_PATH}/{conversation}/items", json={"items": [_message(n, size)]})
        assert added.status_code == 200, added.text
    return conversation


def _pages(http: httpx.Client, conversation: str, order: str) -> list[dict[str, Any]]:
    """Every page, each with its answer's size in bytes under ``"bytes"``."""
    pages = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, "order": order}
        if after is not None:
            params["after"] = after
        response = http.get(f"{BASE_PATH}/{conversation}/items", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        page["bytes"] = len(response.content)
        pages.append(page)
        if not page["has_more"]:
            return pages
        after = page["last_id"]
        assert len(pages) < 50


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_page_stops_at_the_byte_ceiling_and_paging_goes_on(
    http: httpx.Client, order: str
) -> None:
    sizes = [30 * KIB] * 7 + [KIB] * 5
    conversation = _conversation(http, sizes)
    pages = _pages(http, conversation, order)
    ids = [f"msg_{n}" for n in range(len(sizes))]
    expected = ids if order == "asc" else ids[::-1]
    assert [i["id"] for p in pages for i in p["data"]] == expected  # each once, in order
    for page in pages:
        assert page["first_id"] == page["data"][0]["id"]
        assert page["last_id"] == page["data"][-1]["id"]
        if len(page["data"]) > 1:
            assert page["bytes"] <= PAGE + 200  # the items, and the list's envelope
    first = pages[0]
    assert first["has_more"] is True and len(first["data"]) == (2 if order == "asc" else 6)


def test_the_first_item_of_a_page_is_always_whole(database_url: str) -> None:
    """An item larger than the page ceiling (stored under a larger item ceiling, or before
    one) still comes, alone on its page."""
    settings = settings_for(database_url, max_page_bytes=16 * KIB, max_item_bytes=ITEM)
    with (
        serve_app(settings) as url,
        httpx.Client(base_url=url, headers=auth_headers(KEY_A, "whole"), timeout=30) as http,
    ):
        conversation = _conversation(http, [30 * KIB, 30 * KIB, 10, 10])
        pages = _pages(http, conversation, "asc")
        assert [[i["id"] for i in p["data"]] for p in pages] == [
            ["msg_0"],
            ["msg_1"],
            ["msg_2", "msg_3"],
        ]
        assert [p["has_more"] for p in pages] == [True, True, False]
        assert len(pages[0]["data"][0]["content"][0]["text"]) == 30 * KIB + 2


@pytest.mark.parametrize("where", ["create_conversation", "create_items"])
def test_an_item_over_the_item_ceiling_is_a_413_and_stores_nothing(
    http: httpx.Client, where: str
) -> None:
    items = [_message(0, 10), _message(1, ITEM), _message(2, 10)]
    conversation = http.post(BASE_PATH, json={}).json()["id"]
    if where == "create_conversation":
        response = http.post(BASE_PATH, json={"items": items})
    else:
        response = http.post(f"{BASE_PATH}/{conversation}/items", json={"items": items})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error == {
        "message": error["message"],
        "type": "invalid_request_error",
        "param": "items[1]",
        "code": "request_too_large",
    }
    assert str(ITEM) in error["message"]
    assert http.get(BASE_PATH).json()["data"] == [http.get(f"{BASE_PATH}/{conversation}").json()]
    assert http.get(f"{BASE_PATH}/{conversation}/items").json()["data"] == []
    # Just under the ceiling is fine (the stored JSON is the text plus its wrapping).
    fits = _message(3, ITEM - 200)
    assert http.post(f"{BASE_PATH}/{conversation}/items", json={"items": [fits]}).status_code == 200
