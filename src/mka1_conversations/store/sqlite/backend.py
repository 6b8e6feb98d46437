"""The SQLite backend: one file in WAL mode, zero set-up, one server process per file.

One connection does every write, inline on the event loop, each as one ``BEGIN IMMEDIATE``
transaction that never suspends (``run_inline``): the loop itself serialises writers, so a
write never waits for the lock and appends get a gap-free, total order. WAL checkpoints (and
their fsyncs) run on a thread of their own (``checkpoints.py``), never inside a commit. Reads use
the same connection inline; a listing that may take long runs on a small thread pool with
connections of its own, which WAL lets read while the writer writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

from ...domain.errors import ServiceUnavailable, StorageFull
from ..backend import (
    DuplicateKey,
    Instruments,
    QueryFailed,
    Runner,
    WriteProgress,
    run_inline,
)
from ..migrate import Migration, apply_sqlite, not_migrated, pending_sqlite
from ..snapshots import SnapshotMemory
from .checkpoints import Checkpointer
from .statements import SQLiteStatements

__all__ = ["SQLiteBackend", "sqlite_path_from_url"]

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

_WAL_SIZE_LIMIT = 128 * 1024 * 1024
"""Above the WAL's size under continuous writes (about 100 MB: checkpoints.py), so the file is
not truncated and regrown every cycle; a clean shutdown removes it."""


_CANNOT_GROW = {
    13,  # SQLITE_FULL: "database or disk is full" (no space left)
    778,  # SQLITE_IOERR_WRITE: a write failed, e.g. EFBIG past a file size limit
    1034,  # SQLITE_IOERR_FSYNC
    1546,  # SQLITE_IOERR_TRUNCATE
    4874,  # SQLITE_IOERR_SHMSIZE: the -shm file cannot grow
}
"""Extended result codes of a write refused for want of space: ``StorageFull`` (503)."""

_UNAVAILABLE = {
    5,  # SQLITE_BUSY: another process holds the lock past busy_timeout
    6,  # SQLITE_LOCKED
    10,  # SQLITE_IOERR: any other I/O error
    14,  # SQLITE_CANTOPEN
}
"""Primary result codes of a database that cannot serve now: ``ServiceUnavailable`` (503)."""


def sqlite_path_from_url(url: str) -> Path:
    """``sqlite:///./data/x.db`` → ``./data/x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    return Path(url[len("sqlite:///") :])


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA cache_size = -32768")  # 32 MiB
    return db


class SQLiteBackend(Runner[SQLiteStatements]):
    """Runs the storage rules on one SQLite file. Create it with :meth:`open`."""

    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Path, instruments: Instruments, *, read_threads: int = 2) -> None:
        super().__init__(instruments)
        self._path = path
        self._db = _connect(path)
        # Checkpoints run on their own thread (checkpoints.py), never inside a commit here.
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._db.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        self._checkpoints = Checkpointer(path)
        self._pool = ThreadPoolExecutor(read_threads, thread_name_prefix="mka1-sqlite-read")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._snapshots = SnapshotMemory()
        self._statements = SQLiteStatements(self._db, self._snapshots, self._read_long)

    # --- lifecycle -----------------------------------------------------------------------------

    @staticmethod
    def migrate(path: Path) -> list[Migration]:
        """Apply pending migrations (creating the file and its directory); returns them."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA busy_timeout = 5000")
            return apply_sqlite(db)
        finally:
            db.close()

    @classmethod
    def open(cls, path: Path, instruments: Instruments) -> SQLiteBackend:
        """Open an existing, migrated database (RuntimeError otherwise)."""
        if not path.exists():
            raise RuntimeError(
                f"database {path} does not exist; run `mka1-conversations migrate` first"
            )
        backend = cls(path, instruments)
        pending = pending_sqlite(backend._db)
        if pending:
            backend._shut()
            raise not_migrated(f"database {path}", pending)
        return backend

    async def close(self) -> None:
        self._shut()

    def _shut(self) -> None:
        self._checkpoints.stop()
        self._pool.shutdown(wait=True)
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
        self._db.close()
        self._checkpoints.release()  # after every connection: see Checkpointer.release

    # --- running rules -------------------------------------------------------------------------

    def _run_read(
        self, rule: Callable[[SQLiteStatements, *Ts], Coroutine[Any, Any, T]], args: tuple[*Ts]
    ) -> Awaitable[T]:
        """Inline on the event loop, on the writer's connection (statements never suspend)."""
        return rule(self._statements, *args)

    async def _run_write(
        self,
        rule: Callable[[SQLiteStatements, *Ts], Coroutine[Any, Any, T]],
        args: tuple[*Ts],
        progress: WriteProgress,
    ) -> T:
        """``rule`` in one ``BEGIN IMMEDIATE`` transaction, inline, never suspending: once it
        has begun it ends (committed or rolled back) before anything else runs, so a deadline
        can only cut it off before it begins."""
        await self._checkpoints.writable()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = run_inline(rule(self._statements, *args))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._checkpoints.committed()
        return result

    def _storage_error(self, exc: BaseException) -> Exception:
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
            return DuplicateKey(str(exc))
        code = getattr(exc, "sqlite_errorcode", None)
        if code in _CANNOT_GROW:
            return StorageFull()
        if code is not None and code & 0xFF in _UNAVAILABLE:
            return ServiceUnavailable("The database file cannot be used now; retry shortly.")
        return QueryFailed(str(exc))

    async def _read_long(
        self,
        rule: Callable[[SQLiteStatements, *Ts], Coroutine[Any, Any, T]],
        *args: *Ts,
    ) -> T:
        """A consistent read on a reader thread (its own connection), off the event loop."""

        running: list[sqlite3.Connection] = []

        def run() -> T:
            reader = self._reader()
            running.append(reader._db)
            return run_inline(reader.consistent_read(False, rule, *args))  # type: ignore[arg-type]

        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, run)
        except asyncio.CancelledError:  # past the deadline: stop the thread's statement too
            for db in running:
                db.interrupt()
            raise

    def _reader(self) -> SQLiteStatements:
        reader: SQLiteStatements | None = getattr(self._local, "statements", None)
        if reader is None:
            db = _connect(self._path)
            db.execute("PRAGMA query_only = ON")
            with self._readers_lock:
                self._readers.append(db)
            reader = self._local.statements = SQLiteStatements(db, self._snapshots, None)
        return reader

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SQLiteStatements]:
        db = _connect(self._path)
        try:
            db.execute("PRAGMA query_only = ON")
            db.execute("BEGIN")  # one consistent snapshot for the whole read
            yield SQLiteStatements(db, self._snapshots, None)
        finally:
            db.close()
