"""The response store itself, on every backend: the turn lease (taken, refused, run out, given
back), a turn's append in one transaction with its response, the context a chain of responses
reads back, listing and deleting, and every method blind to other owners."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest

from mka1_conversations.domain.errors import InvalidRequest, NotFound
from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.items import prepare_items
from mka1_conversations.domain.response_store import ResponseRecord
from mka1_conversations.domain.sharing import Grant, Role, grantee_key
from mka1_conversations.store import Storage, open_storage
from mka1_conversations.store.transfer import GrantRow, ResponseRow, Row, read_rows, write_rows

from ..conftest import fresh_database

ALICE = Owner("acct", "alice")
MALLORY = Owner("acct", "mallory")
NOW = 1_700_000_000


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    opened = await open_storage(database_url)
    try:
        yield opened
    finally:
        await opened.close()


def _record(
    response_id: str,
    text: str,
    *,
    conversation_id: str | None = None,
    previous: str | None = None,
    append: bool = False,
    created_at: int = NOW,
    status: str = "completed",
) -> ResponseRecord:
    inputs = prepare_items([{"role": "user", "content": text}], response_id=response_id)
    outputs = (
        prepare_items([{"role": "assistant", "content": f"re: {text}"}], response_id=response_id)
        if status == "completed"
        else []
    )
    return ResponseRecord(
        id=response_id,
        data=b'{"id":"%s"}' % response_id.encode(),
        status=status,  # type: ignore[arg-type]
        created_at=created_at,
        conversation_id=conversation_id,
        previous_response_id=previous,
        input_items=inputs,
        output_items=outputs,
        append=append,
    )


def _texts(items: list[bytes]) -> list[str]:
    import msgspec

    out = []
    for data in items:
        item = msgspec.json.decode(data)
        out.append(item["content"][0]["text"])
    return out


async def test_the_lease_is_exclusive_until_it_runs_out(storage: Storage) -> None:
    store = storage.responses
    items = prepare_items([{"role": "user", "content": "hello"}])
    await storage.conversations.create_conversation(
        ALICE, "conv_l", metadata={}, items=items, now=NOW
    )
    context = await store.begin_turn(ALICE, "conv_l", "resp_1", now=NOW, lease_seconds=30)
    assert _texts(context) == ["hello"]
    with pytest.raises(InvalidRequest) as locked:
        await store.begin_turn(ALICE, "conv_l", "resp_2", now=NOW + 29, lease_seconds=30)
    assert locked.value.code == "conversation_locked"
    assert locked.value.param == "conversation"
    assert await store.renew_turn(ALICE, "conv_l", "resp_1", now=NOW + 10, lease_seconds=30)
    with pytest.raises(InvalidRequest):
        await store.begin_turn(ALICE, "conv_l", "resp_2", now=NOW + 39, lease_seconds=30)
    # Run out: anyone's.
    await store.begin_turn(ALICE, "conv_l", "resp_2", now=NOW + 40, lease_seconds=30)
    assert not await store.renew_turn(ALICE, "conv_l", "resp_1", now=NOW + 41, lease_seconds=30)
    await store.end_turn(ALICE, "conv_l", "resp_1")  # not the holder: nothing happens
    with pytest.raises(InvalidRequest):
        await store.begin_turn(ALICE, "conv_l", "resp_3", now=NOW + 41, lease_seconds=30)
    await store.end_turn(ALICE, "conv_l", "resp_2")
    await store.begin_turn(ALICE, "conv_l", "resp_3", now=NOW + 41, lease_seconds=30)
    with pytest.raises(NotFound):
        await store.begin_turn(MALLORY, "conv_l", "resp_4", now=NOW + 99, lease_seconds=30)
    with pytest.raises(NotFound):
        await store.begin_turn(ALICE, "conv_none", "resp_4", now=NOW, lease_seconds=30)


async def test_a_turn_appends_and_stores_in_one_transaction(storage: Storage) -> None:
    store = storage.responses
    await storage.conversations.create_conversation(
        ALICE,
        "conv_t",
        metadata={},
        items=prepare_items([{"role": "user", "content": "a"}]),
        now=NOW,
    )
    await store.begin_turn(ALICE, "conv_t", "resp_1", now=NOW, lease_seconds=30)
    # Another turn holding the lease: nothing written.
    await store.end_turn(ALICE, "conv_t", "resp_1")
    await store.begin_turn(ALICE, "conv_t", "resp_x", now=NOW, lease_seconds=30)
    with pytest.raises(InvalidRequest):
        await store.save_response(
            ALICE, _record("resp_1", "b", conversation_id="conv_t", append=True), now=NOW + 1
        )
    with pytest.raises(NotFound):
        await store.get_response(ALICE, "resp_1")
    await store.end_turn(ALICE, "conv_t", "resp_x")

    await store.begin_turn(ALICE, "conv_t", "resp_1", now=NOW, lease_seconds=30)
    await store.save_response(
        ALICE, _record("resp_1", "b", conversation_id="conv_t", append=True), now=NOW + 1
    )
    page = await storage.conversations.list_items(
        ALICE, "conv_t", after=None, limit=10, order="asc", max_bytes=1 << 20
    )
    assert _texts(page.data) == ["a", "b", "re: b"]
    assert await store.get_response(ALICE, "resp_1") == b'{"id":"resp_1"}'
    # The lease was given back with the append.
    await store.begin_turn(ALICE, "conv_t", "resp_2", now=NOW + 2, lease_seconds=30)
    await store.end_turn(ALICE, "conv_t", "resp_2")
    # The response reads its context back: the conversation before it, its input, its output.
    assert _texts(await store.response_context(ALICE, "resp_1")) == ["a", "b", "re: b"]
    # The conversation deleted: the response stays.
    await storage.conversations.delete_conversation(ALICE, "conv_t", now=NOW + 3)
    assert await store.get_response(ALICE, "resp_1") == b'{"id":"resp_1"}'
    with pytest.raises(NotFound):
        await store.get_response(MALLORY, "resp_1")


async def test_chains_lists_and_deletes(storage: Storage) -> None:
    store = storage.responses
    await store.save_response(ALICE, _record("resp_a", "one", created_at=NOW), now=NOW)
    await store.save_response(
        ALICE, _record("resp_b", "two", previous="resp_a", created_at=NOW + 1), now=NOW
    )
    await store.save_response(
        ALICE,
        _record("resp_c", "three", previous="resp_b", created_at=NOW + 2, status="failed"),
        now=NOW,
    )
    assert _texts(await store.response_context(ALICE, "resp_c")) == [
        "one",
        "re: one",
        "two",
        "re: two",
        "three",
    ]
    with pytest.raises(NotFound) as missing:
        await store.response_context(MALLORY, "resp_c")
    assert missing.value.param == "previous_response_id"

    page = await store.list_responses(ALICE, after=None, limit=2, order="desc")
    assert page.ids == ["resp_c", "resp_b"] and page.has_more
    page = await store.list_responses(ALICE, after="resp_b", limit=2, order="desc")
    assert page.ids == ["resp_a"] and not page.has_more
    page = await store.list_responses(ALICE, after=None, limit=5, order="asc")
    assert page.ids == ["resp_a", "resp_b", "resp_c"]
    assert (await store.list_responses(MALLORY, after=None, limit=5, order="asc")).ids == []
    with pytest.raises(InvalidRequest):
        await store.list_responses(MALLORY, after="resp_a", limit=5, order="asc")

    inputs = await store.list_input_items(ALICE, "resp_b", after=None, limit=5, order="asc")
    assert _texts(inputs.data) == ["two"]
    assert not (
        await store.list_input_items(ALICE, "resp_b", after=inputs.ids[0], limit=5, order="asc")
    ).ids
    with pytest.raises(NotFound):
        await store.list_input_items(MALLORY, "resp_b", after=None, limit=5, order="asc")

    with pytest.raises(NotFound):
        await store.delete_response(MALLORY, "resp_b")
    await store.delete_response(ALICE, "resp_b")
    with pytest.raises(NotFound):
        await store.get_response(ALICE, "resp_b")
    with pytest.raises(NotFound):
        await store.delete_response(ALICE, "resp_b")


async def test_purging_a_deleted_conversation_keeps_its_responses(storage: Storage) -> None:
    store = storage.responses
    await storage.conversations.create_conversation(
        ALICE,
        "conv_p",
        metadata={},
        items=prepare_items([{"role": "user", "content": "a"}]),
        now=NOW,
    )
    await store.begin_turn(ALICE, "conv_p", "resp_p", now=NOW, lease_seconds=30)
    await store.save_response(
        ALICE, _record("resp_p", "b", conversation_id="conv_p", append=True), now=NOW
    )
    await storage.conversations.delete_conversation(ALICE, "conv_p", now=NOW)
    # Until the purge, the context still has the deleted conversation's items.
    assert _texts(await store.response_context(ALICE, "resp_p")) == ["a", "b", "re: b"]
    while True:
        batch = await storage.maintenance.purge_deleted(deleted_before=NOW + 1, max_rows=2)
        if not (batch.conversations or batch.items or batch.words or batch.receipts):
            break
    with pytest.raises(NotFound):
        await storage.conversations.get_conversation(ALICE, "conv_p")
    assert await store.get_response(ALICE, "resp_p") == b'{"id":"resp_p"}'
    assert _texts(await store.response_context(ALICE, "resp_p")) == ["b", "re: b"]
    inputs = await store.list_input_items(ALICE, "resp_p", after=None, limit=5, order="asc")
    assert _texts(inputs.data) == ["b"]


@pytest.fixture
def other_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database of the other backend."""
    other = "sqlite" if database_url.startswith("postgres") else "postgres"
    with fresh_database(other, tmp_path / "copy") as url:
        yield url


