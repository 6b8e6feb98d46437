"""The official MKA1 Python SDK (``meetkai-mka1``, module ``mka1``) against the running server.

Every one of the ten ``sdk.llm.conversations.*`` methods, sync and async, each call made for the
test's own end user (``x_on_behalf_of=user``), asserting what a user of the SDK sees: the parsed
models, not the wire. Retries are disabled so that a failure fails at once instead of backing off.

The typed names are imported from ``meetkai_mka1``: the documented ``mka1`` module is an alias of
it that ships no ``py.typed`` (``test_mka1_alias_is_the_same_sdk`` checks that the two agree).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

import mka1  # type: ignore[import-untyped]  # the documented alias module ships no py.typed
import mka1.errors  # type: ignore[import-untyped]
import pydantic
import pytest
from meetkai_mka1 import SDK, models, utils
from meetkai_mka1.errors import SDKDefaultError, SDKError

from .conftest import ACCOUNT_A, ACCOUNT_B, KEY_A, KEY_B, RunningServer

CONV_ID = re.compile(r"conv_[0-9a-f]{32}")
MSG_ID = re.compile(r"msg_[0-9a-f]{32}")
FC_ID = re.compile(r"fc_[0-9a-f]{32}")
FCO_ID = re.compile(r"fco_[0-9a-f]{32}")
ORDERS: tuple[Literal["asc", "desc"], ...] = ("asc", "desc")
INCLUDE = ["message.output_text.logprobs", "reasoning.encrypted_content"]

# --- fixtures and helpers -------------------------------------------------------------------


def no_retries() -> utils.RetryConfig:
    return utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1.0, 1), False)


def make_sdk(server: RunningServer, key: str = KEY_A) -> SDK:
    return SDK(bearer_auth=key, server_url=server.url, retry_config=no_retries(), timeout_ms=30_000)


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[SDK]:
    with make_sdk(server) as client:
        yield client


@pytest.fixture
async def asdk(server: RunningServer) -> AsyncIterator[SDK]:
    async with make_sdk(server) as client:
        yield client


def identity_of(account: str, user: str) -> str:
    return hashlib.sha256(f"{account}:{user}".encode()).hexdigest()


def dump(model: pydantic.BaseModel) -> dict[str, Any]:
    """What the SDK model holds, as JSON (unset optional fields left out)."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    return data


def tag() -> str:
    return uuid.uuid4().hex[:8]


