"""Sharing through the official MKA1 SDK (``sdk.permissions.llm.grant/revoke/check``), on both
backends: the issue's story (alice shares with bob; carol and another account see nothing),
the authorization matrix (every role × every operation), ``"*"``, revocation, ownership
granted and revoked, and the wire's errors (docs/sharing.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

import httpx
import pytest
from meetkai_mka1 import SDK, models
from meetkai_mka1.errors import SDKDefaultError

from .conftest import KEY_A, KEY_B, RunningServer, auth_headers
from .test_sdk_mka1 import make_sdk, text_items

RoleName = Literal["owner", "writer", "reader"]


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[SDK]:
    with make_sdk(server) as client:
        yield client


@pytest.fixture
def sdk_b(server: RunningServer) -> Iterator[SDK]:
    with make_sdk(server, KEY_B) as client:
        yield client


@pytest.fixture
async def asdk(server: RunningServer) -> AsyncIterator[SDK]:
    async with make_sdk(server) as client:
        yield client


@pytest.fixture
def people() -> tuple[str, str, str]:
    n = uuid.uuid4().hex[:8]
    return f"alice-{n}", f"bob-{n}", f"carol-{n}"


def status_of(call: Callable[[], object]) -> int:
    """200 (or 204) when the SDK call succeeds, else the HTTP status it raised with; a 403 is
    checked to be the documented envelope."""
    try:
        call()
    except SDKDefaultError as err:
        if err.status_code == 403:
            error = json.loads(err.body)["error"]
            assert error["type"] == "permission_error"
            assert error["code"] == "insufficient_role"
            assert set(error) == {"message", "type", "param", "code"}
        return err.status_code
    return 200


def grant(sdk: SDK, by: str, conversation_id: str, user_id: str, role: RoleName) -> None:
    sdk.permissions.llm.grant(
        resource_type="conversation",
        resource_id=conversation_id,
        user_id=user_id,
        role=role,
        x_on_behalf_of=by,
    )


def revoke(sdk: SDK, by: str, conversation_id: str, user_id: str, role: RoleName) -> None:
    sdk.permissions.llm.revoke(
        resource_type="conversation",
        resource_id=conversation_id,
        user_id=user_id,
        role=role,
        x_on_behalf_of=by,
    )


def allowed(sdk: SDK, who: str, conversation_id: str, role: RoleName) -> bool:
    return sdk.permissions.llm.check(
        resource_type="conversation", resource_id=conversation_id, role=role, x_on_behalf_of=who
    ).allowed


def checks(sdk: SDK, who: str, conversation_id: str) -> dict[str, bool]:
    return {r: allowed(sdk, who, conversation_id, r) for r in ("reader", "writer", "owner")}


def item_ids(sdk: SDK, who: str, conversation_id: str) -> list[str]:
    page = sdk.llm.conversations.list_items(
        conversation_id=conversation_id, x_on_behalf_of=who, limit=100
    )
    return [item.id for item in page.data]


# --- the story -----------------------------------------------------------------------


def test_alice_shares_with_bob(sdk: SDK, sdk_b: SDK, people: tuple[str, str, str]) -> None:
    alice, bob, carol = people
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=alice, items=text_items("alice", 2))
    assert checks(sdk, bob, conv.id) == {"reader": False, "writer": False, "owner": False}

    grant(sdk, alice, conv.id, bob, "reader")
    assert checks(sdk, bob, conv.id) == {"reader": True, "writer": False, "owner": False}
    got = convs.get(conversation_id=conv.id, x_on_behalf_of=bob)
    assert got.id == conv.id
    assert got.identity == conv.identity  # the owner's, not bob's
    assert len(item_ids(sdk, bob, conv.id)) == 2
    assert (
        status_of(
            lambda: convs.create_items(
                conversation_id=conv.id, items=text_items("bob", 1), x_on_behalf_of=bob
            )
        )
        == 403
    )
    assert status_of(lambda: convs.get(conversation_id=conv.id, x_on_behalf_of=carol)) == 404
    assert checks(sdk, carol, conv.id) == {"reader": False, "writer": False, "owner": False}
    # the same end user name in another account: nothing
    assert (
        status_of(lambda: sdk_b.llm.conversations.get(conversation_id=conv.id, x_on_behalf_of=bob))
        == 404
    )
    assert checks(sdk_b, bob, conv.id)["reader"] is False

    grant(sdk, alice, conv.id, bob, "writer")  # an upgrade replaces the grant
    assert checks(sdk, bob, conv.id) == {"reader": True, "writer": True, "owner": False}
    before = item_ids(sdk, alice, conv.id)
    added = convs.create_items(
        conversation_id=conv.id, items=text_items("bob", 2), x_on_behalf_of=bob
    )
    convs.create_items(
        conversation_id=conv.id, items=text_items("alice-again", 1), x_on_behalf_of=alice
    )
    after = item_ids(sdk, alice, conv.id)
    assert after[: len(before)] == before
    assert after[len(before) : len(before) + 2] == [i.id for i in added.data]
    assert len(after) == len(before) + 3
    # listing lists the caller's own only
    assert conv.id not in [c.id for c in convs.list(x_on_behalf_of=bob, limit=50).data]
    # owner-only operations are refused to a writer
    assert status_of(lambda: convs.delete(conversation_id=conv.id, x_on_behalf_of=bob)) == 403
    assert status_of(lambda: grant(sdk, bob, conv.id, carol, "reader")) == 403
    assert status_of(lambda: revoke(sdk, bob, conv.id, bob, "writer")) == 403

    revoke(sdk, alice, conv.id, bob, "writer")
    assert status_of(lambda: convs.get(conversation_id=conv.id, x_on_behalf_of=bob)) == 404
    assert checks(sdk, bob, conv.id) == {"reader": False, "writer": False, "owner": False}
    assert convs.get(conversation_id=conv.id, x_on_behalf_of=alice).id == conv.id


async def test_alice_shares_with_bob_async(asdk: SDK, people: tuple[str, str, str]) -> None:
    alice, bob, carol = people
    convs = asdk.llm.conversations
    perms = asdk.permissions.llm
    conv = await convs.create_async(x_on_behalf_of=alice, items=text_items("a", 1))
    await perms.grant_async(
        resource_type="conversation",
        resource_id=conv.id,
        user_id=bob,
        role="reader",
        x_on_behalf_of=alice,
    )
    assert (await convs.get_async(conversation_id=conv.id, x_on_behalf_of=bob)).id == conv.id
    with pytest.raises(SDKDefaultError) as info:
        await convs.update_async(conversation_id=conv.id, metadata={"k": "v"}, x_on_behalf_of=bob)
    assert info.value.status_code == 403
    with pytest.raises(SDKDefaultError) as info:
        await convs.get_async(conversation_id=conv.id, x_on_behalf_of=carol)
    assert info.value.status_code == 404
    check = await perms.check_async(
        resource_type="conversation", resource_id=conv.id, role="reader", x_on_behalf_of=bob
    )
    assert check.allowed is True
    await perms.grant_async(
        resource_type="conversation",
        resource_id=conv.id,
        user_id=bob,
        role="writer",
        x_on_behalf_of=alice,
    )
    updated = await convs.update_async(
        conversation_id=conv.id, metadata={"k": "v"}, x_on_behalf_of=bob
    )
    assert updated.metadata == {"k": "v"}
    await perms.revoke_async(
        resource_type="conversation",
        resource_id=conv.id,
        user_id=bob,
        role="reader",
        x_on_behalf_of=alice,
    )  # revoking reader takes everything above it too
    with pytest.raises(SDKDefaultError) as info:
        await convs.get_async(conversation_id=conv.id, x_on_behalf_of=bob)
    assert info.value.status_code == 404
    check = await perms.check_async(
        resource_type="conversation", resource_id=conv.id, role="reader", x_on_behalf_of=bob
    )
    assert check.allowed is False


# --- the authorization matrix ----------------------------------------------------------------

OPERATIONS = (
    "get_conversation",
    "list_items",
    "get_item",
    "create_items",
    "update_conversation",
    "delete_item",
    "delete_items",
    "grant",
    "revoke",
    "delete_conversation",
)
NEEDS = {
    "get_conversation": 1,
    "list_items": 1,
    "get_item": 1,
    "create_items": 2,
    "update_conversation": 2,
    "delete_item": 2,
    "delete_items": 2,
    "grant": 3,
    "revoke": 3,
    "delete_conversation": 3,
}
LEVEL = {"none": 0, "reader": 1, "writer": 2, "owner": 3, "creator": 3}


def run_operation(
    sdk: SDK, operation: str, who: str, conv_id: str, items: list[str], third: str
) -> int:
    convs = sdk.llm.conversations
    calls: dict[str, Callable[[], Any]] = {
        "get_conversation": lambda: convs.get(conversation_id=conv_id, x_on_behalf_of=who),
        "list_items": lambda: convs.list_items(conversation_id=conv_id, x_on_behalf_of=who),
        "get_item": lambda: convs.get_item(
            conversation_id=conv_id, item_id=items[0], x_on_behalf_of=who
        ),
        "create_items": lambda: convs.create_items(
            conversation_id=conv_id, items=text_items("m", 1), x_on_behalf_of=who
        ),
        "update_conversation": lambda: convs.update(
            conversation_id=conv_id, metadata={"by": who}, x_on_behalf_of=who
        ),
        "delete_item": lambda: convs.delete_item(
            conversation_id=conv_id, item_id=items[1], x_on_behalf_of=who
        ),
        "delete_items": lambda: convs.delete_items(
            conversation_id=conv_id, item_ids=[items[2]], x_on_behalf_of=who
        ),
        "grant": lambda: grant(sdk, who, conv_id, third, "reader"),
        "revoke": lambda: revoke(sdk, who, conv_id, third, "reader"),
        "delete_conversation": lambda: convs.delete(conversation_id=conv_id, x_on_behalf_of=who),
    }
    return status_of(calls[operation])


@pytest.mark.parametrize(
    ("role", "grantee"),
    [
        *((role, "user") for role in ("none", "reader", "writer", "owner", "creator")),
        *((role, "everyone") for role in ("none", "reader", "writer")),  # '*': reader or writer
    ],
)
def test_authorization_matrix(
    sdk: SDK, sdk_b: SDK, people: tuple[str, str, str], role: str, grantee: str
) -> None:
    """Every operation on one conversation by a caller of each role, granted by name or to
    ``"*"``: allowed (200), visible but refused (403), or not there (404); never changed by a
    refusal; and another account's end user of the same name sees nothing."""
    alice, bob, carol = people
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=alice, items=text_items("x", 3))
    items = item_ids(sdk, alice, conv.id)
    who = alice if role == "creator" else bob
    if role in ("reader", "writer", "owner"):
        grant(sdk, alice, conv.id, bob if grantee == "user" else "*", role)  # type: ignore[arg-type]
    level = LEVEL[role]
    assert checks(sdk, who, conv.id) == {
        "reader": level >= 1,
        "writer": level >= 2,
        "owner": level >= 3,
    }
    for operation in OPERATIONS:
        if level == 0:
            expected = 404
        elif level >= NEEDS[operation]:
            expected = 200
        else:
            expected = 403
        before = item_ids(sdk, alice, conv.id) if expected != 200 and level else None
        got = run_operation(sdk, operation, who, conv.id, items, carol)
        assert got == expected, (role, grantee, operation, got)
        if before is not None:
            assert item_ids(sdk, alice, conv.id) == before
        # another account's end user of the same name: never anything
        assert run_operation(sdk_b, "get_conversation", who, conv.id, items, carol) == 404
    if level >= 3:  # deleted by its owner: nothing is allowed any more
        assert checks(sdk, who, conv.id) == {"reader": False, "writer": False, "owner": False}


