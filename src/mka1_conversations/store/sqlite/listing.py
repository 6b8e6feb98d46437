"""SQLite's statements for listing conversations (``store/listing.py`` says what each does).

Metadata pairs and search words are both terms here: each has a side table keyed
(conversation_id, ...columns) and indexed (owner_id, ...columns, conversation_id), so a term's
holders are one index range and one conversation's test is one key lookup. Snapshots are
remembered in this process (``store/snapshots.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar, TypeVarTuple

from ...domain.conversations import ConversationRecord
from ...domain.store import Order
from ..backend import run_inline
from ..listing import SNAPSHOT_RETENTION_US, Filters, Listed, ListingStatements, Term
from .base import Connected, now_us, record

__all__ = ["ListingSQL"]

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

_TABLES = {"metadata": "conversation_metadata", "word": "conversation_words"}
_COLUMNS = {"metadata": ("key", "value"), "word": ("word",)}
_IN_CHUNK = 500
"""Ids per ``IN (…)`` list, under SQLite's limit on bound parameters."""


def _equal(term: Term, alias: str = "") -> str:
    """``key = ? AND value = ?``: the term's columns, each equal to one of its values."""
    return " AND ".join(f"{alias}{column} = ?" for column in _COLUMNS[term.kind])


def _holders(term: Term) -> str:
    return f"SELECT conversation_id FROM {_TABLES[term.kind]} WHERE owner_id = ? AND {_equal(term)}"


def _conditions(owner_key: str, filters: Filters) -> tuple[list[str], list[Any]]:
    """The filters' conditions on ``c`` (a conversations row) and their values. A rare term is
    an ``IN`` over its holders; a common one a key lookup per conversation."""
    where: list[str] = []
    args: list[Any] = []
    for term in filters.rare:
        where.append(f"c.id IN ({_holders(term)})")
        args += (owner_key, *term.values)
    for term in (*filters.common, *filters.uncounted):
        where.append(
            f"EXISTS (SELECT 1 FROM {_TABLES[term.kind]} t WHERE t.conversation_id = c.id "
            f"AND {_equal(term, 't.')})"
        )
        args += term.values
    return where, args


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class ListingSQL(Connected):
    __slots__ = ()
    _long: Callable[..., Awaitable[Any]] | None

    async def clock_us(self, owner_key: str) -> int:
        """Now: a write is stamped and committed without suspending (one writer at a time)."""
        return now_us()

    async def cursor_state(
        self, owner_key: str, conversation_id: str
    ) -> tuple[int, int | None] | None:
        row = self._db.execute(
            "SELECT updated_at FROM conversations WHERE id = ? AND owner_id = ?",
            (conversation_id, owner_key),
        ).fetchone()
        if row is None:
            return None
        remembered = self._snapshots.recall(owner_key, conversation_id)
        if remembered is not None and remembered < now_us() - SNAPSHOT_RETENTION_US:
            remembered = None
        return row[0], remembered

    async def crossing_move(self, owner_key: str, conversation_id: str, t0: int) -> int | None:
        row = self._db.execute(
            "SELECT from_position FROM conversation_moves "
            "WHERE conversation_id = ? AND from_position <= ? AND to_position > ?",
            (conversation_id, t0, t0),
        ).fetchone()
        return None if row is None else int(row[0])

    async def begin_snapshot(self, owner_key: str, t0: int) -> None:
        self._snapshots.begin(owner_key, t0)

    async def remember_snapshot(self, owner_key: str, last_id: str, t0: int) -> None:
        self._snapshots.remember(owner_key, last_id, t0)

    async def count_holders(
        self, owner_key: str, terms: Sequence[Term], cap: int
    ) -> list[int | None]:
        """Counted in the index: at most ``cap`` index steps per term, no row reaches Python."""
        return [
            self._db.execute(
                f"SELECT count(*) FROM ({_holders(term)} LIMIT ?)",
                (owner_key, *term.values, cap),
            ).fetchone()[0]
            for term in terms
        ]

    async def conversation_page(
        self,
        owner_key: str,
        t0: int,
        filters: Filters,
        cursor: tuple[int, str] | None,
        order: Order,
        limit: int,
    ) -> list[Listed]:
        conditions, values = _conditions(owner_key, filters)
        # With a rare term, "+" keeps SQLite off the list-order index: it reads that term's
        # holders by id and sorts them, instead of walking every conversation of the owner.
        owner_test = "+c.owner_id = ?" if filters.by_id else "c.owner_id = ?"
        where = [owner_test, "c.deleted_at IS NULL", "c.updated_at <= ?", *conditions]
        args: list[Any] = [owner_key, t0, *values]
        if cursor is not None:
            where.append("(c.updated_at, c.id) " + (">" if order == "asc" else "<") + " (?, ?)")
            args += cursor
        direction = "ASC" if order == "asc" else "DESC"
        return [
            Listed(row[4], record(row))
            for row in self._db.execute(
                "SELECT c.id, c.created_at, c.deleted_at, c.metadata, c.updated_at "
                f"FROM conversations c WHERE {' AND '.join(where)} "
                f"ORDER BY c.updated_at {direction}, c.id {direction} LIMIT ?",
                (*args, limit),
            )
        ]

    async def crossing_moves(self, owner_key: str, t0: int) -> dict[str, int]:
        return dict(
            self._db.execute(
                "SELECT conversation_id, from_position FROM conversation_moves "
                "WHERE owner_id = ? AND to_position > ? AND from_position <= ?",
                (owner_key, t0, t0),
            ).fetchall()
        )

    async def conversations_by_id(
        self, owner_key: str, ids: list[str], filters: Filters
    ) -> list[ConversationRecord]:
        conditions, values = _conditions(owner_key, filters)
        extra = "".join(" AND " + condition for condition in conditions)
        found: list[ConversationRecord] = []
        for chunk in _chunks(ids, _IN_CHUNK):
            marks = ",".join("?" * len(chunk))
            found += [
                record(row)
                for row in self._db.execute(
                    "SELECT c.id, c.created_at, c.deleted_at, c.metadata FROM conversations c "
                    f"WHERE c.owner_id = ? AND c.deleted_at IS NULL AND c.id IN ({marks}){extra}",
                    (owner_key, *chunk, *values),
                )
            ]
        return found

    async def consistent_read(
        self,
        may_take_long: bool,
        rule: Callable[[ListingStatements, *Ts], Coroutine[Any, Any, T]],
        *args: *Ts,
    ) -> T:
        """A read that may take long runs on a reader thread, with a connection of its own
        (WAL lets it read while the writer writes); any other inline, in one read transaction
        on this connection, never suspending (so no write can come in between)."""
        if may_take_long and self._long is not None:
            result: T = await self._long(rule, *args)
            return result
        self._db.execute("BEGIN")
        try:
            return run_inline(rule(self, *args))
        finally:
            self._db.execute("COMMIT")
