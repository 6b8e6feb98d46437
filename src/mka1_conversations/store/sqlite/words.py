"""SQLite's statements for the word index (``store/words.py`` says what each does)."""

from __future__ import annotations

from collections.abc import Collection

import msgspec

from ..words import EXACT_WORD_COUNT
from .base import Connected

__all__ = ["WordSQL"]

_encode = msgspec.json.Encoder().encode


class WordSQL(Connected):
    __slots__ = ()

    async def count_down_words(
        self, owner_key: str, conversation_id: str, counts: dict[str, int]
    ) -> None:
        self._db.executemany(
            "UPDATE conversation_words SET items = items - ? "
            "WHERE conversation_id = ? AND word = ? AND items < ?",
            [(n, conversation_id, w, EXACT_WORD_COUNT) for w, n in counts.items()],
        )
        self._db.executemany(
            "DELETE FROM conversation_words WHERE conversation_id = ? AND word = ? AND items <= 0",
            [(conversation_id, w) for w in counts],
        )

    async def words_past_count(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> set[str]:
        return {
            row[0]
            for row in self._db.execute(
                "SELECT word FROM conversation_words WHERE conversation_id = ? AND items >= ? "
                "AND word IN (SELECT value FROM json_each(?))",
                (conversation_id, EXACT_WORD_COUNT, _encode(list(words))),
            )
        }

    async def live_search_texts(
        self, owner_key: str, conversation_id: str, *, after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = self._db.execute(
            "SELECT seq, search_text FROM items WHERE conversation_id = ? AND seq > ? "
            "AND deleted_at IS NULL ORDER BY seq LIMIT ?",
            (conversation_id, after_seq, limit),
        ).fetchall()
        return rows

    async def drop_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> None:
        self._db.executemany(
            "DELETE FROM conversation_words WHERE conversation_id = ? AND word = ?",
            [(conversation_id, w) for w in words],
        )
