"""Each operation's rules, over a Store: validation of bodies, normalisation, ids, atomicity.

The HTTP face decodes a request into the input Structs and calls one method here; the Store does
the single transaction. Nothing here knows about HTTP or SQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .conversations import (
    ConversationDeleted,
    ConversationObject,
    ConversationRecord,
    CreateConversationInput,
    CreateItemsInput,
    DeleteItemsInput,
    UpdateConversationInput,
    validate_metadata,
)
from .errors import InvalidRequest, NotFound, PayloadTooLarge, PermissionDenied
from .identity import IdentityMode, Owner
from .ids import CONVERSATION_PREFIX, is_possible_id, new_id
from .items import NewItem, prepare_items
from .sharing import (
    Grant,
    GrantInput,
    Role,
    check_resource_type,
    owner_of_key,
    parse_grant,
)
from .store import ConversationPage, ConversationQuery, ConversationStore, ItemPage, Order

__all__ = ["ConversationService"]


def _now() -> int:
    return int(time.time())


@dataclass(slots=True)
class ConversationService:
    """The ten operations. ``max_item_bytes`` bounds an item's stored JSON (413 above);
    ``max_page_bytes`` the item JSON of one page of items (cut short, ``has_more``): the
    settings of the same names."""

    store: ConversationStore
    max_item_bytes: int
    max_page_bytes: int
    identity_mode: IdentityMode = "hash"
    clock: Callable[[], int] = field(default=_now)

    def _prepare(self, items: Sequence[Any]) -> list[NewItem]:
        prepared = prepare_items(items)
        for index, item in enumerate(prepared):
            if len(item.data) > self.max_item_bytes:
                raise PayloadTooLarge(
                    f"Item too large: 'items[{index}]' is {len(item.data)} bytes as stored; "
                    f"the limit is {self.max_item_bytes} bytes.",
                    param=f"items[{index}]",
                )
        return prepared

    def present(self, owner: Owner, record: ConversationRecord) -> ConversationObject:
        if record.owner_key is not None:  # shared with the caller: its owner's identity
            owner = owner_of_key(record.owner_key)
        return ConversationObject(
            id=record.id,
            created_at=record.created_at,
            deleted_at=record.deleted_at,
            metadata=record.metadata,
            identity=owner.identity(self.identity_mode),
        )

    async def create(self, owner: Owner, body: CreateConversationInput) -> ConversationObject:
        metadata = validate_metadata(body.metadata)
        items = self._prepare(body.items or [])
        record = await self.store.create_conversation(
            owner,
            new_id(CONVERSATION_PREFIX),
            metadata=metadata,
            items=items,
            now=self.clock(),
        )
        return self.present(owner, record)

    async def list(self, owner: Owner, query: ConversationQuery) -> ConversationPage:
        return await self.store.list_conversations(owner, query)

    async def get(self, owner: Owner, conversation_id: str) -> ConversationObject:
        return self.present(owner, await self.store.get_conversation(owner, conversation_id))

    async def update(
        self, owner: Owner, conversation_id: str, body: UpdateConversationInput
    ) -> ConversationObject:
        metadata = validate_metadata(body.metadata)
        record = await self.store.update_conversation(owner, conversation_id, metadata=metadata)
        return self.present(owner, record)

    async def delete(self, owner: Owner, conversation_id: str) -> ConversationDeleted:
        await self.store.delete_conversation(owner, conversation_id, now=self.clock())
        return ConversationDeleted(id=conversation_id)

    async def create_items(
        self, owner: Owner, conversation_id: str, body: CreateItemsInput
    ) -> ItemPage:
        items = self._prepare(body.items)
        return await self.store.append_items(owner, conversation_id, items, now=self.clock())

    async def list_items(
        self, owner: Owner, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage:
        return await self.store.list_items(
            owner,
            conversation_id,
            after=after,
            limit=limit,
            order=order,
            max_bytes=self.max_page_bytes,
        )

    async def get_item(self, owner: Owner, conversation_id: str, item_id: str) -> bytes:
        return await self.store.get_item(owner, conversation_id, item_id)

    async def delete_item(
        self, owner: Owner, conversation_id: str, item_id: str
    ) -> ConversationObject:
        try:
            record = await self.store.delete_items(
                owner, conversation_id, [item_id], now=self.clock()
            )
        except NotFound as exc:
            if exc.param is None:  # the conversation
                raise
            raise NotFound.item(item_id) from None  # the path names it: no body param
        return self.present(owner, record)

    async def delete_items(
        self, owner: Owner, conversation_id: str, body: DeleteItemsInput
    ) -> ConversationObject:
        first_seen: dict[str, int] = {}
        for index, item_id in enumerate(body.item_ids):
            if not is_possible_id(item_id):
                await self.store.get_conversation(owner, conversation_id)  # 404 it first
                if not await self.store.check(owner, conversation_id, Role.WRITER):
                    raise PermissionDenied.role("conversation", conversation_id, "writer", "reader")
                raise NotFound.item(item_id, param=f"item_ids[{index}]")
            if item_id in first_seen:
                raise InvalidRequest(
                    f"Duplicate value in 'item_ids': '{item_id}' appears at index "
                    f"{first_seen[item_id]} and {index}.",
                    code="duplicate_value",
                    param=f"item_ids[{index}]",
                )
            first_seen[item_id] = index
        record = await self.store.delete_items(
            owner, conversation_id, body.item_ids, now=self.clock()
        )
        return self.present(owner, record)

    # --- sharing (docs/sharing.md) ------------------------------------------------------------

    async def grant(self, caller: Owner, body: GrantInput) -> None:
        change = parse_grant(caller, body, granting=True)
        _possible(change)
        await self.store.grant(caller, change, now=self.clock())

    async def revoke(self, caller: Owner, body: GrantInput) -> None:
        change = parse_grant(caller, body, granting=False)
        _possible(change)
        await self.store.revoke(caller, change)

    async def check(self, caller: Owner, resource_type: str, resource_id: str, role: str) -> bool:
        check_resource_type(resource_type)
        if not is_possible_id(resource_id):
            return False
        return await self.store.check(caller, resource_id, Role.named(role), resource_type)


def _possible(change: Grant) -> None:
    """404 for an id that cannot be one of ours (the resource it names)."""
    if not is_possible_id(change.conversation_id):
        if change.resource_type == "response":
            raise NotFound.response(change.conversation_id)
        raise NotFound.conversation(change.conversation_id)
