"""On a Citus cluster (MKA1_TEST_CITUS_URL; skipped without): ``migrate`` distributes every table
by owner itself, later migrations still apply, and every statement the store sends for the ten
operations is router-executed on one shard, as Citus's own EXPLAIN says.

The statements are the ones the store really sends (its instruments are told each, with its
arguments, by asyncpg's query logger); each is then explained with the same arguments.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from mka1_conversations.domain import requests
from mka1_conversations.domain.errors import NotFound
from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.items import prepare_items
from mka1_conversations.domain.response_store import ResponseRecord
from mka1_conversations.domain.store import ConversationQuery
from mka1_conversations.store import Storage, open_storage
from mka1_conversations.store.backend import Instruments
from mka1_conversations.store.migrate import Migration, apply_postgres, distribute_for_citus
from mka1_conversations.store.words import FOLD_ITEMS

from ..conftest import citus_database

OWNER = Owner("acct", "citus-user")
NOW = int(time.time())

_TABLES = re.compile(
    r"\b(conversations|items|conversation_words|conversation_moves|list_snapshots|owner_clocks|"
    r"request_receipts|api_keys|responses|response_items)\b"
)


def _run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


async def _distribution(url: str) -> dict[str, tuple[str, str | None, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT logicalrelid::regclass::text, partmethod::text, "
            "column_to_column_name(logicalrelid, partkey), colocationid FROM pg_dist_partition"
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}
    finally:
        await conn.close()


def test_migrate_distributes_every_owner_table_by_owner_co_located() -> None:
    with citus_database() as url:
        tables = _run(_distribution(url))
        owned = {name: t for name, t in tables.items() if t[0] == "h"}
        assert set(owned) >= {
            "conversations",
            "items",
            "conversation_words",
            "conversation_moves",
            "list_snapshots",
            "owner_clocks",
            "request_receipts",
        }
        assert {t[1] for t in owned.values()} == {"owner_id"}
        assert len({t[2] for t in owned.values()}) == 1  # one co-location group
        assert "conversation_usage" not in tables or tables["conversation_usage"][0] == "h"
        assert tables["api_keys"][0] == "n"  # a reference table
        assert "conversation_grants" not in tables or tables["conversation_grants"][0] == "n"
        assert "schema_migrations" not in tables  # bookkeeping stays on the coordinator

        async def again_and_later() -> list[str]:
            conn = await asyncpg.connect(url)
            try:
                assert await distribute_for_citus(conn) == []  # idempotent
                later = Migration(
                    9001,
                    "later",
                    "CREATE TABLE later_owned (owner_id text NOT NULL, id text NOT NULL, "
                    "note text, PRIMARY KEY (owner_id, id), FOREIGN KEY (owner_id, id) "
                    "REFERENCES conversations (owner_id, id) ON DELETE CASCADE);\n"
                    "CREATE TABLE later_shared (name text PRIMARY KEY);\n"
                    "ALTER TABLE conversations ADD COLUMN later_note text;\n"
                    "CREATE INDEX conversations_later ON conversations (owner_id, later_note);\n"
                    "CREATE FUNCTION later_fn() RETURNS int LANGUAGE sql IMMUTABLE AS $$ "
                    "SELECT 1; $$;\n"
                    "UPDATE conversations SET later_note = 'x' WHERE later_note IS NULL;\n",
                )
                await apply_postgres(conn, migrations=[later])
                assert await conn.fetchval("SELECT later_fn()") == 1
                return [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
            finally:
                await conn.close()

        assert 9001 in _run(again_and_later())
        tables = _run(_distribution(url))
        assert tables["later_owned"][:2] == ("h", "owner_id")
        assert tables["later_owned"][2] == tables["conversations"][2]
        assert tables["later_shared"][0] == "n"


async def _ten_operations(storage: Storage) -> None:
    store = storage.conversations
    first = prepare_items([{"role": "user", "content": "hello router world"}])
    await store.create_conversation(OWNER, "conv_a", metadata={"k": "v"}, items=first, now=NOW)
    await store.create_conversation(OWNER, "conv_b", metadata={}, items=[], now=NOW)
    await store.get_conversation(OWNER, "conv_a")
    await store.update_conversation(OWNER, "conv_a", metadata={"k": "w"})
    many = prepare_items(
        [{"role": "user", "content": f"word{n} common"} for n in range(FOLD_ITEMS + 2)]
    )
    await store.append_items(OWNER, "conv_a", many, now=NOW)  # folds the words after it
    with requests.serving(requests.Request(deadline=time.monotonic() + 30, idempotency_key="k1")):
        await store.append_items(OWNER, "conv_b", first, now=NOW)  # a receipt kept
    with requests.serving(requests.Request(deadline=time.monotonic() + 30, idempotency_key="k1")):
        await store.append_items(OWNER, "conv_b", first, now=NOW)  # answered from it
    page = await store.list_items(
        OWNER, "conv_a", after=None, limit=5, order="asc", max_bytes=1 << 20
    )
    await store.list_items(
        OWNER, "conv_a", after=page.ids[-1], limit=5, order="desc", max_bytes=1 << 20
    )
    await store.get_item(OWNER, "conv_a", page.ids[0])
    await store.delete_items(OWNER, "conv_a", page.ids[:2], now=NOW)
    listing = await store.list_conversations(OWNER, ConversationQuery(limit=1))
    await store.list_conversations(
        OWNER, ConversationQuery(limit=1, after=listing.conversations[0].id)
    )
    await store.list_conversations(OWNER, ConversationQuery(search="common", metadata={"k": "w"}))
    await store.list_conversations(OWNER, ConversationQuery(search="word7 router"))
    await store.delete_conversation(OWNER, "conv_b", now=NOW)
    with pytest.raises(NotFound):
        await store.get_conversation(OWNER, "conv_b")


async def _plans(url: str, sent: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, str]]:
    """(statement, its EXPLAIN) of each statement that touches a table."""
    conn = await asyncpg.connect(url)
    out = []
    try:
        for query, args in sent:
            if not _TABLES.search(query):
                continue
            async with conn.transaction():
                rows = await conn.fetch("EXPLAIN (COSTS OFF) " + query, *args)
            out.append((query, "\n".join(r[0] for r in rows)))
    finally:
        await conn.close()
    return out


def _explained(operations: Callable[[Storage], Awaitable[None]]) -> list[tuple[str, str]]:
    """Run ``operations`` on a fresh Citus database and EXPLAIN every statement they sent."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    record: Callable[[str, tuple[Any, ...]], None] = lambda q, a: sent.append((q, a))  # noqa: E731
    with citus_database() as url:

        async def run() -> None:
            storage = await open_storage(url, instruments=Instruments(statement_sent=record))
            try:
                await operations(storage)
            finally:
                await storage.close()

        _run(run())
        return _run(_plans(url, sent))  # type: ignore[no-any-return]


