"""The PostgreSQL backend: an asyncpg pool, raw SQL, any number of server processes.

A read runs on one pooled connection; a write in one transaction on one, or, for a rule that
sends a single statement, without BEGIN/COMMIT (one round trip). A lost database answers
``ServiceUnavailable`` (503 with Retry-After) and the pool reconnects by itself when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

import asyncpg

from ...domain.errors import ServiceUnavailable
from ..backend import DuplicateKey, Instruments, QueryFailed, is_one_statement
from ..migrate import Migration, apply_postgres, not_migrated, pending_postgres
from .statements import PostgresStatements

__all__ = ["PostgresBackend"]

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

_clock = time.perf_counter
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


def _storage_error(exc: BaseException) -> Exception:
    """A driver's error as the storage's: a lost database, a duplicate key, or a failure."""
    if isinstance(exc, _UNAVAILABLE):
        return ServiceUnavailable()
    if isinstance(exc, asyncpg.UniqueViolationError):
        return DuplicateKey(str(exc))
    return QueryFailed(str(exc))


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=_CONNECT_SECONDS)
    except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"cannot connect to PostgreSQL: {exc}") from exc


class PostgresBackend:
    """Runs the storage rules on one PostgreSQL database. Create it with :meth:`open`."""

    def __init__(self, pool: asyncpg.Pool, instruments: Instruments) -> None:
        self._pool = pool
        self._timers = instruments.timers

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

    async def read(
        self,
        call: str,
        rule: Callable[[PostgresStatements, *Ts], Coroutine[Any, Any, T]],
        *args: *Ts,
    ) -> T:
        started = _clock()
        try:
            async with self._pool.acquire() as conn:
                return await rule(PostgresStatements(conn), *args)
        except _DRIVER_ERRORS as exc:
            raise _storage_error(exc) from exc
        finally:
            self._timers[call].observe(_clock() - started)

    async def write(
        self,
        call: str,
        rule: Callable[[PostgresStatements, *Ts], Coroutine[Any, Any, T]],
        *args: *Ts,
    ) -> T:
        started = _clock()
        try:
            async with self._pool.acquire() as conn:
                if is_one_statement(rule):
                    return await rule(PostgresStatements(conn, alone=True), *args)
                async with conn.transaction():
                    return await rule(PostgresStatements(conn), *args)
        except _DRIVER_ERRORS as exc:
            raise _storage_error(exc) from exc
        finally:
            self._timers[call].observe(_clock() - started)

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresStatements]:
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield PostgresStatements(conn)
        except _DRIVER_ERRORS as exc:
            raise _storage_error(exc) from exc
