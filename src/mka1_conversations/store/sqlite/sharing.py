"""SQLite's statements for grants (``store/sharing.py``) and usage (``store/usage.py``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...domain.sharing import Role
from ...domain.usage import UsageMark, UsageQuery
from ...domain.usage import UsageRow as UsageSums
from ..sharing import GRANT_TABLES
from ..transfer import Columns, GrantRow, UsageRow
from ..usage import UsageKey
from .base import Connected

__all__ = ["SharingSQL", "count_write"]

_ADD_USAGE = (
    "INSERT INTO conversation_usage (owner_id, minute, api_key_id, account, end_user, "
    "conversations_created, items_added, operations) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (owner_id, minute, api_key_id) DO UPDATE SET "
    "conversations_created = conversations_created + excluded.conversations_created, "
    "items_added = items_added + excluded.items_added, "
    "operations = operations + excluded.operations"
)


def count_write(db: sqlite3.Connection, usage: UsageMark, created: int, items: int) -> None:
    """A creation's or an append's counts, in its transaction."""
    db.execute(
        _ADD_USAGE,
        (
            usage.owner_key,
            usage.minute,
            usage.api_key_id,
            usage.account,
            usage.end_user,
            created,
            items,
            1,
        ),
    )


_LIVE = {
    "conversation": "SELECT 1 FROM conversations WHERE id = ? AND owner_id = ? "
    "AND deleted_at IS NULL",
    "response": "SELECT 1 FROM responses WHERE id = ? AND owner_id = ?",
}
"""Whether the owner's resource is live, by resource type."""


class SharingSQL(Connected):
    __slots__ = ()

    # --- grants --------------------------------------------------------------------------------

    async def conversation_is_live(
        self, owner_key: str, conversation_id: str, resource: str = "conversation"
    ) -> bool:
        return (
            self._db.execute(_LIVE[resource], (conversation_id, owner_key)).fetchone() is not None
        )

    async def find_grant(
        self, grantee_keys: tuple[str, str], conversation_id: str, resource: str = "conversation"
    ) -> tuple[str, int] | None:
        table, column, owner = GRANT_TABLES[resource]
        row = self._db.execute(
            f"SELECT {owner}, max(role) FROM {table} "
            f"WHERE grantee_id IN (?, ?) AND {column} = ? GROUP BY {owner}",
            (*grantee_keys, conversation_id),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    async def put_grant(
        self,
        grantee_key: str,
        conversation_id: str,
        owner_key: str,
        role: int,
        *,
        now: int,
        resource: str = "conversation",
    ) -> None:
        table, column, owner = GRANT_TABLES[resource]
        self._db.execute(
            f"INSERT INTO {table} (grantee_id, {column}, {owner}, role, granted_at) "
            f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (grantee_id, {column}) DO UPDATE SET "
            f"role = excluded.role, {owner} = excluded.{owner}, granted_at = excluded.granted_at",
            (grantee_key, conversation_id, owner_key, role, now),
        )

    async def delete_grant(
        self,
        grantee_key: str,
        conversation_id: str,
        owner_key: str,
        at_least: int,
        resource: str = "conversation",
    ) -> None:
        table, column, owner = GRANT_TABLES[resource]
        self._db.execute(
            f"DELETE FROM {table} WHERE grantee_id = ? AND {column} = ? AND {owner} = ? "
            "AND role >= ?",
            (grantee_key, conversation_id, owner_key, at_least),
        )

    async def delete_response_grants(self, owner_key: str, response_id: str) -> None:
        self._db.execute(
            "DELETE FROM response_grants WHERE response_owner = ? AND response_id = ?",
            (owner_key, response_id),
        )

    async def purge_grants(self, deleted_before: int, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM conversation_grants WHERE (grantee_id, conversation_id) IN "
            "(SELECT g.grantee_id, g.conversation_id FROM conversations c "
            "JOIN conversation_grants g ON g.conversation_owner = c.owner_id "
            "AND g.conversation_id = c.id WHERE c.deleted_at < ? LIMIT ?)",
            (deleted_before, limit),
        ).rowcount

    # --- export and import ---------------------------------------------------------------------

    async def export_grants(self) -> Sequence[Columns]:
        return self._db.execute(
            "SELECT grantee_id, conversation_id, conversation_owner, role, granted_at, "
            "'conversation' FROM conversation_grants UNION ALL "
            "SELECT grantee_id, response_id, response_owner, role, granted_at, 'response' "
            "FROM response_grants ORDER BY 6, 1, 2"
        ).fetchall()

    async def export_usage(self) -> Sequence[Columns]:
        return self._db.execute(
            "SELECT owner_id, minute, api_key_id, account, end_user, conversations_created, "
            "items_added, operations FROM conversation_usage "
            "ORDER BY owner_id, minute, api_key_id"
        ).fetchall()

    async def insert_shares(self, grants: list[GrantRow], usage: list[UsageRow]) -> None:
        for resource, (table, column, owner) in GRANT_TABLES.items():
            self._db.executemany(
                f"INSERT INTO {table} (grantee_id, {column}, {owner}, role, granted_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (g.grantee, g.conversation_id, g.owner, Role.named(g.role), g.granted_at)
                    for g in grants
                    if g.resource_type == resource
                ],
            )
        self._db.executemany(
            "INSERT INTO conversation_usage (owner_id, minute, api_key_id, account, end_user, "
            "conversations_created, items_added, operations) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    u.owner,
                    u.minute,
                    u.api_key_id,
                    u.account,
                    u.end_user,
                    u.conversations_created,
                    u.items_added,
                    u.operations,
                )
                for u in usage
            ],
        )

    # --- usage ---------------------------------------------------------------------------------

    async def add_usage(self, counts: Sequence[tuple[UsageKey, int]]) -> None:
        self._db.executemany(_ADD_USAGE, [(*key, 0, 0, n) for key, n in counts])

    async def usage_rows(self, query: UsageQuery) -> list[UsageSums]:
        last = min(query.end, query.start + query.limit * query.width)
        groups = ", end_user" if query.by_user else ""
        groups += ", api_key_id" if query.by_key else ""
        args: list[object] = [query.width, query.width]
        if query.owner_keys is None:
            where = "account = ?"
            args.append(query.account)
        else:
            where = f"owner_id IN ({','.join('?' * len(query.owner_keys))})"
            args.extend(query.owner_keys)
        args += [query.start, last]
        rows = self._db.execute(
            f"SELECT minute / ? * ? AS bucket{groups}, sum(conversations_created), "
            f"sum(items_added), sum(operations) FROM conversation_usage "
            f"WHERE {where} AND minute >= ? AND minute < ? "
            f"GROUP BY bucket{groups} ORDER BY bucket{groups}",
            args,
        ).fetchall()
        out = []
        for row in rows:
            n = 1
            end_user = api_key = None
            if query.by_user:
                end_user, n = row[n], n + 1
            if query.by_key:
                api_key, n = row[n], n + 1
            out.append(UsageSums(row[0], end_user, api_key, row[n], row[n + 1], row[n + 2]))
        return out
