"""SQLite's statements for conversations and their items (``store/conversations.py`` and
``store/items.py`` say what each does). Item JSON is stored as a BLOB and returned as stored;
metadata pairs also go into a side table, so filters use an index; a creation or an append
writes its items' words in one statement over a JSON value (``store/words.py`` says how they
are counted)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import msgspec

from ...domain.conversations import ConversationRecord
from ...domain.items import NewItem
from ...domain.store import Order
from ...domain.usage import UsageMark
from ..items import within_bytes
from .base import CONVERSATION_COLUMNS, Connected, now_us, record
from .sharing import count_write

__all__ = ["ConversationSQL"]

_encode = msgspec.json.Encoder().encode


def _marks(values: Collection[object]) -> str:
    return ",".join("?" * len(values))


class ConversationSQL(Connected):
    __slots__ = ()

    # --- conversations -------------------------------------------------------------------------

    async def insert_conversation(
        self,
        owner_key: str,
        conversation_id: str,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        words: dict[str, int],
        *,
        now: int,
        usage: UsageMark | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO conversations (id, owner_id, created_at, updated_at, metadata, "
            "next_seq) VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, owner_key, now, now_us(), _encode(metadata), len(items)),
        )
        self._write_metadata(owner_key, conversation_id, metadata)
        self.insert_items(owner_key, conversation_id, items, words, first_seq=1, now=now)
        if usage is not None:
            count_write(self._db, usage, 1, len(items))

    async def get_conversation(
        self, owner_key: str, conversation_id: str
    ) -> ConversationRecord | None:
        row = self._db.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations "
            "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL",
            (conversation_id, owner_key),
        ).fetchone()
        return None if row is None else record(row)

    async def update_metadata(
        self, owner_key: str, conversation_id: str, metadata: dict[str, str]
    ) -> ConversationRecord | None:
        row = self._db.execute(
            "UPDATE conversations SET metadata = ?, updated_at = ? "
            "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL "
            f"RETURNING {CONVERSATION_COLUMNS}",
            (
                _encode(metadata),
                self._new_position(owner_key, conversation_id),
                conversation_id,
                owner_key,
            ),
        ).fetchone()
        if row is None:
            return None
        self._db.execute(
            "DELETE FROM conversation_metadata WHERE conversation_id = ?", (conversation_id,)
        )
        self._write_metadata(owner_key, conversation_id, metadata)
        return record(row)

    async def mark_deleted(self, owner_key: str, conversation_id: str, *, now: int) -> bool:
        return (
            self._db.execute(
                "UPDATE conversations SET deleted_at = ? "
                "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL",
                (now, conversation_id, owner_key),
            ).rowcount
            == 1
        )

    def _write_metadata(
        self, owner_key: str, conversation_id: str, metadata: dict[str, str]
    ) -> None:
        if metadata:
            self._db.executemany(
                "INSERT INTO conversation_metadata (conversation_id, owner_id, key, value) "
                "VALUES (?, ?, ?, ?)",
                [(conversation_id, owner_key, k, v) for k, v in metadata.items()],
            )

    # --- items ---------------------------------------------------------------------------------

    async def append_items(
        self,
        owner_key: str,
        conversation_id: str,
        items: Sequence[NewItem],
        words: Collection[str],
        *,
        now: int,
        usage: UsageMark | None = None,
    ) -> tuple[int, int] | None:
        text_chars = sum(len(it.search_text) for it in items)
        row = self._db.execute(
            "UPDATE conversations SET next_seq = next_seq + ?1, updated_at = ?2, "
            "words_pending_items = words_pending_items + ?1, "
            "words_pending_chars = words_pending_chars + ?3 "
            "WHERE id = ?4 AND owner_id = ?5 AND deleted_at IS NULL "
            "RETURNING next_seq, words_pending_items, words_pending_chars",
            (
                len(items),
                self._new_position(owner_key, conversation_id),
                text_chars,
                conversation_id,
                owner_key,
            ),
        ).fetchone()
        if row is None:
            return None
        first_seq = row[0] - len(items) + 1
        self._insert_item_rows(owner_key, conversation_id, items, first_seq=first_seq, now=now)
        if words:
            # A probe per word; a row is written only for a word the conversation lacks.
            self._db.execute(
                "INSERT INTO conversation_words (conversation_id, word, owner_id, items) "
                "SELECT ?1, value, ?2, 0 FROM json_each(?3) WHERE true "
                "ON CONFLICT (conversation_id, word) DO NOTHING",
                (conversation_id, owner_key, _encode(list(words))),
            )
        if usage is not None:
            count_write(self._db, usage, 0, len(items))
        return row[1], row[2]

    def insert_items(
        self,
        owner_key: str,
        conversation_id: str,
        items: Sequence[NewItem],
        words: dict[str, int],
        *,
        first_seq: int,
        now: int,
    ) -> None:
        """Write ``items`` numbered from ``first_seq``, with their ``words`` counted (the part
        of a creation after the conversation row; also what the benchmark's loader writes
        with)."""
        self._insert_item_rows(owner_key, conversation_id, items, first_seq=first_seq, now=now)
        if words:  # one statement over a JSON object of counts (cheaper than a row per word)
            self._db.execute(
                "INSERT INTO conversation_words (conversation_id, word, owner_id, items) "
                "SELECT ?1, key, ?2, value FROM json_each(?3) WHERE true "
                "ON CONFLICT (conversation_id, word) DO UPDATE "
                "SET items = items + excluded.items",
                (conversation_id, owner_key, _encode(words)),
            )

    def _insert_item_rows(
        self,
        owner_key: str,
        conversation_id: str,
        items: Sequence[NewItem],
        *,
        first_seq: int,
        now: int,
    ) -> None:
        self._db.executemany(
            "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, data, "
            "search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    owner_key,
                    conversation_id,
                    first_seq + n,
                    it.id,
                    it.type,
                    now,
                    it.data,
                    it.search_text,
                )
                for n, it in enumerate(items)
            ],
        )

    async def live_item_ids(
        self, owner_key: str, conversation_id: str, ids: Sequence[str]
    ) -> set[str]:
        return {
            row[0]
            for row in self._db.execute(
                "SELECT id FROM items WHERE conversation_id = ? AND deleted_at IS NULL "
                f"AND id IN ({_marks(ids)}) AND owner_id = ?",
                (conversation_id, *ids, owner_key),
            )
        }

    async def item_page(
        self,
        owner_key: str,
        conversation_id: str,
        after: str | None,
        limit: int,
        order: Order,
        max_bytes: int,
    ) -> list[tuple[str, bytes | None]]:
        """One statement, its rows read one by one and no further than ``within_bytes``
        keeps (a row past the ceiling is the last read)."""
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        args: list[object]
        if after is None:
            bound, args = "?", [0 if order == "asc" else 1 << 62]
        else:
            # An id deleted and created again names its first place in this order (items.py).
            # No such id: NULL, so no rows.
            bound = (
                "(SELECT " + ("min" if order == "asc" else "max") + "(seq) FROM items "
                "WHERE conversation_id = ? AND id = ?)"
            )
            args = [conversation_id, after]
        rows = self._db.execute(
            "SELECT id, data FROM items "
            f"WHERE conversation_id = ? AND seq {comparison} {bound} "
            "AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM conversations WHERE id = ? "
            "AND owner_id = ? AND deleted_at IS NULL) "
            f"ORDER BY seq {direction} LIMIT ?",
            (conversation_id, *args, conversation_id, owner_key, limit),
        )
        try:
            return within_bytes(rows, max_bytes)
        finally:
            rows.close()

    async def explain_empty_page(
        self, owner_key: str, conversation_id: str, after: str | None
    ) -> tuple[bool, bool]:
        visible, known = self._db.execute(
            "SELECT (SELECT 1 FROM conversations WHERE id = ? AND owner_id = ? "
            "AND deleted_at IS NULL), "
            "(SELECT 1 FROM items WHERE conversation_id = ? AND id = ? LIMIT 1)",
            (conversation_id, owner_key, conversation_id, after or ""),
        ).fetchone()
        return visible is not None, known is not None

    async def get_item(
        self, owner_key: str, conversation_id: str, item_id: str
    ) -> tuple[bool, bytes | None]:
        row = self._db.execute(
            "SELECT c.id, i.data FROM conversations c LEFT JOIN items i "
            "ON i.conversation_id = c.id AND i.id = ? AND i.deleted_at IS NULL "
            "WHERE c.id = ? AND c.owner_id = ? AND c.deleted_at IS NULL",
            (item_id, conversation_id, owner_key),
        ).fetchone()
        if row is None:
            return False, None
        data: bytes | str | None = row[1]
        return True, data.encode() if isinstance(data, str) else data

    async def touch_conversation(
        self, owner_key: str, conversation_id: str
    ) -> ConversationRecord | None:
        row = self._db.execute(
            "UPDATE conversations SET updated_at = ? "
            "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL "
            f"RETURNING {CONVERSATION_COLUMNS}",
            (self._new_position(owner_key, conversation_id), conversation_id, owner_key),
        ).fetchone()
        return None if row is None else record(row)

    async def live_search_texts_of(
        self, owner_key: str, conversation_id: str, ids: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        return {
            row[0]: (row[1], row[2])
            for row in self._db.execute(
                "SELECT id, seq, search_text FROM items WHERE conversation_id = ? "
                f"AND deleted_at IS NULL AND id IN ({_marks(ids)})",
                (conversation_id, *ids),
            )
        }

    async def blank_items(
        self, owner_key: str, conversation_id: str, ids: Sequence[str], *, now: int
    ) -> None:
        self._db.execute(
            "UPDATE items SET deleted_at = ?, data = '', search_text = '' "
            f"WHERE conversation_id = ? AND deleted_at IS NULL AND id IN ({_marks(ids)})",
            (now, conversation_id, *ids),
        )