async def test_export_and_import_carry_stored_responses(
    storage: Storage, other_database: str
) -> None:
    """Exported from either backend, imported into the other."""
    store = storage.responses
    await store.save_response(ALICE, _record("resp_x1", "one"), now=NOW)
    await store.save_response(
        ALICE, _record("resp_x2", "two", previous="resp_x1", created_at=NOW + 1), now=NOW
    )
    await storage.conversations.grant(
        ALICE,
        Grant("resp_x2", grantee_key("acct", "bob"), "bob", Role.READER, "response"),
        now=NOW,
    )
    rows = [row async for row in storage.maintenance.export_rows()]
    assert sum(isinstance(row, ResponseRow) for row in rows) == 2
    grants = [row for row in rows if isinstance(row, GrantRow)]
    assert [(g.resource_type, g.conversation_id, g.role) for g in grants] == [
        ("response", "resp_x2", "reader")
    ]
    await _copy(other_database, rows)


def test_a_grant_line_without_resource_type_is_a_conversations() -> None:
    """Exports made before responses were shared import unchanged; a conversation's grant line
    is written as before (no ``resource_type``)."""
    line = (
        b'{"record":"grant","grantee":"acct:bob","conversation_id":"conv_1",'
        b'"owner":"acct:alice","role":"reader","granted_at":1}\n'
    )
    (row,) = list(read_rows(io.BytesIO(line)))
    assert isinstance(row, GrantRow) and row.resource_type == "conversation"
    out = io.BytesIO()
    write_rows([row], out)
    assert b"resource_type" not in out.getvalue()
    write_rows([msgspec.structs.replace(row, resource_type="response")], out)
    assert b'"resource_type":"response"' in out.getvalue()


async def _copy(url: str, rows: list[Row]) -> None:
    copy = await open_storage(url)
    try:
        await copy.maintenance.import_rows(rows)
        assert await copy.responses.get_response(ALICE, "resp_x2") == b'{"id":"resp_x2"}'
        bob = Owner("acct", "bob")
        assert await copy.responses.get_response(bob, "resp_x2") == b'{"id":"resp_x2"}'
        with pytest.raises(NotFound):  # only resp_x2 was shared
            await copy.responses.get_response(bob, "resp_x1")
        assert _texts(await copy.responses.response_context(ALICE, "resp_x2")) == [
            "one",
            "re: one",
            "two",
            "re: two",
        ]
        listed = await copy.responses.list_responses(ALICE, after=None, limit=5, order="asc")
        assert listed.ids == ["resp_x1", "resp_x2"]
        assert [row async for row in copy.maintenance.export_rows()] == rows
    finally:
        await copy.close()
