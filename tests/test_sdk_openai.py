"""The official OpenAI Python SDK against the running server, with strict response validation.

All eight ``conversations.*`` methods, sync and async, including auto-pagination over 45 items
in both orders, the error envelope as the SDK exposes it, and the 409 that must not be retried.

Every client goes through an httpx2 client with an event hook that records each request sent, so
that the tests can count requests (pages fetched, retries made).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import httpx2
import pytest
from openai import AsyncOpenAI, ConflictError, NotFoundError, OpenAI
from openai.types.conversations import Conversation, ConversationItem, Message
from openai.types.responses import (
    ResponseFunctionToolCallItem,
    ResponseFunctionToolCallOutputItem,
    ResponseFunctionToolCallParam,
    ResponseIncludable,
    ResponseInputTextParam,
)
from openai.types.responses.response_input_item_param import ResponseInputItemParam

from .conftest import BASE_PATH, KEY_A, RunningServer

ORDERS: tuple[Literal["asc", "desc"], ...] = ("asc", "desc")
INCLUDE: list[ResponseIncludable] = ["message.output_text.logprobs", "reasoning.encrypted_content"]
ITEM_ID = re.compile(r"(msg|fc|fco)_[0-9a-f]{32}")
BATCHES = (20, 8, 17)  # 45 items, no batch over 20

# --- fixtures -------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Every request a client sent, as (method, path)."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def hook(self, request: httpx2.Request) -> None:
        self.sent.append((request.method, request.url.path))

    async def ahook(self, request: httpx2.Request) -> None:
        self.hook(request)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.sent if m == method and p == path)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def base_url(server: RunningServer) -> str:
    return server.url + "/api/v1/llm"


@pytest.fixture
def client(server: RunningServer, user: str, recorder: Recorder) -> Iterator[OpenAI]:
    http_client = httpx2.Client(event_hooks={"request": [recorder.hook]}, timeout=30)
    with OpenAI(
        base_url=base_url(server),
        api_key=KEY_A,
        max_retries=0,
        _strict_response_validation=True,
        default_headers={"X-On-Behalf-Of": user},
        http_client=http_client,
    ) as c:
        yield c


@pytest.fixture
async def aclient(
    server: RunningServer, user: str, recorder: Recorder
) -> AsyncIterator[AsyncOpenAI]:
    http_client = httpx2.AsyncClient(event_hooks={"request": [recorder.ahook]}, timeout=30)
    async with AsyncOpenAI(
        base_url=base_url(server),
        api_key=KEY_A,
        max_retries=0,
        _strict_response_validation=True,
        default_headers={"X-On-Behalf-Of": user},
        http_client=http_client,
    ) as c:
        yield c


# --- helpers --------------------------------------------------------------------------------


def mixed_items(count: int, start: int = 0) -> list[ResponseInputItemParam]:
    """Messages (string and part content), function calls and their outputs, in turn."""
    items: list[ResponseInputItemParam] = []
    for n in range(start, start + count):
        kind = n % 4
        if kind == 0:
            items.append({"type": "message", "role": "user", "content": f"question {n}"})
        elif kind == 1:
            part: ResponseInputTextParam = {"type": "input_text", "text": f"note {n}"}
            items.append({"type": "message", "role": "developer", "content": [part]})
        elif kind == 2:
            items.append(
                {
                    "type": "function_call",
                    "call_id": f"call_{n}",
                    "name": "lookup",
                    "arguments": f'{{"n":{n}}}',
                }
            )
        else:
            items.append(
                {"type": "function_call_output", "call_id": f"call_{n - 1}", "output": str(n)}
            )
    return items


def id_of(item: ConversationItem) -> str:
    """An item's id (optional on some members of the SDK's union; always set by the server)."""
    assert item.id is not None
    return item.id


def ids_of(items: Iterable[ConversationItem]) -> list[str]:
    return [id_of(i) for i in items]


def function_call(item_id: str, call_id: str) -> ResponseFunctionToolCallParam:
    """A function call with a client-supplied id."""
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": "lookup",
        "arguments": "{}",
    }


def check_item(item: ConversationItem, n: int) -> None:
    """The n-th item of ``mixed_items``, as the server must return it."""
    assert ITEM_ID.fullmatch(id_of(item)), item.id
    kind = n % 4
    if kind in (0, 1):
        assert isinstance(item, Message)
        assert item.status == "completed"
        assert item.role == ("user" if kind == 0 else "developer")
        assert [(p.type, getattr(p, "text", None)) for p in item.content] == [
            ("input_text", f"question {n}" if kind == 0 else f"note {n}")
        ]
        assert item.id.startswith("msg_")
    elif kind == 2:
        assert isinstance(item, ResponseFunctionToolCallItem)
        assert (item.call_id, item.name, item.arguments) == (f"call_{n}", "lookup", f'{{"n":{n}}}')
        assert item.status == "completed"
        assert item.id.startswith("fc_")
    else:
        assert isinstance(item, ResponseFunctionToolCallOutputItem)
        assert (item.call_id, item.output, item.status) == (f"call_{n - 1}", str(n), "completed")
        assert item.id.startswith("fco_")
    extra = item.model_extra or {}
    assert extra.get("response_id", "missing") is None


def check_conversation(conv: Conversation, metadata: dict[str, str]) -> None:
    assert re.fullmatch(r"conv_[0-9a-f]{32}", conv.id)
    assert conv.object == "conversation"
    assert conv.metadata == metadata
    assert isinstance(conv.created_at, int)


def items_path(conv_id: str) -> str:
    return f"{BASE_PATH}/{conv_id}/items"


def fill(client: OpenAI, conv_id: str) -> list[str]:
    """Add 45 mixed items in batches of at most 20; the ids in creation order."""
    ids: list[str] = []
    start = 0
    for size in BATCHES:
        page = client.conversations.items.create(conv_id, items=mixed_items(size, start))
        assert page.object == "list" and page.has_more is False
        assert len(page.data) == size
        for offset, item in enumerate(page.data):
            check_item(item, start + offset)
        assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
        ids += ids_of(page.data)
        start += size
    assert len(ids) == 45 == len(set(ids))
    return ids


async def afill(client: AsyncOpenAI, conv_id: str) -> list[str]:
    ids: list[str] = []
    start = 0
    for size in BATCHES:
        page = await client.conversations.items.create(conv_id, items=mixed_items(size, start))
        assert page.has_more is False and len(page.data) == size
        for offset, item in enumerate(page.data):
            check_item(item, start + offset)
        ids += ids_of(page.data)
        start += size
    assert len(ids) == 45 == len(set(ids))
    return ids


# --- auto-pagination: 45 items, limit 7, both orders ----------------------------------------


def test_auto_pagination_walks_every_item_once(client: OpenAI, recorder: Recorder) -> None:
    conv = client.conversations.create(metadata={"purpose": "pagination"})
    ids = fill(client, conv.id)
    path = items_path(conv.id)
    for order in ORDERS:
        before = recorder.count("GET", path)
        walked: list[str] = []
        for item in client.conversations.items.list(conv.id, limit=7, order=order):
            walked.append(id_of(item))
            n = ids.index(id_of(item))
            check_item(item, n)
        expected = ids if order == "asc" else ids[::-1]
        assert len(walked) == len(set(walked)), f"{order}: duplicates"
        assert walked == expected, order
        assert recorder.count("GET", path) - before == 7  # ceil(45 / 7) pages, no extra request

    # one page by hand: the cursor fields the paginator relies on
    page = client.conversations.items.list(conv.id, limit=7, order="desc", after=ids[10])
    assert ids_of(page.data) == ids[9:2:-1]
    assert page.has_more is True and page.last_id == ids[3]
    last = client.conversations.items.list(conv.id, limit=7, after=ids[40])
    assert ids_of(last.data) == ids[41:] and last.has_more is False
    assert not last.has_next_page()


async def test_auto_pagination_walks_every_item_once_async(
    aclient: AsyncOpenAI, recorder: Recorder
) -> None:
    conv = await aclient.conversations.create()
    ids = await afill(aclient, conv.id)
    path = items_path(conv.id)
    for order in ORDERS:
        before = recorder.count("GET", path)
        walked: list[str] = []
        async for item in aclient.conversations.items.list(conv.id, limit=7, order=order):
            walked.append(id_of(item))
            check_item(item, ids.index(id_of(item)))
        expected = ids if order == "asc" else ids[::-1]
        assert len(walked) == len(set(walked)), f"{order}: duplicates"
        assert walked == expected, order
        assert recorder.count("GET", path) - before == 7


# --- conversations: create / retrieve / update / delete -------------------------------------


def test_conversation_methods(client: OpenAI) -> None:
    conv = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "Hello!"}],
        metadata={"topic": "demo"},
    )
    check_conversation(conv, {"topic": "demo"})
    extra = conv.model_extra or {}
    assert extra.get("deleted_at", "missing") is None
    assert isinstance(extra.get("identity"), str) and extra["identity"]

    got = client.conversations.retrieve(conv.id)
    assert got.model_dump() == conv.model_dump()

    updated = client.conversations.update(conv.id, metadata={"topic": "new", "x": "1"})
    check_conversation(updated, {"topic": "new", "x": "1"})
    assert updated.id == conv.id and updated.created_at == conv.created_at
    assert client.conversations.retrieve(conv.id).metadata == {"topic": "new", "x": "1"}

    cleared = client.conversations.update(conv.id, metadata=None)
    check_conversation(cleared, {})
    assert client.conversations.retrieve(conv.id).metadata == {}

    deleted = client.conversations.delete(conv.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        conv.id,
        "conversation.deleted",
        True,
    )
    check_not_found(client, conv.id)


def check_not_found(client: OpenAI, conv_id: str) -> None:
    with pytest.raises(NotFoundError) as info:
        client.conversations.retrieve(conv_id)
    err = info.value
    assert err.status_code == 404
    message = f"Conversation with id '{conv_id}' not found."
    # the envelope as the server sends it: {"error": {message, type, param, code}}
    assert err.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
    assert err.type == "invalid_request_error"
    assert err.code == "not_found"
    assert err.param is None
    assert err.message == f"Error code: 404 - {message}"
    assert err.response.headers["content-type"] == "application/json"
    with pytest.raises(NotFoundError):
        client.conversations.delete(conv_id)
    with pytest.raises(NotFoundError):
        client.conversations.update(conv_id, metadata={"a": "b"})
    with pytest.raises(NotFoundError):
        client.conversations.items.list(conv_id)


async def test_conversation_methods_async(aclient: AsyncOpenAI) -> None:
    conv = await aclient.conversations.create(
        items=[{"type": "message", "role": "user", "content": "Hello!"}],
        metadata={"topic": "demo"},
    )
    check_conversation(conv, {"topic": "demo"})
    got = await aclient.conversations.retrieve(conv.id)
    assert got.model_dump() == conv.model_dump()
    updated = await aclient.conversations.update(conv.id, metadata={"topic": "new"})
    check_conversation(updated, {"topic": "new"})
    cleared = await aclient.conversations.update(conv.id, metadata=None)
    check_conversation(cleared, {})
    deleted = await aclient.conversations.delete(conv.id)
    assert deleted.deleted is True and deleted.id == conv.id
    with pytest.raises(NotFoundError) as info:
        await aclient.conversations.retrieve(conv.id)
    assert info.value.status_code == 404
    assert (info.value.type, info.value.code, info.value.param) == (
        "invalid_request_error",
        "not_found",
        None,
    )
    with pytest.raises(NotFoundError):
        await aclient.conversations.delete(conv.id)


# --- items: create (include) / list / retrieve / delete -------------------------------------


def test_item_methods(client: OpenAI) -> None:
    conv = client.conversations.create()
    created = client.conversations.items.create(conv.id, items=mixed_items(4), include=INCLUDE)
    assert created.object == "list" and created.has_more is False
    for n, item in enumerate(created.data):
        check_item(item, n)
    ids = ids_of(created.data)
    assert (created.first_id, created.last_id) == (ids[0], ids[-1])

    listed = client.conversations.items.list(conv.id, include=INCLUDE, order="asc")
    assert ids_of(listed.data) == ids
    assert (listed.last_id, listed.has_more) == (ids[-1], False)
    assert (listed.model_extra or {}).get("first_id") == ids[0]

    for n, item_id in enumerate(ids):
        got = client.conversations.items.retrieve(item_id, conversation_id=conv.id, include=INCLUDE)
        assert got.id == item_id
        check_item(got, n)

    after_delete = client.conversations.items.delete(ids[1], conversation_id=conv.id)
    assert isinstance(after_delete, Conversation)
    check_conversation(after_delete, {})
    assert after_delete.id == conv.id
    with pytest.raises(NotFoundError) as info:
        client.conversations.items.retrieve(ids[1], conversation_id=conv.id)
    assert info.value.message == (
        f"Error code: 404 - Item with id '{ids[1]}' not found in conversation."
    )
    assert info.value.type == "invalid_request_error" and info.value.param is None
    with pytest.raises(NotFoundError):
        client.conversations.items.delete(ids[1], conversation_id=conv.id)
    remaining = ids_of(client.conversations.items.list(conv.id, order="asc"))
    assert remaining == [ids[0], *ids[2:]]

    empty_conv = client.conversations.create()
    empty = client.conversations.items.list(empty_conv.id)
    assert empty.data == [] and empty.has_more is False
    assert empty.last_id == "" and (empty.model_extra or {}).get("first_id") == ""
    assert list(client.conversations.items.list(empty_conv.id)) == []


async def test_item_methods_async(aclient: AsyncOpenAI) -> None:
    conv = await aclient.conversations.create()
    created = await aclient.conversations.items.create(
        conv.id, items=mixed_items(4), include=INCLUDE
    )
    ids = ids_of(created.data)
    for n, item in enumerate(created.data):
        check_item(item, n)
    listed = await aclient.conversations.items.list(conv.id, include=INCLUDE, order="desc")
    assert ids_of(listed.data) == ids[::-1]
    got = await aclient.conversations.items.retrieve(ids[2], conversation_id=conv.id)
    check_item(got, 2)
    after_delete = await aclient.conversations.items.delete(ids[2], conversation_id=conv.id)
    assert isinstance(after_delete, Conversation) and after_delete.id == conv.id
    with pytest.raises(NotFoundError):
        await aclient.conversations.items.retrieve(ids[2], conversation_id=conv.id)
    remaining = [id_of(i) async for i in aclient.conversations.items.list(conv.id, order="asc")]
    assert remaining == [ids[0], ids[1], ids[3]]


# --- 409: duplicate item id, never retried --------------------------------------------------


def test_duplicate_item_id_is_409_and_not_retried(client: OpenAI, recorder: Recorder) -> None:
    dup = f"fc_dup_{uuid.uuid4().hex[:8]}"
    conv = client.conversations.create()
    before_ids = ids_of(
        client.conversations.items.create(
            conv.id, items=[*mixed_items(1), function_call(dup, "c1")]
        ).data
    )
    path = items_path(conv.id)
    before = recorder.count("POST", path)
    retrying = client.with_options(max_retries=2)
    with pytest.raises(ConflictError) as info:
        retrying.conversations.items.create(
            conv.id, items=[*mixed_items(1), function_call(dup, "c2")]
        )
    err = info.value
    assert err.status_code == 409
    assert err.response.headers["x-should-retry"] == "false"
    assert recorder.count("POST", path) - before == 1, recorder.sent  # max_retries=2, not used
    assert err.type == "invalid_request_error"
    assert err.code == "duplicate_item_id"
    # the duplicate is the request's second item: the error must name it, not the first
    assert err.param == "items[1].id"
    assert err.message == (
        f"Error code: 409 - An item with id '{dup}' already exists in conversation "
        f"'{conv.id}'. Item ids must be unique within a conversation."
    )
    # nothing of the failed request was stored
    assert ids_of(client.conversations.items.list(conv.id, order="asc")) == before_ids


async def test_duplicate_item_id_is_409_and_not_retried_async(
    aclient: AsyncOpenAI, recorder: Recorder
) -> None:
    dup = f"fc_dup_{uuid.uuid4().hex[:8]}"
    conv = await aclient.conversations.create(items=[function_call(dup, "c1")])
    path = items_path(conv.id)
    retrying = aclient.with_options(max_retries=2)
    with pytest.raises(ConflictError) as info:
        await retrying.conversations.items.create(conv.id, items=[function_call(dup, "c2")])
    assert info.value.response.headers["x-should-retry"] == "false"
    assert recorder.count("POST", path) == 1, recorder.sent
    assert (info.value.type, info.value.code, info.value.param) == (
        "invalid_request_error",
        "duplicate_item_id",
        "items[0].id",
    )
    assert dup in info.value.message
    listed = await aclient.conversations.items.list(conv.id)
    assert ids_of(listed.data) == [dup]
    stored = listed.data[0]
    assert isinstance(stored, ResponseFunctionToolCallItem) and stored.call_id == "c1"


# --- scoping through the default header -----------------------------------------------------


def test_another_end_user_gets_404(client: OpenAI, server: RunningServer, user: str) -> None:
    conv = client.conversations.create(items=mixed_items(1))
    item_id = id_of(client.conversations.items.list(conv.id).data[0])
    with OpenAI(
        base_url=base_url(server),
        api_key=KEY_A,
        max_retries=0,
        _strict_response_validation=True,
        default_headers={"X-On-Behalf-Of": f"{user}-other"},
    ) as other:
        with pytest.raises(NotFoundError):
            other.conversations.retrieve(conv.id)
        with pytest.raises(NotFoundError):
            other.conversations.items.retrieve(item_id, conversation_id=conv.id)
        with pytest.raises(NotFoundError):
            other.conversations.items.delete(item_id, conversation_id=conv.id)
    assert client.conversations.items.retrieve(item_id, conversation_id=conv.id).id == item_id