def sample_items(given_msg_id: str) -> list[models.ItemTypedDict]:
    """One of each shape: string content, a content array with a bare string, a function call,
    its output, and an assistant output message with a client-supplied id."""
    return [
        {"type": "message", "role": "user", "content": "Hello!"},
        {
            "type": "message",
            "role": "developer",
            "content": ["bare part", {"type": "input_text", "text": "typed part"}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q":1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {
            "type": "message",
            "role": "assistant",
            "id": given_msg_id,
            "status": "completed",
            "content": [{"type": "output_text", "text": "The answer is 42.", "annotations": []}],
        },
    ]


def check_sample_items(items: Sequence[pydantic.BaseModel], given_msg_id: str) -> None:
    """The five ``sample_items`` as the server must return them, normalised."""
    data = [dump(i) for i in items]
    assert len(data) == 5
    ids = [d["id"] for d in data]
    assert MSG_ID.fullmatch(ids[0]) and MSG_ID.fullmatch(ids[1])
    assert FC_ID.fullmatch(ids[2]) and FCO_ID.fullmatch(ids[3])
    assert ids[4] == given_msg_id
    assert data[0] == {
        "id": ids[0],
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Hello!"}],
        "status": "completed",
        "response_id": None,
    }
    assert data[1] == {
        "id": ids[1],
        "type": "message",
        "role": "developer",
        "content": [
            {"type": "input_text", "text": "bare part"},
            {"type": "input_text", "text": "typed part"},
        ],
        "status": "completed",
        "response_id": None,
    }
    assert isinstance(items[2], models.FunctionToolCallWithID)
    assert data[2] == {
        "id": ids[2],
        "type": "function_call",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": '{"q":1}',
        "status": "completed",
        "response_id": None,
    }
    assert isinstance(items[3], models.FunctionToolCallOutputWithID)
    assert data[3] == {
        "id": ids[3],
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "42",
        "status": "completed",
        "response_id": None,
    }
    assert data[4]["type"] == "message" and data[4]["role"] == "assistant"
    assert data[4]["status"] == "completed" and data[4]["response_id"] is None
    assert [(p["type"], p["text"]) for p in data[4]["content"]] == [
        ("output_text", "The answer is 42.")
    ]


def check_conversation(
    conv: models.ConversationObject, user: str, metadata: dict[str, str], account: str = ACCOUNT_A
) -> None:
    assert CONV_ID.fullmatch(conv.id), conv.id
    assert conv.object == "conversation"
    assert conv.deleted_at is None
    assert conv.metadata == metadata
    assert conv.identity == identity_of(account, user)
    assert conv.created_at == int(conv.created_at)
    assert abs(conv.created_at - time.time()) < 120


def check_404(err: SDKError, message_part: str) -> None:
    assert isinstance(err, SDKDefaultError)
    assert err.status_code == 404
    body = json.loads(err.body)
    assert body["error"]["type"] == "invalid_request_error"
    assert message_part in body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_mka1_alias_is_the_same_sdk() -> None:
    """``from mka1 import SDK`` and ``mka1.errors.SDKDefaultError``, as documented, are the
    classes these tests use."""
    assert mka1.SDK is SDK
    assert mka1.errors.SDKDefaultError is SDKDefaultError
    assert issubclass(mka1.errors.SDKDefaultError, mka1.errors.SDKError)


# --- create (items + metadata) and get ------------------------------------------------------


def test_create_with_items_and_metadata_then_get(sdk: SDK, user: str) -> None:
    convs = sdk.llm.conversations
    given = f"msg_client_{tag()}"
    conv = convs.create(
        x_on_behalf_of=user, items=sample_items(given), metadata={"topic": "demo", "k": "v"}
    )
    check_conversation(conv, user, {"topic": "demo", "k": "v"})

    got = convs.get(conversation_id=conv.id, x_on_behalf_of=user)
    assert dump(got) == dump(conv)

    page = convs.list_items(conversation_id=conv.id, x_on_behalf_of=user)
    assert page.object == "list" and page.has_more is False
    check_sample_items(page.data, given)
    assert page.last_id == given

    empty = convs.create(x_on_behalf_of=user)
    check_conversation(empty, user, {})
    none = convs.list_items(conversation_id=empty.id, x_on_behalf_of=user)
    assert none.data == [] and none.has_more is False and none.last_id == ""


async def test_create_with_items_and_metadata_then_get_async(asdk: SDK, user: str) -> None:
    convs = asdk.llm.conversations
    given = f"msg_client_{tag()}"
    conv = await convs.create_async(
        x_on_behalf_of=user, items=sample_items(given), metadata={"topic": "demo", "k": "v"}
    )
    check_conversation(conv, user, {"topic": "demo", "k": "v"})

    got = await convs.get_async(conversation_id=conv.id, x_on_behalf_of=user)
    assert dump(got) == dump(conv)

    page = await convs.list_items_async(conversation_id=conv.id, x_on_behalf_of=user)
    assert page.object == "list" and page.has_more is False
    check_sample_items(page.data, given)
    assert page.last_id == given

    empty = await convs.create_async(x_on_behalf_of=user)
    check_conversation(empty, user, {})
    none = await convs.list_items_async(conversation_id=empty.id, x_on_behalf_of=user)
    assert none.data == [] and none.has_more is False and none.last_id == ""


# --- list: pagination and the metadata filter -----------------------------------------------


def test_list_pagination_and_metadata_filter(sdk: SDK, user: str) -> None:
    convs = sdk.llm.conversations
    first = convs.list(x_on_behalf_of=user)
    assert first.object == "list" and first.data == [] and first.has_more is False
    assert not first.last_id  # "" on an empty page

    colours = ["red", "blue", "red", "green", "red"]
    created = [
        convs.create(x_on_behalf_of=user, metadata={"colour": c, "n": str(n)})
        for n, c in enumerate(colours)
    ]
    ids = [c.id for c in created]

    for order in ORDERS:
        expected = ids if order == "asc" else ids[::-1]
        walked: list[str] = []
        after: str | None = None
        pages = 0
        while True:
            page = convs.list(x_on_behalf_of=user, limit=2, order=order, after=after)
            pages += 1
            assert len(page.data) <= 2
            walked += [c.id for c in page.data]
            assert page.last_id == page.data[-1].id
            if not page.has_more:
                break
            after = page.last_id
        assert walked == expected, order
        assert pages == 3

    all_asc = convs.list(x_on_behalf_of=user, limit=50)
    assert [c.id for c in all_asc.data] == ids and all_asc.has_more is False
    assert all_asc.data[0].metadata == {"colour": "red", "n": "0"}

    reds = [ids[0], ids[2], ids[4]]
    as_dict = convs.list(x_on_behalf_of=user, metadata={"colour": "red"})
    assert [c.id for c in as_dict.data] == reds
    as_json = convs.list(x_on_behalf_of=user, metadata='{"colour": "red"}')
    assert [c.id for c in as_json.data] == reds
    two_keys = convs.list(x_on_behalf_of=user, metadata={"colour": "red", "n": "2"})
    assert [c.id for c in two_keys.data] == [ids[2]]
    two_keys_json = convs.list(
        x_on_behalf_of=user, metadata=json.dumps({"colour": "red", "n": "4"})
    )
    assert [c.id for c in two_keys_json.data] == [ids[4]]
    nothing = convs.list(x_on_behalf_of=user, metadata={"colour": "purple"})
    assert nothing.data == [] and nothing.has_more is False
    filtered_page = convs.list(x_on_behalf_of=user, metadata={"colour": "red"}, limit=2)
    assert [c.id for c in filtered_page.data] == reds[:2] and filtered_page.has_more is True
    rest = convs.list(
        x_on_behalf_of=user, metadata={"colour": "red"}, limit=2, after=filtered_page.last_id
    )
    assert [c.id for c in rest.data] == reds[2:] and rest.has_more is False


async def test_list_pagination_and_metadata_filter_async(asdk: SDK, user: str) -> None:
    convs = asdk.llm.conversations
    first = await convs.list_async(x_on_behalf_of=user)
    assert first.object == "list" and first.data == [] and first.has_more is False
    assert not first.last_id

    colours = ["red", "blue", "red", "green", "red"]
    created = [
        await convs.create_async(x_on_behalf_of=user, metadata={"colour": c, "n": str(n)})
        for n, c in enumerate(colours)
    ]
    ids = [c.id for c in created]

    for order in ORDERS:
        expected = ids if order == "asc" else ids[::-1]
        walked: list[str] = []
        after: str | None = None
        pages = 0
        while True:
            page = await convs.list_async(
                x_on_behalf_of=user,
                limit=2,
                order=order,
                after=after,
            )
            pages += 1
            walked += [c.id for c in page.data]
            assert page.last_id == page.data[-1].id
            if not page.has_more:
                break
            after = page.last_id
        assert walked == expected, order
        assert pages == 3

    reds = [ids[0], ids[2], ids[4]]
    as_dict = await convs.list_async(x_on_behalf_of=user, metadata={"colour": "red"})
    assert [c.id for c in as_dict.data] == reds
    as_json = await convs.list_async(x_on_behalf_of=user, metadata='{"colour": "red"}')
    assert [c.id for c in as_json.data] == reds
    two_keys = await convs.list_async(x_on_behalf_of=user, metadata={"colour": "red", "n": "2"})
    assert [c.id for c in two_keys.data] == [ids[2]]
    nothing = await convs.list_async(x_on_behalf_of=user, metadata='{"colour": "purple"}')
    assert nothing.data == [] and nothing.has_more is False


# --- update ---------------------------------------------------------------------------------


def test_update_replaces_metadata(sdk: SDK, user: str) -> None:
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=user, metadata={"a": "1", "b": "2"})
    updated = convs.update(conversation_id=conv.id, metadata={"c": "3"}, x_on_behalf_of=user)
    check_conversation(updated, user, {"c": "3"})
    assert updated.id == conv.id and updated.created_at == conv.created_at
    assert convs.get(conversation_id=conv.id, x_on_behalf_of=user).metadata == {"c": "3"}
    cleared = convs.update(conversation_id=conv.id, metadata={}, x_on_behalf_of=user)
    assert cleared.metadata == {}
    assert convs.get(conversation_id=conv.id, x_on_behalf_of=user).metadata == {}


