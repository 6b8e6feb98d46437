"""Upgrading keeps what users see: conversations written under an earlier schema are found by
the same searches after migrating to the current one (0003 moved search from an item-level
full-text index to per-conversation words; 0006 made their counts exact and keyed long words),
and deleting their items afterwards unindexes them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mka1_conversations.domain.search import index_word
from mka1_conversations.store.migrate import (
    apply_postgres,
    apply_sqlite,
    load_migrations,
    split_postgres,
)

from ..conftest import (
    ACCOUNT_A,
    BACKENDS,
    BASE_PATH,
    KEY_A,
    auth_headers,
    postgres_database,
    serve_app,
)
from ..conftest import test_settings as settings_for

BEFORE_WORDS = 2
"""The last schema version with the item-level index."""
USER = "upgrader"
OWNER = f"{ACCOUNT_A}:{USER}"

# Rows as the stores wrote them under that schema: (conversation, seq, item id, search text,
# deleted). A deleted item keeps its row, with its content and search text wiped.
CONVERSATIONS = ["conv_" + "a" * 32, "conv_" + "b" * 32]
ITEMS = [
    (CONVERSATIONS[0], 1, "msg_fox", "the quick brown fox fox", False),
    (CONVERSATIONS[0], 2, "msg_lazy", "jumps over the lazy fox", False),
    (CONVERSATIONS[0], 3, "msg_gone", "", True),
    (CONVERSATIONS[1], 1, "msg_think", "quick thinking", False),
]


def _item_json(item_id: str) -> str:
    return (
        f'{{"id":"{item_id}","type":"message","role":"user","status":"completed",'
        f'"content":[{{"type":"input_text","text":"x"}}],"response_id":null}}'
    )


def _sqlite_before(folder: Path) -> str:
    path = folder / "old.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        apply_sqlite(db, through=BEFORE_WORDS)
        for n, conversation in enumerate(CONVERSATIONS):
            db.execute(
                "INSERT INTO conversations (id, owner_id, created_at, updated_at, metadata, "
                "next_seq) VALUES (?, ?, 1700000000, ?, '{}', 3)",
                (conversation, OWNER, 1_700_000_000_000_000 + n),
            )
        db.executemany(
            "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, deleted_at, "
            "data, search_text) VALUES (?, ?, ?, ?, 'message', 1700000000, ?, ?, ?)",
            [
                (OWNER, c, seq, i, 1700000001 if gone else None, "" if gone else _item_json(i), t)
                for c, seq, i, t, gone in ITEMS
            ],
        )
        # What the old index answered, to compare with after the upgrade.
        found = db.execute(
            "SELECT DISTINCT i.conversation_id FROM items_fts f JOIN items i ON i.rowid = f.rowid "
            "WHERE items_fts MATCH '\"fox\"'"
        ).fetchall()
        assert found == [(CONVERSATIONS[0],)]
        apply_sqlite(db)
    return f"sqlite:///{path}"


async def _postgres_before(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for n, conversation in enumerate(CONVERSATIONS):
            await conn.execute(
                "INSERT INTO conversations (owner_id, id, created_at, updated_at, next_seq) "
                "VALUES ($1, $2, 1700000000, $3, 3)",
                OWNER,
                conversation,
                1_700_000_000_000_000 + n,
            )
        await conn.executemany(
            "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, deleted_at, "
            "data, search_text) VALUES ($1, $2, $3, $4, 'message', 1700000000, $5, $6, $7)",
            [
                (OWNER, c, seq, i, 1700000001 if gone else None, "" if gone else _item_json(i), t)
                for c, seq, i, t, gone in ITEMS
            ],
        )
        await apply_postgres(conn)
    finally:
        await conn.close()


@contextmanager
def _upgraded(backend: str, folder: Path) -> Iterator[str]:
    """A database filled under the schema before 0003, then migrated to the current one."""
    if backend == "sqlite":
        yield _sqlite_before(folder)
        return
    with postgres_database(through=BEFORE_WORDS) as url:
        asyncio.run(_postgres_before(url))
        yield url


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_finds_what_was_written_before_the_upgrade(backend: str, tmp_path: Path) -> None:
    with (
        _upgraded(backend, tmp_path) as url,
        serve_app(settings_for(url)) as base,
        httpx.Client(base_url=base, headers=auth_headers(KEY_A, USER), timeout=30) as http,
    ):

        def found(search: str) -> set[str]:
            response = http.get(BASE_PATH, params={"search": search})
            assert response.status_code == 200, response.text
            return {c["id"] for c in response.json()["data"]}

        fox, think = CONVERSATIONS
        assert found("fox") == {fox}
        assert found("quick") == {fox, think}
        assert found("QUICK fox lazy") == {fox}
        assert found("fox thinking") == set()
        # Counts came across: "fox" is in two live items of the first conversation.
        assert http.delete(f"{BASE_PATH}/{fox}/items/msg_fox").status_code == 200
        assert found("fox") == {fox}
        assert found("brown") == set()
        assert http.delete(f"{BASE_PATH}/{fox}/items/msg_lazy").status_code == 200
        assert found("fox") == set()
        assert found("quick") == {think}
        # New writes are indexed as before.
        added = http.post(
            f"{BASE_PATH}/{think}/items", json={"items": [{"role": "user", "content": "A fox!"}]}
        )
        assert added.status_code == 200, added.text
        assert found("fox quick") == {think}


# --- 0006: exact word counts under index keys -----------------------------------------------

BEFORE_EXACT = 4
"""The last schema version whose word counts stopped at 4 and stored words of any length."""
LONG = "verylong" * 12  # 96 characters: over 64, under PostgreSQL's b-tree row limit
ITEMS_0006 = [  # (seq, search text, deleted)
    (1, f"fox {LONG}", False),
    (2, "fox fox", False),
    (3, "fox", False),
    (4, "fox lazy", False),
    (5, "fox", False),
    (6, "", True),
]
CAPPED_WORDS = [("fox", 4), (LONG, 1), ("lazy", 1)]  # as the capped index held them


def _sqlite_before_exact(folder: Path) -> str:
    path = folder / "capped.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        apply_sqlite(db, through=BEFORE_EXACT)
        db.execute(
            "INSERT INTO conversations (id, owner_id, created_at, updated_at, metadata, "
            "next_seq) VALUES (?, ?, 1700000000, 1700000000000000, '{}', 6)",
            (CONVERSATIONS[0], OWNER),
        )
        db.executemany(
            "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, deleted_at, "
            "data, search_text) VALUES (?, ?, ?, ?, 'message', 1700000000, ?, ?, ?)",
            [
                (
                    OWNER,
                    CONVERSATIONS[0],
                    seq,
                    f"msg_{seq}",
                    1 if gone else None,
                    _item_json(f"msg_{seq}"),
                    text,
                )
                for seq, text, gone in ITEMS_0006
            ],
        )
        db.executemany(
            "INSERT INTO conversation_words (conversation_id, word, owner_id, items) "
            "VALUES (?, ?, ?, ?)",
            [(CONVERSATIONS[0], w, OWNER, n) for w, n in CAPPED_WORDS],
        )
        apply_sqlite(db)
    return f"sqlite:///{path}"


async def _postgres_before_exact(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO conversations (owner_id, id, created_at, updated_at, next_seq) "
            "VALUES ($1, $2, 1700000000, 1700000000000000, 6)",
            OWNER,
            CONVERSATIONS[0],
        )
        await conn.executemany(
            "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, deleted_at, "
            "data, search_text) VALUES ($1, $2, $3, $4, 'message', 1700000000, $5, $6, $7)",
            [
                (
                    OWNER,
                    CONVERSATIONS[0],
                    seq,
                    f"msg_{seq}",
                    1 if gone else None,
                    _item_json(f"msg_{seq}"),
                    text,
                )
                for seq, text, gone in ITEMS_0006
            ],
        )
        await conn.executemany(
            "INSERT INTO conversation_words (owner_id, conversation_id, word, items) "
            "VALUES ($1, $2, $3, $4)",
            [(OWNER, CONVERSATIONS[0], w, n) for w, n in CAPPED_WORDS],
        )
        await apply_postgres(conn)
    finally:
        await conn.close()


def _words(url: str) -> dict[str, int]:
    sql = "SELECT word, items FROM conversation_words"
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(url[len("sqlite:///") :])) as db:
            return dict(db.execute(sql).fetchall())

    async def fetch() -> dict[str, int]:
        conn = await asyncpg.connect(url)
        try:
            return {r[0]: r[1] for r in await conn.fetch(sql)}
        finally:
            await conn.close()

    return asyncio.run(fetch())


@pytest.mark.parametrize("backend", BACKENDS)
def test_0006_counts_every_word_exactly_under_its_index_key(backend: str, tmp_path: Path) -> None:
    """Counts that stopped at 4 become exact, and a word over 64 characters stored before is
    keyed as new ones are (the same key in SQL as in Python): found by a search, and gone with
    its last item."""
    if backend == "sqlite":
        url = _sqlite_before_exact(tmp_path)
        context: Any = contextlib.nullcontext(url)
    else:
        context = postgres_database(through=BEFORE_EXACT)
    with context as url:
        if backend == "postgres":
            asyncio.run(_postgres_before_exact(url))
        assert _words(url) == {"fox": 5, index_word(LONG): 1, "lazy": 1}
        with (
            serve_app(settings_for(url)) as base,
            httpx.Client(base_url=base, headers=auth_headers(KEY_A, USER), timeout=30) as http,
        ):
            found = http.get(BASE_PATH, params={"search": LONG.upper()}).json()["data"]
            assert [c["id"] for c in found] == [CONVERSATIONS[0]]
            assert http.delete(f"{BASE_PATH}/{CONVERSATIONS[0]}/items/msg_1").status_code == 200
            assert http.get(BASE_PATH, params={"search": LONG}).json()["data"] == []
            for seq in (2, 3, 4, 5):
                http.delete(f"{BASE_PATH}/{CONVERSATIONS[0]}/items/msg_{seq}")
            assert http.get(BASE_PATH, params={"search": "fox"}).json()["data"] == []
        assert _words(url) == {}


async def _postgres_at_0006(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO conversations (owner_id, id, created_at, updated_at, next_seq) "
            "VALUES ($1, $2, 1700000000, $3, 0)",
            [
                (OWNER, CONVERSATIONS[0], 1_700_000_000_000_000),
                (OWNER, CONVERSATIONS[1], 1_700_000_000_000_500),
                ("other:user", CONVERSATIONS[0], 1_700_000_000_000_900),
            ],
        )
        await apply_postgres(conn)
        clocks = {
            row[0]: row[1]
            for row in await conn.fetch("SELECT owner_id, position FROM owner_clocks")
        }
        assert clocks == {OWNER: 1_700_000_000_000_500, "other:user": 1_700_000_000_000_900}
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'conversations_moved'"
        )
    finally:
        await conn.close()


def test_0007_gives_each_owner_a_clock_at_its_newest_position_and_drops_the_trigger() -> None:
    """Upgraded, an owner's next move lands after every position it had, and the move is kept
    by the statement (paging both ways still lists each conversation once)."""
    with postgres_database(through=6) as url:
        asyncio.run(_postgres_at_0006(url))
        with (
            serve_app(settings_for(url)) as base,
            httpx.Client(base_url=base, headers=auth_headers(KEY_A, USER), timeout=30) as http,
        ):
            first = http.get(BASE_PATH, params={"limit": 1, "order": "asc"}).json()
            assert [c["id"] for c in first["data"]] == [CONVERSATIONS[0]]
            appended = http.post(
                f"{BASE_PATH}/{CONVERSATIONS[0]}/items",
                json={"items": [{"type": "message", "role": "user", "content": "moved"}]},
            )
            assert appended.status_code == 200, appended.text
            rest = http.get(
                BASE_PATH, params={"limit": 5, "order": "asc", "after": first["last_id"]}
            ).json()
            assert [c["id"] for c in rest["data"]] == [CONVERSATIONS[1]]  # 0 not again
            fresh = http.get(BASE_PATH, params={"order": "asc"}).json()
            assert [c["id"] for c in fresh["data"]] == [CONVERSATIONS[1], CONVERSATIONS[0]]


def test_postgres_scripts_split_at_semicolons_outside_quotes_comments_and_bodies() -> None:
    script = (
        "-- a comment; not a split\n"
        "CREATE TABLE t (a text DEFAULT 'x;y', \"b;c\" int);\n"
        "/* block; comment */ INSERT INTO t VALUES ('it''s; fine', 1);\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN RETURN 1; END\n"
        "$$;\n"
        "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT '$$;' $body$;\n"
        "-- trailing comment only\n"
    )
    statements = split_postgres(script)
    assert len(statements) == 4
    assert statements[0].endswith('"b;c" int)')
    assert "'it''s; fine'" in statements[1]
    assert statements[2].endswith("$$") and "RETURN 1; END" in statements[2]
    assert statements[3].endswith("$body$")
    assert all(split_postgres(m.sql) for m in load_migrations("postgres"))
