"""PostgreSQL's statements for the word index (``store/words.py`` says what each does)."""

from __future__ import annotations

from collections.abc import Collection

from .base import Connected

__all__ = ["WordSQL"]


class WordSQL(Connected):
    __slots__ = ()

    async def first_pending_seq(
        self, owner_key: str, conversation_id: str, *, lock: bool
    ) -> int | None:
        value = await self._fetchval(
            "SELECT next_seq - words_pending_items + 1 FROM conversations "
            "WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL"
            + (" FOR NO KEY UPDATE" if lock else ""),
            owner_key,
            conversation_id,
        )
        return None if value is None else int(value)

    async def live_texts_from(
        self, owner_key: str, conversation_id: str, first_seq: int
    ) -> list[str]:
        rows = await self._fetch(
            "SELECT search_text FROM items WHERE owner_id = $1 AND conversation_id = $2 "
            "AND seq >= $3 AND deleted_at IS NULL ORDER BY seq",
            owner_key,
            conversation_id,
            first_seq,
        )
        return [row[0] for row in rows]

    async def add_to_counts(
        self, owner_key: str, conversation_id: str, deltas: dict[str, int]
    ) -> None:
        await self._execute(
            "UPDATE conversation_words w SET items = w.items + t.n "
            "FROM unnest($3::text[], $4::int[]) AS t(word, n) "
            "WHERE w.owner_id = $1 AND w.conversation_id = $2 AND w.word = t.word",
            owner_key,
            conversation_id,
            list(deltas),
            list(deltas.values()),
        )

    async def counted_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> set[str]:
        rows = await self._fetch(
            "SELECT word FROM conversation_words WHERE owner_id = $1 "
            "AND conversation_id = $2 AND word = ANY($3::text[]) AND items > 0",
            owner_key,
            conversation_id,
            list(words),
        )
        return {row[0] for row in rows}

    async def drop_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> None:
        await self._execute(
            "DELETE FROM conversation_words WHERE owner_id = $1 AND conversation_id = $2 "
            "AND word = ANY($3::text[])",
            owner_key,
            conversation_id,
            list(words),
        )

    async def mark_folded(self, owner_key: str, conversation_id: str) -> None:
        await self._execute(
            "UPDATE conversations SET words_pending_items = 0, words_pending_chars = 0 "
            "WHERE owner_id = $1 AND id = $2",
            owner_key,
            conversation_id,
        )
