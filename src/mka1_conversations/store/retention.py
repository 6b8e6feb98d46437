"""The retention purge: hard-deleting conversations soft-deleted long enough ago, in batches,
and the receipts of Idempotency-Keys past their retention (``receipts.py``).

Each batch is one short transaction with a budget of rows: first the items of such
conversations, then (budget left) their word-index rows and their grants (counted with the
words), then (budget left, so nothing of them
remains) the conversations themselves, whose metadata, moves and snapshots go with them, then
(budget left) expired receipts. A purge beside a serving process therefore never holds the
database for long, and can be stopped and run again at any point.
"""

from __future__ import annotations

from typing import Protocol

from ..domain.store import PurgeBatch
from .receipts import ReceiptStatements, purge_receipts

__all__ = ["RetentionStatements", "purge_deleted"]


class RetentionStatements(ReceiptStatements, Protocol):
    async def purge_items(self, deleted_before: int, limit: int) -> int:
        """Delete up to ``limit`` items of conversations soft-deleted before the time."""

    async def purge_words(self, deleted_before: int, limit: int) -> int:
        """Delete up to ``limit`` word-index rows of those conversations."""

    async def purge_grants(self, deleted_before: int, limit: int) -> int:
        """Delete up to ``limit`` grants of those conversations (``sharing.py``)."""

    async def purge_conversations(self, deleted_before: int, limit: int) -> int:
        """Delete up to ``limit`` of those conversations that hold no item and no word."""


async def purge_deleted(
    st: RetentionStatements, deleted_before: int, max_rows: int, now: int
) -> PurgeBatch:
    items = await st.purge_items(deleted_before, max_rows)
    words = conversations = expired = 0
    if items < max_rows:
        words = await st.purge_words(deleted_before, max_rows - items)
    if items + words < max_rows:
        words += await st.purge_grants(deleted_before, max_rows - items - words)
    if items + words < max_rows:  # every such conversation is empty now: the rows themselves
        conversations = await st.purge_conversations(deleted_before, max_rows)
        expired = await purge_receipts(st, now, max_rows - items - words)
    return PurgeBatch(conversations=conversations, items=items, words=words, receipts=expired)
