"""The PostgreSQL backend: an asyncpg pool, raw SQL, any number of server processes.

A read runs on one pooled connection; a write in one transaction on one, or, for a rule that
sends a single statement, without BEGIN/COMMIT (one round trip). A lost database answers
``ServiceUnavailable`` (503 with Retry-After) and the pool reconnects by itself when it returns.

Under a request deadline (``store/backend.py``) nothing waits past it: not the pool, not a
statement, not asyncpg's cancellation of a cut-off statement (which waits for the server: a
connection cut off mid-command is closed, never reused). And a write cut off is not applied
later, when its bytes reach a database that was only stalled: a write statement carries the
time after which it must change nothing (``write_by``, in the database's clock: its offset
from ours is measured on each new connection), and the server ends a transaction left idle
(its COMMIT late) after ``idle_in_transaction_session_timeout``, a little less than the
backend's ``settle_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

import asyncpg

from ...domain.errors import DatabaseTimeout, ServiceUnavailable, StorageFull
from ..backend import (
    DuplicateKey,
    Instruments,
    QueryFailed,
    Runner,
    WriteProgress,
    is_one_statement,
)
from ..migrate import Migration, apply_postgres, has_citus, not_migrated, pending_postgres
from .citus import CitusStatements
from .statements import PostgresStatements

__all__ = ["PostgresBackend"]

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

_CONNECT_SECONDS = 10.0
_COMMAND_SECONDS = 30.0
_MAX_SETTLE_SECONDS = 2.0

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


class _Connection(asyncpg.Connection):
    """A pooled connection that knows the database's clock: ``clock_offset`` seconds to add to
    ``time.time()`` for the server's ``clock_timestamp()``."""

    clock_offset: float = 0.0


async def _measure_clock(conn: asyncpg.Connection) -> None:
    before = time.time()
    database = await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
    conn.clock_offset = float(database) - (before + time.time()) / 2  # type: ignore[attr-defined]


async def _measure_and_log(
    statement_sent: Callable[[str, tuple[Any, ...]], None], conn: asyncpg.Connection
) -> None:
    await _measure_clock(conn)
    conn.add_query_logger(lambda logged: statement_sent(logged.query, tuple(logged.args or ())))


def _clock_offset(conn: Any) -> float:
    offset: float = conn.clock_offset  # a pool proxy passes it on from its _Connection
    return offset


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=_CONNECT_SECONDS)
    except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"cannot connect to PostgreSQL: {exc}") from exc


class PostgresBackend(Runner[PostgresStatements]):
    """Runs the storage rules on one PostgreSQL database. Create it with :meth:`open`."""

    driver_errors = _DRIVER_ERRORS

    def __init__(
        self,
        pool: asyncpg.Pool,
        instruments: Instruments,
        *,
        settle_seconds: float = 0.0,
        citus: bool = False,
    ) -> None:
        super().__init__(instruments)
        self._pool = pool
        self.citus = citus
        """The database has the ``citus`` extension: Citus's statements, every write in a
        transaction (``citus.py``)."""
        self._statements: type[PostgresStatements] = (
            CitusStatements if citus else PostgresStatements
        )
        self.settle_seconds = settle_seconds
        self._margin = settle_seconds / 4

    @staticmethod
    async def migrate(dsn: str) -> list[Migration]:
        """Apply pending migrations; returns them. Safe with several runners at once."""
        conn = await _connect(dsn)
        try:
            return await apply_postgres(conn)
        finally:
            await conn.close()

    @classmethod
    async def open(
        cls,
        dsn: str,
        instruments: Instruments,
        *,
        pool_size: int,
        request_timeout: float | None = None,
    ) -> PostgresBackend:
        """Connect and check the migrations; RuntimeError when unreachable or not migrated.
        ``request_timeout``: the requests' deadline, which the server's own timeouts then stay
        under (None, for the command line: no such timeouts)."""
        conn = await _connect(dsn)
        try:
            pending = await pending_postgres(conn)
            citus = await has_citus(conn)
        finally:
            await conn.close()
        if pending:
            raise not_migrated("database", pending)
        settle = 0.0
        server_settings: dict[str, str] = {}
        if request_timeout is not None:
            settle = min(_MAX_SETTLE_SECONDS, request_timeout / 4)
            server_settings = {
                "statement_timeout": str(max(1, int(request_timeout * 1000))),
                "idle_in_transaction_session_timeout": str(max(1, int(settle * 750))),
            }
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=pool_size,
                timeout=_CONNECT_SECONDS,
                command_timeout=_COMMAND_SECONDS,
                connection_class=_Connection,
                init=_measure_clock
                if instruments.statement_sent is None
                else functools.partial(_measure_and_log, instruments.statement_sent),
                server_settings=server_settings,
            )
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:  # lost since the check above
            raise RuntimeError(f"cannot connect to PostgreSQL: {exc}") from exc
        return cls(pool, instruments, settle_seconds=settle, citus=citus)

    async def close(self) -> None:
        await self._pool.close()

    async def _run_read(
        self, rule: Callable[[PostgresStatements, *Ts], Coroutine[Any, Any, T]], args: tuple[*Ts]
    ) -> T:
        conn = await self._pool.acquire()
        try:
            result = await rule(self._statements(conn), *args)
        except BaseException as exc:
            await self._give_back(conn, exc)
            raise
        await self._pool.release(conn)
        return result

    async def _run_write(
        self,
        rule: Callable[[PostgresStatements, *Ts], Coroutine[Any, Any, T]],
        args: tuple[*Ts],
        progress: WriteProgress,
    ) -> T:
        conn = await self._pool.acquire()
        try:
            write_by = math.inf
            if progress.until is not None:  # in the database's clock, a little after ours
                write_by = progress.until + _clock_offset(conn) + self._margin
            if is_one_statement(rule) and not self.citus:
                statements = PostgresStatements(
                    conn, alone=True, write_by=write_by, progress=progress
                )
                result = await rule(statements, *args)
            else:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    result = await rule(self._statements(conn, write_by=write_by), *args)
                except Exception:
                    await transaction.rollback()
                    raise
                progress.commit_sent = True
                await transaction.commit()
        except BaseException as exc:
            await self._give_back(conn, exc)
            raise
        await self._pool.release(conn)
        return result

    async def _give_back(self, conn: Any, exc: BaseException) -> None:
        """After a failure: a connection cut off mid-command (cancelled, or lost) is closed at
        once (releasing it would wait for asyncpg's cancellation, i.e. for the server); any
        other goes back to the pool."""
        if isinstance(exc, (asyncio.CancelledError, *_UNAVAILABLE)):
            conn.terminate()
        else:
            await self._pool.release(conn)

    def _storage_error(self, exc: BaseException) -> Exception:
        if isinstance(exc, _UNAVAILABLE):
            return ServiceUnavailable()
        if isinstance(exc, asyncpg.UniqueViolationError):
            return DuplicateKey(str(exc))
        if isinstance(exc, asyncpg.DiskFullError):  # SQLSTATE 53100
            return StorageFull()
        if isinstance(exc, asyncpg.QueryCanceledError):  # statement_timeout, a late write
            return DatabaseTimeout()
        return QueryFailed(str(exc))

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresStatements]:
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield self._statements(conn)
        except _DRIVER_ERRORS as exc:
            raise self._storage_error(exc) from exc