async def test_update_replaces_metadata_async(asdk: SDK, user: str) -> None:
    convs = asdk.llm.conversations
    conv = await convs.create_async(x_on_behalf_of=user, metadata={"a": "1", "b": "2"})
    updated = await convs.update_async(
        conversation_id=conv.id, metadata={"c": "3"}, x_on_behalf_of=user
    )
    check_conversation(updated, user, {"c": "3"})
    assert updated.id == conv.id and updated.created_at == conv.created_at
    got = await convs.get_async(conversation_id=conv.id, x_on_behalf_of=user)
    assert got.metadata == {"c": "3"}
    cleared = await convs.update_async(conversation_id=conv.id, metadata={}, x_on_behalf_of=user)
    assert cleared.metadata == {}


# --- items: create / list / get / delete one / delete many ----------------------------------


def text_items(prefix: str, count: int) -> list[models.ItemTypedDict]:
    return [{"type": "message", "role": "user", "content": f"{prefix} {n}"} for n in range(count)]


def test_items(sdk: SDK, user: str) -> None:
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=user, items=text_items("early", 2))
    given = f"msg_client_{tag()}"
    created = convs.create_items(
        conversation_id=conv.id, items=sample_items(given), include=INCLUDE, x_on_behalf_of=user
    )
    assert created.object == "list" and created.has_more is False
    check_sample_items(created.data, given)
    assert created.last_id == given
    new_ids = [dump(i)["id"] for i in created.data]

    everything = convs.list_items(conversation_id=conv.id, x_on_behalf_of=user, limit=100)
    all_ids = [dump(i)["id"] for i in everything.data]
    assert len(all_ids) == 7 and all_ids[2:] == new_ids
    assert [dump(i)["content"][0]["text"] for i in everything.data[:2]] == ["early 0", "early 1"]

    # limit / order / after / include, both directions
    for order in ORDERS:
        expected = all_ids if order == "asc" else all_ids[::-1]
        walked: list[str] = []
        after: str | None = None
        while True:
            page = convs.list_items(
                conversation_id=conv.id,
                x_on_behalf_of=user,
                limit=3,
                order=order,
                after=after,
                include=INCLUDE,
            )
            ids = [dump(i)["id"] for i in page.data]
            walked += ids
            assert page.last_id == ids[-1]
            if not page.has_more:
                break
            after = page.last_id
        assert walked == expected, order
    tail = convs.list_items(conversation_id=conv.id, x_on_behalf_of=user, after=all_ids[4])
    assert [dump(i)["id"] for i in tail.data] == all_ids[5:] and tail.has_more is False
    head = convs.list_items(
        conversation_id=conv.id, x_on_behalf_of=user, after=all_ids[2], order="desc"
    )
    assert [dump(i)["id"] for i in head.data] == all_ids[1::-1]

    # get one
    item = convs.get_item(conversation_id=conv.id, item_id=new_ids[2], x_on_behalf_of=user)
    assert isinstance(item, models.FunctionToolCallWithID)
    assert dump(item) == dump(created.data[2])
    given_item = convs.get_item(conversation_id=conv.id, item_id=given, x_on_behalf_of=user)
    assert dump(given_item) == dump(created.data[4])

    # delete one: returns the conversation; the item is gone, its id still a valid cursor
    after_delete = convs.delete_item(
        conversation_id=conv.id, item_id=all_ids[3], x_on_behalf_of=user
    )
    assert isinstance(after_delete, models.ConversationObject)
    check_conversation(after_delete, user, {})
    assert after_delete.id == conv.id
    with pytest.raises(SDKDefaultError) as info:
        convs.get_item(conversation_id=conv.id, item_id=all_ids[3], x_on_behalf_of=user)
    check_404(info.value, all_ids[3])
    with pytest.raises(SDKDefaultError) as info:
        convs.delete_item(conversation_id=conv.id, item_id=all_ids[3], x_on_behalf_of=user)
    check_404(info.value, all_ids[3])
    cursor = convs.list_items(conversation_id=conv.id, x_on_behalf_of=user, after=all_ids[3])
    assert [dump(i)["id"] for i in cursor.data] == all_ids[4:]

    # delete many: all or nothing
    with pytest.raises(SDKDefaultError) as info:
        convs.delete_items(
            conversation_id=conv.id, item_ids=[all_ids[0], "msg_missing"], x_on_behalf_of=user
        )
    check_404(info.value, "msg_missing")
    still = convs.list_items(conversation_id=conv.id, x_on_behalf_of=user)
    assert [dump(i)["id"] for i in still.data] == all_ids[:3] + all_ids[4:]
    bulk = convs.delete_items(
        conversation_id=conv.id, item_ids=[all_ids[0], given], x_on_behalf_of=user
    )
    assert isinstance(bulk, models.ConversationObject) and bulk.id == conv.id
    left = convs.list_items(conversation_id=conv.id, x_on_behalf_of=user)
    assert [dump(i)["id"] for i in left.data] == [all_ids[1], all_ids[2], all_ids[4], all_ids[5]]


