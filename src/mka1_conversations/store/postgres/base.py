"""What every PostgreSQL statement has at hand: one pooled connection, and the count of what it
sent (a rule marked ``one_statement`` runs without a transaction, so it may send only one)."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import msgspec

from ...domain.conversations import ConversationRecord
from ..backend import WriteProgress
from ..listing import SNAPSHOT_RETENTION_US

__all__ = [
    "CONVERSATION_COLUMNS",
    "IN_TIME",
    "MOVES_KEPT_US",
    "NOW_US",
    "Connected",
    "Connection",
    "now_us",
    "record",
]

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

IN_TIME = "mka1_in_time({})"
"""A write statement's guard, formatted with the placeholder of its ``write_by``: a statement
that reaches the database after its deadline fails as cancelled, changing nothing (migration
0006; backend.py). STABLE (0007): Citus evaluates it on the coordinator."""

NOW_US = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
"""The database's clock in microseconds, as SQL. VOLATILE: Citus refuses it in an UPDATE or
DELETE on a distributed table (and evaluates it on the coordinator in an INSERT); stamped
before commit, it is no listing position (conversations take theirs from ``owner_clocks``)."""

MOVES_KEPT_US = SNAPSHOT_RETENTION_US
"""A conversation's moves older than this are dropped by its next move."""


def now_us() -> int:
    """The server's clock in microseconds: the floor of a new position (migration 0007; the
    owner's clock row keeps positions increasing whatever the servers' clocks say)."""
    return time.time_ns() // 1000


CONVERSATION_COLUMNS = "id, created_at, deleted_at, metadata::text"
"""What a ConversationRecord is read from (``record``)."""

_decode_metadata = msgspec.json.Decoder(dict[str, str]).decode


def record(row: asyncpg.Record) -> ConversationRecord:
    return ConversationRecord(
        id=row[0], created_at=row[1], deleted_at=row[2], metadata=_decode_metadata(row[3])
    )


class Connected:
    """The state the statement mixins share (the concrete class holds it in its slots)."""

    __slots__ = ()
    _conn: Connection
    _alone: bool
    _sent: int
    _write_by: float
    _progress: WriteProgress | None
    _page_clock: int | None
    """The owner's clock as the last conversation page read it (listing.py)."""

    def _count(self) -> None:
        if self._alone:
            if self._sent:
                raise RuntimeError(
                    "a rule marked one_statement sent a second statement (outside a transaction)"
                )
            self._sent = 1  # type: ignore[misc]  # a slot of the concrete class
            if self._progress is not None:
                self._progress.commit_sent = True  # the statement is its own commit

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self._count()
        rows: list[asyncpg.Record] = await self._conn.fetch(sql, *args)
        return rows

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        self._count()
        row: asyncpg.Record | None = await self._conn.fetchrow(sql, *args)
        return row

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        self._count()
        return await self._conn.fetchval(sql, *args)

    async def _execute(self, sql: str, *args: Any) -> str:
        """The command status, e.g. ``UPDATE 1``."""
        self._count()
        status: str = await self._conn.execute(sql, *args)
        return status


def affected(status: str) -> int:
    """How many rows a command status (``DELETE 3``) says were affected."""
    return int(status.rsplit(" ", 1)[1])
