"""The migration runner: plain-SQL files ``migrations/<dialect>/NNNN_name.sql``, applied in order.

Applied versions are recorded in ``schema_migrations``. Each migration runs in its own
transaction together with its bookkeeping row, so a failed migration leaves nothing behind, and
concurrent runners serialise: on SQLite's write lock (``BEGIN IMMEDIATE``), on PostgreSQL on a
lock row (``SELECT … FOR UPDATE``; no advisory locks), so several processes may start at once.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import asyncpg

from ..domain.search import index_word

__all__ = [
    "Migration",
    "apply_postgres",
    "apply_sqlite",
    "describe",
    "load_migrations",
    "not_applied",
    "not_migrated",
    "pending_postgres",
    "pending_sqlite",
]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    """Every migration shipped for a dialect, in version order."""
    folder = resources.files("mka1_conversations.store") / "migrations" / dialect
    out = []
    for entry in folder.iterdir():
        if m := _NAME.match(entry.name):
            out.append(Migration(int(m[1]), m[2], entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    return out


@functools.cache
def _shipped(dialect: str) -> tuple[Migration, ...]:
    return tuple(load_migrations(dialect))


def not_applied(dialect: str, applied: Iterable[int]) -> list[Migration]:
    """The shipped migrations missing from ``applied`` (the versions a database has recorded);
    the files are read once per process, so readiness checks can call this often."""
    done = set(applied)
    return [m for m in _shipped(dialect) if m.version not in done]


def describe(migrations: Iterable[Migration]) -> str:
    """``0002_x, 0003_y``: how messages name migrations."""
    return ", ".join(f"{m.version:04d}_{m.name}" for m in migrations)


def not_migrated(database: str, pending: Iterable[Migration]) -> RuntimeError:
    """The error that refuses to serve a database with ``pending`` migrations."""
    return RuntimeError(
        f"{database} is not migrated (pending: {describe(pending)}); "
        "run `mka1-conversations migrate` first"
    )


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (trigger bodies included)."""
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at end of migration: {buffer[:80]!r}")
    return statements


_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
)


def _applied(db: sqlite3.Connection) -> set[int]:
    db.execute(_BOOKKEEPING)
    return {row[0] for row in db.execute("SELECT version FROM schema_migrations")}


def pending_sqlite(db: sqlite3.Connection) -> list[Migration]:
    """The migrations not yet applied to this database."""
    done = _applied(db)
    return [m for m in load_migrations("sqlite") if m.version not in done]


def _up_to(dialect: str, through: int | None) -> list[Migration]:
    return [m for m in load_migrations(dialect) if through is None or m.version <= through]


def apply_sqlite(db: sqlite3.Connection, *, through: int | None = None) -> list[Migration]:
    """Apply every pending migration (up to version ``through``, when given: an upgrade is then
    testable from any earlier schema); returns the ones this call applied."""
    applied = []
    # What SQLite's migrations call and SQLite lacks (0006: a word's index key is a digest).
    db.create_function("mka1_index_word", 1, index_word, deterministic=True)
    for migration in _up_to("sqlite", through):
        db.execute("BEGIN IMMEDIATE")
        try:
            if migration.version in _applied(db):
                db.execute("COMMIT")
                continue
            for statement in split_statements(migration.sql):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time())),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(migration)
    return applied


# --- PostgreSQL -----------------------------------------------------------------------------

_PG_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
    # One row that every runner locks (SELECT … FOR UPDATE): no advisory locks, so this also works
    # where they do not exist (CockroachDB) or only on a coordinator (Citus).
    "CREATE TABLE IF NOT EXISTS schema_migrations_lock (id integer PRIMARY KEY)",
    "INSERT INTO schema_migrations_lock (id) VALUES (1) ON CONFLICT DO NOTHING",
)


async def _pg_bookkeeping(conn: asyncpg.Connection) -> None:
    for attempt in range(5):
        try:
            for statement in _PG_BOOKKEEPING:
                await conn.execute(statement)
            return
        except (
            asyncpg.UniqueViolationError,
            asyncpg.DuplicateTableError,
            asyncpg.DuplicateObjectError,  # "type ... already exists": the table's row type
        ):
            # Two runners creating the same table at once: the loser retries and finds it there.
            await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError("could not create the migration bookkeeping tables")


async def pending_postgres(conn: asyncpg.Connection) -> list[Migration]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = (
        {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        if exists
        else set()
    )
    return [m for m in load_migrations("postgres") if m.version not in done]


async def apply_postgres(
    conn: asyncpg.Connection, *, through: int | None = None
) -> list[Migration]:
    """Apply every pending migration (up to version ``through``, when given), each in its own
    transaction under the lock row."""
    await _pg_bookkeeping(conn)
    applied = []
    for migration in _up_to("postgres", through):
        async with conn.transaction():
            await conn.execute("SELECT id FROM schema_migrations_lock WHERE id = 1 FOR UPDATE")
            done = await conn.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            )
            if done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                int(time.time()),
            )
        applied.append(migration)
    return applied
