"""The conversation store itself, on every backend: each method finds nothing of another
owner's and nothing soft-deleted, a failed write leaves nothing behind, and a rule marked as one
statement may not send two (PostgreSQL runs it outside a transaction)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mka1_conversations.domain.errors import Conflict, NotFound
from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.items import prepare_items
from mka1_conversations.domain.store import ConversationQuery
from mka1_conversations.store import Storage, open_storage
from mka1_conversations.store.backend import one_statement
from mka1_conversations.store.conversations import ConversationStatements

from ..conftest import postgres_database

ALICE = Owner("acct", "alice")
MALLORY = Owner("acct", "mallory")
OTHER_ACCOUNT = Owner("other", "alice")
NOW = 1_700_000_000


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    opened = await open_storage(database_url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_every_method_hides_other_owners_conversations(storage: Storage) -> None:
    store = storage.conversations
    items = prepare_items([{"role": "user", "content": "hello"}])
    await store.create_conversation(ALICE, "conv_a", metadata={"k": "v"}, items=items, now=NOW)
    item_id = items[0].id
    for stranger in (MALLORY, OTHER_ACCOUNT):
        calls = [
            store.get_conversation(stranger, "conv_a"),
            store.update_conversation(stranger, "conv_a", metadata={}),
            store.delete_conversation(stranger, "conv_a", now=NOW),
            store.append_items(
                stranger, "conv_a", prepare_items([{"role": "user", "content": "x"}]), now=NOW
            ),
            store.list_items(
                stranger, "conv_a", after=None, limit=20, order="asc", max_bytes=1 << 30
            ),
            store.get_item(stranger, "conv_a", item_id),
            store.delete_items(stranger, "conv_a", [item_id], now=NOW),
        ]
        for call in calls:
            with pytest.raises(NotFound):
                await call
        assert (await store.list_conversations(stranger, ConversationQuery())).conversations == []
    # Nothing of that touched alice's conversation.
    assert (await store.get_conversation(ALICE, "conv_a")).metadata == {"k": "v"}
    page = await store.list_items(
        ALICE, "conv_a", after=None, limit=20, order="asc", max_bytes=1 << 30
    )
    assert page.ids == [item_id]


async def test_a_soft_deleted_conversation_is_gone_for_its_owner_too(storage: Storage) -> None:
    store = storage.conversations
    await store.create_conversation(ALICE, "conv_d", metadata={}, items=[], now=NOW)
    await store.delete_conversation(ALICE, "conv_d", now=NOW)
    with pytest.raises(NotFound):
        await store.get_conversation(ALICE, "conv_d")
    with pytest.raises(NotFound):
        await store.append_items(
            ALICE, "conv_d", prepare_items([{"role": "user", "content": "x"}]), now=NOW
        )
    assert (await store.list_conversations(ALICE, ConversationQuery())).conversations == []


async def test_a_duplicate_id_names_the_item_and_writes_nothing(storage: Storage) -> None:
    store = storage.conversations
    first = prepare_items([{"id": "msg_1", "role": "user", "content": "one"}])
    await store.create_conversation(ALICE, "conv_x", metadata={}, items=first, now=NOW)
    batch = prepare_items(
        [
            {"id": "msg_2", "role": "user", "content": "two"},
            {"id": "msg_1", "role": "user", "content": "again"},
        ]
    )
    with pytest.raises(Conflict) as raised:
        await store.append_items(ALICE, "conv_x", batch, now=NOW)
    assert raised.value.param == "items[1].id"
    page = await store.list_items(
        ALICE, "conv_x", after=None, limit=20, order="asc", max_bytes=1 << 30
    )
    assert page.ids == ["msg_1"]


@one_statement
async def _two_statements(st: ConversationStatements, owner: Owner) -> None:
    await st.get_conversation(owner.key, "conv_1")
    await st.get_conversation(owner.key, "conv_2")


def test_a_rule_marked_one_statement_may_not_send_two() -> None:
    # PostgreSQL runs such a rule without a transaction; SQLite runs every write in one.
    async def attempt(url: str) -> None:
        opened = await open_storage(url)
        try:
            with pytest.raises(RuntimeError, match="one_statement"):
                await opened.backend.write("test", _two_statements, ALICE)
        finally:
            await opened.close()

    with postgres_database() as url:
        asyncio.run(attempt(url))
