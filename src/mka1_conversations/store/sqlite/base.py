"""What every SQLite statement has at hand: the connection, the listing snapshots remembered in
this process, and the position clock; and how a conversation's position moves."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import msgspec

from ...domain.conversations import ConversationRecord
from ..listing import SNAPSHOT_RETENTION_US
from ..snapshots import SnapshotMemory

__all__ = ["CONVERSATION_COLUMNS", "Connected", "now_us", "record"]

CONVERSATION_COLUMNS = "id, created_at, deleted_at, metadata"
"""What a ConversationRecord is read from (``record``)."""

_decode_metadata = msgspec.json.Decoder(dict[str, str]).decode


def now_us() -> int:
    """The position clock: unix microseconds."""
    return time.time_ns() // 1000


def record(row: tuple[Any, ...]) -> ConversationRecord:
    return ConversationRecord(
        id=row[0], created_at=row[1], deleted_at=row[2], metadata=_decode_metadata(row[3])
    )


class Connected:
    """The state the statement mixins share (the concrete class holds it in its slots)."""

    __slots__ = ()
    _db: sqlite3.Connection
    _snapshots: SnapshotMemory

    def _new_position(self, owner_key: str, conversation_id: str) -> int:
        """The new list position of a conversation about to be updated. Its old position is
        kept as a move first if a remembered snapshot may need it (one taken at or after that
        old position): in a chat, the first update after a listing, not every append."""
        position = now_us()
        if not self._snapshots.may_need_moves(owner_key):
            return position
        row = self._db.execute(
            "SELECT updated_at FROM conversations WHERE id = ? AND owner_id = ? "
            "AND deleted_at IS NULL",
            (conversation_id, owner_key),
        ).fetchone()
        if row is not None and self._snapshots.needs_move(owner_key, row[0]):
            self._db.execute(
                "INSERT INTO conversation_moves (owner_id, conversation_id, from_position, "
                "to_position) VALUES (?, ?, ?, ?)",
                (owner_key, conversation_id, row[0], position),
            )
            self._db.execute(
                "DELETE FROM conversation_moves WHERE conversation_id = ? AND to_position < ?",
                (conversation_id, position - SNAPSHOT_RETENTION_US),
            )
        return position
