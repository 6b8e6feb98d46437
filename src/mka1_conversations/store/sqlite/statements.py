"""SQLite's statements, every job's in one object bound to one connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from ..snapshots import SnapshotMemory
from .admin import AdminSQL
from .conversations import ConversationSQL
from .listing import ListingSQL
from .receipts import ReceiptSQL
from .sharing import SharingSQL
from .words import WordSQL

__all__ = ["SQLiteStatements"]


class SQLiteStatements(ConversationSQL, WordSQL, ListingSQL, ReceiptSQL, SharingSQL, AdminSQL):
    """The statements on ``db``. ``long`` runs a consistent read off the event loop (None on a
    connection that is already off it)."""

    __slots__ = ("_db", "_long", "_snapshots")

    def __init__(
        self,
        db: sqlite3.Connection,
        snapshots: SnapshotMemory,
        long: Callable[..., Awaitable[Any]] | None,
    ) -> None:
        self._db = db
        self._snapshots = snapshots
        self._long = long
