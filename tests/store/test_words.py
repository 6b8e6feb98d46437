"""How the word index counts (each stored search text holds a word once, however often, under
its index key), and what a delete costs: the same in a long conversation as in a short one
(issue 18, findings 4 and 14), measured as work the database does, not as time."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.items import prepare_items
from mka1_conversations.domain.search import index_word
from mka1_conversations.store import items as item_rules
from mka1_conversations.store import open_storage
from mka1_conversations.store.backend import run_inline
from mka1_conversations.store.postgres.statements import PostgresStatements
from mka1_conversations.store.snapshots import SnapshotMemory
from mka1_conversations.store.sqlite.statements import SQLiteStatements
from mka1_conversations.store.words import FOLD_ITEMS, word_counts

from ..conftest import BACKENDS, fresh_database

OWNER = Owner("acct", "words")
NOW = 1_700_000_000


def test_a_word_counts_the_texts_that_hold_it_not_its_occurrences() -> None:
    assert word_counts(["a b a", "b c", ""]) == {"a": 1, "b": 2, "c": 1}


def test_no_text_no_words() -> None:
    assert word_counts([]) == {}


def test_words_are_counted_under_their_index_keys() -> None:
    long = "x" * 100
    assert word_counts([f"{long} a", long]) == {index_word(long): 2, "a": 1}


# --- the cost of a delete -------------------------------------------------------------------


def _text(n: int) -> str:
    """Chat-like text: common words, a few of middling frequency, one of its own."""
    return f"the and of to a in is it you that m{n % 7} k{n % 31} w{n % 97} own{n}"


async def _fill(url: str, conversation_id: str, count: int) -> None:
    storage = await open_storage(url)
    try:
        store = storage.conversations
        first = prepare_items([{"role": "user", "content": _text(0)}])
        await store.create_conversation(OWNER, conversation_id, metadata={}, items=first, now=NOW)
        for start in range(1, count, 20):
            batch = [
                {"role": "user", "content": _text(n)} for n in range(start, min(start + 20, count))
            ]
            await store.append_items(OWNER, conversation_id, prepare_items(batch), now=NOW)
        # The attacker's step of issue 18: five items sharing a new word, deleted together.
        shared = prepare_items(
            [{"role": "user", "content": f"zqxnew {n}", "id": f"msg_new{n}"} for n in range(5)]
        )
        await store.append_items(OWNER, conversation_id, shared, now=NOW)
    finally:
        await storage.close()


DELETES: list[list[str]] = [[f"msg_new{n}" for n in range(5)]]


def _sqlite_work(url: str, conversation_id: str, item_ids: list[str]) -> int:
    """SQLite virtual-machine steps (in hundreds) of deleting the items, rolled back."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with closing(sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)) as db:
        statements = SQLiteStatements(db, SnapshotMemory(), None)
        db.execute("BEGIN IMMEDIATE")
        db.set_progress_handler(count, 100)
        try:
            run_inline(item_rules.delete_items(statements, OWNER, conversation_id, item_ids, NOW))
        finally:
            db.set_progress_handler(None, 0)
            db.execute("ROLLBACK")
    return steps


async def _postgres_work(url: str, conversation_id: str, item_ids: list[str]) -> int:
    """Rows PostgreSQL read (sequentially or through an index) deleting the items, rolled
    back. The tables are analyzed first, as autovacuum would have: without statistics the
    planner takes a conversation's range of an index for one row."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
        transaction = conn.transaction()
        await transaction.start()
        try:
            await item_rules.delete_items(
                PostgresStatements(conn), OWNER, conversation_id, item_ids, NOW
            )
            # conversation_moves is left out: its trigger's pruning (one move kept per append)
            # is the positions work's part of finding 14, not the word index's.
            read: int = await conn.fetchval(
                "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)"
                " FROM pg_stat_xact_user_tables WHERE relname <> 'conversation_moves'"
            )
        finally:
            await transaction.rollback()
        return read
    finally:
        await conn.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_delete_costs_the_same_in_a_long_conversation(backend: str, tmp_path: Path) -> None:
    """Issue 18, findings 4 and 14: deleting five items that share a word nobody else holds
    read every live item of the conversation (to prove the word was gone), so one tenant's
    delete loop stalled SQLite's event loop for all. The work of a delete now depends on the
    deleted items, not on the conversation's length (here 40 times longer)."""
    short, long = 100, 40 * 100
    assert long > 3 * FOLD_ITEMS  # the long one has folded many times
    with fresh_database(backend, tmp_path) as url:
        asyncio.run(_fill(url, "conv_short", short))
        asyncio.run(_fill(url, "conv_long", long))

        def measure(conversation_id: str, item_ids: list[str]) -> int:
            if backend == "sqlite":
                return _sqlite_work(url, conversation_id, item_ids)
            return asyncio.run(_postgres_work(url, conversation_id, item_ids))

        for item_ids in [*DELETES, ["msg_new0"], ["msg_new4"]]:
            in_short = measure("conv_short", item_ids)
            in_long = measure("conv_long", item_ids)
            assert in_long <= 2 * in_short + 50, (item_ids, in_short, in_long)
