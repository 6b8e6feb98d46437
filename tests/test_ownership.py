"""Ownership (DECISIONS.md §4): every operation sees only the caller's own conversations.

The owner is account A acting for end user U. Each intruder (another account, with or without
the same end user; the same account for another end user or for itself) gets, on every operation
against the owner's conversation, exactly the 404 that a conversation that does not exist gets:
same status, same body up to the id (no existence oracle). Lists never show the conversation,
and afterwards the owner sees it exactly as before.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    BASE_PATH,
    KEY_A,
    KEY_B,
    RunningServer,
    auth_headers,
    conversation_state,
)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Owned:
    """The owner's conversation, as the owner saw it right after creating it."""

    id: str
    item_ids: list[str]
    marker: str
    """A metadata value and a search word unique to this conversation."""
    conversation: dict[str, Any]
    items: dict[str, Any]


@pytest.fixture
def owned(http: httpx.Client) -> Owned:
    marker = "zq" + uuid.uuid4().hex[:10]
    response = http.post(
        BASE_PATH,
        json={
            "metadata": {"marker": marker, "topic": "secret"},
            "items": [
                {"role": "user", "content": f"hello {marker}"},
                {"role": "assistant", "content": "hi there", "id": "msg_owner_1"},
                {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    conversation_id = response.json()["id"]
    conversation, items = conversation_state(http, conversation_id)
    return Owned(conversation_id, [i["id"] for i in items["data"]], marker, conversation, items)


#: Who tries to reach the owner's conversation: (key, X-On-Behalf-Of relative to the owner's U).
INTRUDERS: dict[str, Callable[[str], dict[str, str]]] = {
    "account-B-no-header": lambda user: auth_headers(KEY_B),
    "account-B-same-user": lambda user: auth_headers(KEY_B, user),
    "account-A-other-user": lambda user: auth_headers(KEY_A, user + "-other"),
    "account-A-no-header": lambda user: auth_headers(KEY_A),
}


@pytest.fixture(params=list(INTRUDERS))
def intruder(
    request: pytest.FixtureRequest, server: RunningServer, user: str
) -> Iterator[httpx.Client]:
    headers = INTRUDERS[request.param](user)
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


#: The operations on one conversation: (method, path under the conversation, JSON body).
#: ``{item}`` is one of the owner's item ids.
OPERATIONS: dict[str, tuple[str, str, Any]] = {
    "get": ("GET", "", None),
    "update": ("POST", "", {"metadata": {"owned": "by-intruder"}}),
    "delete": ("DELETE", "", None),
    "create-items": ("POST", "/items", {"items": [{"role": "user", "content": "intrusion"}]}),
    "list-items": ("GET", "/items", None),
    "get-item": ("GET", "/items/{item}", None),
    "delete-item": ("DELETE", "/items/{item}", None),
    "bulk-delete": ("DELETE", "/items", {"item_ids": ["{item}"]}),
}


def _call(
    client: httpx.Client, operation: str, conversation_id: str, item_id: str
) -> httpx.Response:
    method, suffix, body = OPERATIONS[operation]
    path = f"{BASE_PATH}/{conversation_id}{suffix.replace('{item}', item_id)}"
    if body is None:
        return client.request(method, path)
    content = json.dumps(body).replace("{item}", item_id)
    return client.request(
        method, path, content=content, headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_intruder_gets_the_404_of_a_missing_conversation(
    http: httpx.Client, owned: Owned, intruder: httpx.Client, operation: str
) -> None:
    item_id = owned.item_ids[1]
    foreign = _call(intruder, operation, owned.id, item_id)
    missing_id = "conv_" + uuid.uuid4().hex
    missing = _call(intruder, operation, missing_id, item_id)

    assert foreign.status_code == missing.status_code == 404, (foreign.text, missing.text)
    assert foreign.headers["content-type"] == missing.headers["content-type"]
    assert "x-should-retry" not in foreign.headers
    assert foreign.json() == {
        "error": {
            "message": f"Conversation with id '{owned.id}' not found.",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }
    # Byte for byte the same answer, once the ids are swapped.
    assert foreign.text.replace(owned.id, "<id>") == missing.text.replace(missing_id, "<id>")

    # The owner sees everything exactly as before.
    assert conversation_state(http, owned.id) == (owned.conversation, owned.items)


def test_intruder_never_lists_it(http: httpx.Client, owned: Owned, intruder: httpx.Client) -> None:
    seen: list[str] = []
    after: str | None = None
    for _ in range(200):
        params = {"limit": "50", **({"after": after} if after else {})}
        page = intruder.get(BASE_PATH, params=params)
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["data"]]
        if not page.json()["has_more"]:
            break
        after = page.json()["last_id"]
    assert owned.id not in seen

    for params in (
        {"metadata": json.dumps({"marker": owned.marker})},
        {"metadata[marker]": owned.marker},
        {"marker": owned.marker},
        {"search": owned.marker},
        {"search": "hello " + owned.marker, "order": "desc"},
    ):
        page = intruder.get(BASE_PATH, params=params)
        assert page.status_code == 200, page.text
        assert page.json()["data"] == [], params
        # The owner does find it with the same query.
        assert [c["id"] for c in http.get(BASE_PATH, params=params).json()["data"]] == [owned.id]

    # The owner's id as a cursor is no better than an unknown one.
    foreign = intruder.get(BASE_PATH, params={"after": owned.id})
    missing_id = "conv_" + uuid.uuid4().hex
    missing = intruder.get(BASE_PATH, params={"after": missing_id})
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["error"]["param"] == "after"
    assert foreign.text.replace(owned.id, "<id>") == missing.text.replace(missing_id, "<id>")

    assert conversation_state(http, owned.id) == (owned.conversation, owned.items)


def test_intruder_writes_land_in_its_own_space(
    http: httpx.Client, owned: Owned, intruder: httpx.Client
) -> None:
    """An intruder can reuse the owner's item ids and metadata in its own conversation."""
    created = intruder.post(
        BASE_PATH,
        json={
            "metadata": {"marker": owned.marker},
            "items": [{"role": "user", "content": "mine", "id": "msg_owner_1"}],
        },
    )
    assert created.status_code == 200, created.text
    own_id = created.json()["id"]
    listed = intruder.get(BASE_PATH, params={"marker": owned.marker}).json()["data"]
    assert [c["id"] for c in listed] == [own_id]
    assert intruder.delete(f"{BASE_PATH}/{own_id}").status_code == 200
    assert [
        c["id"] for c in http.get(BASE_PATH, params={"marker": owned.marker}).json()["data"]
    ] == [owned.id]
    assert conversation_state(http, owned.id) == (owned.conversation, owned.items)


def test_account_level_conversation_is_not_visible_to_its_end_users(
    server: RunningServer, user: str
) -> None:
    """Strict owner equality the other way round: A with no header owns it; A for U and B don't."""
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A), timeout=30) as account:
        created = account.post(BASE_PATH, json={"items": [{"role": "user", "content": "x"}]})
        assert created.status_code == 200, created.text
        conversation_id = created.json()["id"]
        try:
            for headers in (auth_headers(KEY_A, user), auth_headers(KEY_B)):
                with httpx.Client(base_url=server.url, headers=headers, timeout=30) as other:
                    for operation in OPERATIONS:
                        response = _call(other, operation, conversation_id, "msg_x")
                        assert response.status_code == 404, (operation, response.text)
            assert account.get(f"{BASE_PATH}/{conversation_id}").status_code == 200
        finally:
            account.delete(f"{BASE_PATH}/{conversation_id}")


# --- identity ------------------------------------------------------------------------------


def test_identity_is_the_hash_of_account_and_end_user(http: httpx.Client, user: str) -> None:
    expected = sha256_hex(f"{ACCOUNT_A}:{user}")
    created = http.post(BASE_PATH, json={"items": [{"role": "user", "content": "x"}]})
    assert created.status_code == 200, created.text
    conversation = created.json()
    assert conversation["identity"] == expected
    conversation_id = conversation["id"]
    item_id = http.get(f"{BASE_PATH}/{conversation_id}/items").json()["first_id"]
    answers = [
        http.get(f"{BASE_PATH}/{conversation_id}").json(),
        http.post(f"{BASE_PATH}/{conversation_id}", json={"metadata": {"a": "b"}}).json(),
        http.get(BASE_PATH).json()["data"][0],
        http.delete(f"{BASE_PATH}/{conversation_id}/items/{item_id}").json(),
    ]
    for answer in answers:
        assert answer["identity"] == expected, answer
    # Never the raw owner string in hash mode.
    assert f"{ACCOUNT_A}:{user}" not in json.dumps(answers)


def test_identity_without_on_behalf_of(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A), timeout=30) as client:
        created = client.post(BASE_PATH, json={})
        assert created.status_code == 200, created.text
        assert created.json()["identity"] == sha256_hex(f"{ACCOUNT_A}:")
        client.delete(f"{BASE_PATH}/{created.json()['id']}")


def test_identity_of_another_account_for_the_same_user(server: RunningServer, user: str) -> None:
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_B, user), timeout=30) as client:
        created = client.post(BASE_PATH, json={})
        assert created.status_code == 200, created.text
        assert created.json()["identity"] == sha256_hex(f"{ACCOUNT_B}:{user}")
        assert created.json()["identity"] != sha256_hex(f"{ACCOUNT_A}:{user}")
