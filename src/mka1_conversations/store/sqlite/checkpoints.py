"""WAL checkpoints of the SQLite store, on a thread of their own, so their fsyncs stall no request.

SQLite's own checkpoint runs inside the commit that crosses ``wal_autocheckpoint``, on the
connection that commits: for the store's one writer, on the event loop, while every other
request waits. So the writer's autocheckpoint is off and this thread, with its own connection,
checkpoints instead:

1. After every ``commits`` commits (or a second after the last one), a PASSIVE checkpoint copies
   what the WAL holds into the database file while the loop goes on reading and writing. Such a
   pass syncs the WAL, not the database file (SQLite syncs that only when a pass has copied the
   whole WAL).
2. Under continuous writes a pass never catches up completely, and SQLite starts the WAL over
   only after one has. So when the WAL has grown past ``restart_frames``, the thread catches up
   (passes until one is quick), flushes the database file itself (``fdatasync`` on a descriptor
   of its own, while writes go on), copies what came meanwhile, then asks the loop to hold new
   writes (reads go on), copies the last few frames and lets the writes go: the next one starts
   the WAL over. The hold lasts one short checkpoint, whose syncs have little left to flush.

The WAL file keeps its size between cycles (the store's ``journal_size_limit`` is above it).
The thread runs at the process's priority, so that on a busy core it still catches up before a
hold. Durability is SQLite's own: a checkpoint copies committed pages only, and syncs as
``synchronous=NORMAL`` says; the extra flush only moves work earlier. How each choice was
measured: docs/performance.md ("The checkpoint hold", "Tails").

The descriptor is opened once and closed only after the store's connections
(:meth:`Checkpointer.release`): closing any descriptor of a database file drops every POSIX lock
this process holds on it, SQLite's included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["Checkpointer"]

_log = logging.getLogger("mka1_conversations.sqlite")


class Checkpointer:
    """Checkpoints one database file from a thread. The store calls :meth:`committed` after each
    write commit and awaits :meth:`writable` before each write; :meth:`stop` at close."""

    def __init__(self, path: Path, *, commits: int = 256, restart_frames: int = 16_384) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._file: int | None = _open_for_sync(path)
        self._flushes = True
        self._commits_per_pass = commits
        self._restart_frames = restart_frames
        self._commits = 0
        self._seen = 0
        self._wake = threading.Event()
        self._held = threading.Event()
        self._lock = threading.Lock()
        self._want_hold = False
        self._open = asyncio.Event()
        self._open.set()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # A daemon: a process that exits without closing its store must not hang on it (an
        # interrupted checkpoint is as safe as a crash; the next one completes it).
        self._thread = threading.Thread(
            target=self._run, name="mka1-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    # --- on the event loop ---------------------------------------------------------------------

    async def writable(self) -> None:
        """Return when a write may start (at once, unless a restart is finishing)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not self._open.is_set():
            await self._open.wait()

    def committed(self) -> None:
        self._commits += 1
        if self._commits - self._seen >= self._commits_per_pass:
            self._wake.set()

    def _hold(self) -> None:
        with self._lock:
            if self._want_hold:  # the thread still waits for it (it gives up after a while)
                self._open.clear()  # writes run inline on the loop: none is under way now
                self._held.set()

    def stop(self) -> None:
        with self._lock:  # a restart about to ask the loop for a hold sees it (_restart)
            self._stopping = True
        self._held.set()
        self._wake.set()
        self._thread.join()
        self._db.close()
        self._open.set()

    # --- on the thread -------------------------------------------------------------------------

    def release(self) -> None:
        """Close the database file's descriptor: after :meth:`stop` and after every other
        connection of this process to the file has closed."""
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if self._stopping:
                return
            if self._commits == self._seen:
                continue
            self._seen = self._commits
            try:
                _, frames, _ = self._checkpoint()
                if frames >= self._restart_frames:
                    for _ in range(4):  # catch up: each pass copies what came during the last
                        started = time.monotonic()
                        self._checkpoint()
                        if time.monotonic() - started < 0.005:
                            break
                    if self._flush():
                        self._checkpoint()  # what came during the flush
                    self._restart()
            except sqlite3.Error:
                _log.exception("WAL checkpoint failed; the next pass retries")

    def _restart(self) -> None:
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            if self._stopping:  # the loop is in stop(): it would never run the hold
                return
            self._want_hold = True
            self._held.clear()
        try:
            loop.call_soon_threadsafe(self._hold)
        except RuntimeError:  # the loop has closed
            return
        self._held.wait(timeout=5.0)
        with self._lock:
            self._want_hold = False
            if not self._held.is_set() or self._stopping:
                return
        try:
            self._checkpoint()
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._open.set)

    def _flush(self) -> bool:
        """Write the database file's dirty pages to disk now, while writes go on."""
        if self._file is None or not self._flushes:
            return False
        try:
            _sync(self._file)
        except OSError:  # e.g. a platform that cannot sync a read-only descriptor: the hold's
            # own sync does it. The descriptor stays open until release (POSIX locks).
            _log.warning("cannot flush the database file ahead of a WAL restart", exc_info=True)
            self._flushes = False
            return False
        return True

    def _checkpoint(self) -> tuple[int, int, int]:
        """(busy, frames in the WAL, frames copied): PASSIVE never waits for a lock."""
        busy, frames, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(copied)


_sync = getattr(os, "fdatasync", os.fsync)


def _open_for_sync(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None
