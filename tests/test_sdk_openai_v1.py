"""The official OpenAI Python SDK against ``<server>/v1``, the OpenAI face, in strict mode: code
written for OpenAI works by changing the base URL and nothing else.

All eight ``conversations.*`` methods; item lists newest first when ``order`` is absent (and
auto-pagination that way); 404s with ``code: None`` and OpenAI's wording; MKA1's own operations
(list conversations, bulk delete) are not there. The same conversations are seen through both
faces: one service, one storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import httpx2
import pytest
from openai import AsyncOpenAI, BadRequestError, NotFoundError, OpenAI
from openai.types.conversations import Conversation

from .conftest import BASE_PATH, KEY_A, RunningServer, auth_headers
from .test_sdk_openai import (
    INCLUDE,
    Recorder,
    check_conversation,
    check_item,
    fill,
    id_of,
    ids_of,
    mixed_items,
)

V1 = "/v1"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(server: RunningServer, user: str, recorder: Recorder) -> Iterator[OpenAI]:
    http_client = httpx2.Client(event_hooks={"request": [recorder.hook]}, timeout=30)
    with OpenAI(
        base_url=server.url + V1,  # the one line that changes when coming from OpenAI
        api_key=KEY_A,
        max_retries=0,
        _strict_response_validation=True,
        default_headers={"X-On-Behalf-Of": user},
        http_client=http_client,
    ) as c:
        yield c


@pytest.fixture
async def aclient(server: RunningServer, user: str) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=server.url + V1,
        api_key=KEY_A,
        max_retries=0,
        _strict_response_validation=True,
        default_headers={"X-On-Behalf-Of": user},
    ) as c:
        yield c


def check_openai_not_found(err: NotFoundError, message: str) -> None:
    """OpenAI's 404: ``code`` null, its wording, the envelope's four fields."""
    assert err.status_code == 404
    assert err.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert (err.code, err.param, err.type) == (None, None, "invalid_request_error")
    assert err.message == f"Error code: 404 - {message}"


def test_the_eight_methods(client: OpenAI) -> None:
    conv = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "Hello!"}],
        metadata={"topic": "demo"},
    )
    check_conversation(conv, {"topic": "demo"})
    assert client.conversations.retrieve(conv.id).model_dump() == conv.model_dump()
    updated = client.conversations.update(conv.id, metadata={"topic": "new"})
    check_conversation(updated, {"topic": "new"})

    created = client.conversations.items.create(conv.id, items=mixed_items(4), include=INCLUDE)
    for n, item in enumerate(created.data):
        check_item(item, n)
    ids = ids_of(created.data)
    listed = client.conversations.items.list(conv.id, include=INCLUDE)
    first = client.conversations.items.list(conv.id, order="asc").data[0]
    assert ids_of(listed.data) == [*ids[::-1], id_of(first)]  # newest first, "Hello!" last
    got = client.conversations.items.retrieve(ids[2], conversation_id=conv.id, include=INCLUDE)
    check_item(got, 2)
    after_delete = client.conversations.items.delete(ids[2], conversation_id=conv.id)
    assert isinstance(after_delete, Conversation) and after_delete.id == conv.id
    assert ids[2] not in ids_of(client.conversations.items.list(conv.id))

    deleted = client.conversations.delete(conv.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (conv.id, "conversation.deleted", True)
    with pytest.raises(NotFoundError) as info:
        client.conversations.retrieve(conv.id)
    check_openai_not_found(info.value, f"Conversation with id '{conv.id}' not found.")


def test_item_lists_are_newest_first_unless_asked(client: OpenAI, recorder: Recorder) -> None:
    conv = client.conversations.create()
    ids = fill(client, conv.id)  # 45 items, oldest first
    path = f"{V1}/conversations/{conv.id}/items"
    before = recorder.count("GET", path)
    walked = [id_of(item) for item in client.conversations.items.list(conv.id, limit=7)]
    assert walked == ids[::-1]  # auto-pagination, newest first, every item once
    assert recorder.count("GET", path) - before == 7  # ceil(45 / 7) pages, no extra request
    page = client.conversations.items.list(conv.id, limit=5)
    assert ids_of(page.data) == ids[:-6:-1] and page.has_more
    assert page.last_id is not None
    after = client.conversations.items.list(conv.id, limit=5, after=page.last_id)
    assert ids_of(after.data) == ids[-6:-11:-1]
    assert ids_of(client.conversations.items.list(conv.id, order="asc", limit=3).data) == ids[:3]
    assert (
        ids_of(client.conversations.items.list(conv.id, order="desc", limit=3).data)
        == (ids[:-4:-1])
    )


def test_errors_carry_openais_codes(client: OpenAI, server: RunningServer, user: str) -> None:
    conv = client.conversations.create(items=mixed_items(1))
    item_id = id_of(client.conversations.items.list(conv.id).data[0])
    with pytest.raises(NotFoundError) as unknown_item:
        client.conversations.items.retrieve("msg_nope", conversation_id=conv.id)
    check_openai_not_found(unknown_item.value, "Item with id 'msg_nope' not found in conversation.")
    with pytest.raises(NotFoundError) as unknown_conversation:
        client.conversations.items.list("conv_nope")
    check_openai_not_found(
        unknown_conversation.value, "Conversation with id 'conv_nope' not found."
    )
    with pytest.raises(BadRequestError) as bad:  # the validator's codes are OpenAI's already
        client.conversations.items.list(conv.id, limit=1000)
    assert (bad.value.code, bad.value.param) == ("integer_above_max_value", "limit")

    # MKA1's own operations, and any path or method OpenAI does not have: 404, code null.
    headers = auth_headers(KEY_A, user)
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        for method, path, body in [
            ("GET", f"{V1}/conversations", None),
            ("DELETE", f"{V1}/conversations/{conv.id}/items", {"item_ids": [item_id]}),
            ("PUT", f"{V1}/conversations/{conv.id}", {}),
            ("GET", f"{V1}/nowhere", None),
        ]:
            response = http.request(method, path, json=body)
            assert response.status_code == 404, (method, path)
            assert response.json() == {
                "error": {
                    "message": f"Invalid URL ({method} {path})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            assert "allow" not in response.headers
        # Nothing was deleted; on MKA1's face the same requests are MKA1's.
        assert ids_of(client.conversations.items.list(conv.id).data) == [item_id]
        assert http.get(BASE_PATH).status_code == 200
        assert http.put(f"{BASE_PATH}/{conv.id}", json={}).status_code == 405
    unauthenticated = httpx.get(f"{server.url}{V1}/conversations/{conv.id}")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "invalid_api_key"


def test_one_service_two_faces(client: OpenAI, server: RunningServer, user: str) -> None:
    conv = client.conversations.create(items=mixed_items(3), metadata={"via": "v1"})
    ids = ids_of(client.conversations.items.list(conv.id, order="asc").data)
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user)) as http:
        mka1 = http.get(f"{BASE_PATH}/{conv.id}/items").json()  # MKA1's default: oldest first
        assert [i["id"] for i in mka1["data"]] == ids
        listed = http.get(BASE_PATH, params={"metadata[via]": "v1"}).json()["data"]
        assert [c["id"] for c in listed] == [conv.id]
        other = http.get(f"{BASE_PATH}/{conv.id}", headers={"X-On-Behalf-Of": user + "-x"})
        assert other.status_code == 404  # ownership is the same on both faces
    with pytest.raises(NotFoundError):
        client.with_options(default_headers={"X-On-Behalf-Of": user + "-x"}).conversations.retrieve(
            conv.id
        )


async def test_the_async_client(aclient: AsyncOpenAI) -> None:
    conv = await aclient.conversations.create(items=mixed_items(3))
    created = await aclient.conversations.items.create(conv.id, items=mixed_items(2, start=3))
    newest_first = [id_of(i) async for i in aclient.conversations.items.list(conv.id, limit=2)]
    assert newest_first[:2] == ids_of(created.data)[::-1] and len(newest_first) == 5
    assert (await aclient.conversations.items.delete(newest_first[0], conversation_id=conv.id)).id
    await aclient.conversations.delete(conv.id)
    with pytest.raises(NotFoundError) as info:
        await aclient.conversations.retrieve(conv.id)
    assert info.value.code is None
