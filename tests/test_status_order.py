"""Which refusal a request meets first (docs/api.md, "Status order"): the head's size, then
routing (an unknown path is a 404 and a method its path does not allow a 405, whatever the key),
then the key (401), then the caller's header, then the request itself. Walked without a key,
with a wrong one and with a good one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, RunningServer, migrated_database, serve_app
from .conftest import test_settings as settings_for

NO_KEY: dict[str, str] = {}
WRONG_KEY = {"Authorization": "Bearer sk-not-a-key"}
GOOD_KEY = {"Authorization": f"Bearer {KEY_A}"}

# (case, method, path ("{conv}": a conversation of the caller), request extras,
#  (status, code) without a key or with a wrong one, (status, code) with a good key)
CASES: list[
    tuple[str, str, str, dict[str, Any], tuple[int, str | None], tuple[int, str | None]]
] = [
    ("unknown path", "GET", "/api/v1/llm/nowhere", {}, (404, "unknown_url"), (404, "unknown_url")),
    (
        "unknown path, POST",
        "POST",
        "/nowhere",
        {"json": {}},
        (404, "unknown_url"),
        (404, "unknown_url"),
    ),
    ("trailing slash", "GET", BASE_PATH + "/", {}, (404, "unknown_url"), (404, "unknown_url")),
    (
        "past a route",
        "GET",
        BASE_PATH + "/{conv}/items/msg_x/more",
        {},
        (404, "unknown_url"),
        (404, "unknown_url"),
    ),
    (
        "method the path does not allow",
        "PUT",
        BASE_PATH + "/{conv}",
        {"json": {}},
        (405, "method_not_allowed"),
        (405, "method_not_allowed"),
    ),
    (
        "method the base path does not allow",
        "DELETE",
        BASE_PATH,
        {},
        (405, "method_not_allowed"),
        (405, "method_not_allowed"),
    ),
    ("known route", "GET", BASE_PATH + "/{conv}", {}, (401, "invalid_api_key"), (200, None)),
    (
        "known route, unknown conversation",
        "GET",
        BASE_PATH + "/conv_unknown",
        {},
        (401, "invalid_api_key"),
        (404, "not_found"),
    ),
    (
        "known route, id that cannot exist",
        "GET",
        BASE_PATH + "/" + "c" * 300,
        {},
        (401, "invalid_api_key"),
        (404, "not_found"),
    ),
    (
        "known route, malformed body",
        "POST",
        BASE_PATH,
        {"content": b"{"},
        (401, "invalid_api_key"),
        (400, "invalid_json"),
    ),
    (
        "known route, body not JSON",
        "POST",
        BASE_PATH + "/{conv}",
        {"content": b"x", "headers": {"Content-Type": "text/plain"}},
        (401, "invalid_api_key"),
        (415, "unsupported_media_type"),
    ),
    (
        "known route, bad X-On-Behalf-Of",
        "GET",
        BASE_PATH,
        {"headers": {"X-On-Behalf-Of": "*"}},
        (401, "invalid_api_key"),
        (400, "invalid_header"),
    ),
    ("operational route", "GET", "/healthz", {}, (200, None), (200, None)),
    (
        "operational route, other method",
        "POST",
        "/healthz",
        {},
        (405, "method_not_allowed"),
        (405, "method_not_allowed"),
    ),
    ("docs", "GET", "/openapi.json", {}, (200, None), (200, None)),
]


def _check(response: httpx.Response, expected: tuple[int, str | None]) -> None:
    status, code = expected
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
    if status == 405:
        assert response.headers["allow"]


@pytest.mark.parametrize(
    ("key", "answer"),
    [(NO_KEY, 0), (WRONG_KEY, 0), (GOOD_KEY, 1)],
    ids=["no-key", "wrong-key", "good-key"],
)
def test_status_order(server: RunningServer, user: str, key: dict[str, str], answer: int) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        owner = {**GOOD_KEY, "X-On-Behalf-Of": user}
        conv = client.post(BASE_PATH, json={}, headers=owner).json()["id"]
        for case, method, path, extras, *expected in CASES:
            options = dict(extras)
            headers = {"X-On-Behalf-Of": user, **key, **options.pop("headers", {})}
            response = client.request(
                method, path.replace("{conv}", conv), headers=headers, **options
            )
            try:
                _check(response, expected[answer])
            except AssertionError as exc:
                raise AssertionError(f"{case}: {exc}") from None
        # Nothing a refused request sent was stored.
        listed = client.get(BASE_PATH, headers=owner).json()["data"]
        assert [c["id"] for c in listed] == [conv]


def test_an_oversized_head_comes_before_routing_and_the_key(tmp_path: Path) -> None:
    database = f"sqlite:///{migrated_database(tmp_path)}"
    filler = {"X-Filler": "y" * 9000}  # over the app's 8,192 bytes, under the server's own bound
    with serve_app(settings_for(database, max_header_bytes=8192)) as url:
        for key in (NO_KEY, GOOD_KEY):
            for method, path in (("GET", "/nowhere"), ("PUT", BASE_PATH), ("GET", BASE_PATH)):
                response = httpx.request(method, url + path, headers={**key, **filler})
                _check(response, (431, "request_header_fields_too_large"))
                assert response.headers["connection"] == "close"
                assert response.headers["x-request-id"]
            assert httpx.get(url + BASE_PATH, headers=GOOD_KEY).status_code == 200