# --- "*", ownership, and the rules of a grant ------------------------------------------------


def test_everyone_reader(sdk: SDK, sdk_b: SDK, people: tuple[str, str, str]) -> None:
    alice, bob, carol = people
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=alice, items=text_items("pub", 1))
    grant(sdk, alice, conv.id, "*", "reader")
    for user in (bob, carol, f"dave-{uuid.uuid4().hex[:6]}"):
        assert convs.get(conversation_id=conv.id, x_on_behalf_of=user).id == conv.id
        assert checks(sdk, user, conv.id) == {"reader": True, "writer": False, "owner": False}
        with pytest.raises(SDKDefaultError) as info:
            convs.update(conversation_id=conv.id, metadata={}, x_on_behalf_of=user)
        assert info.value.status_code == 403
    assert convs.get(conversation_id=conv.id).id == conv.id  # the account's own key, no end user
    for user in (bob, carol, alice):
        with pytest.raises(SDKDefaultError) as info:
            sdk_b.llm.conversations.get(conversation_id=conv.id, x_on_behalf_of=user)
        assert info.value.status_code == 404
        assert checks(sdk_b, user, conv.id)["reader"] is False
    # a named grant above '*' wins; revoking '*' leaves it
    grant(sdk, alice, conv.id, bob, "writer")
    assert checks(sdk, bob, conv.id)["writer"] is True
    revoke(sdk, alice, conv.id, "*", "reader")
    assert status_of(lambda: convs.get(conversation_id=conv.id, x_on_behalf_of=carol)) == 404
    assert convs.get(conversation_id=conv.id, x_on_behalf_of=bob).id == conv.id
    # '*' may not be owner
    with pytest.raises(SDKDefaultError) as info:
        grant(sdk, alice, conv.id, "*", "owner")
    assert info.value.status_code == 400
    assert json.loads(info.value.body)["error"]["param"] == "role"


