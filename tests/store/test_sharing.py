"""Sharing in the store, on every backend: the owner's own operations make exactly the calls
(and, on SQLite, the statements) they made before sharing existed, never a grant lookup; a
grantee's make one lookup more; grants never cross accounts; purge removes the grants of purged
conversations."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from mka1_conversations.domain import requests
from mka1_conversations.domain.errors import NotFound, PermissionDenied
from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.items import prepare_items
from mka1_conversations.domain.response_store import ResponseRecord
from mka1_conversations.domain.sharing import Grant, Role, grantee_key
from mka1_conversations.store import Instruments, Storage, open_storage
from mka1_conversations.store.transfer import GrantRow

ALICE = Owner("acct", "alice")
BOB = Owner("acct", "bob")
BOB_ELSEWHERE = Owner("other", "bob")
NOW = 1_700_000_000


class _Count:
    def __init__(self, calls: Counter[str], call: str) -> None:
        self.calls, self.call = calls, call

    def observe(self, amount: float) -> None:
        self.calls[self.call] += 1


@pytest.fixture
async def counted(database_url: str) -> AsyncIterator[tuple[Storage, Counter[str]]]:
    calls: Counter[str] = Counter()
    opened = await open_storage(database_url, instruments=Instruments(lambda c: _Count(calls, c)))
    try:
        yield opened, calls
    finally:
        await opened.close()


def _statements(storage: Storage) -> list[str] | None:
    """Every SQL statement SQLite runs from now on (None on PostgreSQL)."""
    db = getattr(storage.backend, "_db", None)
    if not isinstance(db, sqlite3.Connection):
        return None
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    return seen


async def _operations(storage: Storage, who: Owner, conversation_id: str, item_id: str) -> None:
    store = storage.conversations
    await store.get_conversation(who, conversation_id)
    await store.list_items(
        who, conversation_id, after=None, limit=20, order="asc", max_bytes=1 << 20
    )
    await store.get_item(who, conversation_id, item_id)
    await store.append_items(
        who, conversation_id, prepare_items([{"role": "user", "content": "more"}]), now=NOW
    )
    await store.update_conversation(who, conversation_id, metadata={"k": "v"})


async def test_the_owner_pays_nothing_for_sharing(counted: tuple[Storage, Counter[str]]) -> None:
    storage, calls = counted
    store = storage.conversations
    items = prepare_items([{"role": "user", "content": "hello"}])
    await store.create_conversation(ALICE, "conv_s", metadata={}, items=items, now=NOW)
    await store.grant(
        ALICE, Grant("conv_s", grantee_key("acct", "bob"), "bob", Role.WRITER), now=NOW
    )
    calls.clear()
    seen = _statements(storage)
    await _operations(storage, ALICE, "conv_s", items[0].id)
    owner_calls = dict(calls)
    assert "find_grant" not in owner_calls
    assert owner_calls == {
        "get_conversation": 1,
        "list_items": 1,
        "get_item": 1,
        "append_items": 1,
        "update_conversation": 1,
    }
    owner_statements = None if seen is None else [s for s in seen if "conversation_grants" in s]
    assert not owner_statements  # no statement of the owner's touches the grants
    owner_count = None if seen is None else len(seen)

    calls.clear()
    if seen is not None:
        seen.clear()
    await _operations(storage, BOB, "conv_s", items[0].id)
    # a grantee: its own statement finds nothing, one grant lookup, the owner's statement again
    assert dict(calls) == {
        "find_grant": 5,
        **{call: 2 * n for call, n in owner_calls.items()},
    }
    if seen is not None and owner_count is not None:
        assert len([s for s in seen if "conversation_grants" in s]) == 5
        # per operation: the lookup, and the owner's miss (a read: one statement; a write: its
        # statement inside its transaction)
        assert len(seen) - owner_count <= 5 * 4


async def test_grants_rules(counted: tuple[Storage, Counter[str]]) -> None:
    storage, _ = counted
    store = storage.conversations
    await store.create_conversation(ALICE, "conv_r", metadata={}, items=[], now=NOW)
    with pytest.raises(NotFound):  # bob cannot grant on what he cannot see
        await store.grant(
            BOB, Grant("conv_r", grantee_key("acct", "eve"), "eve", Role.READER), now=NOW
        )
    await store.grant(
        ALICE, Grant("conv_r", grantee_key("acct", "bob"), "bob", Role.READER), now=NOW
    )
    with pytest.raises(PermissionDenied):
        await store.grant(
            BOB, Grant("conv_r", grantee_key("acct", "eve"), "eve", Role.READER), now=NOW
        )
    assert await store.check(BOB, "conv_r", Role.READER)
    assert not await store.check(BOB, "conv_r", Role.WRITER)
    assert not await store.check(BOB_ELSEWHERE, "conv_r", Role.READER)
    with pytest.raises(NotFound):
        await store.get_conversation(BOB_ELSEWHERE, "conv_r")
    # a grant named in another account (as a forged row would be) gives nothing
    await store.grant(
        ALICE, Grant("conv_r", grantee_key("other", "bob"), "bob", Role.OWNER), now=NOW
    )
    with pytest.raises(NotFound):
        await store.get_conversation(BOB_ELSEWHERE, "conv_r")
    # the record a grantee gets names the owner (its identity is shown)
    record = await store.get_conversation(BOB, "conv_r")
    assert record.owner_key == ALICE.key
    assert (await store.get_conversation(ALICE, "conv_r")).owner_key is None


async def test_purge_removes_grants_of_purged_conversations(
    counted: tuple[Storage, Counter[str]],
) -> None:
    storage, _ = counted
    store = storage.conversations
    await store.create_conversation(ALICE, "conv_p", metadata={}, items=[], now=NOW)
    await store.create_conversation(ALICE, "conv_q", metadata={}, items=[], now=NOW)
    for conv in ("conv_p", "conv_q"):
        await store.grant(
            ALICE, Grant(conv, grantee_key("acct", "bob"), "bob", Role.READER), now=NOW
        )
    await store.delete_conversation(ALICE, "conv_p", now=NOW)
    while True:
        batch = await storage.maintenance.purge_deleted(deleted_before=NOW + 1, max_rows=1000)
        if not batch.conversations and not batch.words:
            break
    assert await store.check(BOB, "conv_q", Role.READER)
    exported = [row async for row in storage.maintenance.export_rows()]
    grants = [r for r in exported if isinstance(r, GrantRow)]
    assert [(g.conversation_id, g.grantee) for g in grants] == [
        ("conv_q", grantee_key("acct", "bob"))
    ]


async def test_a_grantees_unconfirmed_append_is_found_in_the_shared_conversation(
    counted: tuple[Storage, Counter[str]],
) -> None:
    """A grantee's append whose commit was not confirmed, sent again (no Idempotency-Key), is
    looked for in the owner's conversation, and not applied twice."""
    storage, _ = counted
    store = storage.conversations
    await store.create_conversation(ALICE, "conv_u", metadata={}, items=[], now=NOW)
    await store.grant(ALICE, Grant("conv_u", BOB.key, "bob", Role.WRITER), now=NOW)
    first = prepare_items([{"role": "user", "content": "once"}])
    page = await store.append_items(BOB, "conv_u", first, now=NOW)
    request = requests.Request()
    request.feed(b"POST /conversations/conv_u/items")
    store._unconfirmed.remember(BOB.key, request.fingerprint, "conv_u", first[0].id, page)
    with requests.serving(request):
        again = await store.append_items(
            BOB, "conv_u", prepare_items([{"role": "user", "content": "once"}]), now=NOW
        )
    assert again == page
    listed = await store.list_items(
        ALICE, "conv_u", after=None, limit=20, order="asc", max_bytes=1 << 20
    )
    assert listed.ids == [first[0].id]


