"""SQLite's statements for stored responses and the conversation turn lease
(``store/responses.py`` says what each does)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ...domain.response_store import ResponseRecord
from ...domain.store import Order
from ..responses import INPUT, OUTPUT
from ..transfer import RESPONSE_COLUMNS, Columns, ResponseRow
from .base import Connected, now_us

__all__ = ["ResponseSQL"]

_encode = msgspec.json.Encoder().encode


def _bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else data


class ResponseSQL(Connected):
    __slots__ = ()

    # --- the lease -----------------------------------------------------------------------------

    async def take_turn(
        self, owner_key: str, conversation_id: str, response_id: str, now: int, until: int
    ) -> bool | None:
        row = self._db.execute(
            "UPDATE conversations SET turn_response_id = ?, turn_until = ? "
            "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL AND (turn_until IS NULL "
            "OR turn_until <= ? OR turn_response_id = ?) RETURNING 1",
            (response_id, until, conversation_id, owner_key, now, response_id),
        ).fetchone()
        if row is not None:
            return True
        exists = self._db.execute(
            "SELECT 1 FROM conversations WHERE id = ? AND owner_id = ? AND deleted_at IS NULL",
            (conversation_id, owner_key),
        ).fetchone()
        return None if exists is None else False

    async def renew_turn(
        self, owner_key: str, conversation_id: str, response_id: str, until: int
    ) -> bool:
        return (
            self._db.execute(
                "UPDATE conversations SET turn_until = ? "
                "WHERE id = ? AND owner_id = ? AND turn_response_id = ?",
                (until, conversation_id, owner_key, response_id),
            ).rowcount
            == 1
        )

    async def end_turn(self, owner_key: str, conversation_id: str, response_id: str) -> None:
        self._db.execute(
            "UPDATE conversations SET turn_response_id = NULL, turn_until = NULL "
            "WHERE id = ? AND owner_id = ? AND turn_response_id = ?",
            (conversation_id, owner_key, response_id),
        )

    async def turn_state(
        self, owner_key: str, conversation_id: str
    ) -> tuple[int, str | None, int | None] | None:
        row = self._db.execute(
            "SELECT next_seq, turn_response_id, turn_until FROM conversations "
            "WHERE id = ? AND owner_id = ?",
            (conversation_id, owner_key),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    async def live_items(
        self, owner_key: str, conversation_id: str, through_seq: int | None
    ) -> list[bytes]:
        return [
            _bytes(row[0])
            for row in self._db.execute(
                "SELECT data FROM items WHERE conversation_id = ? AND owner_id = ? "
                "AND seq <= ? AND deleted_at IS NULL ORDER BY seq",
                (conversation_id, owner_key, (1 << 62) if through_seq is None else through_seq),
            )
        ]

    # --- responses -----------------------------------------------------------------------------

    async def insert_response(
        self, owner_key: str, record: ResponseRecord, context_seq: int | None
    ) -> None:
        self._db.execute(
            "INSERT INTO responses (owner_id, id, created_at, position, status, conversation_id, "
            "context_seq, previous_response_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                owner_key,
                record.id,
                record.created_at,
                now_us(),
                record.status,
                record.conversation_id,
                context_seq,
                record.previous_response_id,
                record.data,
            ),
        )
        self._db.executemany(
            "INSERT INTO response_items (owner_id, response_id, part, n, id, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (owner_key, record.id, part, n, item.id, item.data)
                for part, items in ((INPUT, record.input_items), (OUTPUT, record.output_items))
                for n, item in enumerate(items, 1)
            ],
        )

    async def response_data(self, owner_key: str, response_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT data FROM responses WHERE owner_id = ? AND id = ?", (owner_key, response_id)
        ).fetchone()
        return None if row is None else _bytes(row[0])

    async def chain_of(
        self, owner_key: str, response_id: str
    ) -> list[tuple[str, str | None, int | None]]:
        rows = self._db.execute(
            "WITH RECURSIVE chain (id, previous, conversation_id, context_seq, depth) AS ("
            "SELECT id, previous_response_id, conversation_id, context_seq, 0 FROM responses "
            "WHERE owner_id = ?1 AND id = ?2 "
            "UNION ALL SELECT r.id, r.previous_response_id, r.conversation_id, r.context_seq, "
            "c.depth + 1 FROM chain c JOIN responses r ON r.owner_id = ?1 AND r.id = c.previous) "
            "SELECT id, conversation_id, context_seq FROM chain ORDER BY depth",
            (owner_key, response_id),
        ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    async def chain_items(self, owner_key: str, response_ids: Sequence[str]) -> list[bytes]:
        return [
            _bytes(row[0])
            for row in self._db.execute(
                "SELECT i.data FROM json_each(?2) AS c JOIN response_items i "
                "ON i.owner_id = ?1 AND i.response_id = c.value "
                "ORDER BY c.key, i.part, i.n",
                (owner_key, _encode(list(response_ids))),
            )
        ]

    async def delete_response(self, owner_key: str, response_id: str) -> bool:
        self._db.execute(
            "DELETE FROM response_items WHERE owner_id = ? AND response_id = ?",
            (owner_key, response_id),
        )
        return (
            self._db.execute(
                "DELETE FROM responses WHERE owner_id = ? AND id = ?", (owner_key, response_id)
            ).rowcount
            == 1
        )

    async def response_page(
        self, owner_key: str, after: str | None, limit: int, order: Order
    ) -> list[tuple[str, bytes]] | None:
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        if after is None:
            bound = "(?2, ?3)"
            args: tuple[object, ...] = (-1, "") if order == "asc" else (1 << 62, "")
        else:
            cursor = self._db.execute(
                "SELECT position, id FROM responses WHERE owner_id = ? AND id = ?",
                (owner_key, after),
            ).fetchone()
            if cursor is None:
                return None
            bound, args = "(?2, ?3)", (cursor[0], cursor[1])
        rows = self._db.execute(
            "SELECT id, data FROM responses WHERE owner_id = ?1 "
            f"AND (position, id) {comparison} {bound} "
            f"ORDER BY position {direction}, id {direction} LIMIT ?4",
            (owner_key, *args, limit),
        ).fetchall()
        return [(row[0], _bytes(row[1])) for row in rows]

    async def input_item_page(
        self, owner_key: str, response_id: str, after: str | None, limit: int, order: Order
    ) -> list[tuple[str, bytes]] | None:
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        if after is None:
            start = 0 if order == "asc" else 1 << 62
        else:
            cursor = self._db.execute(
                "SELECT min(n) FROM response_items WHERE owner_id = ? AND response_id = ? "
                "AND part = 0 AND id = ?",
                (owner_key, response_id, after),
            ).fetchone()
            if cursor is None or cursor[0] is None:
                return None
            start = cursor[0]
        rows = self._db.execute(
            "SELECT id, data FROM response_items WHERE owner_id = ? AND response_id = ? "
            f"AND part = 0 AND n {comparison} ? ORDER BY n {direction} LIMIT ?",
            (owner_key, response_id, start, limit),
        ).fetchall()
        return [(row[0], _bytes(row[1])) for row in rows]

    # --- export / import -----------------------------------------------------------------------

    async def export_responses(
        self, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Columns]:
        rows: Sequence[Columns] = self._db.execute(
            f"SELECT {RESPONSE_COLUMNS} FROM responses "
            "WHERE (owner_id, id) > (?, ?) ORDER BY owner_id, id LIMIT ?",
            (*(after or ("", "")), limit),
        ).fetchall()
        return rows

    async def export_response_items(self, owner_key: str, response_id: str) -> Sequence[Columns]:
        rows: Sequence[Columns] = self._db.execute(
            "SELECT part, id, data FROM response_items WHERE owner_id = ? AND response_id = ? "
            "ORDER BY part, n",
            (owner_key, response_id),
        ).fetchall()
        return rows

    async def insert_responses(self, responses: list[ResponseRow]) -> None:
        self._db.executemany(
            f"INSERT INTO responses ({RESPONSE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.owner,
                    r.id,
                    r.created_at,
                    r.position,
                    r.status,
                    r.conversation_id,
                    r.context_seq,
                    r.previous_response_id,
                    bytes(r.data),
                )
                for r in responses
            ],
        )
        self._db.executemany(
            "INSERT INTO response_items (owner_id, response_id, part, n, id, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.owner, r.id, part, n, item.id, bytes(item.data))
                for r in responses
                for part, items in ((INPUT, r.input_items), (OUTPUT, r.output_items))
                for n, item in enumerate(items, 1)
            ],
        )