def test_ownership_granted_and_revoked(sdk: SDK, people: tuple[str, str, str]) -> None:
    alice, bob, carol = people
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=alice, items=text_items("o", 1))
    grant(sdk, alice, conv.id, bob, "owner")
    assert checks(sdk, bob, conv.id)["owner"] is True
    grant(sdk, bob, conv.id, carol, "writer")  # a granted owner grants
    assert checks(sdk, carol, conv.id) == {"reader": True, "writer": True, "owner": False}
    # the creator stays owner: nobody can grant to or revoke from alice
    calls: list[Callable[[], None]] = [
        lambda: revoke(sdk, bob, conv.id, alice, "owner"),
        lambda: grant(sdk, bob, conv.id, alice, "reader"),
    ]
    for call in calls:
        with pytest.raises(SDKDefaultError) as info:
            call()
        assert info.value.status_code == 400
        assert json.loads(info.value.body)["error"]["param"] == "userId"
    revoke(sdk, alice, conv.id, bob, "owner")
    assert checks(sdk, bob, conv.id) == {"reader": False, "writer": False, "owner": False}
    assert checks(sdk, carol, conv.id)["writer"] is True  # bob's grant to carol stays
    assert checks(sdk, alice, conv.id)["owner"] is True
    # a revoke of a role above the one held leaves it
    revoke(sdk, alice, conv.id, carol, "owner")
    assert checks(sdk, carol, conv.id)["writer"] is True


