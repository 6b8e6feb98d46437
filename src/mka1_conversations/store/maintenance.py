"""What operators run beside the service (``domain.store.MaintenanceStore``, plus export and
import for the command line): the retention purge, the health checks, and moving every row out
of one database and into another."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from ..domain.errors import InvalidRequest
from ..domain.store import PurgeBatch
from . import readiness, transfer
from .backend import Backend, DuplicateKey, QueryFailed
from .readiness import ReadinessStatements
from .retention import RetentionStatements, purge_deleted
from .transfer import Row, TransferStatements

__all__ = ["Maintenance", "MaintenanceStatements"]


class MaintenanceStatements(ReadinessStatements, RetentionStatements, TransferStatements, Protocol):
    pass


class Maintenance:
    def __init__(self, backend: Backend[MaintenanceStatements]) -> None:
        self._db = backend

    async def purge_deleted(self, *, deleted_before: int, max_rows: int) -> PurgeBatch:
        return await self._db.write(
            "purge_deleted", purge_deleted, deleted_before, max_rows, int(time.time())
        )

    async def ping(self) -> None:
        await readiness.ping(self._db)

    async def check_ready(self) -> None:
        await readiness.check_ready(self._db)

    async def export_rows(self) -> AsyncIterator[Row]:
        """Every row, from one consistent snapshot of the database."""
        async with self._db.snapshot() as st:
            async for row in transfer.export_rows(st):
                yield row

    async def import_rows(self, rows: Iterable[Row]) -> int:
        """Insert the rows in one transaction: all of them, or (``InvalidRequest``, naming the
        reason) none."""
        try:
            return await self._db.write("import_rows", transfer.import_rows, rows)
        except DuplicateKey as exc:
            raise InvalidRequest(f"a row is already in the database ({exc})") from None
        except QueryFailed as exc:
            raise InvalidRequest(f"a row does not fit the database ({exc})") from None
