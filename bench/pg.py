"""PostgreSQL for the benchmark: a database of its own, loaded with the SQLite run's data.

``database()`` creates ``mka1_bench_<pid>`` on the server the admin URL names and always drops it
afterwards (``DROP DATABASE … WITH (FORCE)``, also when the run fails or is interrupted), so a run
leaves nothing behind. ``load_from_sqlite()`` copies every conversation and item of the loaded
SQLite file into the migrated database with ``COPY`` (asyncpg's ``copy_records_to_table``, the
columns ``PostgresStore.import_rows`` writes), so both backends hold the very same rows and ids,
then runs ``VACUUM ANALYZE``: the server here runs with autovacuum off, so without it the
planner would work from empty statistics, which no running service would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_CHUNK = 20_000


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def where(url: str) -> str:
    """host:port of a URL, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


async def _admin(url: str, *statements: str) -> list[Any]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return [await conn.fetch(s) for s in statements]
    finally:
        await conn.close()


def unreachable(url: str) -> str | None:
    """Why PostgreSQL cannot be used (None when it can): connects and checks the version."""
    try:
        (rows,) = asyncio.run(_admin(url, "SELECT current_setting('server_version_num')::int"))
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if rows[0][0] < 130000:
        return f"PostgreSQL {rows[0][0]} is too old (DROP DATABASE … WITH (FORCE) needs 13+)"
    return None


def server_info(url: str) -> dict[str, str]:
    names = ("server_version", "shared_buffers", "work_mem", "synchronous_commit", "jit")
    (rows,) = asyncio.run(
        _admin(
            url,
            "SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings "
            f"WHERE name IN ({', '.join(repr(n) for n in names)}, 'autovacuum')",
        )
    )
    return {r[0]: r[1] for r in rows}


def stale_databases(url: str) -> list[str]:
    """Benchmark databases left by runs that were killed outright (never dropped here: another
    run may own them). They are only reported."""
    (rows,) = asyncio.run(
        _admin(url, "SELECT datname FROM pg_database WHERE datname LIKE 'mka1\\_bench\\_%'")
    )
    return sorted(r[0] for r in rows)


@contextlib.contextmanager
def database(admin_url: str) -> Iterator[str]:
    """A fresh database ``mka1_bench_<pid>``; yields its URL and drops it on the way out."""
    name = f"mka1_bench_{os.getpid()}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(_admin(admin_url, drop, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(admin_url, name)
    finally:
        try:
            asyncio.run(_admin(admin_url, drop))
            print(f"bench: dropped PostgreSQL database {name}", file=sys.stderr)
        except Exception as exc:  # report it, and let the original error through
            print(f"bench: could not drop PostgreSQL database {name}: {exc}", file=sys.stderr)


def load_from_sqlite(dsn: str, sqlite_path: Path) -> dict[str, Any]:
    """Copy every conversation, item and indexed word of the SQLite file into the database."""
    return asyncio.run(_load(dsn, sqlite_path))


def _text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An items row with its JSON as text (SQLite stores it as a BLOB)."""
    return (*row[:7], row[7].decode() if isinstance(row[7], bytes) else row[7], row[8])


#: (table, its columns, the SQLite ORDER BY, a row conversion): copied in this order.
_TABLES: list[tuple[str, list[str], str, Any]] = [
    (
        "conversations",
        ["owner_id", "id", "created_at", "updated_at", "deleted_at", "metadata", "next_seq"],
        "owner_id, id",
        None,
    ),
    (
        "items",
        [
            "owner_id", "conversation_id", "seq", "id", "type", "created_at", "deleted_at",
            "data", "search_text",
        ],
        "rowid",
        _text,
    ),
    (
        "conversation_words",
        ["owner_id", "conversation_id", "word", "items"],
        "conversation_id, word",  # its key (the table has no rowid)
        None,
    ),
]  # fmt: skip


async def _load(dsn: str, sqlite_path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    conn = await asyncpg.connect(dsn, timeout=10)
    counts: dict[str, int] = {}
    try:
        async with conn.transaction():
            for table, columns, order, convert in _TABLES:
                rows = src.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
                counts[table] = 0
                while batch := rows.fetchmany(_CHUNK):
                    records = [convert(r) for r in batch] if convert else batch
                    await conn.copy_records_to_table(table, records=records, columns=columns)
                    counts[table] += len(batch)
            # Each owner's listing clock (migration 0007) at its newest position.
            await conn.execute(
                "INSERT INTO owner_clocks (owner_id, position) "
                "SELECT owner_id, max(updated_at) FROM conversations GROUP BY owner_id"
            )
        copied = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
        src.close()
    return {
        "conversations": counts["conversations"],
        "items": counts["items"],
        "copy_seconds": round(copied, 1),
        "load_seconds": round(time.perf_counter() - started, 1),
    }