def _response(response_id: str) -> ResponseRecord:
    return ResponseRecord(
        id=response_id,
        data=b'{"id":"%s"}' % response_id.encode(),
        status="completed",
        created_at=NOW,
        conversation_id=None,
        previous_response_id=None,
        input_items=prepare_items([{"role": "user", "content": "q"}], response_id=response_id),
        output_items=prepare_items(
            [{"role": "assistant", "content": "a"}], response_id=response_id
        ),
        append=False,
    )


async def _response_reads(storage: Storage, who: Owner, response_id: str) -> None:
    await storage.responses.get_response(who, response_id)
    await storage.responses.list_input_items(who, response_id, after=None, limit=20, order="asc")


async def test_response_grants(counted: tuple[Storage, Counter[str]]) -> None:
    storage, calls = counted
    await storage.responses.save_response(ALICE, _response("resp_s"), now=NOW)
    conversations = storage.conversations
    as_reader = Grant("resp_s", grantee_key("acct", "bob"), "bob", Role.READER, "response")
    await conversations.grant(ALICE, as_reader, now=NOW)
    # the owner's reads: no grant lookup, no statement on the grants
    calls.clear()
    seen = _statements(storage)
    await _response_reads(storage, ALICE, "resp_s")
    assert dict(calls) == {"get_response": 1, "list_input_items": 1}
    assert seen is None or not [s for s in seen if "response_grants" in s]
    # a grantee's: one lookup each, then the owner's statement
    calls.clear()
    await _response_reads(storage, BOB, "resp_s")
    assert dict(calls) == {"find_grant": 2, "get_response": 2, "list_input_items": 2}
    assert await conversations.check(BOB, "resp_s", Role.READER, "response")
    assert not await conversations.check(BOB, "resp_s", Role.WRITER, "response")
    assert not await conversations.check(BOB, "resp_s", Role.READER)  # not a conversation
    with pytest.raises(NotFound):
        await storage.conversations.get_conversation(BOB, "resp_s")
    with pytest.raises(PermissionDenied):
        await storage.responses.delete_response(BOB, "resp_s")
    with pytest.raises(NotFound):
        await storage.responses.get_response(BOB_ELSEWHERE, "resp_s")
    with pytest.raises(NotFound):  # a chain is one owner's responses
        await storage.responses.response_context(BOB, "resp_s")
    # export carries the grant with its type; deleting the response deletes its grants
    exported = [r async for r in storage.maintenance.export_rows() if isinstance(r, GrantRow)]
    assert [
        (g.resource_type, g.conversation_id) for g in exported if g.conversation_id == "resp_s"
    ] == [("response", "resp_s")]
    await storage.responses.delete_response(ALICE, "resp_s")
    exported = [r async for r in storage.maintenance.export_rows() if isinstance(r, GrantRow)]
    assert [g for g in exported if g.resource_type == "response"] == []
    assert not await conversations.check(BOB, "resp_s", Role.READER, "response")
