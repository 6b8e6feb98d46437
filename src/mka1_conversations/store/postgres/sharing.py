"""PostgreSQL's statements for grants (``store/sharing.py``) and usage (``store/usage.py``).
A creation's and an append's own counts are written by their statement (``USAGE_CTE``)."""

from __future__ import annotations

from collections.abc import Sequence

from ...domain.sharing import Role
from ...domain.usage import UsageQuery
from ...domain.usage import UsageRow as UsageSums
from ..sharing import GRANT_TABLES
from ..transfer import Columns, GrantRow, UsageRow
from ..usage import UsageKey
from .base import Connected, affected

__all__ = ["USAGE_CTE", "SharingSQL"]

USAGE_CTE = """
    u AS (
        INSERT INTO conversation_usage (owner_id, minute, api_key_id, account, end_user,
                                        conversations_created, items_added, operations)
        SELECT {owner}, {minute}, {key}, {account}, {end_user}, {created}, {items}, 1 FROM c
        ON CONFLICT (owner_id, minute, api_key_id) DO UPDATE SET
            conversations_created = conversation_usage.conversations_created
                                    + excluded.conversations_created,
            items_added = conversation_usage.items_added + excluded.items_added,
            operations = conversation_usage.operations + 1)"""
"""A CTE counting a write's usage when its CTE ``c`` wrote a row, formatted with the
placeholders of its values."""


_LIVE = {
    "conversation": "SELECT 1 FROM conversations WHERE owner_id = $1 AND id = $2 "
    "AND deleted_at IS NULL",
    "response": "SELECT 1 FROM responses WHERE owner_id = $1 AND id = $2",
}
"""Whether the owner's resource is live, by resource type."""


class SharingSQL(Connected):
    __slots__ = ()

    # --- grants --------------------------------------------------------------------------------

    async def conversation_is_live(
        self, owner_key: str, conversation_id: str, resource: str = "conversation"
    ) -> bool:
        return await self._fetchval(_LIVE[resource], owner_key, conversation_id) is not None

    async def find_grant(
        self, grantee_keys: tuple[str, str], conversation_id: str, resource: str = "conversation"
    ) -> tuple[str, int] | None:
        table, column, owner = GRANT_TABLES[resource]
        row = await self._fetchrow(
            f"SELECT {owner}, max(role) FROM {table} "
            f"WHERE grantee_id IN ($1, $2) AND {column} = $3 GROUP BY {owner}",
            *grantee_keys,
            conversation_id,
        )
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
        await self._execute(
            f"INSERT INTO {table} (grantee_id, {column}, {owner}, role, granted_at) "
            f"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grantee_id, {column}) DO UPDATE SET "
            f"role = excluded.role, {owner} = excluded.{owner}, granted_at = excluded.granted_at",
            grantee_key,
            conversation_id,
            owner_key,
            role,
            now,
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
        await self._execute(
            f"DELETE FROM {table} WHERE grantee_id = $1 AND {column} = $2 AND {owner} = $3 "
            "AND role >= $4",
            grantee_key,
            conversation_id,
            owner_key,
            at_least,
        )

    async def delete_response_grants(self, owner_key: str, response_id: str) -> None:
        await self._execute(
            "DELETE FROM response_grants WHERE response_owner = $1 AND response_id = $2",
            owner_key,
            response_id,
        )

    async def purge_grants(self, deleted_before: int, limit: int) -> int:
        return affected(
            await self._execute(
                "DELETE FROM conversation_grants g USING (SELECT g2.grantee_id, "
                "g2.conversation_id FROM conversations c JOIN conversation_grants g2 "
                "ON g2.conversation_owner = c.owner_id AND g2.conversation_id = c.id "
                "WHERE c.deleted_at < $1 LIMIT $2) d "
                "WHERE g.grantee_id = d.grantee_id AND g.conversation_id = d.conversation_id",
                deleted_before,
                limit,
            )
        )

    # --- export and import ---------------------------------------------------------------------

    async def export_grants(self) -> Sequence[Columns]:
        return await self._fetch(
            "SELECT * FROM (SELECT grantee_id, conversation_id AS resource_id, "
            "conversation_owner, role, granted_at, 'conversation' AS resource "
            "FROM conversation_grants UNION ALL "
            "SELECT grantee_id, response_id, response_owner, role, granted_at, 'response' "
            "FROM response_grants) g "
            'ORDER BY resource, grantee_id COLLATE "C", resource_id COLLATE "C"'
        )

    async def export_usage(self) -> Sequence[Columns]:
        return await self._fetch(
            "SELECT owner_id, minute, api_key_id, account, end_user, conversations_created, "
            "items_added, operations FROM conversation_usage "
            'ORDER BY owner_id COLLATE "C", minute, api_key_id COLLATE "C"'
        )

    async def insert_shares(self, grants: list[GrantRow], usage: list[UsageRow]) -> None:
        for resource, (table, column, owner) in GRANT_TABLES.items():
            these = [g for g in grants if g.resource_type == resource]
            await self._execute(
                f"INSERT INTO {table} (grantee_id, {column}, {owner}, role, granted_at) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], "
                "$5::bigint[])",
                [g.grantee for g in these],
                [g.conversation_id for g in these],
                [g.owner for g in these],
                [int(Role.named(g.role)) for g in these],
                [g.granted_at for g in these],
            )
        await self._execute(
            "INSERT INTO conversation_usage (owner_id, minute, api_key_id, account, end_user, "
            "conversations_created, items_added, operations) SELECT * FROM unnest($1::text[], "
            "$2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], "
            "$8::bigint[])",
            [u.owner for u in usage],
            [u.minute for u in usage],
            [u.api_key_id for u in usage],
            [u.account for u in usage],
            [u.end_user for u in usage],
            [u.conversations_created for u in usage],
            [u.items_added for u in usage],
            [u.operations for u in usage],
        )

    # --- usage ---------------------------------------------------------------------------------

    async def add_usage(self, counts: Sequence[tuple[UsageKey, int]]) -> None:
        await self._execute(
            "INSERT INTO conversation_usage (owner_id, minute, api_key_id, account, end_user, "
            "operations) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], "
            "$4::text[], $5::text[], $6::bigint[]) "
            "ON CONFLICT (owner_id, minute, api_key_id) DO UPDATE SET "
            "operations = conversation_usage.operations + excluded.operations",
            [k[0] for k, _ in counts],
            [k[1] for k, _ in counts],
            [k[2] for k, _ in counts],
            [k[3] for k, _ in counts],
            [k[4] for k, _ in counts],
            [n for _, n in counts],
        )

    async def usage_rows(self, query: UsageQuery) -> list[UsageSums]:
        last = min(query.end, query.start + query.limit * query.width)
        groups = ", end_user" if query.by_user else ""
        groups += ", api_key_id" if query.by_key else ""
        if query.owner_keys is None:
            where, target = "account = $2", query.account
        else:
            where, target = "owner_id = ANY($2::text[])", list(query.owner_keys)  # type: ignore[assignment]
        rows = await self._fetch(
            f"SELECT minute / $1 * $1 AS bucket{groups}, sum(conversations_created)::bigint, "
            "sum(items_added)::bigint, sum(operations)::bigint FROM conversation_usage "
            f"WHERE {where} AND minute >= $3 AND minute < $4 "
            f"GROUP BY bucket{groups} ORDER BY bucket{groups}",
            query.width,
            target,
            query.start,
            last,
        )
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
