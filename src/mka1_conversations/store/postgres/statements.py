"""PostgreSQL's statements, every job's in one object bound to one pooled connection."""

from __future__ import annotations

import math

from ..backend import WriteProgress
from .admin import AdminSQL
from .base import Connection
from .conversations import ConversationSQL
from .listing import ListingSQL
from .receipts import ReceiptSQL
from .responses import ResponseSQL
from .sharing import SharingSQL
from .words import WordSQL

__all__ = ["PostgresStatements"]


class PostgresStatements(
    ConversationSQL, WordSQL, ListingSQL, ReceiptSQL, SharingSQL, ResponseSQL, AdminSQL
):
    """The statements on ``conn``; ``alone``: outside a transaction, so at most one of them;
    ``write_by``: the database's time after which a write statement must change nothing (a
    write cut off by the deadline, arriving late: backend.py); ``progress`` learns when the
    statement of a write ``alone`` is sent."""

    __slots__ = ("_alone", "_conn", "_page_clock", "_progress", "_sent", "_write_by")

    def __init__(
        self,
        conn: Connection,
        *,
        alone: bool = False,
        write_by: float = math.inf,
        progress: WriteProgress | None = None,
    ) -> None:
        self._conn = conn
        self._alone = alone
        self._sent = 0
        self._write_by = write_by
        self._progress = progress
        self._page_clock: int | None = None
