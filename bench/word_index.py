"""What writes cost in one very long conversation, in process (no HTTP), on SQLite and PostgreSQL:
the measurements behind the word index's design (docs/performance.md, "The word index in long
conversations"; issue 18, findings 4 and 14).

A conversation of ``--items`` items (the benchmark's text, loaded as ``bench/dataset.py`` loads,
then copied to PostgreSQL and analysed as ``bench/pg.py`` does), then, timed call by call:

- **append-1**: one 150-character user message (the benchmark's), ``--appends`` times;
- **delete-1**: one random live item;
- **delete-20**: a bulk delete of 20 random live items;
- **attack**: append 5 items sharing a new word, then bulk-delete them (the delete is timed):
  the loop of issue 18's finding 4.

    python bench/word_index.py                 # 100,000 items, both backends
    python bench/word_index.py --no-postgres --items 20000

Prints one line per backend and operation: p50, p99 and max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import pg
from dataset import Loader, Text, _owner

from mka1_conversations.domain.items import prepare_items
from mka1_conversations.store import open_storage
from mka1_conversations.store.migrate import Migration
from mka1_conversations.store.postgres import PostgresBackend
from mka1_conversations.store.sqlite import SQLiteBackend

MESSAGE = "How do I reset my password? " * 5  # 150 characters, as append-1 in bench/run.py
OWNER = _owner("u-growth")
NOW = 1_700_000_000


def _load(path: Path, items: int) -> str:
    SQLiteBackend.migrate(path)
    loader = Loader(path)
    with loader.transaction():
        conversation_id = loader.big_conversation(OWNER, Text(), items)
    loader.close()
    return conversation_id


def _figures(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{name:<10} n={len(ms):<4} p50 {statistics.median(ms):7.2f}  p99 {p99:7.2f}  "
        f"max {ms[-1]:7.2f} ms"
    )


async def _timed(call: Awaitable[object]) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def _measure(url: str, conversation_id: str, appends: int, deletes: int) -> list[str]:
    storage = await open_storage(url)
    store = storage.conversations
    rng = random.Random(7)
    try:
        page = await store.list_items(
            OWNER, conversation_id, after=None, limit=100, order="asc", **_page_args()
        )
        live: list[str] = []
        after: str | None = page.ids[-1]
        live += page.ids
        while len(live) < 5_000 and after is not None:
            page = await store.list_items(
                OWNER, conversation_id, after=after, limit=100, order="asc", **_page_args()
            )
            live += page.ids
            after = page.ids[-1] if page.has_more else None
        rng.shuffle(live)

        appended: list[float] = []
        for _ in range(appends):
            items = prepare_items([{"role": "user", "content": MESSAGE}])
            appended.append(
                await _timed(store.append_items(OWNER, conversation_id, items, now=NOW))
            )
        one: list[float] = []
        for _ in range(deletes):
            item = [live.pop()]
            one.append(await _timed(store.delete_items(OWNER, conversation_id, item, now=NOW)))
        twenty: list[float] = []
        for _ in range(max(1, deletes // 5)):
            ids = [live.pop() for _ in range(20)]
            twenty.append(await _timed(store.delete_items(OWNER, conversation_id, ids, now=NOW)))
        attack: list[float] = []
        for n in range(deletes):
            raw = [{"role": "user", "content": f"fresh{n}word {k}"} for k in range(5)]
            shared = prepare_items(raw)
            await store.append_items(OWNER, conversation_id, shared, now=NOW)
            gone = [item.id for item in shared]
            attack.append(await _timed(store.delete_items(OWNER, conversation_id, gone, now=NOW)))
        return [
            _figures("append-1", appended),
            _figures("delete-1", one),
            _figures("delete-20", twenty),
            _figures("attack", attack),
        ]
    finally:
        await storage.close()


def _page_args() -> dict[str, int]:
    """``max_bytes`` where the store takes it (it did not before issue 18's finding 5)."""
    import inspect

    from mka1_conversations.store.conversations import Conversations

    if "max_bytes" in inspect.signature(Conversations.list_items).parameters:
        return {"max_bytes": 1 << 30}
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--deletes", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres", default=pg.ADMIN_URL)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        path = Path(folder) / "words.db"
        started = time.perf_counter()
        conversation_id = _load(path, args.items)
        print(f"loaded {args.items} items in {time.perf_counter() - started:.0f} s")
        dsn = None
        if not args.no_postgres:  # copied before SQLite's copy changes
            dsn = stack.enter_context(pg.database(args.postgres))
            migrated: list[Migration] = asyncio.run(PostgresBackend.migrate(dsn))
            assert migrated
            pg.load_from_sqlite(dsn, path)
        for line in asyncio.run(
            _measure(f"sqlite:///{path}", conversation_id, args.appends, args.deletes)
        ):
            print("sqlite    ", line)
        if dsn is not None:
            for line in asyncio.run(_measure(dsn, conversation_id, args.appends, args.deletes)):
                print("postgres  ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
