"""PostgreSQL's statements for stored responses and the conversation turn lease
(``store/responses.py`` says what each does). Every statement names ``owner_id``, so on Citus
each goes to the one shard of its owner."""

from __future__ import annotations

from collections.abc import Sequence

from ...domain.response_store import ResponseRecord
from ...domain.store import Order
from ..responses import INPUT, OUTPUT
from ..transfer import RESPONSE_COLUMNS, Columns, ResponseRow
from .base import IN_TIME, NOW_US, Connected, affected

__all__ = ["ResponseSQL"]


class ResponseSQL(Connected):
    __slots__ = ()

    # --- the lease -----------------------------------------------------------------------------

    async def take_turn(
        self, owner_key: str, conversation_id: str, response_id: str, now: int, until: int
    ) -> bool | None:
        row = await self._fetchrow(
            f"""
            WITH c AS (
                SELECT 1 FROM conversations
                WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL),
            t AS (
                UPDATE conversations SET turn_response_id = $3, turn_until = $4
                WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL
                  AND (turn_until IS NULL OR turn_until <= $5 OR turn_response_id = $3)
                  AND {IN_TIME.format("$6")}
                RETURNING 1)
            SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM t)
            """,
            owner_key,
            conversation_id,
            response_id,
            until,
            now,
            self._write_by,
        )
        assert row is not None
        if not row[0]:
            return None
        return bool(row[1])

    async def renew_turn(
        self, owner_key: str, conversation_id: str, response_id: str, until: int
    ) -> bool:
        status = await self._execute(
            "UPDATE conversations SET turn_until = $4 "
            f"WHERE owner_id = $1 AND id = $2 AND turn_response_id = $3 AND {IN_TIME.format('$5')}",
            owner_key,
            conversation_id,
            response_id,
            until,
            self._write_by,
        )
        return affected(status) == 1

    async def end_turn(self, owner_key: str, conversation_id: str, response_id: str) -> None:
        await self._execute(
            "UPDATE conversations SET turn_response_id = NULL, turn_until = NULL "
            f"WHERE owner_id = $1 AND id = $2 AND turn_response_id = $3 AND {IN_TIME.format('$4')}",
            owner_key,
            conversation_id,
            response_id,
            self._write_by,
        )

    async def turn_state(
        self, owner_key: str, conversation_id: str
    ) -> tuple[int, str | None, int | None] | None:
        row = await self._fetchrow(
            "SELECT next_seq, turn_response_id, turn_until FROM conversations "
            "WHERE owner_id = $1 AND id = $2 FOR UPDATE",
            owner_key,
            conversation_id,
        )
        return None if row is None else (row[0], row[1], row[2])

    async def live_items(
        self, owner_key: str, conversation_id: str, through_seq: int | None
    ) -> list[bytes]:
        rows = await self._fetch(
            "SELECT data FROM items WHERE owner_id = $1 AND conversation_id = $2 "
            "AND seq <= $3 AND deleted_at IS NULL ORDER BY seq",
            owner_key,
            conversation_id,
            (1 << 62) if through_seq is None else through_seq,
        )
        return [row[0].encode() for row in rows]

    # --- responses -----------------------------------------------------------------------------

    async def insert_response(
        self, owner_key: str, record: ResponseRecord, context_seq: int | None
    ) -> None:
        parts = ((INPUT, record.input_items), (OUTPUT, record.output_items))
        rows = [(part, n, item) for part, items in parts for n, item in enumerate(items, 1)]
        await self._execute(
            f"""
            WITH r AS (
                INSERT INTO responses (owner_id, id, created_at, position, status,
                                       conversation_id, context_seq, previous_response_id, data)
                VALUES ($1, $2, $3, {NOW_US}, $4, $5, $6, $7, $8) RETURNING id)
            INSERT INTO response_items (owner_id, response_id, part, n, id, data)
            SELECT $1, r.id, t.part, t.n, t.id, t.data
            FROM r, unnest($9::smallint[], $10::int[], $11::text[], $12::bytea[])
                 AS t(part, n, id, data)
            """,
            owner_key,
            record.id,
            record.created_at,
            record.status,
            record.conversation_id,
            context_seq,
            record.previous_response_id,
            record.data,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2].id for r in rows],
            [r[2].data for r in rows],
        )

    async def response_data(self, owner_key: str, response_id: str) -> bytes | None:
        data: bytes | None = await self._fetchval(
            "SELECT data FROM responses WHERE owner_id = $1 AND id = $2", owner_key, response_id
        )
        return data

    async def chain_of(
        self, owner_key: str, response_id: str
    ) -> list[tuple[str, str | None, int | None]]:
        rows = await self._fetch(
            """
            WITH RECURSIVE chain (id, previous, conversation_id, context_seq, depth) AS (
                SELECT id, previous_response_id, conversation_id, context_seq, 0
                FROM responses WHERE owner_id = $1 AND id = $2
                UNION ALL
                SELECT r.id, r.previous_response_id, r.conversation_id, r.context_seq,
                       c.depth + 1
                FROM chain c JOIN responses r ON r.owner_id = $1 AND r.id = c.previous)
            SELECT id, conversation_id, context_seq FROM chain ORDER BY depth
            """,
            owner_key,
            response_id,
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def chain_items(self, owner_key: str, response_ids: Sequence[str]) -> list[bytes]:
        rows = await self._fetch(
            "SELECT i.data FROM unnest($2::text[]) WITH ORDINALITY AS c(id, ord) "
            "JOIN response_items i ON i.owner_id = $1 AND i.response_id = c.id "
            "ORDER BY c.ord, i.part, i.n",
            owner_key,
            list(response_ids),
        )
        return [row[0] for row in rows]

    async def delete_response(self, owner_key: str, response_id: str) -> bool:
        status = await self._execute(
            f"""
            WITH i AS (DELETE FROM response_items WHERE owner_id = $1 AND response_id = $2
                       AND {IN_TIME.format("$3")})
            DELETE FROM responses WHERE owner_id = $1 AND id = $2 AND {IN_TIME.format("$3")}
            """,
            owner_key,
            response_id,
            self._write_by,
        )
        return affected(status) == 1

    async def response_page(
        self, owner_key: str, after: str | None, limit: int, order: Order
    ) -> list[tuple[str, bytes]] | None:
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        if after is not None:
            known = await self._fetchval(
                "SELECT true FROM responses WHERE owner_id = $1 AND id = $2", owner_key, after
            )
            if known is None:
                return None
            bound = "(SELECT position, id FROM responses WHERE owner_id = $1 AND id = $3)"
        else:
            bound = "(-1::bigint, $3)" if order == "asc" else "(4611686018427387904::bigint, $3)"
        rows = await self._fetch(
            f"SELECT id, data FROM responses WHERE owner_id = $1 "
            f"AND (position, id) {comparison} {bound} "
            f"ORDER BY position {direction}, id {direction} LIMIT $2",
            owner_key,
            limit,
            after or "",
        )
        return [(row[0], row[1]) for row in rows]

    async def input_item_page(
        self, owner_key: str, response_id: str, after: str | None, limit: int, order: Order
    ) -> list[tuple[str, bytes]] | None:
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        if after is None:
            start = 0 if order == "asc" else 2**31 - 1
        else:
            start = await self._fetchval(
                "SELECT min(n) FROM response_items WHERE owner_id = $1 AND response_id = $2 "
                "AND part = 0 AND id = $3",
                owner_key,
                response_id,
                after,
            )
            if start is None:
                return None
        rows = await self._fetch(
            "SELECT id, data FROM response_items WHERE owner_id = $1 AND response_id = $2 "
            f"AND part = 0 AND n {comparison} $3 ORDER BY n {direction} LIMIT $4",
            owner_key,
            response_id,
            start,
            limit,
        )
        return [(row[0], row[1]) for row in rows]

    # --- export / import -----------------------------------------------------------------------

    async def export_responses(
        self, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Columns]:
        rows: Sequence[Columns] = await self._fetch(
            f"SELECT {RESPONSE_COLUMNS} FROM responses "
            'WHERE (owner_id COLLATE "C", id COLLATE "C") > ($1, $2) '
            'ORDER BY owner_id COLLATE "C", id COLLATE "C" LIMIT $3',
            *(after or ("", "")),
            limit,
        )
        return rows

    async def export_response_items(self, owner_key: str, response_id: str) -> Sequence[Columns]:
        rows: Sequence[Columns] = await self._fetch(
            "SELECT part, id, data FROM response_items WHERE owner_id = $1 AND response_id = $2 "
            "ORDER BY part, n",
            owner_key,
            response_id,
        )
        return rows

    async def insert_responses(self, responses: list[ResponseRow]) -> None:
        self._count()
        await self._conn.executemany(
            f"INSERT INTO responses ({RESPONSE_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        await self._conn.executemany(
            "INSERT INTO response_items (owner_id, response_id, part, n, id, data) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (r.owner, r.id, part, n, item.id, bytes(item.data))
                for r in responses
                for part, items in ((INPUT, r.input_items), (OUTPUT, r.output_items))
                for n, item in enumerate(items, 1)
            ],
        )
