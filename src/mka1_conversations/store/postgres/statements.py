"""PostgreSQL's statements, every job's in one object bound to one pooled connection."""

from __future__ import annotations

from .admin import AdminSQL
from .base import Connection
from .conversations import ConversationSQL
from .listing import ListingSQL
from .words import WordSQL

__all__ = ["PostgresStatements"]


class PostgresStatements(ConversationSQL, WordSQL, ListingSQL, AdminSQL):
    """The statements on ``conn``; ``alone``: outside a transaction, so at most one of them."""

    __slots__ = ("_alone", "_conn", "_sent")

    def __init__(self, conn: Connection, *, alone: bool = False) -> None:
        self._conn = conn
        self._alone = alone
        self._sent = 0
