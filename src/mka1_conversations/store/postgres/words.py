"""PostgreSQL's statements for the word index (``store/words.py`` says what each does)."""

from __future__ import annotations

from collections.abc import Collection

from ..words import EXACT_WORD_COUNT
from .base import Connected

__all__ = ["WordSQL"]


class WordSQL(Connected):
    __slots__ = ()

    async def count_down_words(
        self, owner_key: str, conversation_id: str, counts: dict[str, int]
    ) -> None:
        words, holders = list(counts), list(counts.values())
        await self._execute(
            "DELETE FROM conversation_words w "
            "USING unnest($3::text[], $4::int[]) AS t(word, n) "
            "WHERE w.owner_id = $1 AND w.conversation_id = $2 AND w.word = t.word "
            "AND w.items < $5 AND w.items <= t.n",
            owner_key,
            conversation_id,
            words,
            holders,
            EXACT_WORD_COUNT,
        )
        await self._execute(
            "UPDATE conversation_words w SET items = w.items - t.n "
            "FROM unnest($3::text[], $4::int[]) AS t(word, n) "
            "WHERE w.owner_id = $1 AND w.conversation_id = $2 AND w.word = t.word "
            "AND w.items < $5",
            owner_key,
            conversation_id,
            words,
            holders,
            EXACT_WORD_COUNT,
        )

    async def words_past_count(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> set[str]:
        rows = await self._fetch(
            "SELECT word FROM conversation_words WHERE owner_id = $1 "
            "AND conversation_id = $2 AND word = ANY($3::text[]) AND items >= $4",
            owner_key,
            conversation_id,
            list(words),
            EXACT_WORD_COUNT,
        )
        return {row[0] for row in rows}

    async def live_search_texts(
        self, owner_key: str, conversation_id: str, *, after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        rows = await self._fetch(
            "SELECT seq, search_text FROM items WHERE owner_id = $1 AND conversation_id = $2 "
            "AND seq > $3 AND deleted_at IS NULL ORDER BY seq LIMIT $4",
            owner_key,
            conversation_id,
            after_seq,
            limit,
        )
        return [(row[0], row[1]) for row in rows]

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
