"""The PostgreSQL backend: an asyncpg pool, raw SQL, any number of server processes.

A read runs on one pooled connection; a write in one transaction on one, or, for a rule that
sends a single statement, without BEGIN/COMMIT (one round trip). A lost database answers
``ServiceUnavailable`` (503 with Retry-After) and the pool reconnects by itself when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

import asyncpg

from ...domain.errors import ServiceUnavailable, StorageFull
from ..backend import DuplicateKey, Instruments, QueryFailed, Runner, is_one_statement
from ..migrate import Migration, apply_postgres, not_migrated, pending_postgres
from .statements import PostgresStatements

__all__ = ["PostgresBackend"]

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

_CONNECT_SECONDS = 10.0
_COMMAND_SECONDS = 30.0

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


_DRIVER_ERRORS = (*_UNAVAILABLE, asyncpg.PostgresError)


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=_CONNECT_SECONDS)
    except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"cannot connect to PostgreSQL: {exc}") from exc


class PostgresBackend(Runner[PostgresStatements]):
    """Runs the storage rules on one PostgreSQL database. Create it with :meth:`open`."""

    driver_errors = _DRIVER_ERRORS

    def __init__(self, pool: asyncpg.Pool, instruments: Instruments) -> None:
        super().__init__(instruments)
        self._pool = pool

    @staticmethod
    async def migrate(dsn: str) -> list[Migration]:
        """Apply pending migrations; returns them. Safe with several runners at once."""
        conn = await _connect(dsn)
        try:
            return await apply_postgres(conn)
        finally:
            await conn.close()

    @classmethod
    async def open(cls, dsn: str, instruments: Instruments, *, pool_size: int) -> PostgresBackend:
        """Connect and check the migrations; RuntimeError when unreachable or not migrated."""
        conn = await _connect(dsn)
        try:
            pending = await pending_postgres(conn)
        finally:
            await conn.close()
        if pending:
            raise not_migrated("database", pending)
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=pool_size,
                timeout=_CONNECT_SECONDS,
                command_timeout=_COMMAND_SECONDS,
            )
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:  # lost since the check above
            raise RuntimeError(f"cannot connect to PostgreSQL: {exc}") from exc
        return cls(pool, instruments)

    async def close(self) -> None:
        await self._pool.close()

    async def _run_read(
        self, rule: Callable[[PostgresStatements, *Ts], Coroutine[Any, Any, T]], args: tuple[*Ts]
    ) -> T:
        async with self._pool.acquire() as conn:
            return await rule(PostgresStatements(conn), *args)

    async def _run_write(
        self, rule: Callable[[PostgresStatements, *Ts], Coroutine[Any, Any, T]], args: tuple[*Ts]
    ) -> T:
        async with self._pool.acquire() as conn:
            if is_one_statement(rule):
                return await rule(PostgresStatements(conn, alone=True), *args)
            async with conn.transaction():
                return await rule(PostgresStatements(conn), *args)

    def _storage_error(self, exc: BaseException) -> Exception:
        if isinstance(exc, _UNAVAILABLE):
            return ServiceUnavailable()
        if isinstance(exc, asyncpg.UniqueViolationError):
            return DuplicateKey(str(exc))
        if isinstance(exc, asyncpg.DiskFullError):  # SQLSTATE 53100
            return StorageFull()
        return QueryFailed(str(exc))

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresStatements]:
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield PostgresStatements(conn)
        except _DRIVER_ERRORS as exc:
            raise self._storage_error(exc) from exc
