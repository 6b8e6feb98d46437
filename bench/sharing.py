"""What sharing costs, in process (no HTTP), on SQLite and PostgreSQL (docs/performance.md,
"Sharing (issue 14)"):

- the statements an owner's and a grantee's get-item, list-20 and append-1 send (SQLite's trace),
  and the storage calls each makes (the metrics' database timers);
- the plan of the one statement a grantee adds, the grant lookup (``EXPLAIN QUERY PLAN`` on
  SQLite, ``EXPLAIN ANALYZE`` on PostgreSQL), over a grants table of ``--grants`` rows;
- CPU (this process) and wall time per call, owner and grantee, ``--calls`` calls each.

    python bench/sharing.py                 # both backends
    python bench/sharing.py --no-postgres
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pg

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.items import prepare_items
from mka1_conversations.domain.sharing import Grant, Role, grantee_key
from mka1_conversations.store import Instruments, Storage, open_storage
from mka1_conversations.store.postgres import PostgresBackend
from mka1_conversations.store.sqlite import SQLiteBackend

OWNER = Owner("bench", "owner")
GRANTEE = Owner("bench", "grantee")
NOW = 1_700_000_000
MESSAGE = "How do I reset my password? " * 5
LOOKUP = (
    "SELECT conversation_owner, max(role) FROM conversation_grants "
    "WHERE grantee_id IN ({}, {}) AND conversation_id = {} GROUP BY conversation_owner"
)


class _Count:
    def __init__(self, calls: Counter[str], call: str) -> None:
        self.calls, self.call = calls, call

    def observe(self, amount: float) -> None:
        self.calls[self.call] += 1


async def _fill(storage: Storage, grants: int) -> tuple[str, str]:
    """Conversations of other owners, each granted to other end users (a grants table of
    ``grants`` rows), and the measured one: 40 items, shared with GRANTEE as writer."""
    store = storage.conversations
    for n in range(grants // 4):
        owner = Owner("bench", f"o{n}")
        await store.create_conversation(owner, f"conv_o{n}", metadata={}, items=[], now=NOW)
        for g in range(4):
            user = f"u{(n * 4 + g) % 5000}"
            change = Grant(f"conv_o{n}", grantee_key("bench", user), user, Role.READER)
            await store.grant(owner, change, now=NOW)
    items = prepare_items([{"role": "user", "content": f"{MESSAGE}{i}"} for i in range(20)])
    await store.create_conversation(OWNER, "conv_measured", metadata={}, items=items, now=NOW)
    more = prepare_items([{"role": "user", "content": f"{MESSAGE}x{i}"} for i in range(20)])
    await store.append_items(OWNER, "conv_measured", more, now=NOW)
    change = Grant("conv_measured", GRANTEE.key, GRANTEE.end_user, Role.WRITER)
    await store.grant(OWNER, change, now=NOW)
    return "conv_measured", items[5].id


def _operations(
    storage: Storage, conversation_id: str, item_id: str
) -> dict[str, Callable[[Owner], Awaitable[Any]]]:
    store = storage.conversations

    async def append(who: Owner) -> Any:
        items = prepare_items([{"role": "user", "content": MESSAGE}])
        return await store.append_items(who, conversation_id, items, now=NOW)

    return {
        "get-item": lambda who: store.get_item(who, conversation_id, item_id),
        "list-20": lambda who: store.list_items(
            who, conversation_id, after=None, limit=20, order="asc", max_bytes=1 << 20
        ),
        "append-1": append,
    }


async def _measure(
    name: str, storage: Storage, calls: Counter[str], trace: list[str] | None, n: int
) -> None:
    conversation_id, item_id = await _fill(storage, ARGS.grants)
    ops = _operations(storage, conversation_id, item_id)
    print(f"\n## {name}\n")
    print("| operation | caller | storage calls | SQL statements | CPU µs/call | wall µs/call |")
    print("|---|---|---|---|---:|---:|")
    for op, run in ops.items():
        for who, label in ((OWNER, "owner"), (GRANTEE, "grantee")):
            calls.clear()
            if trace is not None:
                trace.clear()
            await run(who)
            made = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
            statements = (
                "-"
                if trace is None
                else str(
                    len([s for s in trace if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT"))])
                )
            )
            cpu: list[float] = []
            wall: list[float] = []
            for _ in range(ARGS.rounds):
                c0, w0 = time.process_time(), time.perf_counter()
                for _ in range(n):
                    await run(who)
                cpu.append((time.process_time() - c0) / n * 1e6)
                wall.append((time.perf_counter() - w0) / n * 1e6)
            print(
                f"| {op} | {label} | {made} | {statements} | {statistics.median(cpu):.0f} "
                f"| {statistics.median(wall):.0f} |"
            )


async def _sqlite(n: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        SQLiteBackend.migrate(path)
        calls: Counter[str] = Counter()
        storage = await open_storage(
            f"sqlite:///{path}", instruments=Instruments(lambda c: _Count(calls, c))
        )
        trace: list[str] = []
        db: sqlite3.Connection = storage.backend._db  # type: ignore[attr-defined]
        db.set_trace_callback(trace.append)
        try:
            await _measure("SQLite", storage, calls, trace, n)
        finally:
            db.set_trace_callback(None)
            db.execute("ANALYZE")
            plan = db.execute(
                "EXPLAIN QUERY PLAN " + LOOKUP.format("?", "?", "?"),
                (GRANTEE.key, "bench:*", "conv_measured"),
            ).fetchall()
            print("\nThe grant lookup's plan (SQLite):\n")
            for row in plan:
                print(f"    {row[3]}")
            await storage.close()


async def _postgres(n: int) -> None:
    admin = ARGS.postgres
    name = f"mka1_bench_sharing_{int(time.time())}"
    url = admin.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        await PostgresBackend.migrate(url)
        calls: Counter[str] = Counter()
        storage = await open_storage(url, instruments=Instruments(lambda c: _Count(calls, c)))
        try:
            await _measure("PostgreSQL", storage, calls, None, n)
        finally:
            await storage.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE")
            rows = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + LOOKUP.format("$1", "$2", "$3"),
                GRANTEE.key,
                "bench:*",
                "conv_measured",
            )
            print("\nThe grant lookup's plan (PostgreSQL):\n")
            for row in rows:
                print(f"    {row[0]}")
        finally:
            await conn.close()
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--grants", type=int, default=4000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres", default=pg.ADMIN_URL)
    ARGS = parser.parse_args()
    asyncio.run(_sqlite(ARGS.calls))
    if not ARGS.no_postgres:
        asyncio.run(_postgres(ARGS.calls))
    sys.stdout.flush()


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
