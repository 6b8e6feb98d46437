"""PostgreSQL's statements for API keys, the retention purge, readiness, export and import."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ...domain.store import ApiKeyRecord
from ..transfer import (
    API_KEY_COLUMNS,
    CONVERSATION_COLUMNS,
    ITEM_COLUMNS,
    ApiKeyRow,
    Columns,
    ConversationRow,
    ItemRow,
)
from .base import Connected, affected

__all__ = ["AdminSQL"]

_encode = msgspec.json.Encoder().encode


class AdminSQL(Connected):
    __slots__ = ()
    dialect = "postgres"

    # --- API keys ------------------------------------------------------------------------------

    async def account_for_key(self, key_hash: str) -> str | None:
        account: str | None = await self._fetchval(
            "SELECT account FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", key_hash
        )
        return account

    async def insert_key(self, key_hash: str, account: str, name: str, *, now: int) -> None:
        await self._execute(
            "INSERT INTO api_keys (key_hash, account, name, created_at) VALUES ($1, $2, $3, $4)",
            key_hash,
            account,
            name,
            now,
        )

    async def count_keys(self) -> int:
        count: int = await self._fetchval("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
        return count

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self._fetch(
            "SELECT key_hash, account, name, created_at, last_used_at, revoked_at FROM api_keys "
            'ORDER BY created_at, key_hash COLLATE "C"'
        )
        return [ApiKeyRecord(*row) for row in rows]

    async def revoke_key(self, key_hash: str, *, now: int) -> bool:
        status = await self._execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE key_hash = $1 AND revoked_at IS NULL",
            key_hash,
            now,
        )
        return status == "UPDATE 1"

    async def record_key_use(self, last_used: dict[str, int]) -> None:
        await self._execute(
            "UPDATE api_keys k SET last_used_at = GREATEST(coalesce(k.last_used_at, 0), u.at) "
            "FROM unnest($1::text[], $2::bigint[]) AS u(key_hash, at) "
            "WHERE k.key_hash = u.key_hash",
            list(last_used),
            list(last_used.values()),
        )

    # --- retention -----------------------------------------------------------------------------

    async def purge_items(self, deleted_before: int, limit: int) -> int:
        return affected(
            await self._execute(
                "DELETE FROM items i USING (SELECT i2.owner_id, i2.conversation_id, i2.seq "
                "FROM conversations c JOIN items i2 "
                "ON i2.owner_id = c.owner_id AND i2.conversation_id = c.id "
                "WHERE c.deleted_at < $1 LIMIT $2) d "
                "WHERE i.owner_id = d.owner_id AND i.conversation_id = d.conversation_id "
                "AND i.seq = d.seq",
                deleted_before,
                limit,
            )
        )

    async def purge_words(self, deleted_before: int, limit: int) -> int:
        return affected(
            await self._execute(
                "DELETE FROM conversation_words w USING (SELECT w2.owner_id, "
                "w2.conversation_id, w2.word FROM conversations c JOIN conversation_words w2 "
                "ON w2.owner_id = c.owner_id AND w2.conversation_id = c.id "
                "WHERE c.deleted_at < $1 LIMIT $2) d "
                "WHERE w.owner_id = d.owner_id AND w.conversation_id = d.conversation_id "
                "AND w.word = d.word",
                deleted_before,
                limit,
            )
        )

    async def purge_conversations(self, deleted_before: int, limit: int) -> int:
        return affected(
            await self._execute(
                "DELETE FROM conversations c USING (SELECT c2.owner_id, c2.id "
                "FROM conversations c2 WHERE c2.deleted_at < $1 "
                "AND NOT EXISTS (SELECT 1 FROM items i WHERE i.owner_id = c2.owner_id "
                "AND i.conversation_id = c2.id) "
                "AND NOT EXISTS (SELECT 1 FROM conversation_words w "
                "WHERE w.owner_id = c2.owner_id AND w.conversation_id = c2.id) LIMIT $2) d "
                "WHERE c.owner_id = d.owner_id AND c.id = d.id",
                deleted_before,
                limit,
            )
        )

    # --- readiness -----------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._fetchval("SELECT 1")

    async def applied_migrations(self) -> list[int]:
        return [row[0] for row in await self._fetch("SELECT version FROM schema_migrations")]

    # --- export / import -----------------------------------------------------------------------

    async def export_api_keys(self) -> Sequence[Columns]:
        rows = await self._fetch(
            f'SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY key_hash COLLATE "C"'
        )
        return rows

    async def export_conversations(
        self, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Columns]:
        owner, conversation = after or ("", "")
        rows = await self._fetch(
            f"SELECT {CONVERSATION_COLUMNS.replace('metadata', 'metadata::text')} "
            'FROM conversations WHERE (owner_id COLLATE "C", id COLLATE "C") > ($1, $2) '
            'ORDER BY owner_id COLLATE "C", id COLLATE "C" LIMIT $3',
            owner,
            conversation,
            limit,
        )
        return rows

    async def export_items(self, owner_key: str, conversation_id: str) -> Sequence[Columns]:
        rows = await self._fetch(
            f"SELECT {ITEM_COLUMNS} FROM items "
            "WHERE owner_id = $1 AND conversation_id = $2 ORDER BY seq",
            owner_key,
            conversation_id,
        )
        return rows

    async def insert_rows(
        self,
        keys: list[ApiKeyRow],
        conversations: list[ConversationRow],
        items: list[ItemRow],
        words: list[tuple[str, str, str, int]],
    ) -> None:
        conn = self._conn
        self._count()
        await conn.copy_records_to_table(
            "api_keys",
            records=[
                (k.key_hash, k.account, k.name, k.created_at, k.last_used_at, k.revoked_at)
                for k in keys
            ],
            columns=["key_hash", "account", "name", "created_at", "last_used_at", "revoked_at"],
        )
        await conn.copy_records_to_table(
            "conversations",
            records=[
                (
                    c.owner,
                    c.id,
                    c.created_at,
                    c.updated_at,
                    c.deleted_at,
                    _encode(c.metadata).decode(),
                    c.next_seq,
                )
                for c in conversations
            ],
            columns=[
                "owner_id",
                "id",
                "created_at",
                "updated_at",
                "deleted_at",
                "metadata",
                "next_seq",
            ],
        )
        await conn.execute(
            "INSERT INTO owner_clocks (owner_id, position) "
            "SELECT o, max(p) FROM unnest($1::text[], $2::bigint[]) AS t(o, p) GROUP BY o "
            "ON CONFLICT (owner_id) DO UPDATE "
            "SET position = greatest(owner_clocks.position, EXCLUDED.position)",
            [c.owner for c in conversations],
            [c.updated_at for c in conversations],
        )
        await conn.copy_records_to_table(
            "items",
            records=[
                (
                    i.owner,
                    i.conversation_id,
                    i.seq,
                    i.id,
                    i.type,
                    i.created_at,
                    i.deleted_at,
                    i.stored_data.decode(),
                    i.search_text,
                )
                for i in items
            ],
            columns=[
                "owner_id",
                "conversation_id",
                "seq",
                "id",
                "type",
                "created_at",
                "deleted_at",
                "data",
                "search_text",
            ],
        )
        await conn.execute(
            "INSERT INTO conversation_words (owner_id, conversation_id, word, items) "
            "SELECT o, c, w, n FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::int[]) AS t(o, c, w, n) "
            "ON CONFLICT (owner_id, conversation_id, word) "
            "DO UPDATE SET items = conversation_words.items + EXCLUDED.items",
            [w[0] for w in words],
            [w[1] for w in words],
            [w[2] for w in words],
            [w[3] for w in words],
        )
