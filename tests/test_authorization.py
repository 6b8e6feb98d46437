"""The authorization matrix: every operation × every kind of caller, with the exact status of each
cell, on both backends.

Callers: the owner (account A for end user U), the same account for another end user, another
account for the same end user, no key, an unknown key, and a revoked key. Only the owner reaches
the owner's conversation; the two other identities get the 404 of a conversation that does not
exist (creating and listing work for them, on their own data); the three without a valid key get
401 ``invalid_api_key``. No refused request changes anything the owner sees.

And the roles of sharing (docs/sharing.md): end users of account A the owner granted reader,
writer or owner. Each gets 200 where its role allows the operation and 403
``insufficient_role`` where it can see the conversation but its role does not allow it; a
granted caller that succeeds works on a conversation of its own test (shared the same way), so
that every cell starts from the same state.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mka1_conversations.app import open_store
from mka1_conversations.domain.keys import hash_key
from mka1_conversations.settings import Settings

from .conftest import BASE_PATH, KEY_A, KEY_B, RunningServer, conversation_state

OWNER = "owner"
CALLERS = (OWNER, "same_account_other_user", "other_account", "no_key", "bad_key", "revoked_key")
#: End users of account A the owner granted a role (their X-On-Behalf-Of: ``<user>-<role>``).
GRANTED = {"reader": 1, "writer": 2, "granted_owner": 3}
#: The role each operation on the owner's conversation needs (docs/sharing.md).
NEEDS = {
    "retrieve": 1,
    "items.list": 1,
    "items.retrieve": 1,
    "update": 2,
    "items.create": 2,
    "items.delete": 2,
    "items.deleteMany": 2,
    "delete": 3,
}


@dataclass(frozen=True)
class Target:
    conversation_id: str
    item_id: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: Callable[[Target], str]
    body: Callable[[Target], dict[str, Any]] | None = None
    params: dict[str, str] | None = None


def _conv(t: Target) -> str:
    return f"{BASE_PATH}/{t.conversation_id}"


OPERATIONS: dict[str, Operation] = {
    "create": Operation("POST", lambda t: BASE_PATH, lambda t: {"metadata": {"k": "v"}}),
    "list": Operation("GET", lambda t: BASE_PATH, params={"limit": "50"}),
    "retrieve": Operation("GET", _conv),
    "update": Operation("POST", _conv, lambda t: {"metadata": {"changed": "yes"}}),
    "delete": Operation("DELETE", _conv),
    "items.create": Operation(
        "POST",
        lambda t: _conv(t) + "/items",
        lambda t: {"items": [{"role": "user", "content": "x"}]},
    ),
    "items.list": Operation("GET", lambda t: _conv(t) + "/items"),
    "items.retrieve": Operation("GET", lambda t: f"{_conv(t)}/items/{t.item_id}"),
    "items.delete": Operation("DELETE", lambda t: f"{_conv(t)}/items/{t.item_id}"),
    "items.deleteMany": Operation(
        "DELETE", lambda t: _conv(t) + "/items", lambda t: {"item_ids": [t.item_id]}
    ),
}

#: Operations that act on the caller's own data rather than on the owner's conversation.
ON_OWN_DATA = {"create", "list"}


def expected_status(operation: str, caller: str) -> int:
    if caller in ("no_key", "bad_key", "revoked_key"):
        return 401
    if caller == OWNER or operation in ON_OWN_DATA:
        return 200
    if caller in GRANTED:
        return 200 if GRANTED[caller] >= NEEDS[operation] else 403
    return 404


@pytest.fixture(scope="session")
def revoked_key(server: RunningServer) -> str:
    """A key created in the server's database and revoked there."""
    key = "mk-revoked-" + uuid.uuid4().hex

    async def make() -> None:
        storage = await open_store(Settings(database_url=server.database_url))
        try:
            await storage.keys.create_api_key(
                hash_key(key), account="acct_a", name="matrix", now=int(time.time())
            )
            assert await storage.keys.revoke_api_key(hash_key(key), now=int(time.time()))
        finally:
            await storage.close()

    asyncio.run(make())
    return key


def _headers(caller: str, user: str, revoked: str) -> dict[str, str]:
    keys = {
        OWNER: KEY_A,
        "same_account_other_user": KEY_A,
        "other_account": KEY_B,
        "bad_key": "sk-not-a-key",
        "revoked_key": revoked,
    }
    headers = {"X-On-Behalf-Of": "someone-else" if caller == "same_account_other_user" else user}
    if caller in GRANTED:
        keys[caller] = KEY_A
        headers["X-On-Behalf-Of"] = f"{user}-{caller}"
    if caller in keys:
        headers["Authorization"] = f"Bearer {keys[caller]}"
    return headers


