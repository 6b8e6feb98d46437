"""PostgreSQL's statements for listing conversations (``store/listing.py`` says what each does).

Positions and snapshot times come from the owner's clock row (``owner_clocks``, migration 0007):
a snapshot is the row's committed value, and every write that moves a conversation bumps it and
holds it until commit, so every position at or below a snapshot is committed when the snapshot
is read. Snapshots are remembered in ``list_snapshots`` (with when they were taken, in the
server's clock); the moves are recorded by the statements that move (``conversations.py``).
Search words are counted (one round trip for all of them); metadata is a jsonb containment,
filtered while walking, not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, TypeVarTuple

import msgspec

from ...domain.conversations import ConversationRecord
from ...domain.store import Order
from ..listing import SNAPSHOT_RETENTION_US, Filters, Listed, ListingStatements, Term
from .base import Connected, now_us, record

__all__ = ["ListingSQL"]

_CLOCK = "(SELECT k.position FROM owner_clocks k WHERE k.owner_id = $1) "

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

_encode = msgspec.json.Encoder().encode


def _conditions(filters: Filters, args: list[Any]) -> list[str]:
    """The filters' conditions on ``c``; their values are appended to ``args`` (``$1`` is the
    owner in every statement that uses them).

    A rare word is an ``IN`` over its holders, so the planner reads them by id. A common one is
    a scalar subquery, not ``EXISTS``: PostgreSQL would turn ``EXISTS`` into a semi-join and
    intersect the words' whole holder lists before sorting, where a subquery per row is
    evaluated while walking the list in order and stops with the page."""
    where = []
    metadata = {t.values[0]: t.values[1] for t in filters.uncounted if t.kind == "metadata"}
    if metadata:
        args.append(_encode(metadata).decode())
        where.append(f"c.metadata @> ${len(args)}::jsonb")
    for term in filters.rare:
        args.append(term.values[0])
        where.append(
            "c.id IN (SELECT w.conversation_id FROM conversation_words w "
            f"WHERE w.owner_id = $1 AND w.word = ${len(args)})"
        )
    for term in filters.common:
        args.append(term.values[0])
        where.append(
            "(SELECT true FROM conversation_words w WHERE w.owner_id = c.owner_id "
            f"AND w.conversation_id = c.id AND w.word = ${len(args)})"
        )
    return where


class ListingSQL(Connected):
    __slots__ = ()

    async def clock_us(self, owner_key: str) -> int:
        position: int | None = await self._fetchval(
            "SELECT position FROM owner_clocks WHERE owner_id = $1", owner_key
        )
        return position or 0

    async def cursor_state(
        self, owner_key: str, conversation_id: str
    ) -> tuple[int, int | None] | None:
        row = await self._fetchrow(
            "SELECT c.updated_at, s.snapshot_at FROM conversations c "
            "LEFT JOIN list_snapshots s ON s.owner_id = c.owner_id AND s.conversation_id = c.id "
            "AND s.taken_at >= $3 "
            "WHERE c.owner_id = $1 AND c.id = $2",
            owner_key,
            conversation_id,
            now_us() - SNAPSHOT_RETENTION_US,
        )
        return None if row is None else (row[0], row[1])

    async def crossing_move(self, owner_key: str, conversation_id: str, t0: int) -> int | None:
        moved: int | None = await self._fetchval(
            "SELECT from_position FROM conversation_moves WHERE owner_id = $1 "
            "AND conversation_id = $2 AND from_position <= $3 AND to_position > $3",
            owner_key,
            conversation_id,
            t0,
        )
        return moved

    async def begin_snapshot(self, owner_key: str, t0: int) -> None:
        """Nothing to do: every move is kept (by the statement that moves)."""

    async def remember_snapshot(self, owner_key: str, last_id: str, t0: int) -> None:
        await self._execute(
            "INSERT INTO list_snapshots (owner_id, conversation_id, snapshot_at, taken_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (owner_id, conversation_id) "
            "DO UPDATE SET snapshot_at = EXCLUDED.snapshot_at, taken_at = EXCLUDED.taken_at",
            owner_key,
            last_id,
            t0,
            now_us(),
        )

    async def count_holders(
        self, owner_key: str, terms: Sequence[Term], cap: int
    ) -> list[int | None]:
        """Every word's holders counted in one round trip, in the index; metadata not."""
        words = [t.values[0] for t in terms if t.kind == "word"]
        counted: dict[str, int] = {}
        if words:
            counted = {
                word: holders
                for word, holders in await self._fetch(
                    "SELECT w.word, (SELECT count(*) FROM (SELECT 1 FROM conversation_words x "
                    "WHERE x.owner_id = $1 AND x.word = w.word LIMIT $3) AS h) "
                    "FROM unnest($2::text[]) AS w(word)",
                    owner_key,
                    words,
                    cap,
                )
            }
        return [counted[t.values[0]] if t.kind == "word" else None for t in terms]

    async def conversation_page(
        self,
        owner_key: str,
        t0: int,
        filters: Filters,
        cursor: tuple[int, str] | None,
        order: Order,
        limit: int,
    ) -> list[Listed]:
        args: list[Any] = [owner_key, t0]
        where = ["c.owner_id = $1", "c.deleted_at IS NULL", "c.updated_at <= $2"]
        where += _conditions(filters, args)
        if cursor is not None:
            args += cursor
            op = ">" if order == "asc" else "<"
            where.append(f"(c.updated_at, c.id) {op} (${len(args) - 1}, ${len(args)})")
        direction = "ASC" if order == "asc" else "DESC"
        args.append(limit)
        rows = await self._fetch(
            "SELECT c.id, c.created_at, c.deleted_at, c.metadata::text, c.updated_at, "
            # Only without filters: Citus does not route it beside their subqueries.
            + ("NULL " if filters.rare or filters.common or filters.uncounted else _CLOCK)
            + f"FROM conversations c WHERE {' AND '.join(where)} "
            f"ORDER BY c.updated_at {direction}, c.id {direction} LIMIT ${len(args)}",
            *args,
        )
        # The owner's clock in the page's own snapshot: at most t0, no move had committed past
        # t0 when the page was read, so none can be missing from it (crossing_moves).
        self._page_clock = rows[0][5] if rows else None  # type: ignore[misc]  # a slot
        return [Listed(row[4], record(row)) for row in rows]

    async def crossing_moves(self, owner_key: str, t0: int) -> dict[str, int]:
        clock = self._page_clock
        if clock is not None and clock <= t0:
            return {}  # the page was read before any move past t0 committed
        rows = await self._fetch(
            "SELECT conversation_id, from_position FROM conversation_moves "
            "WHERE owner_id = $1 AND to_position > $2 AND from_position <= $2",
            owner_key,
            t0,
        )
        return {row[0]: row[1] for row in rows}

    async def conversations_by_id(
        self, owner_key: str, ids: list[str], filters: Filters
    ) -> list[ConversationRecord]:
        args: list[Any] = [owner_key, ids]
        conditions = _conditions(filters, args)
        rows = await self._fetch(
            "SELECT c.id, c.created_at, c.deleted_at, c.metadata::text FROM conversations c "
            "WHERE c.owner_id = $1 AND c.deleted_at IS NULL AND c.id = ANY($2::text[])"
            + "".join(" AND " + condition for condition in conditions),
            *args,
        )
        return [record(row) for row in rows]

    async def consistent_read(
        self,
        may_take_long: bool,
        rule: Callable[[ListingStatements, *Ts], Coroutine[Any, Any, T]],
        *args: *Ts,
    ) -> T:
        """On this connection, as the statements come: a long read holds only its connection.
        (No transaction: the page's statements are read as they come, each its own snapshot.)"""
        return await rule(self, *args)
