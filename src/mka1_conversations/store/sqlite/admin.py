"""SQLite's statements for API keys, the retention purge, readiness, export and import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
from .base import Connected

__all__ = ["AdminSQL"]

_encode = msgspec.json.Encoder().encode


class AdminSQL(Connected):
    __slots__ = ()
    dialect = "sqlite"

    # --- API keys ------------------------------------------------------------------------------

    async def account_for_key(self, key_hash: str) -> str | None:
        row = self._db.execute(
            "SELECT account FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,)
        ).fetchone()
        return None if row is None else str(row[0])

    async def insert_key(self, key_hash: str, account: str, name: str, *, now: int) -> None:
        self._db.execute(
            "INSERT INTO api_keys (key_hash, account, name, created_at) VALUES (?, ?, ?, ?)",
            (key_hash, account, name, now),
        )

    async def count_keys(self) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()[0]
        )

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = self._db.execute(
            "SELECT key_hash, account, name, created_at, last_used_at, revoked_at FROM api_keys "
            "ORDER BY created_at, key_hash"
        ).fetchall()
        return [ApiKeyRecord(*row) for row in rows]

    async def revoke_key(self, key_hash: str, *, now: int) -> bool:
        return (
            self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_hash = ? AND revoked_at IS NULL",
                (now, key_hash),
            ).rowcount
            == 1
        )

    async def record_key_use(self, last_used: dict[str, int]) -> None:
        self._db.executemany(
            "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) "
            "WHERE key_hash = ?",
            [(at, key_hash) for key_hash, at in last_used.items()],
        )

    # --- retention -----------------------------------------------------------------------------

    async def purge_items(self, deleted_before: int, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM items WHERE rowid IN (SELECT i.rowid FROM conversations c "
            "JOIN items i ON i.conversation_id = c.id WHERE c.deleted_at < ? LIMIT ?)",
            (deleted_before, limit),
        ).rowcount

    async def purge_words(self, deleted_before: int, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM conversation_words WHERE (conversation_id, word) IN "
            "(SELECT w.conversation_id, w.word FROM conversations c "
            "JOIN conversation_words w ON w.conversation_id = c.id "
            "WHERE c.deleted_at < ? LIMIT ?)",
            (deleted_before, limit),
        ).rowcount

    async def purge_conversations(self, deleted_before: int, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM conversations WHERE id IN (SELECT c.id FROM conversations c "
            "WHERE c.deleted_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM items i WHERE i.conversation_id = c.id) "
            "AND NOT EXISTS (SELECT 1 FROM conversation_words w "
            "WHERE w.conversation_id = c.id) LIMIT ?)",
            (deleted_before, limit),
        ).rowcount

    # --- readiness -----------------------------------------------------------------------------

    async def ping(self) -> None:
        self._db.execute("SELECT 1").fetchone()

    async def applied_migrations(self) -> list[int]:
        return [row[0] for row in self._db.execute("SELECT version FROM schema_migrations")]

    # --- export / import -----------------------------------------------------------------------

    async def export_api_keys(self) -> Sequence[Columns]:
        rows: Sequence[Columns] = self._db.execute(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY key_hash"
        ).fetchall()
        return rows

    async def export_conversations(
        self, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Columns]:
        rows: Sequence[Columns] = self._db.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations "
            "WHERE (owner_id, id) > (?, ?) ORDER BY owner_id, id LIMIT ?",
            (*(after or ("", "")), limit),
        ).fetchall()
        return rows

    async def export_items(self, owner_key: str, conversation_id: str) -> Sequence[Columns]:
        rows: Sequence[Columns] = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,),
        ).fetchall()
        return rows

    async def insert_rows(
        self,
        keys: list[ApiKeyRow],
        conversations: list[ConversationRow],
        items: list[ItemRow],
        words: list[tuple[str, str, str, int]],
    ) -> None:
        db = self._db
        db.executemany(
            "INSERT INTO api_keys (key_hash, account, name, created_at, last_used_at, "
            "revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (k.key_hash, k.account, k.name, k.created_at, k.last_used_at, k.revoked_at)
                for k in keys
            ],
        )
        db.executemany(
            "INSERT INTO conversations (id, owner_id, created_at, updated_at, deleted_at, "
            "metadata, next_seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.id,
                    c.owner,
                    c.created_at,
                    c.updated_at,
                    c.deleted_at,
                    _encode(c.metadata),
                    c.next_seq,
                )
                for c in conversations
            ],
        )
        db.executemany(
            "INSERT INTO conversation_metadata (conversation_id, owner_id, key, value) "
            "VALUES (?, ?, ?, ?)",
            [(c.id, c.owner, k, v) for c in conversations for k, v in c.metadata.items()],
        )
        db.executemany(
            "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, "
            "deleted_at, data, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i.owner,
                    i.conversation_id,
                    i.seq,
                    i.id,
                    i.type,
                    i.created_at,
                    i.deleted_at,
                    i.stored_data,
                    i.search_text,
                )
                for i in items
            ],
        )
        params: list[tuple[Any, ...]] = [
            (conversation_id, word, owner, n) for owner, conversation_id, word, n in words
        ]
        db.executemany(
            "INSERT INTO conversation_words (conversation_id, word, owner_id, items) "
            "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (conversation_id, word) DO UPDATE "
            "SET items = items + excluded.items",
            params,
        )