def _shared_target(http: httpx.Client, user: str) -> Target:
    """A conversation of the owner's, granted to the GRANTED callers."""
    created = http.post(
        BASE_PATH,
        json={
            "metadata": {"owner": "yes"},
            "items": [{"role": "user", "content": "mine"}, {"role": "user", "content": "also"}],
        },
    )
    assert created.status_code == 200, created.text
    conversation = created.json()
    items = http.get(f"{BASE_PATH}/{conversation['id']}/items").json()
    for caller, level in GRANTED.items():
        granted = http.post(
            "/api/v1/authorization/llm/grant",
            json={
                "resourceType": "conversation",
                "resourceId": conversation["id"],
                "userId": f"{user}-{caller}",
                "role": ("reader", "writer", "owner")[level - 1],
            },
        )
        assert granted.status_code == 204, granted.text
    return Target(conversation["id"], items["data"][0]["id"])


@pytest.fixture
def target(http: httpx.Client, user: str) -> Iterator[Target]:
    yield _shared_target(http, user)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_authorization_matrix(
    operation: str,
    server: RunningServer,
    http: httpx.Client,
    user: str,
    target: Target,
    revoked_key: str,
) -> None:
    op = OPERATIONS[operation]
    before = conversation_state(http, target.conversation_id)
    seen: dict[str, int] = {}
    # The owner last: its call may delete what the others tried to reach.
    for caller in (*CALLERS[1:], *GRANTED, OWNER):
        want = expected_status(operation, caller)
        on = target
        if caller in GRANTED and want == 200 and operation not in ON_OWN_DATA:
            on = _shared_target(http, user)  # its success must not change the others' cells
        response = httpx.request(
            op.method,
            server.url + op.path(on),
            json=op.body(on) if op.body else None,
            params=op.params,
            headers=_headers(caller, user, revoked_key),
            timeout=30,
        )
        seen[caller] = response.status_code
        assert response.status_code == want, (caller, response.text)
        if want == 403:
            error = response.json()["error"]
            assert (error["type"], error["code"]) == ("permission_error", "insufficient_role")
        elif want != 200:
            error = response.json()["error"]
            assert error["code"] == ("invalid_api_key" if want == 401 else "not_found")
            assert error["type"] == "invalid_request_error"
        elif operation == "list" and caller != OWNER:
            assert target.conversation_id not in [c["id"] for c in response.json()["data"]]
        if caller != OWNER:
            assert conversation_state(http, target.conversation_id) == before, caller
    assert seen == {caller: expected_status(operation, caller) for caller in (*CALLERS, *GRANTED)}
    if operation == "list":
        assert target.conversation_id in [c["id"] for c in http.get(BASE_PATH).json()["data"]]


@pytest.mark.parametrize(
    ("headers", "param"),
    [
        pytest.param(
            [("Authorization", f"Bearer {KEY_B}"), ("Authorization", f"Bearer {KEY_A}")],
            "Authorization",
            id="two-keys",
        ),
        pytest.param(
            [("Authorization", f"Bearer {KEY_A}"), ("Authorization", "Bearer sk-unknown")],
            "Authorization",
            id="a-key-and-a-bad-one",
        ),
        pytest.param(
            [("Authorization", f"Bearer {KEY_A}"), ("Authorization", f"Bearer {KEY_A}")],
            "Authorization",
            id="the-same-key-twice",
        ),
        pytest.param(
            [
                ("Authorization", f"Bearer {KEY_A}"),
                ("X-On-Behalf-Of", "u1"),
                ("X-On-Behalf-Of", "u2"),
            ],
            "X-On-Behalf-Of",
            id="two-end-users",
        ),
    ],
)
def test_a_repeated_identity_header_is_refused(
    server: RunningServer,
    http: httpx.Client,
    target: Target,
    headers: list[tuple[str, str]],
    param: str,
) -> None:
    """Never "the last one wins": a proxy that reads the first must not disagree with us about
    who is calling. Nothing is read or written for such a request."""
    before = conversation_state(http, target.conversation_id)
    for method, path, body in (
        ("GET", BASE_PATH, None),
        ("POST", BASE_PATH, {}),
        ("GET", f"{BASE_PATH}/{target.conversation_id}", None),
        (
            "POST",
            f"{BASE_PATH}/{target.conversation_id}/items",
            {"items": [{"role": "user", "content": "x"}]},
        ),
    ):
        response = httpx.request(method, server.url + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 400, (method, path, response.text)
        error = response.json()["error"]
        assert (error["code"], error["param"], error["type"]) == (
            "invalid_header",
            param,
            "invalid_request_error",
        ), error
    assert conversation_state(http, target.conversation_id) == before
    # Without a valid key, the 401 comes first, as for any other fault of X-On-Behalf-Of.
    if param == "X-On-Behalf-Of":
        anonymous = [h for h in headers if h[0] != "Authorization"]
        assert httpx.get(server.url + BASE_PATH, headers=anonymous).status_code == 401