async def test_items_async(asdk: SDK, user: str) -> None:
    convs = asdk.llm.conversations
    conv = await convs.create_async(x_on_behalf_of=user, items=text_items("early", 2))
    given = f"msg_client_{tag()}"
    created = await convs.create_items_async(
        conversation_id=conv.id, items=sample_items(given), include=INCLUDE, x_on_behalf_of=user
    )
    assert created.object == "list" and created.has_more is False
    check_sample_items(created.data, given)
    assert created.last_id == given
    new_ids = [dump(i)["id"] for i in created.data]

    everything = await convs.list_items_async(
        conversation_id=conv.id, x_on_behalf_of=user, limit=100
    )
    all_ids = [dump(i)["id"] for i in everything.data]
    assert len(all_ids) == 7 and all_ids[2:] == new_ids

    for order in ORDERS:
        expected = all_ids if order == "asc" else all_ids[::-1]
        walked: list[str] = []
        after: str | None = None
        while True:
            page = await convs.list_items_async(
                conversation_id=conv.id,
                x_on_behalf_of=user,
                limit=3,
                order=order,
                after=after,
                include=INCLUDE,
            )
            ids = [dump(i)["id"] for i in page.data]
            walked += ids
            assert page.last_id == ids[-1]
            if not page.has_more:
                break
            after = page.last_id
        assert walked == expected, order

    item = await convs.get_item_async(
        conversation_id=conv.id, item_id=new_ids[3], x_on_behalf_of=user
    )
    assert isinstance(item, models.FunctionToolCallOutputWithID)
    assert dump(item) == dump(created.data[3])

    after_delete = await convs.delete_item_async(
        conversation_id=conv.id, item_id=all_ids[3], x_on_behalf_of=user
    )
    assert isinstance(after_delete, models.ConversationObject) and after_delete.id == conv.id
    with pytest.raises(SDKDefaultError) as info:
        await convs.get_item_async(conversation_id=conv.id, item_id=all_ids[3], x_on_behalf_of=user)
    check_404(info.value, all_ids[3])

    with pytest.raises(SDKDefaultError) as info:
        await convs.delete_items_async(
            conversation_id=conv.id, item_ids=[all_ids[0], "msg_missing"], x_on_behalf_of=user
        )
    check_404(info.value, "msg_missing")
    bulk = await convs.delete_items_async(
        conversation_id=conv.id, item_ids=[all_ids[0], given], x_on_behalf_of=user
    )
    assert isinstance(bulk, models.ConversationObject) and bulk.id == conv.id
    left = await convs.list_items_async(conversation_id=conv.id, x_on_behalf_of=user)
    assert [dump(i)["id"] for i in left.data] == [all_ids[1], all_ids[2], all_ids[4], all_ids[5]]


