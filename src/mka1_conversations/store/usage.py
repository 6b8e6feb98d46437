"""Usage counting and its query (``domain/usage.py``), over any backend.

Where each count is written:

- A creation and an append add their counts (a conversation created, the items added, one
  operation) in their own statement (PostgreSQL) or transaction (SQLite): an acknowledged write's
  counts are in the database with it, and lost with it only if it was not acknowledged.
- Every other operation, and a creation or an append that failed, is counted in this process's
  memory (:class:`UsageTally`) and added to the database by the app every second (and at
  shutdown): those counts lag by up to a second, and a process killed with SIGKILL loses at most
  the last second's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from ..domain.identity import Owner
from ..domain.usage import UsagePage, UsageQuery, UsageRow, page_of
from .backend import Backend, one_statement

__all__ = ["Usage", "UsageStatements", "UsageTally"]

UsageKey = tuple[str, int, str, str, str]
"""(owner key, minute, api key id, account, end user)"""


class UsageStatements(Protocol):
    async def add_usage(self, counts: Sequence[tuple[UsageKey, int]]) -> None:
        """Add each count of operations to its row (made when missing)."""

    async def usage_rows(self, query: UsageQuery) -> list[UsageRow]:
        """The sums of the query's page of buckets, per bucket and the groups asked."""


@one_statement
async def add_operations(st: UsageStatements, counts: Sequence[tuple[UsageKey, int]]) -> None:
    await st.add_usage(counts)


async def usage_page(st: UsageStatements, query: UsageQuery) -> UsagePage:
    if query.owner_keys == ():  # asked for end users that are none of the caller's
        return page_of(query, [])
    return page_of(query, await st.usage_rows(query))


class UsageTally:
    """Operations counted in memory until :meth:`flush` adds them."""

    def __init__(self) -> None:
        self._counts: dict[UsageKey, int] = {}

    def count(self, caller: Owner, now: float | None = None) -> None:
        minute = int(time.time() if now is None else now) // 60 * 60
        key = (caller.key, minute, caller.key_id, caller.account, caller.end_user)
        self._counts[key] = self._counts.get(key, 0) + 1

    def take(self) -> list[tuple[UsageKey, int]]:
        counts, self._counts = self._counts, {}
        return list(counts.items())

    def put_back(self, counts: Sequence[tuple[UsageKey, int]]) -> None:
        for key, n in counts:
            self._counts[key] = self._counts.get(key, 0) + n


class Usage:
    """The usage part of the storage: the tally of operations, and the query."""

    def __init__(self, backend: Backend[UsageStatements]) -> None:
        self._db = backend
        self.tally = UsageTally()

    async def flush(self) -> None:
        """Add the counted operations; on failure they are kept for the next flush."""
        counts = self.tally.take()
        if not counts:
            return
        try:
            await self._db.write("add_usage", add_operations, counts)
        except BaseException:
            self.tally.put_back(counts)
            raise

    async def page(self, query: UsageQuery) -> UsagePage:
        return await self._db.read("usage_conversations", usage_page, query)
