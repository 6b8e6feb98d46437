"""Listing snapshots remembered in the server process, for a store that has only one (SQLite).

A listing page is served as of a snapshot time ``T0`` (``listing.py``), remembered under the
page's last conversation so that the next page (``after=<that id>``) is served as of the same
moment. A store shared by several processes keeps them in a table; a single-process store keeps
them here, and uses what it knows here to record a conversation's move only when a remembered
snapshot may need it (:meth:`SnapshotMemory.needs_move`), not on every update.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["SnapshotMemory"]


class SnapshotMemory:
    """``(owner key, last id) → T0`` (bounded, least recently used first out), and each owner's
    latest snapshot time. Thread-safe: reader threads serve listings too."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._entries: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def begin(self, owner_key: str, t0: int) -> None:
        """A listing of this owner is served as of ``t0``: call before reading its page."""
        with self._lock:
            self._latest[owner_key] = max(t0, self._latest.get(owner_key, t0))
            self._latest.move_to_end(owner_key)
            while len(self._latest) > self._capacity:
                self._latest.popitem(last=False)

    def needs_move(self, owner_key: str, old_position: int) -> bool:
        """Whether a conversation of this owner leaving ``old_position`` must be recorded as a
        move: only if a snapshot taken at or after that position may still be paged."""
        with self._lock:
            latest = self._latest.get(owner_key)
        return latest is not None and old_position <= latest

    def may_need_moves(self, owner_key: str) -> bool:
        """False when no snapshot of this owner is remembered (then no move is needed)."""
        with self._lock:
            return owner_key in self._latest

    def remember(self, owner_key: str, last_id: str, t0: int) -> None:
        with self._lock:
            self._entries[owner_key, last_id] = t0
            self._entries.move_to_end((owner_key, last_id))
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def recall(self, owner_key: str, last_id: str) -> int | None:
        with self._lock:
            return self._entries.get((owner_key, last_id))
