"""A stalled PostgreSQL (issue 18, finding 3): a TCP proxy between the service and the database
is frozen (nothing forwarded, nothing dropped, as a SIGSTOP'd server or a stalled network).

- Every request is answered within the deadline (``MKA1_REQUEST_TIMEOUT_SECONDS``) with a 503
  ``database_timeout``, however long the stall (it was answered when the stall ended, 43-58 s).
- A write cut off by the deadline is not applied when its bytes finally reach the database (it
  was, after the 503, so a retry stored the message twice).
- An SDK's ``items.create`` retried after that 503 stores exactly one copy, also when the
  database did apply the write and only its answer was lost (the service then recognises the
  retry: store/receipts.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import httpx2
import pytest
from openai import OpenAI

from .conftest import BASE_PATH, KEY_A, auth_headers, postgres_database, serve_app
from .conftest import test_settings as settings_for
from .tcp_proxy import TcpProxy

DEADLINE = 2.0
SLACK = 1.5
"""What the answer may take beyond the deadline on a loaded machine."""
USER = "stalled"


@dataclass
class Stalled:
    url: str
    proxy: TcpProxy
    http: httpx.Client


@pytest.fixture
def stalled() -> Iterator[Stalled]:
    with (
        postgres_database() as postgres_url,
        TcpProxy(("127.0.0.1", 5432)) as proxy,
    ):
        database = postgres_url.rsplit("/", 1)[1]
        through = f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}"
        settings = settings_for(through, request_timeout_seconds=DEADLINE)
        with (
            serve_app(settings) as url,
            httpx.Client(base_url=url, headers=auth_headers(KEY_A, USER), timeout=20) as http,
        ):
            yield Stalled(url, proxy, http)
            proxy.thaw()


def _texts(http: httpx.Client, conversation: str) -> list[str]:
    items = http.get(f"{BASE_PATH}/{conversation}/items", params={"limit": 100})
    assert items.status_code == 200, items.text
    return [i["content"][0]["text"] for i in items.json()["data"]]


def _recovered(http: httpx.Client, conversation: str) -> list[str]:
    deadline = time.monotonic() + 20
    while True:
        response = http.get(f"{BASE_PATH}/{conversation}/items", params={"limit": 100})
        if response.status_code == 200:
            return [i["content"][0]["text"] for i in response.json()["data"]]
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)


def test_a_frozen_database_is_answered_within_the_deadline(stalled: Stalled) -> None:
    http = stalled.http
    conversation = http.post(BASE_PATH, json={"items": [{"role": "user", "content": "a"}]})
    conversation_id = conversation.json()["id"]
    stalled.proxy.freeze()
    for method, path, body in [
        ("GET", f"{BASE_PATH}/{conversation_id}/items", None),
        (
            "POST",
            f"{BASE_PATH}/{conversation_id}/items",
            {"items": [{"role": "user", "content": "b"}]},
        ),
        ("GET", BASE_PATH, None),
        ("DELETE", f"{BASE_PATH}/{conversation_id}", None),
    ]:
        started = time.monotonic()
        response = http.request(method, path, json=body)
        took = time.monotonic() - started
        assert response.status_code == 503, (method, path, response.text)
        assert response.json()["error"]["code"] == "database_timeout"
        assert response.headers["retry-after"] == "1"
        assert took <= DEADLINE + SLACK, (method, path, took)
    stalled.proxy.thaw()
    # The cut-off writes reached the database after their deadline: neither was applied.
    time.sleep(0.5)
    assert _recovered(http, conversation_id) == ["a"]
    assert http.get(f"{BASE_PATH}/{conversation_id}").status_code == 200


def test_an_sdk_create_retried_after_a_stall_stores_one_copy(stalled: Stalled) -> None:
    http = stalled.http
    conversation_id = http.post(BASE_PATH, json={}).json()["id"]
    answered = threading.Event()
    statuses: list[int] = []

    def seen(response: httpx2.Response) -> None:
        statuses.append(response.status_code)
        answered.set()

    client = OpenAI(
        base_url=stalled.url + "/api/v1/llm",
        api_key=KEY_A,
        max_retries=2,
        timeout=20,
        default_headers={"X-On-Behalf-Of": USER},
        http_client=httpx2.Client(event_hooks={"response": [seen]}, timeout=20),
    )
    stalled.proxy.freeze()
    result: list[object] = []
    started = time.monotonic()
    worker = threading.Thread(
        target=lambda: result.append(
            client.conversations.items.create(
                conversation_id, items=[{"type": "message", "role": "user", "content": "once"}]
            )
        ),
        daemon=True,
    )
    worker.start()
    assert answered.wait(DEADLINE + SLACK + 1), "no answer within the deadline"
    assert time.monotonic() - started <= DEADLINE + SLACK
    assert statuses == [503]
    stalled.proxy.thaw()
    worker.join(timeout=30)
    assert result, "the SDK's retry did not succeed"
    assert statuses[-1] == 200
    assert _recovered(http, conversation_id) == ["once"]
