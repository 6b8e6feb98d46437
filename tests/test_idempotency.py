"""``Idempotency-Key`` (issue 18, finding 3): exactly-once writes for clients that send one.

The same key and request (method, path, body) from the same owner within 24 hours are answered
with the first answer and store nothing again; the same key with another request is a 409;
concurrent ones store once. Both official SDKs can send it (``extra_headers`` / ``http_headers``).
Receipts past their retention are ignored, and ``purge`` removes them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from meetkai_mka1 import SDK, utils
from openai import OpenAI

from .conftest import BASE_PATH, KEY_A, RunningServer, auth_headers, serve_app
from .conftest import test_settings as settings_for
from .processes import cli_env, run_cli


def _key() -> str:
    return f"key-{uuid.uuid4().hex}"


def _message(text: str) -> dict[str, Any]:
    return {"items": [{"role": "user", "content": text}]}


def _texts(http: httpx.Client, conversation: str) -> list[str]:
    page = http.get(f"{BASE_PATH}/{conversation}/items", params={"limit": 100}).json()
    return [i["content"][0]["text"] for i in page["data"]]


def test_the_same_key_and_request_are_answered_once(http: httpx.Client) -> None:
    key = _key()
    first = http.post(BASE_PATH, json=_message("hello"), headers={"Idempotency-Key": key})
    again = http.post(BASE_PATH, json=_message("hello"), headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200, again.text
    assert again.content == first.content
    conversation = first.json()["id"]
    assert [c["id"] for c in http.get(BASE_PATH).json()["data"]] == [conversation]

    path = f"{BASE_PATH}/{conversation}/items"
    key = _key()
    added = [http.post(path, json=_message("once"), headers={"Idempotency-Key": key}) for _ in "ab"]
    assert added[0].status_code == 200 and added[1].content == added[0].content
    assert _texts(http, conversation) == ["hello", "once"]
    # Without a key the same body is a new message, as always.
    assert http.post(path, json=_message("once")).status_code == 200
    assert _texts(http, conversation) == ["hello", "once", "once"]


def test_every_write_answers_its_first_answer_again(http: httpx.Client) -> None:
    conversation = http.post(BASE_PATH, json=_message("a")).json()["id"]
    item = http.get(f"{BASE_PATH}/{conversation}/items").json()["data"][0]["id"]
    writes: list[tuple[str, str, Any]] = [
        ("POST", f"{BASE_PATH}/{conversation}", {"metadata": {"k": "v"}}),
        ("DELETE", f"{BASE_PATH}/{conversation}/items/{item}", None),
        ("POST", f"{BASE_PATH}/{conversation}/items", _message("b")),
        ("DELETE", f"{BASE_PATH}/{conversation}", None),
    ]
    for method, path, body in writes:
        key = _key()
        first = http.request(method, path, json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 200, (path, first.text)
        if method == "POST" and path.endswith("/items"):
            items = http.get(path).json()["data"]
            http.request("DELETE", path, json={"item_ids": [i["id"] for i in items]})
        again = http.request(method, path, json=body, headers={"Idempotency-Key": key})
        assert (again.status_code, again.content) == (200, first.content), (path, again.text)
    # The deleted conversation stays deleted; the key did not write anything again.
    assert http.get(f"{BASE_PATH}/{conversation}").status_code == 404


def test_a_key_reused_with_another_request_is_a_409(http: httpx.Client) -> None:
    key = _key()
    first = http.post(BASE_PATH, json=_message("one"), headers={"Idempotency-Key": key})
    assert first.status_code == 200
    for body, path in [(_message("two"), BASE_PATH), (_message("one"), BASE_PATH + "/x/items")]:
        other = http.post(path, json=body, headers={"Idempotency-Key": key})
        assert other.status_code == 409, other.text
        assert other.headers["x-should-retry"] == "false"
        assert other.json()["error"] == {
            "message": other.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": "Idempotency-Key",
            "code": "idempotency_key_reused",
        }
    assert len(http.get(BASE_PATH).json()["data"]) == 1


def test_a_key_belongs_to_its_owner(server: RunningServer, http: httpx.Client, user: str) -> None:
    key = _key()
    mine = http.post(BASE_PATH, json=_message("x"), headers={"Idempotency-Key": key})
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user + "-2")) as other:
        theirs = other.post(BASE_PATH, json=_message("x"), headers={"Idempotency-Key": key})
        assert theirs.status_code == 200 and theirs.json()["id"] != mine.json()["id"]


def test_concurrent_requests_with_one_key_store_once(server: RunningServer, user: str) -> None:
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user)) as http:
        conversation = http.post(BASE_PATH, json={}).json()["id"]
    key = _key()
    answers: list[httpx.Response] = []
    start = threading.Barrier(8)

    def send() -> None:
        with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user)) as client:
            start.wait()
            answers.append(
                client.post(
                    f"{BASE_PATH}/{conversation}/items",
                    json=_message("racing"),
                    headers={"Idempotency-Key": key},
                )
            )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user)) as http:
        assert _texts(http, conversation) == ["racing"]


@pytest.mark.parametrize(
    "headers",
    [
        [("Idempotency-Key", "")],
        [("Idempotency-Key", "k" * 256)],
        [("Idempotency-Key", "has space")],
        [("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    ],
)
def test_a_malformed_key_is_a_400(http: httpx.Client, headers: list[tuple[str, str]]) -> None:
    response = http.post(BASE_PATH, json=_message("x"), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_header"
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert http.get(BASE_PATH).json()["data"] == []


def test_both_sdks_send_a_key(server: RunningServer, user: str) -> None:
    key = _key()
    with OpenAI(
        base_url=server.url + "/api/v1/llm",
        api_key=KEY_A,
        max_retries=0,
        default_headers={"X-On-Behalf-Of": user},
    ) as client:
        conversation = client.conversations.create(extra_headers={"Idempotency-Key": key})
        again = client.conversations.create(extra_headers={"Idempotency-Key": key})
        assert again.id == conversation.id
        items_key = _key()
        made = [
            client.conversations.items.create(
                conversation.id,
                items=[{"type": "message", "role": "user", "content": "sdk"}],
                extra_headers={"Idempotency-Key": items_key},
            )
            for _ in "ab"
        ]
        assert made[0].data[0].id == made[1].data[0].id
    no_retries = utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1.0, 1), False)
    with SDK(bearer_auth=KEY_A, server_url=server.url, retry_config=no_retries) as sdk:
        mka1_key = _key()
        created = [
            sdk.llm.conversations.create_items(
                conversation_id=conversation.id,
                items=[{"type": "message", "role": "user", "content": "mka1"}],
                x_on_behalf_of=user,
                http_headers={"Idempotency-Key": mka1_key},
            )
            for _ in "ab"
        ]
        assert created[0].data[0].id == created[1].data[0].id
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user)) as http:
        assert _texts(http, conversation.id) == ["sdk", "mka1"]


def test_receipts_expire_and_purge_removes_them(database_url: str) -> None:
    """On a database of its own: the receipts are aged by another process (a connection closed
    in the server's own process would drop SQLite's locks of the server's connections), and
    ``purge`` (a process of its own) runs beside the server."""
    user = "expiring"
    key = _key()
    with (
        serve_app(settings_for(database_url)) as url,
        httpx.Client(base_url=url, headers=auth_headers(KEY_A, user)) as http,
    ):
        first = http.post(BASE_PATH, json=_message("old"), headers={"Idempotency-Key": key})
        assert first.status_code == 200
        day_ago = int(time.time()) - 24 * 3600 - 10
        _age_receipts(database_url, day_ago)
        # Past the retention the key is free: the same request is a new write.
        again = http.post(BASE_PATH, json=_message("old"), headers={"Idempotency-Key": key})
        assert again.status_code == 200 and again.json()["id"] != first.json()["id"]
        _age_receipts(database_url, day_ago)
        purged = run_cli("purge", "--deleted-before", "30d", env=cli_env(database_url))
        assert purged.returncode == 0, purged.stderr
        assert _age_receipts(database_url, day_ago) == 0  # nothing left to age


_AGE = """
import sys, sqlite3
db = sqlite3.connect(sys.argv[1])
print(db.execute("UPDATE request_receipts SET created_at = ?", (int(sys.argv[2]),)).rowcount)
db.commit()
"""


def _age_receipts(database_url: str, created_at: int) -> int:
    """Set every receipt's creation time; how many there were."""
    if database_url.startswith("sqlite"):
        aged = subprocess.run(
            [sys.executable, "-c", _AGE, database_url[len("sqlite:///") :], str(created_at)],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(aged.stdout)

    async def update() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            status = await conn.execute("UPDATE request_receipts SET created_at = $1", created_at)
            return int(status.rsplit(" ", 1)[1])
        finally:
            await conn.close()

    return asyncio.run(update())
