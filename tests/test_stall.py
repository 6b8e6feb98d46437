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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import httpx2
import pytest
from meetkai_mka1 import SDK, models
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
    database_url: str
    """The database, through the proxy."""


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
            yield Stalled(url, proxy, http, through)
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


@pytest.mark.parametrize("sdk", ["openai", "mka1"])
def test_an_sdk_create_retried_after_a_stall_stores_one_copy(stalled: Stalled, sdk: str) -> None:
    """Frozen both ways: the write never reaches the database before its deadline, so the 503
    means it was not stored, and it is refused when its bytes arrive late; the retry stores the
    one copy."""
    http = stalled.http
    conversation_id = http.post(BASE_PATH, json={}).json()["id"]
    creating = _sdk_create(sdk, stalled, conversation_id)
    stalled.proxy.freeze()
    started = time.monotonic()
    creating.start()
    assert creating.answered.wait(DEADLINE + SLACK + 1), "no answer within the deadline"
    assert time.monotonic() - started <= DEADLINE + SLACK
    assert creating.statuses == [503]
    stalled.proxy.thaw()
    assert creating.thread is not None
    creating.thread.join(timeout=30)
    assert creating.statuses[-1] == 200, creating.statuses
    assert _recovered(http, conversation_id) == ["once"]


@dataclass
class Creating:
    """An SDK's items.create (with its own retries) that a thread runs once ``start``ed."""

    create: Callable[[], list[str]]
    answered: threading.Event
    statuses: list[int]
    ids: list[str]
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=lambda: self.ids.extend(self.create()), daemon=True)
        self.thread.start()


def _sdk_create(sdk: str, stalled: Stalled, conversation_id: str) -> Creating:
    """An SDK client, warmed up (its first call imports and connects: seconds for the MKA1
    SDK), about to create one item; it notes every answer it gets."""
    answered = threading.Event()
    statuses: list[int] = []

    def seen(response: httpx2.Response | httpx.Response) -> None:
        statuses.append(response.status_code)
        answered.set()

    create: Callable[[], list[str]]
    if sdk == "openai":
        client = OpenAI(
            base_url=stalled.url + "/api/v1/llm",
            api_key=KEY_A,
            max_retries=2,
            timeout=20,
            default_headers={"X-On-Behalf-Of": USER},
            http_client=httpx2.Client(event_hooks={"response": [seen]}, timeout=20),
        )
        client.conversations.items.list(conversation_id)

        def create() -> list[str]:
            page = client.conversations.items.create(
                conversation_id, items=[{"type": "message", "role": "user", "content": "once"}]
            )
            return [str(item.id) for item in page.data]

    else:
        mka1 = SDK(
            bearer_auth=KEY_A,
            server_url=stalled.url,
            client=httpx.Client(event_hooks={"response": [seen]}, timeout=20),
        )
        mka1.llm.conversations.list_items(conversation_id=conversation_id, x_on_behalf_of=USER)
        items: list[models.ItemTypedDict] = [{"type": "message", "role": "user", "content": "once"}]

        def create() -> list[str]:
            page = mka1.llm.conversations.create_items(
                conversation_id=conversation_id, items=items, x_on_behalf_of=USER
            )
            return [str(dict(item)["id"]) for item in page.data]

    statuses.clear()
    answered.clear()
    return Creating(create, answered, statuses, [])


@pytest.mark.parametrize("sdk", ["openai", "mka1"])
def test_a_write_whose_answer_was_lost_is_not_stored_twice_by_the_retry(
    stalled: Stalled, sdk: str
) -> None:
    """The database applies the write, and its answer is held (the proxy freezes the answers
    only): the service cannot know, answers 503 when the database can no longer apply it, and
    the SDK's retry (same body; neither SDK sends a key) is answered with the stored items."""
    http = stalled.http
    conversation_id = http.post(BASE_PATH, json={}).json()["id"]
    creating = _sdk_create(sdk, stalled, conversation_id)
    stalled.proxy.freeze(answers_only=True)
    started = time.monotonic()
    creating.start()
    assert creating.answered.wait(DEADLINE + SLACK + 1), "no answer within the deadline"
    assert time.monotonic() - started <= DEADLINE + SLACK
    assert creating.statuses == [503]
    stalled.proxy.thaw()
    assert creating.thread is not None
    creating.thread.join(timeout=30)
    assert creating.statuses[-1] == 200, creating.statuses
    stored = http.get(f"{BASE_PATH}/{conversation_id}/items").json()["data"]
    assert [i["content"][0]["text"] for i in stored] == ["once"]
    assert creating.ids == [stored[0]["id"]]  # the SDK was told the id that was stored


def test_with_an_idempotency_key_a_retry_to_another_server_stores_one_copy(
    stalled: Stalled,
) -> None:
    """The answer to a keyed write's COMMIT lost (the database committed it), and the retry
    sent, with the same Idempotency-Key, to another server (process) on the same database: the
    key's receipt, committed with the write, answers it (without a key only the first server
    would have recognised the retry)."""
    http = stalled.http
    conversation_id = http.post(BASE_PATH, json={}).json()["id"]
    path = f"{BASE_PATH}/{conversation_id}/items"
    body = {"items": [{"role": "user", "content": "keyed"}]}
    headers = {"Idempotency-Key": "lost-answer-1"}
    stalled.proxy.freeze_answers_after(b"COMMIT")
    first = http.post(path, json=body, headers=headers)
    assert first.status_code == 503 and first.json()["error"]["code"] == "database_timeout"
    assert "may have been stored" in first.json()["error"]["message"]
    stalled.proxy.thaw()
    other_settings = settings_for(stalled.database_url, request_timeout_seconds=DEADLINE)
    with (
        serve_app(other_settings) as other_url,
        httpx.Client(base_url=other_url, headers=auth_headers(KEY_A, USER), timeout=20) as other,
    ):
        again = other.post(path, json=body, headers=headers)
        assert again.status_code == 200, again.text
        assert _recovered(other, conversation_id) == ["keyed"]
        stored = other.get(path).json()["data"]
        assert [i["id"] for i in again.json()["data"]] == [stored[0]["id"]]
