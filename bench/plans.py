"""Query plans of list conversations, for the statements the stores really issue.

Rather than copying the SQL out of ``store/sqlite.py`` and ``store/postgres.py`` (which would go
stale as the stores change), the harness runs the store's own ``list_conversations`` in this
process and records every statement with its parameters as it is sent:

- SQLite: ``sqlite3.connect`` is wrapped for the duration so that the store's connections are a
  ``sqlite3.Connection`` subclass whose ``execute`` records ``(sql, parameters)``. Each recorded
  query is then explained (``EXPLAIN QUERY PLAN`` with the same parameters) and timed on its own.
- PostgreSQL: ``asyncpg.create_pool`` is wrapped so that each pool connection gets a query logger
  (``Connection.add_query_logger``). Each recorded statement is then run under
  ``EXPLAIN (ANALYZE, BUFFERS)`` with the same parameters, in a transaction that is rolled back
  (a statement that writes, such as the list-snapshot upsert, leaves nothing behind).

Before the plans, the store's whole ``list_conversations`` call is timed in process (no HTTP):
the median of repeated calls, which is what the query costs without the server around it.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.store import ConversationQuery
from mka1_conversations.store import open_storage

Recorded = list[tuple[str, tuple[Any, ...]]]


def _is_query(sql: str) -> bool:
    """A statement of the store's own (not BEGIN, a PRAGMA, or asyncpg's multi-command reset
    of a connection released to its pool)."""
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return head in ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE") and ";" not in sql.strip("; \n")


def shown_params(params: tuple[Any, ...]) -> list[str]:
    """Parameters for the report: long values (a JSON list of ids) are shortened."""
    out = []
    for value in params:
        text = repr(value)
        if len(text) > 90:
            text = f"{text[:60]}… ({len(text):,} characters)"
        out.append(text)
    return out


def _timed(run: Callable[[], Any], *, budget_s: float = 0.4, most: int = 50) -> dict[str, Any]:
    """Median and minimum wall time of ``run()`` in ms: one warm-up call, then repeated calls
    until ``budget_s`` or ``most`` calls."""
    result = run()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < most and (len(times) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "calls": len(times),
        "rows": len(result) if isinstance(result, list) else None,
    }


def _run_statement(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return db.execute(sql, params).fetchall()


async def _timed_async(
    run: Callable[[], Awaitable[Any]], *, budget_s: float = 0.4, most: int = 50
) -> dict[str, Any]:
    await run()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < most and (len(times) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "calls": len(times)}


# --- SQLite -------------------------------------------------------------------------------------


@contextmanager
def _recording_sqlite(recorded: Recorded) -> Iterator[None]:
    class Recording(sqlite3.Connection):
        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            recorded.append((sql, tuple(parameters)))
            return super().execute(sql, parameters)

    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", Recording)
        connection: sqlite3.Connection = real(*args, **kwargs)
        return connection

    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        yield
    finally:
        sqlite3.connect = real


def sqlite_tree(rows: list[tuple[Any, ...]]) -> list[str]:
    """EXPLAIN QUERY PLAN rows (id, parent, notused, detail) as indented lines."""
    depth: dict[int, int] = {0: -1}
    out = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        out.append("  " * depth[node] + str(detail))
    return out


def sqlite_plans(path: Path, owner: Owner, query: ConversationQuery) -> dict[str, Any]:
    """The statements ``list_conversations`` (SQLite) issues for ``query``, with their plans
    and timings, and the in-process time of the whole call."""
    recorded: Recorded = []

    async def capture() -> dict[str, Any]:
        storage = await open_storage(f"sqlite:///{path}")
        store = storage.conversations
        try:
            del recorded[:]
            page = await store.list_conversations(owner, query)
            first = list(recorded)
            total = await _timed_async(lambda: store.list_conversations(owner, query))
        finally:
            await storage.close()
        del recorded[:]
        recorded.extend(first)
        return {**total, "page": len(page.conversations), "has_more": page.has_more}

    with _recording_sqlite(recorded):
        total = asyncio.run(capture())
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA cache_size = -32768")
        db.execute("PRAGMA query_only = ON")
        statements = []
        for sql, params in recorded:
            if not _is_query(sql):
                continue
            plan = db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            statements.append(
                {
                    "sql": " ".join(sql.split()),
                    "params": shown_params(params),
                    "plan": sqlite_tree(plan),
                    **_timed(functools.partial(_run_statement, db, sql, params)),
                }
            )
    finally:
        db.close()
    return {"store_call": total, "statements": statements}


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextmanager
def _recording_asyncpg(recorded: Recorded, connections: list[asyncpg.Connection]) -> Iterator[None]:
    real = asyncpg.create_pool

    def create_pool(*args: Any, **kwargs: Any) -> Any:
        their_init = kwargs.pop("init", None)

        async def init(conn: asyncpg.Connection) -> None:
            connections.append(conn)
            conn.add_query_logger(lambda q: recorded.append((q.query, tuple(q.args))))
            if their_init is not None:
                await their_init(conn)

        return real(*args, init=init, **kwargs)

    asyncpg.create_pool = create_pool
    try:
        yield
    finally:
        asyncpg.create_pool = real


async def _explain(conn: asyncpg.Connection, sql: str, params: tuple[Any, ...]) -> list[str]:
    """EXPLAIN output, in a transaction rolled back afterwards (ANALYZE runs the statement)."""
    tr = conn.transaction()
    await tr.start()
    try:
        return [r[0] for r in await conn.fetch(sql, *params)]
    finally:
        await tr.rollback()


async def _explain_generic(
    conn: asyncpg.Connection, sql: str, params: tuple[Any, ...]
) -> list[str]:
    """The generic plan (no parameter values known), which PostgreSQL's plan cache switches a
    prepared statement to after five calls when it looks no costlier than the custom ones:
    ``PREPARE``, then ``EXPLAIN (ANALYZE, BUFFERS) EXECUTE`` with ``plan_cache_mode =
    force_generic_plan``. EXECUTE takes no bound parameters, so the values are quoted by the
    server (``quote_literal``; a list as a text array literal)."""
    literals = [
        await conn.fetchval("SELECT quote_literal($1::text[]::text)", [str(e) for e in v])
        if isinstance(v, list)
        else await conn.fetchval("SELECT quote_literal($1::text)", str(v))
        for v in params
    ]
    await conn.execute(f"PREPARE mka1_bench_generic AS {sql}")
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        return await _explain(
            conn,
            f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE mka1_bench_generic({', '.join(literals)})",
            (),
        )
    finally:
        await conn.execute("DEALLOCATE mka1_bench_generic")
        await conn.execute("RESET plan_cache_mode")


async def postgres_plans(
    dsn: str, owner: Owner, queries: list[tuple[str, ConversationQuery]], *, repeat: int = 8
) -> dict[str, dict[str, Any]]:
    """For each query, in order and **on one pooled connection** (as the server's connections
    see them, one after another): the statements ``list_conversations`` (PostgreSQL) issues,
    under ``EXPLAIN (ANALYZE, BUFFERS)``, the in-process time of the whole call, and which plan
    the connection's plan cache used for them.

    asyncpg prepares every statement once per connection, and PostgreSQL's plan cache switches a
    prepared statement to a *generic* plan (made without the parameter values) after five calls
    when that looks no costlier. Queries that differ only in their values share the statement,
    so the plan a common value chose is the plan a rare value gets: hence one connection, in the
    benchmark's order. The generic plan of every parameterised SELECT is shown too."""
    recorded: Recorded = []
    connections: list[asyncpg.Connection] = []
    with _recording_asyncpg(recorded, connections):
        storage = await open_storage(dsn, pool_size=1)
        store = storage.conversations
    captured: list[tuple[str, dict[str, Any], list[tuple[str, tuple[Any, ...]]], Any]] = []
    try:

        async def plan_cache() -> dict[str, tuple[int, int]]:
            rows = await connections[0].fetch(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
            )
            return {" ".join(r[0].split()): (r[1], r[2]) for r in rows}

        for name, query in queries:
            await asyncio.sleep(0.01)  # asyncpg calls query loggers soon after, not at once
            del recorded[:]
            page = await store.list_conversations(owner, query)
            await asyncio.sleep(0.01)
            first = [
                (sql, params)
                for sql, params in recorded
                if _is_query(sql) and "pg_prepared_statements" not in sql
            ]
            for _ in range(repeat):  # as a busy server would have, before the timed calls
                await store.list_conversations(owner, query)
            before = await plan_cache()
            total = await _timed_async(functools.partial(store.list_conversations, owner, query))
            after = await plan_cache()
            used = {
                sql: (g - before.get(sql, (0, 0))[0], c - before.get(sql, (0, 0))[1])
                for sql, (g, c) in after.items()
            }
            call = {**total, "page": len(page.conversations), "has_more": page.has_more}
            captured.append((name, call, first, used))
    finally:
        await storage.close()
    conn = await asyncpg.connect(dsn)
    out: dict[str, dict[str, Any]] = {}
    try:
        for name, call, first, used in captured:
            statements = []
            for sql, params in first:
                flat = " ".join(sql.split())
                generic, custom = used.get(flat, (None, None))
                entry: dict[str, Any] = {
                    "sql": flat,
                    "params": shown_params(params),
                    "plan": await _explain(conn, "EXPLAIN (ANALYZE, BUFFERS) " + sql, params),
                    "generic_plans": generic,
                    "custom_plans": custom,
                }
                if params and flat.upper().startswith("SELECT"):
                    entry["generic_plan"] = await _explain_generic(conn, sql, params)
                statements.append(entry)
            out[name] = {"store_call": call, "statements": statements}
    finally:
        await conn.close()
    return out
