"""The Store on PostgreSQL through an asyncpg pool, raw SQL, one round trip per call where possible.

Appends are one statement: a CTE bumps the conversation's ``next_seq`` counter (row lock held to
commit) and inserts the block of items numbered from it, so concurrent appends from any number of
processes get one total, gap-free order and each request's items are contiguous. Item JSON is
stored as text and returned verbatim; metadata is jsonb (GIN); search words are indexed per
conversation (``conversation_words``), written in the same statement as the items. A lost
database answers ``ServiceUnavailable`` (503) and the pool reconnects by itself when it returns.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import asyncpg
import msgspec

from ..domain.conversations import ConversationRecord
from ..domain.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from ..domain.identity import Owner
from ..domain.items import NewItem
from ..domain.listing import SNAPSHOT_RETENTION_US, Listed, merge_page, position_as_of
from ..domain.search import EXACT_WORD_COUNT, search_words, word_counts
from ..domain.store import (
    ApiKeyRecord,
    ConversationPage,
    ConversationQuery,
    ItemPage,
    Order,
    PurgeBatch,
)
from .migrate import Migration, apply_postgres, describe, not_applied, pending_postgres
from .transfer import (
    API_KEY_COLUMNS,
    CONVERSATION_COLUMNS,
    ITEM_COLUMNS,
    ConversationRow,
    ItemRow,
    Row,
    api_key_row,
    conversation_row,
    item_row,
)

__all__ = ["PostgresStore"]

P = ParamSpec("P")
T = TypeVar("T")

_decode_metadata = msgspec.json.Decoder(dict[str, str]).decode
_encode = msgspec.json.Encoder().encode

_CONNECT_SECONDS = 10.0
_NOW_US = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
_COLUMNS = "id, created_at, deleted_at, metadata::text"

#: What a dead or unreachable server looks like to asyncpg and the OS.
_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def _record(row: asyncpg.Record) -> ConversationRecord:
    return ConversationRecord(
        id=row[0], created_at=row[1], deleted_at=row[2], metadata=_decode_metadata(row[3])
    )


def _available(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn a lost connection into ServiceUnavailable (503 with Retry-After)."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except _UNAVAILABLE as exc:
            raise ServiceUnavailable() from exc

    return wrapper


class PostgresStore:
    """A Store on one PostgreSQL database. Create it with :meth:`open`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    async def _connect(dsn: str) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(dsn, timeout=_CONNECT_SECONDS)
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
            raise RuntimeError(f"cannot connect to PostgreSQL: {exc}") from exc

    @classmethod
    async def migrate(cls, dsn: str) -> list[Migration]:
        """Apply pending migrations; returns them. Safe with several runners at once."""
        conn = await cls._connect(dsn)
        try:
            return await apply_postgres(conn)
        finally:
            await conn.close()

    @classmethod
    async def open(cls, dsn: str, *, pool_size: int = 10) -> PostgresStore:
        """Connect and check the migrations; RuntimeError when unreachable or not migrated."""
        conn = await cls._connect(dsn)
        try:
            pending = await pending_postgres(conn)
        finally:
            await conn.close()
        if pending:
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
            raise RuntimeError(
                f"database is not migrated (pending: {names}); "
                "run `mka1-conversations migrate` first"
            )
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=pool_size, timeout=_CONNECT_SECONDS, command_timeout=30
            )
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:  # lost since the check above
            raise RuntimeError(f"cannot connect to PostgreSQL: {exc}") from exc
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @_available
    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    @_available
    async def check_ready(self) -> None:
        try:
            rows = await self._pool.fetch("SELECT version FROM schema_migrations")
        except asyncpg.PostgresError as exc:
            raise ServiceUnavailable("The database cannot be read.") from exc
        if missing := not_applied("postgres", (row[0] for row in rows)):
            message = f"The database is not migrated (pending: {describe(missing)})."
            raise ServiceUnavailable(message)

    # --- conversations ---------------------------------------------------------------------

    @_available
    async def create_conversation(
        self,
        owner: Owner,
        conversation_id: str,
        *,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        now: int,
    ) -> ConversationRecord:
        await self._pool.execute(
            f"""
            WITH c AS (
                INSERT INTO conversations (owner_id, id, created_at, updated_at, metadata, next_seq)
                VALUES ($1, $2, $3, {_NOW_US}, $4::jsonb, $5)
                RETURNING id),
            i AS (
                INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, data,
                                   search_text)
                SELECT $1, c.id, t.ord, t.id, t.type, $3, t.data, t.txt
                FROM c, unnest($6::text[], $7::text[], $8::text[], $9::text[])
                     WITH ORDINALITY AS t(id, type, data, txt, ord))
            INSERT INTO conversation_words (owner_id, conversation_id, word, items)
            SELECT $1, c.id, w.word, LEAST(w.n, {EXACT_WORD_COUNT})
            FROM c, unnest($10::text[], $11::int[]) AS w(word, n)
            """,
            owner.key,
            conversation_id,
            now,
            _encode(metadata).decode(),
            len(items),
            *_columns(items),
            *_words(items),
        )
        return ConversationRecord(
            id=conversation_id, created_at=now, deleted_at=None, metadata=metadata
        )

    @_available
    async def get_conversation(self, owner: Owner, conversation_id: str) -> ConversationRecord:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM conversations "
            "WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL",
            owner.key,
            conversation_id,
        )
        if row is None:
            raise NotFound.conversation(conversation_id)
        return _record(row)

    @_available
    async def update_conversation(
        self, owner: Owner, conversation_id: str, *, metadata: dict[str, str]
    ) -> ConversationRecord:
        row = await self._pool.fetchrow(
            f"UPDATE conversations SET metadata = $3::jsonb, updated_at = {_NOW_US} "
            "WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL "
            f"RETURNING {_COLUMNS}",
            owner.key,
            conversation_id,
            _encode(metadata).decode(),
        )
        if row is None:
            raise NotFound.conversation(conversation_id)
        return _record(row)

    @_available
    async def delete_conversation(self, owner: Owner, conversation_id: str, *, now: int) -> None:
        status = await self._pool.execute(
            # updated_at stays: the conversation keeps its place, so it is still a cursor.
            "UPDATE conversations SET deleted_at = $3 "
            "WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL",
            owner.key,
            conversation_id,
            now,
        )
        if status.endswith(" 0"):
            raise NotFound.conversation(conversation_id)

    @_available
    async def list_conversations(self, owner: Owner, query: ConversationQuery) -> ConversationPage:
        """As of a snapshot (see domain/listing.py): exactly once even while conversations move.
        Positions and T0 come from the database's clock, shared by every server process."""
        async with self._pool.acquire() as conn:
            cursor: tuple[int, str] | None = None
            if query.after is None:
                now: int = await conn.fetchval(f"SELECT {_NOW_US}")
                t0 = now
            else:
                row = await conn.fetchrow(
                    f"SELECT c.updated_at, s.snapshot_at, {_NOW_US} FROM conversations c "
                    "LEFT JOIN list_snapshots s "
                    "ON s.owner_id = c.owner_id AND s.conversation_id = c.id "
                    "WHERE c.owner_id = $1 AND c.id = $2",
                    owner.key,
                    query.after,
                )
                if row is None:
                    raise InvalidRequest.unknown_conversation_cursor(query.after)
                current, remembered, now = row
                fresh = remembered is not None and remembered >= now - SNAPSHOT_RETENTION_US
                t0 = remembered if fresh else now
                move = None
                if current > t0:
                    move = await conn.fetchval(
                        "SELECT from_position FROM conversation_moves WHERE owner_id = $1 "
                        "AND conversation_id = $2 AND from_position <= $3 AND to_position > $3",
                        owner.key,
                        query.after,
                        t0,
                    )
                cursor = (position_as_of(current, move), query.after)
            words = search_words(query.search or "")
            search = await _search(conn, owner, words) if words else _Search([], [])
            if search.nothing:
                return ConversationPage([], False)
            args: list[Any] = [owner.key, t0]
            filters = _filters(query, search, args)
            where = ["c.owner_id = $1", "c.deleted_at IS NULL", "c.updated_at <= $2", *filters]
            if cursor is not None:
                op = ">" if query.order == "asc" else "<"
                args += cursor
                where.append(f"(c.updated_at, c.id) {op} (${len(args) - 1}, ${len(args)})")
            direction = "ASC" if query.order == "asc" else "DESC"
            args.append(query.limit + 1)
            unmoved = [
                Listed(r[4], _record(r))
                for r in await conn.fetch(
                    "SELECT c.id, c.created_at, c.deleted_at, c.metadata::text, c.updated_at "
                    f"FROM conversations c WHERE {' AND '.join(where)} "
                    f"ORDER BY c.updated_at {direction}, c.id {direction} LIMIT ${len(args)}",
                    *args,
                )
            ]
            moved: list[Listed] = []
            if t0 < now:  # only a past snapshot has moves that crossed it
                crossing: dict[str, int] = {
                    r[0]: r[1]
                    for r in await conn.fetch(
                        "SELECT conversation_id, from_position FROM conversation_moves "
                        "WHERE owner_id = $1 AND to_position > $2 AND from_position <= $2",
                        owner.key,
                        t0,
                    )
                }
                if crossing:
                    moved_args: list[Any] = [owner.key, list(crossing)]
                    moved_filters = _filters(query, search, moved_args)
                    moved = [
                        Listed(crossing[r[0]], _record(r))
                        for r in await conn.fetch(
                            "SELECT c.id, c.created_at, c.deleted_at, c.metadata::text "
                            "FROM conversations c WHERE c.owner_id = $1 "
                            "AND c.deleted_at IS NULL AND c.id = ANY($2::text[])"
                            + "".join(" AND " + f for f in moved_filters),
                            *moved_args,
                        )
                    ]
            page, has_more = merge_page(
                unmoved, moved, after=cursor, order=query.order, limit=query.limit
            )
            if has_more:
                await conn.execute(
                    "INSERT INTO list_snapshots (owner_id, conversation_id, snapshot_at) "
                    "VALUES ($1, $2, $3) ON CONFLICT (owner_id, conversation_id) "
                    "DO UPDATE SET snapshot_at = EXCLUDED.snapshot_at",
                    owner.key,
                    page[-1].record.id,
                    t0,
                )
        return ConversationPage([p.record for p in page], has_more)

    # --- items -----------------------------------------------------------------------------

    @_available
    async def append_items(
        self, owner: Owner, conversation_id: str, items: Sequence[NewItem], *, now: int
    ) -> None:
        try:
            inserted = await self._pool.fetch(
                f"""
                WITH c AS (
                    UPDATE conversations SET next_seq = next_seq + $3, updated_at = {_NOW_US}
                    WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL
                    RETURNING next_seq),
                i AS (
                    INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, data,
                                       search_text)
                    SELECT $1, $2, c.next_seq - $3 + t.ord, t.id, t.type, $4, t.data, t.txt
                    FROM c, unnest($5::text[], $6::text[], $7::text[], $8::text[])
                         WITH ORDINALITY AS t(id, type, data, txt, ord)
                    RETURNING seq),
                w AS (
                    INSERT INTO conversation_words (owner_id, conversation_id, word, items)
                    SELECT $1, $2, w.word, LEAST(w.n, {EXACT_WORD_COUNT})
                    FROM c, unnest($9::text[], $10::int[]) AS w(word, n)
                    ON CONFLICT (owner_id, conversation_id, word)
                    DO UPDATE SET items = LEAST(conversation_words.items + EXCLUDED.items,
                                                {EXACT_WORD_COUNT})
                    WHERE conversation_words.items < {EXACT_WORD_COUNT})
                SELECT seq FROM i
                """,
                owner.key,
                conversation_id,
                len(items),
                now,
                *_columns(items),
                *_words(items),
            )
        except asyncpg.UniqueViolationError:
            raise await self._duplicate(owner, conversation_id, items) from None
        if not inserted:
            raise NotFound.conversation(conversation_id)

    async def _duplicate(
        self, owner: Owner, conversation_id: str, items: Sequence[NewItem]
    ) -> Conflict:
        ids = [it.id for it in items]
        taken = {
            r[0]
            for r in await self._pool.fetch(
                "SELECT id FROM items WHERE owner_id = $1 AND conversation_id = $2 "
                "AND deleted_at IS NULL AND id = ANY($3::text[])",
                owner.key,
                conversation_id,
                ids,
            )
        }
        return Conflict.duplicate_item(conversation_id, ids, taken)

    @_available
    async def list_items(
        self, owner: Owner, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage:
        op, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        if after is None:
            bound = "0" if order == "asc" else str(1 << 62)
        else:
            # A deleted item keeps its row, so its id stays a valid cursor; a live item with the
            # same id (re-created after deletion) wins. No such id: NULL, so no rows.
            bound = (
                "(SELECT seq FROM items WHERE owner_id = $1 AND conversation_id = $2 AND id = $4 "
                "ORDER BY deleted_at IS NOT NULL, seq DESC LIMIT 1)"
            )
        sql = (
            "SELECT i.id, i.data FROM items i "
            "WHERE i.owner_id = $1 AND i.conversation_id = $2 AND i.deleted_at IS NULL "
            f"AND i.seq {op} {bound} "
            "AND EXISTS (SELECT 1 FROM conversations WHERE owner_id = $1 AND id = $2 "
            "AND deleted_at IS NULL) "
            f"ORDER BY i.seq {direction} LIMIT $3"
        )
        args: list[Any] = [owner.key, conversation_id, limit + 1]
        if after is not None:
            args.append(after)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
            if not rows:  # an empty page, or no such conversation, or no such cursor
                await self._explain_empty(conn, owner, conversation_id, after)
        page = rows[:limit]
        return ItemPage(
            ids=[r[0] for r in page],
            data=[r[1].encode() for r in page],
            has_more=len(rows) > limit,
        )

    @staticmethod
    async def _explain_empty(
        conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
        owner: Owner,
        conversation_id: str,
        after: str | None,
    ) -> None:
        row = await conn.fetchrow(
            "SELECT (SELECT 1 FROM conversations WHERE owner_id = $1 AND id = $2 "
            "AND deleted_at IS NULL), "
            "(SELECT 1 FROM items WHERE owner_id = $1 AND conversation_id = $2 AND id = $3 "
            "LIMIT 1)",
            owner.key,
            conversation_id,
            after or "",
        )
        if row is None or row[0] is None:
            raise NotFound.conversation(conversation_id)
        if after is not None and row[1] is None:
            raise InvalidRequest.unknown_item_cursor(after)

    @_available
    async def get_item(self, owner: Owner, conversation_id: str, item_id: str) -> bytes:
        row = await self._pool.fetchrow(
            "SELECT c.id, i.data FROM conversations c LEFT JOIN items i "
            "ON i.owner_id = c.owner_id AND i.conversation_id = c.id AND i.id = $3 "
            "AND i.deleted_at IS NULL "
            "WHERE c.owner_id = $1 AND c.id = $2 AND c.deleted_at IS NULL",
            owner.key,
            conversation_id,
            item_id,
        )
        if row is None:
            raise NotFound.conversation(conversation_id)
        if row[1] is None:
            raise NotFound.item(item_id)
        data: str = row[1]
        return data.encode()

    @_available
    async def delete_items(
        self, owner: Owner, conversation_id: str, item_ids: Sequence[str]
    ) -> ConversationRecord:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE conversations SET updated_at = {_NOW_US} "
                "WHERE owner_id = $1 AND id = $2 AND deleted_at IS NULL "
                f"RETURNING {_COLUMNS}",
                owner.key,
                conversation_id,
            )
            if row is None:
                raise NotFound.conversation(conversation_id)
            # The conversation row is locked above, so these rows cannot change before the update.
            deleted: dict[str, str] = {
                r[0]: r[1]
                for r in await conn.fetch(
                    "SELECT id, search_text FROM items WHERE owner_id = $1 "
                    "AND conversation_id = $2 AND deleted_at IS NULL AND id = ANY($3::text[])",
                    owner.key,
                    conversation_id,
                    list(item_ids),
                )
            }
            for index, item_id in enumerate(item_ids):
                if item_id not in deleted:  # rolls the whole transaction back
                    raise NotFound.item(item_id, param=f"item_ids[{index}]")
            await conn.execute(
                "UPDATE items SET deleted_at = extract(epoch FROM now())::bigint, data = '', "
                "search_text = '' WHERE owner_id = $1 AND conversation_id = $2 "
                "AND deleted_at IS NULL AND id = ANY($3::text[])",
                owner.key,
                conversation_id,
                list(item_ids),
            )
            words, counts = _word_columns(word_counts(deleted.values()))
            # Exact counts count down, and leave at zero. A word past the exact count
            # (domain/search.py) leaves when no live item (the deleted ones are blanked above)
            # still holds it: one read of the live items for all such words, stopping once each
            # is found held.
            await conn.execute(
                "DELETE FROM conversation_words w "
                "USING unnest($3::text[], $4::int[]) AS t(word, n) "
                "WHERE w.owner_id = $1 AND w.conversation_id = $2 AND w.word = t.word "
                "AND w.items < $5 AND w.items <= t.n",
                owner.key,
                conversation_id,
                words,
                counts,
                EXACT_WORD_COUNT,
            )
            await conn.execute(
                "UPDATE conversation_words w SET items = w.items - t.n "
                "FROM unnest($3::text[], $4::int[]) AS t(word, n) "
                "WHERE w.owner_id = $1 AND w.conversation_id = $2 AND w.word = t.word "
                "AND w.items < $5",
                owner.key,
                conversation_id,
                words,
                counts,
                EXACT_WORD_COUNT,
            )
            unheld = {
                r[0]
                for r in await conn.fetch(
                    "SELECT word FROM conversation_words WHERE owner_id = $1 "
                    "AND conversation_id = $2 AND word = ANY($3::text[]) AND items >= $4",
                    owner.key,
                    conversation_id,
                    words,
                    EXACT_WORD_COUNT,
                )
            }
            if unheld:
                async for live in conn.cursor(
                    "SELECT search_text FROM items WHERE owner_id = $1 AND conversation_id = $2 "
                    "AND deleted_at IS NULL",
                    owner.key,
                    conversation_id,
                    prefetch=500,
                ):
                    unheld.difference_update(live[0].split())
                    if not unheld:
                        break
            if unheld:
                await conn.execute(
                    "DELETE FROM conversation_words WHERE owner_id = $1 AND conversation_id = $2 "
                    "AND word = ANY($3::text[])",
                    owner.key,
                    conversation_id,
                    list(unheld),
                )
            return _record(row)

    # --- API keys --------------------------------------------------------------------------

    @_available
    async def account_for_key(self, key_hash: str) -> str | None:
        account: str | None = await self._pool.fetchval(
            "SELECT account FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", key_hash
        )
        return account

    @_available
    async def create_api_key(self, key_hash: str, *, account: str, name: str, now: int) -> None:
        await self._pool.execute(
            "INSERT INTO api_keys (key_hash, account, name, created_at) VALUES ($1, $2, $3, $4)",
            key_hash,
            account,
            name,
            now,
        )

    @_available
    async def count_api_keys(self) -> int:
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"
        )
        return count

    @_available
    async def list_api_keys(self) -> list[ApiKeyRecord]:
        rows = await self._pool.fetch(
            "SELECT key_hash, account, name, created_at, last_used_at, revoked_at FROM api_keys "
            'ORDER BY created_at, key_hash COLLATE "C"'
        )
        return [ApiKeyRecord(*row) for row in rows]

    @_available
    async def revoke_api_key(self, key_hash: str, *, now: int) -> bool:
        status = await self._pool.execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE key_hash = $1 AND revoked_at IS NULL",
            key_hash,
            now,
        )
        return status == "UPDATE 1"

    @_available
    async def record_key_use(self, last_used: dict[str, int]) -> None:
        if not last_used:
            return
        await self._pool.execute(
            "UPDATE api_keys k SET last_used_at = GREATEST(coalesce(k.last_used_at, 0), u.at) "
            "FROM unnest($1::text[], $2::bigint[]) AS u(key_hash, at) "
            "WHERE k.key_hash = u.key_hash",
            list(last_used),
            list(last_used.values()),
        )

    # --- retention --------------------------------------------------------------------------

    @_available
    async def purge_deleted(self, *, deleted_before: int, max_items: int) -> PurgeBatch:
        """At most ``max_items`` rows of items and indexed words, then the conversations left
        with neither (their moves and snapshots go with them), in one short transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "DELETE FROM items i USING (SELECT i2.owner_id, i2.conversation_id, i2.seq "
                "FROM conversations c JOIN items i2 "
                "ON i2.owner_id = c.owner_id AND i2.conversation_id = c.id "
                "WHERE c.deleted_at < $1 LIMIT $2) d "
                "WHERE i.owner_id = d.owner_id AND i.conversation_id = d.conversation_id "
                "AND i.seq = d.seq",
                deleted_before,
                max_items,
            )
            items = int(status.rsplit(" ", 1)[1])
            words = conversations = 0
            if items < max_items:
                status = await conn.execute(
                    "DELETE FROM conversation_words w USING (SELECT w2.owner_id, "
                    "w2.conversation_id, w2.word FROM conversations c JOIN conversation_words w2 "
                    "ON w2.owner_id = c.owner_id AND w2.conversation_id = c.id "
                    "WHERE c.deleted_at < $1 LIMIT $2) d "
                    "WHERE w.owner_id = d.owner_id AND w.conversation_id = d.conversation_id "
                    "AND w.word = d.word",
                    deleted_before,
                    max_items - items,
                )
                words = int(status.rsplit(" ", 1)[1])
            if items + words < max_items:  # those conversations hold nothing more: the rows
                status = await conn.execute(
                    "DELETE FROM conversations c USING (SELECT c2.owner_id, c2.id "
                    "FROM conversations c2 WHERE c2.deleted_at < $1 "
                    "AND NOT EXISTS (SELECT 1 FROM items i WHERE i.owner_id = c2.owner_id "
                    "AND i.conversation_id = c2.id) "
                    "AND NOT EXISTS (SELECT 1 FROM conversation_words w "
                    "WHERE w.owner_id = c2.owner_id AND w.conversation_id = c2.id) LIMIT $2) d "
                    "WHERE c.owner_id = d.owner_id AND c.id = d.id",
                    deleted_before,
                    max_items,
                )
                conversations = int(status.rsplit(" ", 1)[1])
        return PurgeBatch(conversations=conversations, items=items, words=words)

    # --- export / import (see transfer.py) --------------------------------------------------

    async def export_rows(self) -> AsyncIterator[Row]:
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            async for k in conn.cursor(
                f'SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY key_hash COLLATE "C"'
            ):
                yield api_key_row(k)
            async for c in conn.cursor(
                f"SELECT {CONVERSATION_COLUMNS.replace('metadata', 'metadata::text')} "
                'FROM conversations ORDER BY owner_id COLLATE "C", id COLLATE "C"'
            ):
                yield conversation_row(c)
                for i in await conn.fetch(
                    f"SELECT {ITEM_COLUMNS} FROM items "
                    "WHERE owner_id = $1 AND conversation_id = $2 ORDER BY seq",
                    c[0],
                    c[1],
                ):
                    yield item_row(c[0], c[1], i)

    async def import_rows(self, rows: Iterable[Row]) -> int:
        keys: list[tuple[Any, ...]] = []
        conversations: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        texts: defaultdict[tuple[str, str], list[str]] = defaultdict(list)  # live items' words
        for row in rows:
            if isinstance(row, ConversationRow):
                conversations.append(
                    (
                        row.owner,
                        row.id,
                        row.created_at,
                        row.updated_at,
                        row.deleted_at,
                        _encode(row.metadata).decode(),
                        row.next_seq,
                    )
                )
            elif isinstance(row, ItemRow):
                items.append(
                    (
                        row.owner,
                        row.conversation_id,
                        row.seq,
                        row.id,
                        row.type,
                        row.created_at,
                        row.deleted_at,
                        bytes(row.data).decode() if row.data is not None else "",
                        row.search_text,
                    )
                )
                if row.deleted_at is None:
                    texts[row.owner, row.conversation_id].append(row.search_text)
            else:
                keys.append(
                    (
                        row.key_hash,
                        row.account,
                        row.name,
                        row.created_at,
                        row.last_used_at,
                        row.revoked_at,
                    )
                )
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(
                "api_keys",
                records=keys,
                columns=["key_hash", "account", "name", "created_at", "last_used_at", "revoked_at"],
            )
            await conn.copy_records_to_table(
                "conversations",
                records=conversations,
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
            await conn.copy_records_to_table(
                "items",
                records=items,
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
            await conn.copy_records_to_table(
                "conversation_words",
                records=[
                    (owner, conversation_id, word, min(n, EXACT_WORD_COUNT))
                    for (owner, conversation_id), held in texts.items()
                    for word, n in word_counts(held).items()
                ],
                columns=["owner_id", "conversation_id", "word", "items"],
            )
        return len(keys) + len(conversations) + len(items)


def _columns(items: Sequence[NewItem]) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        [it.id for it in items],
        [it.type for it in items],
        [it.data.decode() for it in items],
        [it.search_text for it in items],
    )


def _words(items: Sequence[NewItem]) -> tuple[list[str], list[int]]:
    return _word_columns(word_counts(it.search_text for it in items))


def _word_columns(counts: dict[str, int]) -> tuple[list[str], list[int]]:
    return list(counts), list(counts.values())


_DRIVE_FROM_MATCHES = 400
"""Search words held by at most this many of the owner's conversations are rare: the page is
read through their holders (an index range each) by id; commoner words are tested with one key
lookup per conversation while walking the owner's list in order. As on SQLite (see there)."""