def test_a_reader_deleting_an_impossible_item_id_is_403(
    sdk: SDK, people: tuple[str, str, str]
) -> None:
    alice, bob, _ = people
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=alice, items=text_items("r", 1))
    grant(sdk, alice, conv.id, bob, "reader")
    bad = "x" * 300  # could never be stored: answered before the database
    assert (
        status_of(
            lambda: convs.delete_items(conversation_id=conv.id, item_ids=[bad], x_on_behalf_of=bob)
        )
        == 403
    )
    grant(sdk, alice, conv.id, bob, "writer")
    assert (
        status_of(
            lambda: convs.delete_items(conversation_id=conv.id, item_ids=[bad], x_on_behalf_of=bob)
        )
        == 404
    )


def test_deleted_conversation_is_404_to_grantees(sdk: SDK, people: tuple[str, str, str]) -> None:
    alice, bob, _ = people
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=alice)
    grant(sdk, alice, conv.id, bob, "reader")
    convs.delete(conversation_id=conv.id, x_on_behalf_of=alice)
    assert status_of(lambda: convs.get(conversation_id=conv.id, x_on_behalf_of=bob)) == 404
    assert (
        status_of(lambda: convs.update(conversation_id=conv.id, metadata={}, x_on_behalf_of=bob))
        == 404
    )
    assert checks(sdk, bob, conv.id)["reader"] is False
    assert status_of(lambda: grant(sdk, alice, conv.id, bob, "writer")) == 404


