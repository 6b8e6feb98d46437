"""SQLite's statements for receipts (``store/receipts.py`` says what each does)."""

from __future__ import annotations

from .base import Connected

__all__ = ["ReceiptSQL"]


class ReceiptSQL(Connected):
    __slots__ = ()

    async def find_receipt(self, owner_key: str, key: str) -> tuple[str, int, bytes] | None:
        row = self._db.execute(
            "SELECT fingerprint, created_at, result FROM request_receipts "
            "WHERE owner_id = ? AND key = ?",
            (owner_key, key),
        ).fetchone()
        return None if row is None else (row[0], row[1], bytes(row[2]))

    async def insert_receipt(
        self, owner_key: str, key: str, fingerprint: str, result: bytes, *, now: int
    ) -> None:
        self._db.execute(
            "INSERT INTO request_receipts (owner_id, key, fingerprint, created_at, result) "
            "VALUES (?, ?, ?, ?, ?)",
            (owner_key, key, fingerprint, now, result),
        )

    async def delete_receipt(self, owner_key: str, key: str) -> None:
        self._db.execute(
            "DELETE FROM request_receipts WHERE owner_id = ? AND key = ?", (owner_key, key)
        )

    async def purge_receipts(self, created_before: int, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM request_receipts WHERE rowid IN (SELECT rowid FROM request_receipts "
            "WHERE created_at < ? ORDER BY created_at LIMIT ?)",
            (created_before, limit),
        ).rowcount
