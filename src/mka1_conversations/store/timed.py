"""A Store that wraps another and measures it: the time of every call (the database's share of a
request) and the number of items written. The app puts it between the service and the backend.

It knows nothing of Prometheus: it is given one timer per call (anything with ``observe``), made
once, and a counter of items (anything with ``inc``), so a call costs two clock reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from ..domain.conversations import ConversationRecord
from ..domain.identity import Owner
from ..domain.items import NewItem
from ..domain.store import (
    ApiKeyRecord,
    ConversationPage,
    ConversationQuery,
    ItemPage,
    Order,
    PurgeBatch,
    Store,
)

__all__ = ["TimedStore"]


class Timer(Protocol):
    def observe(self, amount: float) -> None: ...


class Tally(Protocol):
    def inc(self, amount: float = 1) -> None: ...


_clock = time.perf_counter


class TimedStore:
    """Every Store method of ``inner``, timed under its own name."""

    def __init__(self, inner: Store, timer: Callable[[str], Timer], items_written: Tally) -> None:
        self.inner = inner
        self._items = items_written
        self._create = timer("create_conversation")
        self._get = timer("get_conversation")
        self._update = timer("update_conversation")
        self._delete = timer("delete_conversation")
        self._list = timer("list_conversations")
        self._append = timer("append_items")
        self._list_items = timer("list_items")
        self._get_item = timer("get_item")
        self._delete_items = timer("delete_items")
        self._key = timer("account_for_key")
        self._create_key = timer("create_api_key")
        self._count_keys = timer("count_api_keys")
        self._list_keys = timer("list_api_keys")
        self._revoke_key = timer("revoke_api_key")
        self._key_use = timer("record_key_use")
        self._purge = timer("purge_deleted")
        self._ping = timer("ping")
        self._ready = timer("check_ready")

    async def create_conversation(
        self,
        owner: Owner,
        conversation_id: str,
        *,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        now: int,
    ) -> ConversationRecord:
        started = _clock()
        try:
            record = await self.inner.create_conversation(
                owner, conversation_id, metadata=metadata, items=items, now=now
            )
        finally:
            self._create.observe(_clock() - started)
        if items:
            self._items.inc(len(items))
        return record

    async def get_conversation(self, owner: Owner, conversation_id: str) -> ConversationRecord:
        started = _clock()
        try:
            return await self.inner.get_conversation(owner, conversation_id)
        finally:
            self._get.observe(_clock() - started)

    async def update_conversation(
        self, owner: Owner, conversation_id: str, *, metadata: dict[str, str]
    ) -> ConversationRecord:
        started = _clock()
        try:
            return await self.inner.update_conversation(owner, conversation_id, metadata=metadata)
        finally:
            self._update.observe(_clock() - started)

    async def delete_conversation(self, owner: Owner, conversation_id: str, *, now: int) -> None:
        started = _clock()
        try:
            await self.inner.delete_conversation(owner, conversation_id, now=now)
        finally:
            self._delete.observe(_clock() - started)

    async def list_conversations(self, owner: Owner, query: ConversationQuery) -> ConversationPage:
        started = _clock()
        try:
            return await self.inner.list_conversations(owner, query)
        finally:
            self._list.observe(_clock() - started)

    async def append_items(
        self, owner: Owner, conversation_id: str, items: Sequence[NewItem], *, now: int
    ) -> None:
        started = _clock()
        try:
            await self.inner.append_items(owner, conversation_id, items, now=now)
        finally:
            self._append.observe(_clock() - started)
        self._items.inc(len(items))

    async def list_items(
        self, owner: Owner, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage:
        started = _clock()
        try:
            return await self.inner.list_items(
                owner, conversation_id, after=after, limit=limit, order=order
            )
        finally:
            self._list_items.observe(_clock() - started)

    async def get_item(self, owner: Owner, conversation_id: str, item_id: str) -> bytes:
        started = _clock()
        try:
            return await self.inner.get_item(owner, conversation_id, item_id)
        finally:
            self._get_item.observe(_clock() - started)

    async def delete_items(
        self, owner: Owner, conversation_id: str, item_ids: Sequence[str]
    ) -> ConversationRecord:
        started = _clock()
        try:
            return await self.inner.delete_items(owner, conversation_id, item_ids)
        finally:
            self._delete_items.observe(_clock() - started)

    async def account_for_key(self, key_hash: str) -> str | None:
        started = _clock()
        try:
            return await self.inner.account_for_key(key_hash)
        finally:
            self._key.observe(_clock() - started)

    async def create_api_key(self, key_hash: str, *, account: str, name: str, now: int) -> None:
        started = _clock()
        try:
            await self.inner.create_api_key(key_hash, account=account, name=name, now=now)
        finally:
            self._create_key.observe(_clock() - started)

    async def count_api_keys(self) -> int:
        started = _clock()
        try:
            return await self.inner.count_api_keys()
        finally:
            self._count_keys.observe(_clock() - started)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        started = _clock()
        try:
            return await self.inner.list_api_keys()
        finally:
            self._list_keys.observe(_clock() - started)

    async def revoke_api_key(self, key_hash: str, *, now: int) -> bool:
        started = _clock()
        try:
            return await self.inner.revoke_api_key(key_hash, now=now)
        finally:
            self._revoke_key.observe(_clock() - started)

    async def record_key_use(self, last_used: dict[str, int]) -> None:
        started = _clock()
        try:
            await self.inner.record_key_use(last_used)
        finally:
            self._key_use.observe(_clock() - started)

    async def purge_deleted(self, *, deleted_before: int, max_items: int) -> PurgeBatch:
        started = _clock()
        try:
            return await self.inner.purge_deleted(
                deleted_before=deleted_before, max_items=max_items
            )
        finally:
            self._purge.observe(_clock() - started)

    async def ping(self) -> None:
        started = _clock()
        try:
            await self.inner.ping()
        finally:
            self._ping.observe(_clock() - started)

    async def check_ready(self) -> None:
        started = _clock()
        try:
            await self.inner.check_ready()
        finally:
            self._ready.observe(_clock() - started)

    async def close(self) -> None:
        await self.inner.close()
