"""Citus's statements: the PostgreSQL ones, except the writes that plain PostgreSQL sends as one
statement with ``INSERT`` CTEs, which Citus's router cannot plan. Each of those is sent here as
a few statements, each on one shard (every table they touch is distributed by ``owner_id`` and
co-located, and each statement names the owner), in one transaction (the backend opens one for
these rules even where they are marked ``one_statement``). No statement calls a VOLATILE
function: positions come from the owner's clock row and the server's clock (``conversations.py``),
the late-write guard is STABLE and Citus evaluates it on the coordinator.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import msgspec

from ...domain.conversations import ConversationRecord
from ...domain.items import NewItem
from ...domain.response_store import ResponseRecord
from ...domain.usage import UsageMark
from ..responses import INPUT, OUTPUT
from .base import CONVERSATION_COLUMNS, IN_TIME, now_us, record
from .conversations import (
    CLOCK_BUMP,
    CLOCK_UPSERT,
    MOVE,
    PRUNE_MOVES,
    item_columns,
    usage_marks,
)
from .statements import PostgresStatements

__all__ = ["CitusStatements"]

_encode = msgspec.json.Encoder().encode

_RECORD_MOVE = (
    "INSERT INTO conversation_moves (owner_id, conversation_id, from_position, to_position) "
    "SELECT owner_id, id, moved_from, updated_at FROM conversations "
    "WHERE owner_id = $1 AND id = $2"
)
"""The move just made (``MOVE`` kept where the conversation was), from its own row."""

_ITEMS = (
    "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, data, search_text) "
    "SELECT c.owner_id, c.id, c.next_seq - $3 + t.ord, t.id, t.type, $4, t.data, t.txt "
    "FROM conversations c, unnest($5::text[], $6::text[], $7::text[], $8::text[]) "
    "WITH ORDINALITY AS t(id, type, data, txt, ord) WHERE c.owner_id = $1 AND c.id = $2"
)
"""The block of ``$3`` items after the conversation's ``next_seq`` (already bumped): an INSERT …
SELECT from the co-located conversation, which Citus pushes down to its shard."""


_USAGE = (
    "INSERT INTO conversation_usage (owner_id, minute, api_key_id, account, end_user, "
    "conversations_created, items_added, operations) VALUES ($1, $2, $3, $4, $5, $6, $7, 1) "
    "ON CONFLICT (owner_id, minute, api_key_id) DO UPDATE SET "
    "conversations_created = conversation_usage.conversations_created "
    "+ excluded.conversations_created, "
    "items_added = conversation_usage.items_added + excluded.items_added, "
    "operations = conversation_usage.operations + 1"
)
"""The write's usage (``sharing.USAGE_CTE`` as a statement of its own): on the caller's shard,
which for a grantee is not the owner's (the transaction then spans two shards)."""