@dataclass(frozen=True, slots=True)
class _Search:
    """How a listing's search words split: rare and common (see ``_DRIVE_FROM_MATCHES``), or
    ``nothing`` when some word is held by no conversation of the owner."""

    rare: list[str]
    common: list[str]
    nothing: bool = False


async def _search(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, owner: Owner, words: list[str]
) -> _Search:
    """One round trip: each word's holders counted, up to ``_DRIVE_FROM_MATCHES + 1``, in the
    index (no id reaches Python)."""
    rare: list[str] = []
    common: list[str] = []
    for word, holders in await conn.fetch(
        "SELECT w.word, (SELECT count(*) FROM (SELECT 1 FROM conversation_words x "
        "WHERE x.owner_id = $1 AND x.word = w.word LIMIT $3) AS h) "
        "FROM unnest($2::text[]) AS w(word)",
        owner.key,
        words,
        _DRIVE_FROM_MATCHES + 1,
    ):
        if holders == 0:
            return _Search([], [], nothing=True)
        (rare if holders <= _DRIVE_FROM_MATCHES else common).append(word)
    return _Search(rare, common)


def _filters(query: ConversationQuery, search: _Search, args: list[Any]) -> list[str]:
    """The metadata and search conditions on ``c``; their values are appended to ``args``
    (``$1`` is the owner in every statement that uses them).

    A rare word is an ``IN`` over its holders, so the planner reads them by id. A common one is
    a scalar subquery, not ``EXISTS``: PostgreSQL would turn ``EXISTS`` into a semi-join and
    intersect the words' whole holder lists before sorting (14 ms for two words each in 40 % of
    10,000 conversations), where a subquery per row is evaluated while walking the list in
    order and stops with the page (2 ms)."""
    where = []
    if query.metadata:
        args.append(_encode(query.metadata).decode())
        where.append(f"c.metadata @> ${len(args)}::jsonb")
    for word in search.rare:
        args.append(word)
        where.append(
            "c.id IN (SELECT w.conversation_id FROM conversation_words w "
            f"WHERE w.owner_id = $1 AND w.word = ${len(args)})"
        )
    for word in search.common:
        args.append(word)
        where.append(
            "(SELECT true FROM conversation_words w WHERE w.owner_id = c.owner_id "
            f"AND w.conversation_id = c.id AND w.word = ${len(args)})"
        )
    return where
