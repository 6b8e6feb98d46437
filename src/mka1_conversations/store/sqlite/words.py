"""SQLite's statements for the word index (``store/words.py`` says what each does)."""

from __future__ import annotations

from collections.abc import Collection

import msgspec

from .base import Connected

__all__ = ["WordSQL"]

_encode = msgspec.json.Encoder().encode


class WordSQL(Connected):
    __slots__ = ()

    async def first_pending_seq(
        self, owner_key: str, conversation_id: str, *, lock: bool
    ) -> int | None:
        # Every write holds the database (BEGIN IMMEDIATE): ``lock`` has nothing to add.
        row = self._db.execute(
            "SELECT next_seq - words_pending_items + 1 FROM conversations "
            "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL",
            (conversation_id, owner_key),
        ).fetchone()
        return None if row is None else int(row[0])

    async def live_texts_from(
        self, owner_key: str, conversation_id: str, first_seq: int
    ) -> list[str]:
        return [
            row[0]
            for row in self._db.execute(
                "SELECT search_text FROM items WHERE conversation_id = ? AND seq >= ? "
                "AND deleted_at IS NULL ORDER BY seq",
                (conversation_id, first_seq),
            )
        ]

    async def add_to_counts(
        self, owner_key: str, conversation_id: str, deltas: dict[str, int]
    ) -> None:
        self._db.executemany(
            "UPDATE conversation_words SET items = items + ? WHERE conversation_id = ? "
            "AND word = ?",
            [(n, conversation_id, word) for word, n in deltas.items()],
        )

    async def counted_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> set[str]:
        return {
            row[0]
            for row in self._db.execute(
                "SELECT word FROM conversation_words WHERE conversation_id = ? AND items > 0 "
                "AND word IN (SELECT value FROM json_each(?))",
                (conversation_id, _encode(list(words))),
            )
        }

    async def drop_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> None:
        self._db.executemany(
            "DELETE FROM conversation_words WHERE conversation_id = ? AND word = ?",
            [(conversation_id, w) for w in words],
        )

    async def mark_folded(self, owner_key: str, conversation_id: str) -> None:
        self._db.execute(
            "UPDATE conversations SET words_pending_items = 0, words_pending_chars = 0 "
            "WHERE id = ? AND owner_id = ?",
            (conversation_id, owner_key),
        )
