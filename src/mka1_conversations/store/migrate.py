"""The migration runner: plain-SQL files ``migrations/<dialect>/NNNN_name.sql``, applied in order.

Applied versions are recorded in ``schema_migrations``. Each migration runs in its own
transaction together with its bookkeeping row, so a failed migration leaves nothing behind, and
concurrent runners serialise: on SQLite's write lock (``BEGIN IMMEDIATE``), on PostgreSQL on a
lock row (``SELECT … FOR UPDATE``; no advisory locks), so several processes may start at once.

On PostgreSQL a migration's statements are sent one at a time (``split_postgres``, aware of
quotes, comments and ``$$`` bodies). When the ``citus`` extension is installed in the database,
the runner then distributes what is not distributed yet (``distribute_for_citus``): every table
with an ``owner_id`` column by ``owner_id``, co-located; every other table of the schema as a
reference table (the bookkeeping tables stay on the coordinator); every function of the schema
on the workers too. It finds the tables itself, so a later migration's tables distribute without
being named here, and it runs again (doing only what is missing) after every later migration.
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
    "distribute_for_citus",
    "has_citus",
    "load_migrations",
    "not_applied",
    "not_migrated",
    "pending_postgres",
    "pending_sqlite",
    "split_postgres",
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
    conn: asyncpg.Connection,
    *,
    through: int | None = None,
    migrations: Iterable[Migration] | None = None,
) -> list[Migration]:
    """Apply every pending migration (up to version ``through``, when given; ``migrations``:
    these instead of the shipped ones), each in its own transaction under the lock row; then,
    on a database with Citus, distribute what is new (unless stopped early by ``through``)."""
    await _pg_bookkeeping(conn)
    citus = await has_citus(conn)
    applied = []
    for migration in _up_to("postgres", through) if migrations is None else migrations:
        async with conn.transaction():
            await conn.execute("SELECT id FROM schema_migrations_lock WHERE id = 1 FOR UPDATE")
            done = await conn.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            )
            if done:
                continue
            if citus:  # DDL on distributed tables, one shard after another, in this transaction
                await conn.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
            for statement in split_postgres(migration.sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                int(time.time()),
            )
        applied.append(migration)
    if citus and through is None:
        await distribute_for_citus(conn)
    return applied


_DOLLAR_TAG = re.compile(r"\$[A-Za-z_0-9]*\$")


def split_postgres(sql: str) -> list[str]:
    """A PostgreSQL script's statements, one by one: split at ``;`` outside quotes ('…', "…"),
    comments (``--``, ``/* */``) and dollar-quoted bodies (``$$ … $$``, ``$tag$ … $tag$``)."""
    statements: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated comment in migration")
            i = end + 2
        elif ch in "'\"":
            end = sql.find(ch, i + 1)
            while end >= 0 and sql.startswith(ch * 2, end):  # a doubled quote inside
                end = sql.find(ch, end + 2)
            if end < 0:
                raise ValueError(f"unterminated quote in migration: {sql[i : i + 40]!r}")
            i = end + 1
        elif ch == "$" and (tag := _DOLLAR_TAG.match(sql, i)) and not sql[i - 1 : i].isalnum():
            end = sql.find(tag[0], tag.end())
            if end < 0:
                raise ValueError(f"unterminated {tag[0]} body in migration")
            i = end + len(tag[0])
        elif ch == ";":
            statements.append(sql[start:i].strip())
            start = i = i + 1
        else:
            i += 1
    statements.append(sql[start:].strip())
    return [s for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    for line in statement.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            return True
    return False


# --- Citus ----------------------------------------------------------------------------------

BOOKKEEPING_TABLES = ("schema_migrations", "schema_migrations_lock")
"""Stay plain tables on the coordinator: only the migration runner reads them."""

DISTRIBUTION_COLUMN = "owner_id"
"""The tenant: every table with this column is distributed by it, co-located."""

COLOCATION_ANCHOR = "conversations"


async def has_citus(conn: asyncpg.Connection) -> bool:
    """Whether the ``citus`` extension is installed in this database."""
    return bool(await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))


_UNDISTRIBUTED_TABLES = """
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $1
               AND NOT a.attisdropped) AS by_owner,
       coalesce((SELECT array_agg(DISTINCT r.relname::text) FROM pg_constraint f
                 JOIN pg_class r ON r.oid = f.confrelid
                 WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid),
                '{}') AS refers_to
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname <> ALL($2::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""

_UNDISTRIBUTED_FUNCTIONS = """
SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.prokind = 'f'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  AND NOT EXISTS (SELECT 1 FROM pg_dist_object o
                  WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)
ORDER BY 1
"""


async def distribute_for_citus(conn: asyncpg.Connection) -> list[str]:
    """Distribute, under the lock row, each table and function not yet known to Citus (see the
    module docstring); returns what it did, e.g. ``["distributed items", "reference api_keys"]``.
    Tables referenced by a foreign key go first. Idempotent; concurrent runners serialise."""
    done: list[str] = []
    while True:
        async with conn.transaction():
            await conn.execute("SELECT id FROM schema_migrations_lock WHERE id = 1 FOR UPDATE")
            rows = await conn.fetch(
                _UNDISTRIBUTED_TABLES, DISTRIBUTION_COLUMN, list(BOOKKEEPING_TABLES)
            )
            if not rows:
                break
            waiting = {row["relname"] for row in rows}
            # Reference tables first (a distributed table may refer to one), then the anchor,
            # then any table whose referenced tables are all distributed already.
            ready = [r for r in rows if not set(r["refers_to"]) & (waiting - {r["relname"]})]
            if not ready:
                raise RuntimeError(f"cannot order these tables for Citus: {sorted(waiting)}")
            ready.sort(
                key=lambda r: (r["by_owner"], r["relname"] != COLOCATION_ANCHOR, r["relname"])
            )
            table = ready[0]
            name = table["relname"]
            try:
                done.append(await _distribute(conn, name, by_owner=table["by_owner"]))
            except asyncpg.PostgresError as exc:
                raise RuntimeError(f"Citus cannot distribute table {name}: {exc}") from exc
    async with conn.transaction():
        await conn.execute("SELECT id FROM schema_migrations_lock WHERE id = 1 FOR UPDATE")
        for what in done:  # once every table is distributed: no local foreign key is left
            await _drop_local_copy(conn, what.split(" ", 1)[1])
        for (function,) in await conn.fetch(_UNDISTRIBUTED_FUNCTIONS):
            await conn.execute("SELECT create_distributed_function($1)", function)
            done.append(f"function {function}")
    return done


async def _distribute(conn: asyncpg.Connection, name: str, *, by_owner: bool) -> str:
    if by_owner:
        anchor = await conn.fetchval(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition "
            "WHERE partmethod = 'h' AND logicalrelid = to_regclass($1)",
            COLOCATION_ANCHOR,
        )
        if anchor is None:
            anchor = await conn.fetchval(
                "SELECT min(logicalrelid::regclass::text) FROM pg_dist_partition p "
                "JOIN pg_attribute a ON a.attrelid = p.logicalrelid "
                "AND a.attname = $1 AND p.partmethod = 'h' "
                "AND p.partkey IS NOT NULL",
                DISTRIBUTION_COLUMN,
            )
        await conn.execute(
            "SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)",
            name,
            DISTRIBUTION_COLUMN,
            anchor or "default",
        )
        return f"distributed {name}"
    await conn.execute("SELECT create_reference_table($1::regclass)", name)
    return f"reference {name}"


async def _drop_local_copy(conn: asyncpg.Connection, table: str) -> None:
    """Distributing a table that held rows copies them to the shards and leaves them in the
    coordinator's own table too, unread; this removes that copy."""
    await conn.execute("SELECT truncate_local_data_after_distributing_table($1::regclass)", table)