class CitusStatements(PostgresStatements):
    __slots__ = ()

    async def _count_usage(self, usage: UsageMark | None, created: int, items: int) -> None:
        if usage is not None:
            await self._execute(_USAGE, *usage_marks(usage), created, items)

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
        position = await self._fetchval(CLOCK_UPSERT.format(now="$2"), owner_key, now_us())
        await self._execute(
            "INSERT INTO conversations (owner_id, id, created_at, updated_at, metadata, next_seq) "
            f"VALUES ($1, $2, CASE WHEN {IN_TIME.format('$6')} THEN $3::bigint END, $4, "
            "$5::jsonb, $7)",
            owner_key,
            conversation_id,
            now,
            position,
            _encode(metadata).decode(),
            self._write_by,
            len(items),
        )
        if items:
            await self._execute(
                _ITEMS, owner_key, conversation_id, len(items), now, *item_columns(items)
            )
        if words:
            await self._execute(
                "INSERT INTO conversation_words (owner_id, conversation_id, word, items) "
                "SELECT c.owner_id, c.id, w.word, w.n FROM conversations c, "
                "unnest($3::text[], $4::int[]) AS w(word, n) WHERE c.owner_id = $1 AND c.id = $2",
                owner_key,
                conversation_id,
                list(words),
                list(words.values()),
            )
        await self._count_usage(usage, 1, len(items))

    async def update_metadata(
        self, owner_key: str, conversation_id: str, metadata: dict[str, str]
    ) -> ConversationRecord | None:
        row = await self._fetchrow(
            f"WITH p AS ({CLOCK_BUMP.format(now='$5')}), d AS ({PRUNE_MOVES.format(now='$5')}) "
            + MOVE.format(
                set=", metadata = $3::jsonb",
                guard=IN_TIME.format("$4"),
                returning=_RETURNED_RECORD,
            ),
            owner_key,
            conversation_id,
            _encode(metadata).decode(),
            self._write_by,
            now_us(),
        )
        if row is None:
            return None
        await self._execute(_RECORD_MOVE, owner_key, conversation_id)
        return record(row)

    async def touch_conversation(
        self, owner_key: str, conversation_id: str
    ) -> ConversationRecord | None:
        row = await self._fetchrow(
            f"WITH p AS ({CLOCK_BUMP.format(now='$4')}), d AS ({PRUNE_MOVES.format(now='$4')}) "
            + MOVE.format(set="", guard=IN_TIME.format("$3"), returning=_RETURNED_RECORD),
            owner_key,
            conversation_id,
            self._write_by,
            now_us(),
        )
        if row is None:
            return None
        await self._execute(_RECORD_MOVE, owner_key, conversation_id)
        return record(row)

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
        row = await self._fetchrow(
            f"WITH p AS ({CLOCK_BUMP.format(now='$6')}), d AS ({PRUNE_MOVES.format(now='$6')}) "
            + MOVE.format(
                set=", next_seq = c.next_seq + $3, "
                "words_pending_items = c.words_pending_items + $3, "
                "words_pending_chars = c.words_pending_chars + $4",
                guard=IN_TIME.format("$5"),
                returning="c.words_pending_items, c.words_pending_chars",
            ),
            owner_key,
            conversation_id,
            len(items),
            sum(len(it.search_text) for it in items),
            self._write_by,
            now_us(),
        )
        if row is None:
            return None
        await self._execute(_RECORD_MOVE, owner_key, conversation_id)
        await self._execute(
            _ITEMS, owner_key, conversation_id, len(items), now, *item_columns(items)
        )
        if words:
            await self._execute(
                "INSERT INTO conversation_words (owner_id, conversation_id, word, items) "
                "SELECT c.owner_id, c.id, w.word, 0 FROM conversations c, "
                "unnest($3::text[]) AS w(word) WHERE c.owner_id = $1 AND c.id = $2 "
                "ON CONFLICT (owner_id, conversation_id, word) DO NOTHING",
                owner_key,
                conversation_id,
                list(words),
            )
        await self._count_usage(usage, 0, len(items))
        return row[0], row[1]

    # --- model turns (responses.py): the plain statements' CTEs as statements of their own ---

    async def take_turn(
        self, owner_key: str, conversation_id: str, response_id: str, now: int, until: int
    ) -> bool | None:
        taken = await self._fetchval(
            "UPDATE conversations SET turn_response_id = $3, turn_until = $4 "
            "WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL "
            "AND (turn_until IS NULL OR turn_until <= $5 OR turn_response_id = $3) "
            f"AND {IN_TIME.format('$6')} RETURNING 1",
            owner_key,
            conversation_id,
            response_id,
            until,
            now,
            self._write_by,
        )
        if taken:
            return True
        there = await self._fetchval(
            "SELECT 1 FROM conversations WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL",
            owner_key,
            conversation_id,
        )
        return None if there is None else False

    async def insert_response(
        self, owner_key: str, record: ResponseRecord, context_seq: int | None
    ) -> None:
        await self._execute(
            "INSERT INTO responses (owner_id, id, created_at, position, status, conversation_id, "
            "context_seq, previous_response_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            owner_key,
            record.id,
            record.created_at,
            now_us(),
            record.status,
            record.conversation_id,
            context_seq,
            record.previous_response_id,
            record.data,
        )
        parts = ((INPUT, record.input_items), (OUTPUT, record.output_items))
        rows = [(part, n, item) for part, items in parts for n, item in enumerate(items, 1)]
        if rows:
            # INSERT … SELECT from the co-located response row: pushed down to its shard.
            await self._execute(
                "INSERT INTO response_items (owner_id, response_id, part, n, id, data) "
                "SELECT r.owner_id, r.id, t.part, t.n, t.id, t.data FROM responses r, "
                "unnest($3::smallint[], $4::int[], $5::text[], $6::bytea[]) "
                "AS t(part, n, id, data) WHERE r.owner_id = $1 AND r.id = $2",
                owner_key,
                record.id,
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2].id for r in rows],
                [r[2].data for r in rows],
            )


_RETURNED_RECORD = ", ".join(f"c.{column}" for column in CONVERSATION_COLUMNS.split(", "))
"""``CONVERSATION_COLUMNS`` of the moved row."""
