"""WAL checkpoints off the event loop: under continuous writes the WAL file still starts over (its
size stays bounded), no committed row is lost, and stopping leaves no thread behind."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from mka1_conversations.store import open_storage
from mka1_conversations.store.sqlite import SQLiteBackend
from mka1_conversations.store.sqlite.checkpoints import Checkpointer


def _writer(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "PRAGMA wal_autocheckpoint = 0"
    )  # as the store's writer: only the thread checkpoints
    db.execute("PRAGMA journal_size_limit = 0")
    db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad BLOB NOT NULL)")
    return db


def _checkpoint_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "mka1-sqlite-checkpoint"}


def _wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // 4096 if wal.exists() else 0


async def _write_continuously(
    db: sqlite3.Connection, checkpoints: Checkpointer, wal: list[int], path: Path
) -> int:
    """As the store writes: wait until writable, one transaction inline, report the commit; the
    loop yields between writes (as between requests) so the thread's calls can run. Until the
    WAL has started over twice (at most 60,000 rows or 30 s: the thread's cycle takes longer on
    a busy machine); returns the rows written."""
    deadline = time.monotonic() + 30
    n = 0
    while n < 60_000 and time.monotonic() < deadline:
        await checkpoints.writable()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (n, pad) VALUES (?, zeroblob(3000))", (n,))
        db.execute("COMMIT")
        checkpoints.committed()
        n += 1
        if n % 50 == 0:
            wal.append(_wal_pages(path))
            if sum(later < earlier for earlier, later in itertools.pairwise(wal)) >= 2:
                break
        await asyncio.sleep(0)
    return n


def test_the_wal_starts_over_under_continuous_writes(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = _writer(path)
    before = _checkpoint_threads()
    checkpoints = Checkpointer(path, commits=20, restart_frames=400)
    (thread,) = _checkpoint_threads() - before
    wal: list[int] = []
    try:
        rows = asyncio.run(_write_continuously(db, checkpoints, wal, path))
    finally:
        checkpoints.stop()
    # Twice the WAL started over: written again from its start (this writer truncates it then),
    # instead of holding every row written.
    restarts = [later for earlier, later in itertools.pairwise(wal) if later < earlier]
    assert len(restarts) >= 2, wal
    assert all(pages < 200 for pages in restarts), wal
    assert db.execute("SELECT count(*), min(n), max(n) FROM t").fetchone() == (rows, 0, rows - 1)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    checkpoints.release()
    assert not thread.is_alive()


def test_a_reader_sees_every_commit_while_checkpoints_run(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = _writer(path)
    reader = sqlite3.connect(path, isolation_level=None)
    checkpoints = Checkpointer(path, commits=5, restart_frames=50)

    async def main() -> None:
        for n in range(1_500):
            await checkpoints.writable()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (n, pad) VALUES (?, zeroblob(500))", (n,))
            db.execute("COMMIT")
            checkpoints.committed()
            assert reader.execute("SELECT max(n) FROM t").fetchone() == (n,)
            await asyncio.sleep(0)

    try:
        asyncio.run(main())
    finally:
        checkpoints.stop()
    reader.close()
    db.close()
    checkpoints.release()


def test_the_store_stops_its_checkpoint_thread_on_close(tmp_path: Path) -> None:
    path = tmp_path / "mka1.db"
    SQLiteBackend.migrate(path)

    async def main() -> threading.Thread:
        before = _checkpoint_threads()
        store = await open_storage(f"sqlite:///{path}")
        (thread,) = _checkpoint_threads() - before
        await store.close()
        return thread

    assert not asyncio.run(main()).is_alive()


def _open_files(path: Path) -> int:
    """Descriptors of this process on ``path`` or its WAL/shm files (Linux: /proc/self/fd)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if fd.readlink().name.startswith(path.name):
                count += 1
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc (Linux)")
def test_closing_the_store_closes_every_file_it_opened(tmp_path: Path) -> None:
    # The checkpoint thread keeps a descriptor of its own on the database file (to flush it
    # before a WAL restart); it must go with the store, not before (POSIX locks) nor never.
    path = tmp_path / "mka1.db"
    SQLiteBackend.migrate(path)

    async def main() -> tuple[int, int]:
        store = await open_storage(f"sqlite:///{path}")
        opened = _open_files(path)
        await store.close()
        return opened, _open_files(path)

    for _ in range(3):
        opened, left = asyncio.run(main())
        assert opened >= 2
        assert left == 0
