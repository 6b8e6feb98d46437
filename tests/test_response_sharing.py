"""Sharing stored responses (``resourceType: "response"``) through the official MKA1 SDK
(``sdk.permissions.llm.grant/revoke/check``), on both backends, with responses stored through
the loopback model server: the role × operation matrix, ``"*"``, revocation, cross-account
isolation, deletion, and ``previous_response_id`` staying the caller's own (docs/sharing.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Literal

import httpx
import pytest
from meetkai_mka1 import SDK, utils
from meetkai_mka1.errors import SDKDefaultError

from .conftest import KEY_A, KEY_B, RunningServer, auth_headers
from .test_responses import RESPONSES, turn_server  # noqa: F401  (the fixture)
from .upstream_server import LoopbackModelServer, Reply

RoleName = Literal["owner", "writer", "reader"]
Op = Literal["get", "input_items", "delete"]


def make_sdk(server: RunningServer, key: str = KEY_A) -> SDK:
    no_retries = utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1, 1), False)
    return SDK(bearer_auth=key, server_url=server.url, retry_config=no_retries)


@pytest.fixture
def sdk(turn_server: RunningServer) -> Iterator[SDK]:  # noqa: F811
    with make_sdk(turn_server) as client:
        yield client


@pytest.fixture
def sdk_b(turn_server: RunningServer) -> Iterator[SDK]:  # noqa: F811
    with make_sdk(turn_server, KEY_B) as client:
        yield client


@pytest.fixture
def people() -> tuple[str, str, str]:
    n = uuid.uuid4().hex[:8]
    return f"alice-{n}", f"bob-{n}", f"carol-{n}"


def grant(sdk: SDK, by: str, response_id: str, user_id: str, role: RoleName) -> None:
    sdk.permissions.llm.grant(
        resource_type="response",
        resource_id=response_id,
        user_id=user_id,
        role=role,
        x_on_behalf_of=by,
    )


def revoke(sdk: SDK, by: str, response_id: str, user_id: str, role: RoleName) -> None:
    sdk.permissions.llm.revoke(
        resource_type="response",
        resource_id=response_id,
        user_id=user_id,
        role=role,
        x_on_behalf_of=by,
    )


def checks(sdk: SDK, who: str, response_id: str) -> dict[str, bool]:
    return {
        r: sdk.permissions.llm.check(
            resource_type="response", resource_id=response_id, role=r, x_on_behalf_of=who
        ).allowed
        for r in ("reader", "writer", "owner")
    }


def sdk_status(call: object) -> int:
    assert callable(call)
    try:
        call()
    except SDKDefaultError as err:
        if err.status_code == 403:
            assert json.loads(err.body)["error"]["code"] == "insufficient_role"
        return err.status_code
    return 204


def client(server: RunningServer, who: str, key: str = KEY_A) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=auth_headers(key, who), timeout=30)


def store_response(
    server: RunningServer, model_server: LoopbackModelServer, who: str, text: str = "hi"
) -> str:
    model_server.script(Reply(text=f"answer to {text}"))
    with client(server, who) as api:
        made = api.post(RESPONSES, json={"model": "m", "input": text})
    assert made.status_code == 200, made.text
    response_id: str = made.json()["id"]
    return response_id


def status(server: RunningServer, who: str, op: Op, response_id: str, key: str = KEY_A) -> int:
    """The status of one response operation by ``who``; a 403 is the documented envelope."""
    with client(server, who, key) as api:
        if op == "get":
            answer = api.get(f"{RESPONSES}/{response_id}")
        elif op == "input_items":
            answer = api.get(f"{RESPONSES}/{response_id}/input_items")
        else:
            answer = api.delete(f"{RESPONSES}/{response_id}")
    if answer.status_code == 403:
        error = answer.json()["error"]
        assert error["type"] == "permission_error"
        assert error["code"] == "insufficient_role"
    if answer.status_code == 200 and op == "get":
        assert answer.json()["id"] == response_id
    return answer.status_code


def test_alice_shares_a_response_with_bob(
    turn_server: RunningServer,  # noqa: F811
    model_server: LoopbackModelServer,
    sdk: SDK,
    people: tuple[str, str, str],
) -> None:
    alice, bob, carol = people
    response_id = store_response(turn_server, model_server, alice, "secret")
    assert checks(sdk, alice, response_id) == {"reader": True, "writer": True, "owner": True}
    assert checks(sdk, bob, response_id) == {"reader": False, "writer": False, "owner": False}
    assert status(turn_server, bob, "get", response_id) == 404

    grant(sdk, alice, response_id, bob, "reader")
    assert checks(sdk, bob, response_id) == {"reader": True, "writer": False, "owner": False}
    assert status(turn_server, bob, "get", response_id) == 200
    with client(turn_server, bob) as api:
        items = api.get(f"{RESPONSES}/{response_id}/input_items").json()["data"]
        assert [i["content"][0]["text"] for i in items] == ["secret"]
        assert api.get(RESPONSES).json()["data"] == []  # listing shows the caller's own
    assert status(turn_server, bob, "delete", response_id) == 403
    assert status(turn_server, carol, "get", response_id) == 404
    assert checks(sdk, carol, response_id)["reader"] is False
    # a reader cannot grant: 403, since it can see the response
    assert sdk_status(lambda: grant(sdk, bob, response_id, carol, "reader")) == 403

    revoke(sdk, alice, response_id, bob, "reader")
    assert status(turn_server, bob, "get", response_id) == 404
    assert checks(sdk, bob, response_id)["reader"] is False


@pytest.mark.parametrize("role", ["reader", "writer", "owner"])
def test_the_role_matrix(
    turn_server: RunningServer,  # noqa: F811
    model_server: LoopbackModelServer,
    sdk: SDK,
    people: tuple[str, str, str],
    role: RoleName,
) -> None:
    alice, bob, carol = people
    response_id = store_response(turn_server, model_server, alice)
    grant(sdk, alice, response_id, bob, role)
    assert status(turn_server, bob, "get", response_id) == 200
    assert status(turn_server, bob, "input_items", response_id) == 200
    # only an owner grants and revokes (a writer is a reader: a response is immutable)
    expected_owner_only = 204 if role == "owner" else 403
    assert sdk_status(lambda: grant(sdk, bob, response_id, carol, "reader")) == (
        expected_owner_only
    )
    assert sdk_status(lambda: revoke(sdk, bob, response_id, carol, "reader")) == (
        expected_owner_only
    )
    assert checks(sdk, bob, response_id) == {
        "reader": True,
        "writer": role != "reader",
        "owner": role == "owner",
    }
    assert status(turn_server, bob, "delete", response_id) == (200 if role == "owner" else 403)
    if role == "owner":  # deleted: gone for everyone, grants with it
        assert status(turn_server, alice, "get", response_id) == 404
        assert status(turn_server, bob, "get", response_id) == 404
        assert checks(sdk, bob, response_id)["reader"] is False
        assert sdk_status(lambda: grant(sdk, alice, response_id, bob, "reader")) == 404
    else:
        assert status(turn_server, alice, "get", response_id) == 200


def test_everyone_reads_and_accounts_stay_apart(
    turn_server: RunningServer,  # noqa: F811
    model_server: LoopbackModelServer,
    sdk: SDK,
    sdk_b: SDK,
    people: tuple[str, str, str],
) -> None:
    alice, bob, carol = people
    response_id = store_response(turn_server, model_server, alice)
    # "*" may not hold owner
    assert sdk_status(lambda: grant(sdk, alice, response_id, "*", "owner")) == 400
    grant(sdk, alice, response_id, "*", "reader")
    for who in (bob, carol):
        assert status(turn_server, who, "get", response_id) == 200
        assert status(turn_server, who, "delete", response_id) == 403
        assert checks(sdk, who, response_id)["reader"] is True
    # another account sees nothing, and cannot grant on it
    for who in (alice, bob):
        assert status(turn_server, who, "get", response_id, KEY_B) == 404
        assert checks(sdk_b, who, response_id) == {
            "reader": False,
            "writer": False,
            "owner": False,
        }
    assert sdk_status(lambda: grant(sdk_b, alice, response_id, bob, "reader")) == 404
    revoke(sdk, alice, response_id, "*", "reader")
    assert status(turn_server, bob, "get", response_id) == 404


def test_previous_response_id_stays_the_callers_own(
    turn_server: RunningServer,  # noqa: F811
    model_server: LoopbackModelServer,
    sdk: SDK,
    people: tuple[str, str, str],
) -> None:
    alice, bob, _ = people
    response_id = store_response(turn_server, model_server, alice)
    grant(sdk, alice, response_id, bob, "owner")
    model_server.script(Reply(text="never"))
    with client(turn_server, bob) as api:
        chained = api.post(
            RESPONSES, json={"model": "m", "input": "x", "previous_response_id": response_id}
        )
    assert chained.status_code == 404
    assert chained.json()["error"]["param"] == "previous_response_id"


def test_a_turn_on_a_shared_conversation_is_the_owners(
    turn_server: RunningServer,  # noqa: F811
    model_server: LoopbackModelServer,
    sdk: SDK,
    people: tuple[str, str, str],
) -> None:
    """docs/sharing.md: a grantee, even a writer, gets 404 running a turn on another user's
    conversation, and the model server is not asked; its own items still go in."""
    alice, bob, _ = people
    with client(turn_server, alice) as api:
        made = api.post("/api/v1/llm/conversations", json={})
    conversation_id = made.json()["id"]
    sdk.permissions.llm.grant(
        resource_type="conversation",
        resource_id=conversation_id,
        user_id=bob,
        role="writer",
        x_on_behalf_of=alice,
    )
    model_server.reset()
    with client(turn_server, bob) as api:
        turn = api.post(
            RESPONSES, json={"model": "m", "input": "hi", "conversation": conversation_id}
        )
        assert turn.status_code == 404, turn.text
        added = api.post(
            f"/api/v1/llm/conversations/{conversation_id}/items",
            json={"items": [{"type": "message", "role": "user", "content": "by bob"}]},
        )
        assert added.status_code == 200, added.text
    assert model_server.received == []


def test_grant_errors(
    turn_server: RunningServer,  # noqa: F811
    model_server: LoopbackModelServer,
    sdk: SDK,
    people: tuple[str, str, str],
) -> None:
    alice, bob, _ = people
    response_id = store_response(turn_server, model_server, alice)
    # the creator stays its owner
    assert sdk_status(lambda: grant(sdk, alice, response_id, alice, "reader")) == 400
    # unknown responses are 404, a conversation grant does not open a response
    assert sdk_status(lambda: grant(sdk, alice, "resp_nope", bob, "reader")) == 404
    assert sdk_status(lambda: grant(sdk, alice, "not an id", bob, "reader")) == 404
    assert (
        sdk_status(
            lambda: sdk.permissions.llm.grant(
                resource_type="conversation",
                resource_id=response_id,
                user_id=bob,
                role="reader",
                x_on_behalf_of=alice,
            )
        )
        == 404
    )
    assert status(turn_server, bob, "get", response_id) == 404
