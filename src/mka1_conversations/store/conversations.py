"""Conversations and their items, as the service sees them (``domain.store.ConversationStore``),
written once over any backend: each operation is one rule run in one transaction.

A conversation is its owner's (``Owner.key``) and nobody else's: every statement is given the
owner and finds nothing of anyone else's, so a foreign or soft-deleted conversation is
``NotFound`` on every path. Its position in its owner's list (``listing.py``) moves on every
change, which the dialect stamps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from ..domain.conversations import ConversationRecord
from ..domain.errors import NotFound, ServiceUnavailable
from ..domain.identity import Owner
from ..domain.items import NewItem
from ..domain.store import ConversationPage, ConversationQuery, ItemPage, Order
from . import items as item_rules
from .backend import Backend, DuplicateKey, Instruments, QueryFailed, one_statement
from .items import ItemStatements
from .listing import ListingStatements, list_conversations
from .words import fold_words, word_counts

__all__ = ["ConversationStatements", "Conversations"]

logger = logging.getLogger("mka1_conversations")


class ConversationStatements(ItemStatements, ListingStatements, Protocol):
    async def insert_conversation(
        self,
        owner_key: str,
        conversation_id: str,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        words: dict[str, int],
        *,
        now: int,
    ) -> None:
        """The conversation, at a new position, with its first items and their words, counted
        (``words``: each word's holders among them; none pending)."""

    async def get_conversation(
        self, owner_key: str, conversation_id: str
    ) -> ConversationRecord | None: ...

    async def update_metadata(
        self, owner_key: str, conversation_id: str, metadata: dict[str, str]
    ) -> ConversationRecord | None:
        """Replace the live conversation's metadata and move it; None if there is none."""

    async def mark_deleted(self, owner_key: str, conversation_id: str, *, now: int) -> bool:
        """Soft-delete the live conversation (its position stays: it is still a cursor);
        False if there is none."""


@one_statement
async def create_conversation(
    st: ConversationStatements,
    owner: Owner,
    conversation_id: str,
    metadata: dict[str, str],
    items: Sequence[NewItem],
    now: int,
) -> ConversationRecord:
    words = word_counts(item.search_text for item in items)
    await st.insert_conversation(owner.key, conversation_id, metadata, items, words, now=now)
    return ConversationRecord(
        id=conversation_id, created_at=now, deleted_at=None, metadata=metadata
    )


async def get_conversation(
    st: ConversationStatements, owner: Owner, conversation_id: str
) -> ConversationRecord:
    record = await st.get_conversation(owner.key, conversation_id)
    if record is None:
        raise NotFound.conversation(conversation_id)
    return record


@one_statement
async def update_conversation(
    st: ConversationStatements, owner: Owner, conversation_id: str, metadata: dict[str, str]
) -> ConversationRecord:
    record = await st.update_metadata(owner.key, conversation_id, metadata)
    if record is None:
        raise NotFound.conversation(conversation_id)
    return record


@one_statement
async def delete_conversation(
    st: ConversationStatements, owner: Owner, conversation_id: str, now: int
) -> None:
    if not await st.mark_deleted(owner.key, conversation_id, now=now):
        raise NotFound.conversation(conversation_id)


class Conversations:
    """``domain.store.ConversationStore`` over a backend: each method runs its rule under its
    own name (the database time of the call)."""

    def __init__(self, backend: Backend[ConversationStatements], instruments: Instruments) -> None:
        self._db = backend
        self._instruments = instruments

    async def create_conversation(
        self,
        owner: Owner,
        conversation_id: str,
        *,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        now: int,
    ) -> ConversationRecord:
        record = await self._db.write(
            "create_conversation",
            create_conversation,
            owner,
            conversation_id,
            metadata,
            items,
            now,
        )
        if items:
            self._instruments.items_written(len(items))
        return record

    async def get_conversation(self, owner: Owner, conversation_id: str) -> ConversationRecord:
        return await self._db.read("get_conversation", get_conversation, owner, conversation_id)

    async def update_conversation(
        self, owner: Owner, conversation_id: str, *, metadata: dict[str, str]
    ) -> ConversationRecord:
        return await self._db.write(
            "update_conversation", update_conversation, owner, conversation_id, metadata
        )

    async def delete_conversation(self, owner: Owner, conversation_id: str, *, now: int) -> None:
        await self._db.write(
            "delete_conversation", delete_conversation, owner, conversation_id, now
        )

    async def list_conversations(self, owner: Owner, query: ConversationQuery) -> ConversationPage:
        return await self._db.read("list_conversations", list_conversations, owner, query)

    async def append_items(
        self, owner: Owner, conversation_id: str, items: Sequence[NewItem], *, now: int
    ) -> None:
        try:
            fold = await self._db.write(
                "append_items", item_rules.append_items, owner, conversation_id, items, now
            )
        except DuplicateKey:
            raise await self._db.read(
                "append_items", item_rules.duplicate_item, owner, conversation_id, items
            ) from None
        self._instruments.items_written(len(items))
        if fold:
            try:
                await self._db.write("fold_words", fold_words, owner.key, conversation_id)
            except (QueryFailed, ServiceUnavailable):
                # The items are stored; the next append folds them (a delete reads them
                # meanwhile: words.py).
                logger.warning("could not fold the words of conversation %s", conversation_id)

    async def list_items(
        self,
        owner: Owner,
        conversation_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
        max_bytes: int,
    ) -> ItemPage:
        return await self._db.read(
            "list_items",
            item_rules.list_items,
            owner,
            conversation_id,
            after,
            limit,
            order,
            max_bytes,
        )

    async def get_item(self, owner: Owner, conversation_id: str, item_id: str) -> bytes:
        return await self._db.read("get_item", item_rules.get_item, owner, conversation_id, item_id)

    async def delete_items(
        self, owner: Owner, conversation_id: str, item_ids: Sequence[str], *, now: int
    ) -> ConversationRecord:
        return await self._db.write(
            "delete_items", item_rules.delete_items, owner, conversation_id, item_ids, now
        )
