"""PostgreSQL's statements for receipts (``store/receipts.py`` says what each does)."""

from __future__ import annotations

from .base import Connected, affected

__all__ = ["ReceiptSQL"]


class ReceiptSQL(Connected):
    __slots__ = ()

    async def find_receipt(self, owner_key: str, key: str) -> tuple[str, int, bytes] | None:
        row = await self._fetchrow(
            "SELECT fingerprint, created_at, result FROM request_receipts "
            "WHERE owner_id = $1 AND key = $2",
            owner_key,
            key,
        )
        return None if row is None else (row[0], row[1], bytes(row[2]))

    async def insert_receipt(
        self, owner_key: str, key: str, fingerprint: str, result: bytes, *, now: int
    ) -> None:
        await self._execute(
            "INSERT INTO request_receipts (owner_id, key, fingerprint, created_at, result) "
            "VALUES ($1, $2, $3, $4, $5)",
            owner_key,
            key,
            fingerprint,
            now,
            result,
        )

    async def delete_receipt(self, owner_key: str, key: str) -> None:
        await self._execute(
            "DELETE FROM request_receipts WHERE owner_id = $1 AND key = $2", owner_key, key
        )

    async def purge_receipts(self, created_before: int, limit: int) -> int:
        return affected(
            await self._execute(
                "DELETE FROM request_receipts WHERE (owner_id, key) IN (SELECT owner_id, key "
                "FROM request_receipts WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
                created_before,
                limit,
            )
        )
