"""Listing conversations by last update, page after page, as of the moment the listing started.

The sort key (``updated_at``, the *position*) moves whenever a conversation gets an item or new
metadata, so a plain keyset pager would show a conversation that moved behind the cursor twice
(ascending) or never (descending). Instead every page is served as of a snapshot time ``T0``:

- the first page (no ``after``) takes ``T0`` = now and remembers it under the page's last id;
- ``after=<id>`` recalls that ``T0`` (a cursor nobody handed out, or older than
  ``SNAPSHOT_RETENTION``, starts a fresh snapshot at now);
- as of ``T0``, a conversation sits at its current position if that is ≤ ``T0``, or else at the
  ``from_position`` of its move that crossed ``T0`` (moves are kept for the retention time:
  every one on PostgreSQL, by a trigger; on SQLite only those a remembered snapshot may need);
  conversations created after ``T0`` are not in the snapshot.

So a listing paged to its end returns every conversation that existed when it started, and was
not deleted, exactly once, in the order of that moment, however the conversations move meanwhile.
Filters (metadata, search) apply to the conversations as they are now.

Both stores follow these rules with their own queries; this module holds the shared parts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .conversations import ConversationRecord
from .store import Order

__all__ = ["SNAPSHOT_RETENTION_US", "Listed", "SnapshotMemory", "merge_page", "position_as_of"]

SNAPSHOT_RETENTION_US = 24 * 3600 * 1_000_000
"""How long moves (and remembered snapshots) are kept: a page cursor stays exact this long.
The migrations' trigger prunes moves with the same constant."""


@dataclass(frozen=True, slots=True)
class Listed:
    """A conversation and its position in the snapshot."""

    position: int
    record: ConversationRecord

    @property
    def key(self) -> tuple[int, str]:
        return (self.position, self.record.id)


def position_as_of(current: int, crossing_move_from: int | None) -> int:
    """A conversation's position as of T0, from its current one and the ``from_position`` of its
    move that crossed T0 (if it moved since)."""
    return crossing_move_from if crossing_move_from is not None else current


def merge_page(
    unmoved: Sequence[Listed],
    moved: Iterable[Listed],
    *,
    after: tuple[int, str] | None,
    order: Order,
    limit: int,
) -> tuple[list[Listed], bool]:
    """The page: ``unmoved`` holds the first ``limit + 1`` unmoved conversations past the cursor
    (in order, from the index); ``moved`` every moved one, placed at its T0 position."""
    descending = order == "desc"
    extra = [m for m in moved if after is None or (m.key < after if descending else m.key > after)]
    rows = sorted([*unmoved, *extra], key=lambda r: r.key, reverse=descending)
    return rows[:limit], len(rows) > limit


class SnapshotMemory:
    """Remembered snapshots, in memory: ``(owner key, last id) → T0`` (bounded, least recently
    used first out), and each owner's latest snapshot time, which tells the store whether a
    conversation's move must be recorded (only if a snapshot taken at or after its old position
    may still be paged). For a single-process store; shared stores keep them in the database."""

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

    def latest(self, owner_key: str) -> int | None:
        """The owner's latest snapshot time, if any is remembered."""
        with self._lock:
            return self._latest.get(owner_key)

    def remember(self, owner_key: str, last_id: str, t0: int) -> None:
        with self._lock:
            self._entries[owner_key, last_id] = t0
            self._entries.move_to_end((owner_key, last_id))
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def recall(self, owner_key: str, last_id: str, now: int) -> int | None:
        with self._lock:
            t0 = self._entries.get((owner_key, last_id))
        if t0 is None or t0 < now - SNAPSHOT_RETENTION_US:
            return None
        return t0
