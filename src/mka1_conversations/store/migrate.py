"""The migration runner: plain-SQL files ``migrations/<dialect>/NNNN_name.sql``, applied in order.

Applied versions are recorded in ``schema_migrations``. Each migration runs in its own
transaction together with its bookkeeping row, so a failed migration leaves nothing behind, and
concurrent runners serialise on the write lock (SQLite ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "apply_sqlite", "load_migrations", "pending_sqlite"]

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


def apply_sqlite(db: sqlite3.Connection) -> list[Migration]:
    """Apply every pending migration; returns the ones this call applied."""
    applied = []
    for migration in load_migrations("sqlite"):
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
