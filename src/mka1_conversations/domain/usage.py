"""Conversation usage (``GET /api/v1/llm/usage/conversations``): the query, its buckets and
pages, and the objects answered (``GetConversationsUsageResponse`` of the MKA1 SDK).

Usage is counted per caller (account and end user), API key and minute: conversations created,
items added, and operations (every authenticated request to a conversation operation). A query
sums minutes into buckets of 1 minute, 1 hour or 1 day, aligned to multiples of the width since
the Unix epoch (UTC), from the bucket holding ``start_time`` to the one holding the last second
before ``end_time``. Every bucket of the range is answered, empty ones with no results; a page
holds ``limit`` of them and names the next one's start as ``next_page``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import msgspec

from .identity import Owner

__all__ = [
    "BUCKET_LIMITS",
    "BUCKET_SECONDS",
    "UsageBucket",
    "UsageMark",
    "UsagePage",
    "UsageQuery",
    "UsageResult",
    "UsageRow",
    "UsageStore",
    "mark",
    "page_of",
]

BucketWidth = Literal["1m", "1h", "1d"]

BUCKET_SECONDS: dict[str, int] = {"1m": 60, "1h": 3600, "1d": 86400}
#: bucket width → (default, maximum) buckets per page (OpenAI's usage API's bounds).
BUCKET_LIMITS: dict[str, tuple[int, int]] = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}


@dataclass(frozen=True, slots=True)
class UsageMark:
    """Whom a write's usage is counted for, and when: written by the write itself."""

    owner_key: str
    account: str
    end_user: str
    api_key_id: str
    minute: int


def mark(caller: Owner, now: int) -> UsageMark:
    return UsageMark(caller.key, caller.account, caller.end_user, caller.key_id, now // 60 * 60)


@dataclass(frozen=True, slots=True)
class UsageQuery:
    account: str
    owner_keys: tuple[str, ...] | None
    """The callers (``account:end_user``) whose usage is summed; None: the whole account."""
    start: int
    """The first bucket's start (aligned)."""
    end: int
    """Past the last bucket's end (aligned)."""
    width: int
    limit: int
    by_user: bool
    by_key: bool


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One bucket's sums, for one group (end user and/or key when grouped by them)."""

    bucket: int
    end_user: str | None
    api_key_id: str | None
    conversations_created: int
    items_added: int
    operations: int


class UsageResult(msgspec.Struct, kw_only=True, omit_defaults=False):
    object: Literal["organization.usage.conversations.result"] = (
        "organization.usage.conversations.result"
    )
    num_conversations_created: int
    num_items_added: int
    num_operations: int
    user_id: str | None = None
    """The end user (``X-On-Behalf-Of``) when grouped by ``user_id``; null for the account's
    own requests (sent without the header), and when not grouped."""
    api_key_id: str | None = None


class UsageBucket(msgspec.Struct, kw_only=True):
    object: Literal["bucket"] = "bucket"
    start_time: int
    end_time: int
    results: list[UsageResult]


class UsagePage(msgspec.Struct, kw_only=True):
    object: Literal["page"] = "page"
    data: list[UsageBucket]
    has_more: bool
    next_page: str | None


def page_of(query: UsageQuery, rows: Sequence[UsageRow]) -> UsagePage:
    """The page of buckets ``[query.start, query.end)`` (at most ``limit``), with ``rows``."""
    last = min(query.end, query.start + query.limit * query.width)
    by_bucket: dict[int, list[UsageResult]] = {}
    for row in rows:
        by_bucket.setdefault(row.bucket, []).append(
            UsageResult(
                num_conversations_created=row.conversations_created,
                num_items_added=row.items_added,
                num_operations=row.operations,
                user_id=(row.end_user or None) if query.by_user else None,
                api_key_id=row.api_key_id if query.by_key else None,
            )
        )
    buckets = [
        UsageBucket(
            start_time=start, end_time=start + query.width, results=by_bucket.get(start, [])
        )
        for start in range(query.start, last, query.width)
    ]
    more = last < query.end
    return UsagePage(data=buckets, has_more=more, next_page=str(last) if more else None)


class UsageCounter(Protocol):
    def count(self, caller: Owner, now: float | None = None) -> None:
        """One more operation by the caller, now."""


class UsageStore(Protocol):
    """The usage part of the storage (store/usage.py)."""

    @property
    def tally(self) -> UsageCounter: ...

    async def page(self, query: UsageQuery) -> UsagePage: ...
