"""PostgreSQL's statements for conversations and their items (``store/conversations.py`` and
``store/items.py`` say what each does).

A creation and an append are one statement each: a CTE moves the conversation (bumping its
``next_seq`` counter, which holds its row lock to commit) and inserts the block of items
numbered from it, with their words (``store/words.py`` says how they are counted), so concurrent
appends from any number of processes get one total, gap-free order. Item JSON is text, returned
verbatim; metadata is jsonb.

Every statement that moves a conversation first bumps its owner's clock row (``owner_clocks``,
migration 0007), held until commit, and takes the new position from it: positions are handed
out in commit order, which listing snapshots rely on (``store/listing.py``). It records the move
(``conversation_moves``) and drops the conversation's moves older than ``MOVES_KEPT_US`` in the
same statement. ``citus.py`` sends the same writes as several single-shard statements.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import msgspec

from ...domain.conversations import ConversationRecord
from ...domain.items import NewItem
from ...domain.store import Order
from ...domain.usage import UsageMark
from .base import CONVERSATION_COLUMNS, IN_TIME, MOVES_KEPT_US, Connected, now_us, record
from .sharing import USAGE_CTE

__all__ = [
    "CLOCK_BUMP",
    "CLOCK_UPSERT",
    "MOVE",
    "PRUNE_MOVES",
    "ConversationSQL",
    "item_columns",
    "usage_marks",
]

CLOCK_UPSERT = (
    "INSERT INTO owner_clocks (owner_id, position) VALUES ($1, {now}) "
    "ON CONFLICT (owner_id) DO UPDATE "
    "SET position = greatest(owner_clocks.position + 1, EXCLUDED.position) RETURNING position"
)
"""The owner's next position (its clock row made on its first conversation), ``{now}`` the
placeholder of the server's clock: the row stays locked until commit."""

CLOCK_BUMP = (
    "UPDATE owner_clocks SET position = greatest(position + 1, {now}) "
    "WHERE owner_id = $1 RETURNING position"
)
"""The same for an owner that has a conversation (so a clock row)."""

PRUNE_MOVES = (
    "DELETE FROM conversation_moves WHERE owner_id = $1 AND conversation_id = $2 "
    f"AND to_position < {{now}} - {MOVES_KEPT_US}"
)

MOVE = (
    "UPDATE conversations c SET moved_from = c.updated_at, updated_at = p.position{set} "
    "FROM p WHERE c.owner_id = $1 AND c.id = $2 AND c.deleted_at IS NULL AND {guard} "
    "RETURNING {returning}"
)
"""Move the live conversation ``$2`` of ``$1`` to the position in CTE ``p``, keeping where it
was in ``moved_from``."""

_encode = msgspec.json.Encoder().encode


def usage_marks(usage: UsageMark) -> tuple[object, ...]:
    return (usage.owner_key, usage.minute, usage.api_key_id, usage.account, usage.end_user)