def _assert_on_one_shard(query: str, plan: str) -> None:
    assert "Custom Scan (Citus" in plan, f"not distributed:\n{query}\n{plan}"
    counts = re.findall(r"Task Count: (\d+)", plan)
    assert counts and set(counts) == {"1"}, f"not on one shard:\n{query}\n{plan}"
    assert "Distributed Subplan" not in plan, f"planned in steps:\n{query}\n{plan}"
    assert "pull to coordinator" not in plan, f"via the coordinator:\n{query}\n{plan}"


def test_every_statement_of_the_ten_operations_runs_on_one_shard() -> None:
    plans = _explained(_ten_operations)
    assert len(plans) >= 30, [q for q, _ in plans]
    print(f"{len(plans)} statements explained, each on one shard")
    shapes = set()
    for query, plan in plans:
        _assert_on_one_shard(query, plan)
        shapes.add(" ".join(query.split())[:60])
    assert len(shapes) >= 20, shapes  # the operations' many statements, each checked
    touched = {table for query, _ in plans for table in _TABLES.findall(query)}
    assert touched >= {
        "conversations",
        "items",
        "conversation_words",
        "conversation_moves",
        "list_snapshots",
        "owner_clocks",
        "request_receipts",
    }


async def _turn_operations(storage: Storage) -> None:
    """A conversation turn, a chained turn and the stored responses' reads and delete."""
    await storage.conversations.create_conversation(
        OWNER,
        "conv_t",
        metadata={},
        items=prepare_items([{"role": "user", "content": "hi"}]),
        now=NOW,
    )
    turns = storage.responses
    await turns.conversation_items(OWNER, "conv_t")
    await turns.begin_turn(OWNER, "conv_t", "resp_1", now=NOW, lease_seconds=30)
    await turns.renew_turn(OWNER, "conv_t", "resp_1", now=NOW, lease_seconds=30)

    def record(
        response_id: str, *, conversation: str | None, previous: str | None
    ) -> ResponseRecord:
        return ResponseRecord(
            id=response_id,
            data=b'{"id":"%s"}' % response_id.encode(),
            status="completed",
            created_at=NOW,
            conversation_id=conversation,
            previous_response_id=previous,
            input_items=prepare_items([{"role": "user", "content": "q"}], response_id=response_id),
            output_items=prepare_items(
                [{"role": "assistant", "content": "a"}], response_id=response_id
            ),
            append=conversation is not None,
        )

    await turns.save_response(
        OWNER, record("resp_1", conversation="conv_t", previous=None), now=NOW
    )
    await turns.begin_turn(OWNER, "conv_t", "resp_x", now=NOW, lease_seconds=30)
    await turns.end_turn(OWNER, "conv_t", "resp_x")
    await turns.response_context(OWNER, "resp_1")
    await turns.save_response(
        OWNER, record("resp_2", conversation=None, previous="resp_1"), now=NOW
    )
    await turns.response_context(OWNER, "resp_2")
    await turns.get_response(OWNER, "resp_2")
    page = await turns.list_responses(OWNER, after=None, limit=1, order="desc")
    await turns.list_responses(OWNER, after=page.ids[0], limit=1, order="desc")
    await turns.list_input_items(OWNER, "resp_2", after=None, limit=5, order="asc")
    await turns.delete_response(OWNER, "resp_2")


def test_every_statement_of_a_model_turn_runs_on_one_shard() -> None:
    plans = _explained(_turn_operations)
    for query, plan in plans:
        _assert_on_one_shard(query, plan)
    touched = {table for query, _ in plans for table in _TABLES.findall(query)}
    assert touched >= {"conversations", "items", "responses", "response_items"}, touched