def test_grant_errors(server: RunningServer, sdk: SDK, people: tuple[str, str, str]) -> None:
    alice, bob, _ = people
    conv = sdk.llm.conversations.create(x_on_behalf_of=alice)
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, alice), timeout=30) as http:
        base = "/api/v1/authorization/llm"
        body = {
            "resourceType": "conversation",
            "resourceId": conv.id,
            "userId": bob,
            "role": "reader",
        }
        for resource_type in ("completion", "file", "vector_store", "skill"):
            for method, path, kwargs in (
                ("POST", "/grant", {"json": {**body, "resourceType": resource_type}}),
                ("POST", "/revoke", {"json": {**body, "resourceType": resource_type}}),
                (
                    "GET",
                    "/check",
                    {
                        "params": {
                            "resourceType": resource_type,
                            "resourceId": conv.id,
                            "role": "reader",
                        }
                    },
                ),
            ):
                r = http.request(method, base + path, **kwargs)  # type: ignore[arg-type]
                assert r.status_code == 400, r.text
                assert r.json()["error"]["param"] == "resourceType"
                assert resource_type in r.json()["error"]["message"]
        for bad in (
            {**body, "role": "admin"},
            {**body, "userId": ""},
            {**body, "extra": 1},
            {"resourceId": conv.id},
        ):
            r = http.post(base + "/grant", json=bad)
            assert r.status_code == 400, r.text
        r = http.get(base + "/check", params={"resourceType": "conversation", "role": "reader"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "resourceId"
        r = http.get(
            base + "/check",
            params={"resourceType": "conversation", "resourceId": "conv_nope", "role": "reader"},
        )
        assert r.status_code == 200 and r.json() == {"allowed": False}
        r = http.post(base + "/grant", json={**body, "resourceId": "conv_nope"})
        assert r.status_code == 404
        r = http.post(base + "/grant", json=body)
        assert r.status_code == 204 and r.content == b""
        # no key: 401; the OpenAI face has no such operations
        assert httpx.post(server.url + base + "/grant", json=body).status_code == 401
        assert http.get("/v1/usage/conversations", params={"start_time": 0}).status_code == 404
        assert http.post("/v1/authorization/llm/grant", json=body).status_code == 404


def test_sdk_models_parse(sdk: SDK, people: tuple[str, str, str]) -> None:
    alice, _, _ = people
    conv = sdk.llm.conversations.create(x_on_behalf_of=alice)
    result = sdk.permissions.llm.check(
        resource_type="conversation", resource_id=conv.id, role="owner", x_on_behalf_of=alice
    )
    assert isinstance(result, models.CheckPermissionResponse)
    assert result.allowed is True