# --- delete ---------------------------------------------------------------------------------


def test_delete_then_everything_is_404(sdk: SDK, user: str) -> None:
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=user, items=text_items("x", 1), metadata={"d": "1"})
    item_id = dump(convs.list_items(conversation_id=conv.id, x_on_behalf_of=user).data[0])["id"]
    deleted = convs.delete(conversation_id=conv.id, x_on_behalf_of=user)
    assert isinstance(deleted, models.ConversationDeletedObject)
    assert deleted.id == conv.id and deleted.deleted is True
    assert deleted.object == "conversation.deleted"

    with pytest.raises(SDKDefaultError) as info:
        convs.get(conversation_id=conv.id, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    body = json.loads(info.value.body)
    assert body["error"]["message"] == f"Conversation with id '{conv.id}' not found."

    with pytest.raises(SDKError) as base:  # the documented base class catches it too
        convs.delete(conversation_id=conv.id, x_on_behalf_of=user)
    check_404(base.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.update(conversation_id=conv.id, metadata={"e": "1"}, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.list_items(conversation_id=conv.id, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.create_items(conversation_id=conv.id, items=text_items("y", 1), x_on_behalf_of=user)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.get_item(conversation_id=conv.id, item_id=item_id, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.delete_item(conversation_id=conv.id, item_id=item_id, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.delete_items(conversation_id=conv.id, item_ids=[item_id], x_on_behalf_of=user)
    check_404(info.value, conv.id)
    assert convs.list(x_on_behalf_of=user).data == []
    assert convs.list(x_on_behalf_of=user, metadata={"d": "1"}).data == []


async def test_delete_then_everything_is_404_async(asdk: SDK, user: str) -> None:
    convs = asdk.llm.conversations
    conv = await convs.create_async(x_on_behalf_of=user, items=text_items("x", 1))
    deleted = await convs.delete_async(conversation_id=conv.id, x_on_behalf_of=user)
    assert isinstance(deleted, models.ConversationDeletedObject)
    assert deleted.id == conv.id and deleted.deleted is True
    assert deleted.object == "conversation.deleted"
    with pytest.raises(SDKDefaultError) as info:
        await convs.get_async(conversation_id=conv.id, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        await convs.delete_async(conversation_id=conv.id, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        await convs.list_items_async(conversation_id=conv.id, x_on_behalf_of=user)
    check_404(info.value, conv.id)
    assert (await convs.list_async(x_on_behalf_of=user)).data == []


# --- scoping: another end user, another account ---------------------------------------------


def test_other_owners_cannot_see_it(sdk: SDK, server: RunningServer, user: str) -> None:
    convs = sdk.llm.conversations
    conv = convs.create(x_on_behalf_of=user, items=text_items("secret", 1), metadata={"s": "1"})
    item_id = dump(convs.list_items(conversation_id=conv.id, x_on_behalf_of=user).data[0])["id"]
    other = f"{user}-other"

    with pytest.raises(SDKDefaultError) as info:
        convs.get(conversation_id=conv.id, x_on_behalf_of=other)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.get(conversation_id=conv.id)  # the account itself, no end user
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.get_item(conversation_id=conv.id, item_id=item_id, x_on_behalf_of=other)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.list_items(conversation_id=conv.id, x_on_behalf_of=other)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.update(conversation_id=conv.id, metadata={"x": "y"}, x_on_behalf_of=other)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        convs.delete(conversation_id=conv.id, x_on_behalf_of=other)
    check_404(info.value, conv.id)
    assert conv.id not in [c.id for c in convs.list(x_on_behalf_of=other, limit=50).data]

    with make_sdk(server, KEY_B) as sdk_b:
        with pytest.raises(SDKDefaultError) as info:
            sdk_b.llm.conversations.get(conversation_id=conv.id, x_on_behalf_of=user)
        check_404(info.value, conv.id)
        own = sdk_b.llm.conversations.create(x_on_behalf_of=user)
        check_conversation(own, user, {}, account=ACCOUNT_B)
        assert own.identity != conv.identity
        assert [c.id for c in sdk_b.llm.conversations.list(x_on_behalf_of=user).data] == [own.id]

    # nothing the others tried changed it
    got = convs.get(conversation_id=conv.id, x_on_behalf_of=user)
    assert got.metadata == {"s": "1"}
    assert [c.id for c in convs.list(x_on_behalf_of=user).data] == [conv.id]


async def test_other_owners_cannot_see_it_async(
    asdk: SDK, server: RunningServer, user: str
) -> None:
    convs = asdk.llm.conversations
    conv = await convs.create_async(x_on_behalf_of=user, items=text_items("secret", 1))
    other = f"{user}-other"
    with pytest.raises(SDKDefaultError) as info:
        await convs.get_async(conversation_id=conv.id, x_on_behalf_of=other)
    check_404(info.value, conv.id)
    with pytest.raises(SDKDefaultError) as info:
        await convs.delete_items_async(
            conversation_id=conv.id, item_ids=["msg_x"], x_on_behalf_of=other
        )
    check_404(info.value, conv.id)
    async with make_sdk(server, KEY_B) as sdk_b:
        with pytest.raises(SDKDefaultError) as info:
            await sdk_b.llm.conversations.get_async(conversation_id=conv.id, x_on_behalf_of=user)
        check_404(info.value, conv.id)
    got = await convs.get_async(conversation_id=conv.id, x_on_behalf_of=user)
    assert got.id == conv.id