def item_columns(items: Sequence[NewItem]) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        [it.id for it in items],
        [it.type for it in items],
        [it.data.decode() for it in items],
        [it.search_text for it in items],
    )


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
        counted = ""
        marks: tuple[object, ...] = ()
        if usage is not None:
            counted = (
                USAGE_CTE.format(
                    owner="$14",
                    minute="$15",
                    key="$16",
                    account="$17",
                    end_user="$18",
                    created="1",
                    items="$5",
                )
                + ","
            )
            marks = usage_marks(usage)
        await self._execute(
            f"""
            WITH p AS ({CLOCK_UPSERT.format(now="$13")}),
            c AS (
                INSERT INTO conversations (owner_id, id, created_at, updated_at, metadata, next_seq)
                SELECT $1, $2, $3, p.position, $4::jsonb, $5 FROM p WHERE {IN_TIME.format("$12")}
                RETURNING id),{counted}
            i AS (
                INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, data,
                                   search_text)
                SELECT $1, c.id, t.ord, t.id, t.type, $3, t.data, t.txt
                FROM c, unnest($6::text[], $7::text[], $8::text[], $9::text[])
                     WITH ORDINALITY AS t(id, type, data, txt, ord))
            INSERT INTO conversation_words (owner_id, conversation_id, word, items)
            SELECT $1, c.id, w.word, w.n
            FROM c, unnest($10::text[], $11::int[]) AS w(word, n)
            """,
            owner_key,
            conversation_id,
            now,
            _encode(metadata).decode(),
            len(items),
            *item_columns(items),
            list(words),
            list(words.values()),
            self._write_by,
            now_us(),
            *marks,
        )

    async def get_conversation(
        self, owner_key: str, conversation_id: str
    ) -> ConversationRecord | None:
        row = await self._fetchrow(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations "
            "WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL",
            owner_key,
            conversation_id,
        )
        return None if row is None else record(row)

    async def update_metadata(
        self, owner_key: str, conversation_id: str, metadata: dict[str, str]
    ) -> ConversationRecord | None:
        row = await self._fetchrow(
            f"WITH p AS ({CLOCK_BUMP.format(now='$5')}), d AS ({PRUNE_MOVES.format(now='$5')}), "
            "c AS ("
            + MOVE.format(
                set=", metadata = $3::jsonb",
                guard=IN_TIME.format("$4"),
                returning="c.id, c.created_at, c.deleted_at, c.metadata::text, "
                "c.moved_from, c.updated_at",
            )
            + "), m AS (INSERT INTO conversation_moves "
            "(owner_id, conversation_id, from_position, to_position) "
            "SELECT $1, $2, moved_from, updated_at FROM c) "
            "SELECT id, created_at, deleted_at, metadata FROM c",
            owner_key,
            conversation_id,
            _encode(metadata).decode(),
            self._write_by,
            now_us(),
        )
        return None if row is None else record(row)

    async def mark_deleted(self, owner_key: str, conversation_id: str, *, now: int) -> bool:
        status = await self._execute(
            "UPDATE conversations SET deleted_at = $3 "
            f"WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL AND {IN_TIME.format('$4')}",
            owner_key,
            conversation_id,
            now,
            self._write_by,
        )
        return status == "UPDATE 1"

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
        counted = ""
        marks: tuple[object, ...] = ()
        if usage is not None:
            counted = "," + USAGE_CTE.format(
                owner="$13",
                minute="$14",
                key="$15",
                account="$16",
                end_user="$17",
                created="0",
                items="$3",
            )
            marks = usage_marks(usage)
        move = MOVE.format(
            set=", next_seq = c.next_seq + $3, "
            "words_pending_items = c.words_pending_items + $3, "
            "words_pending_chars = c.words_pending_chars + $10",
            guard=IN_TIME.format("$11"),
            returning="c.next_seq, c.words_pending_items, c.words_pending_chars, "
            "c.moved_from, c.updated_at",
        )
        row = await self._fetchrow(
            f"""
            WITH p AS ({CLOCK_BUMP.format(now="$12")}), d AS ({PRUNE_MOVES.format(now="$12")}),
            c AS ({move}),
            m AS (
                INSERT INTO conversation_moves
                    (owner_id, conversation_id, from_position, to_position)
                SELECT $1, $2, moved_from, updated_at FROM c),
            i AS (
                INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, data,
                                   search_text)
                SELECT $1, $2, c.next_seq - $3 + t.ord, t.id, t.type, $4, t.data, t.txt
                FROM c, unnest($5::text[], $6::text[], $7::text[], $8::text[])
                     WITH ORDINALITY AS t(id, type, data, txt, ord)),
            w AS (
                INSERT INTO conversation_words (owner_id, conversation_id, word, items)
                SELECT $1, $2, w.word, 0 FROM c, unnest($9::text[]) AS w(word)
                ON CONFLICT (owner_id, conversation_id, word) DO NOTHING){counted}
            SELECT words_pending_items, words_pending_chars FROM c
            """,
            owner_key,
            conversation_id,
            len(items),
            now,
            *item_columns(items),
            list(words),
            sum(len(it.search_text) for it in items),
            self._write_by,
            now_us(),
            *marks,
        )
        return None if row is None else (row[0], row[1])

    async def live_item_ids(
        self, owner_key: str, conversation_id: str, ids: Sequence[str]
    ) -> set[str]:
        rows = await self._fetch(
            "SELECT id FROM items WHERE owner_id = $1 AND conversation_id = $2 "
            "AND deleted_at IS NULL AND id = ANY($3::text[])",
            owner_key,
            conversation_id,
            list(ids),
        )
        return {row[0] for row in rows}

    async def item_page(
        self,
        owner_key: str,
        conversation_id: str,
        after: str | None,
        limit: int,
        order: Order,
        max_bytes: int,
    ) -> list[tuple[str, bytes | None]]:
        """One statement: the page's rows (up to ``limit``), their running total of
        ``octet_length(data)`` (read from a TOAST pointer, not the value), and the data only of
        those ``within_bytes`` keeps: the first, and each up to where the total passes
        ``max_bytes``. A value that is not returned is never read from TOAST."""
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        if after is None:
            bound = "0" if order == "asc" else str(1 << 62)
        else:
            # An id deleted and created again names its first place in this order (items.py).
            # No such id: NULL, so no rows.
            bound = (
                "(SELECT " + ("min" if order == "asc" else "max") + "(seq) FROM items "
                "WHERE owner_id = $1 AND conversation_id = $2 AND id = $5)"
            )
        sql = (
            "SELECT id, CASE WHEN n = 1 OR total <= $4 THEN data END FROM ("
            "SELECT p.seq, p.id, p.data, "
            f"row_number() OVER (ORDER BY p.seq {direction}) AS n, "
            f"sum(octet_length(p.data)) OVER (ORDER BY p.seq {direction} "
            "ROWS UNBOUNDED PRECEDING) AS total "
            "FROM (SELECT i.seq, i.id, i.data FROM items i "
            "WHERE i.owner_id = $1 AND i.conversation_id = $2 AND i.deleted_at IS NULL "
            f"AND i.seq {comparison} {bound} "
            "AND EXISTS (SELECT 1 FROM conversations WHERE owner_id = $1 AND id = $2 "
            "AND deleted_at IS NULL) "
            f"ORDER BY i.seq {direction} LIMIT $3) p) s "
            f"ORDER BY seq {direction}"
        )
        args = (
            (owner_key, conversation_id, limit, max_bytes)
            if after is None
            else (owner_key, conversation_id, limit, max_bytes, after)
        )
        rows = await self._fetch(sql, *args)
        return [(row[0], None if row[1] is None else row[1].encode()) for row in rows]

    async def explain_empty_page(
        self, owner_key: str, conversation_id: str, after: str | None
    ) -> tuple[bool, bool]:
        row = await self._fetchrow(
            "SELECT (SELECT 1 FROM conversations WHERE owner_id = $1 AND id = $2 "
            "AND deleted_at IS NULL), "
            "(SELECT 1 FROM items WHERE owner_id = $1 AND conversation_id = $2 AND id = $3 "
            "LIMIT 1)",
            owner_key,
            conversation_id,
            after or "",
        )
        assert row is not None  # a SELECT of two scalar subqueries has one row
        return row[0] is not None, row[1] is not None

    async def get_item(
        self, owner_key: str, conversation_id: str, item_id: str
    ) -> tuple[bool, bytes | None]:
        row = await self._fetchrow(
            "SELECT c.id, i.data FROM conversations c LEFT JOIN items i "
            "ON i.owner_id = c.owner_id AND i.conversation_id = c.id AND i.id = $3 "
            "AND i.deleted_at IS NULL "
            "WHERE c.owner_id = $1 AND c.id = $2 AND c.deleted_at IS NULL",
            owner_key,
            conversation_id,
            item_id,
        )
        if row is None:
            return False, None
        data: str | None = row[1]
        return True, None if data is None else data.encode()

    async def touch_conversation(
        self, owner_key: str, conversation_id: str
    ) -> ConversationRecord | None:
        row = await self._fetchrow(
            f"WITH p AS ({CLOCK_BUMP.format(now='$4')}), d AS ({PRUNE_MOVES.format(now='$4')}), "
            "c AS ("
            + MOVE.format(
                set="",
                guard=IN_TIME.format("$3"),
                returning="c.id, c.created_at, c.deleted_at, c.metadata::text, "
                "c.moved_from, c.updated_at",
            )
            + "), m AS (INSERT INTO conversation_moves "
            "(owner_id, conversation_id, from_position, to_position) "
            "SELECT $1, $2, moved_from, updated_at FROM c) "
            "SELECT id, created_at, deleted_at, metadata FROM c",
            owner_key,
            conversation_id,
            self._write_by,
            now_us(),
        )
        return None if row is None else record(row)

    async def live_search_texts_of(
        self, owner_key: str, conversation_id: str, ids: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        rows = await self._fetch(
            "SELECT id, seq, search_text FROM items WHERE owner_id = $1 "
            "AND conversation_id = $2 AND deleted_at IS NULL AND id = ANY($3::text[])",
            owner_key,
            conversation_id,
            list(ids),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def blank_items(
        self, owner_key: str, conversation_id: str, ids: Sequence[str], *, now: int
    ) -> None:
        await self._execute(
            "UPDATE items SET deleted_at = $4, data = '', search_text = '' "
            "WHERE owner_id = $1 AND conversation_id = $2 AND deleted_at IS NULL "
            "AND id = ANY($3::text[])",
            owner_key,
            conversation_id,
            list(ids),
            now,
        )
