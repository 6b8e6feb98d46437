"""What the service needs from storage, split by job: conversations and their items, API keys,
and maintenance (retention and readiness). A caller depends only on the part it uses.

Every method that touches a conversation takes the caller's ``Owner`` and behaves as if
conversations of other owners, and soft-deleted ones, did not exist (``NotFound``). Each method
is one transaction: it does all of its work or none of it. Writes take the service's clock
(``now``, unix seconds); where a conversation sits in its owner's list is the storage's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from .conversations import ConversationRecord
from .identity import Owner
from .items import NewItem
from .sharing import Grant, Role

__all__ = [
    "ApiKeyRecord",
    "ConversationPage",
    "ConversationQuery",
    "ConversationStore",
    "ItemPage",
    "KeyStore",
    "MaintenanceStore",
    "Order",
    "PurgeBatch",
]

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of items: their ids and stored JSON, in the requested order."""

    ids: list[str]
    data: list[bytes]
    has_more: bool


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """List-conversations parameters, already validated."""

    limit: int = 20
    order: Order = "asc"
    after: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    """Every pair must match exactly."""
    search: str | None = None
    """Every word must occur in the conversation's item text."""


@dataclass(frozen=True, slots=True)
class ConversationPage:
    conversations: list[ConversationRecord]
    has_more: bool


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key as ``keys list`` shows it: never the key, only its SHA-256."""

    key_hash: str
    account: str
    name: str
    created_at: int
    last_used_at: int | None
    """Unix seconds, recorded at most about once a minute per key and server process."""
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class PurgeBatch:
    """What one purge transaction hard-deleted."""

    conversations: int
    items: int
    words: int
    """Rows of the search index (a word of a conversation) removed with the items."""
    receipts: int = 0
    """Idempotency-Key receipts past their retention (24 hours) removed."""

    @property
    def empty(self) -> bool:
        return not (self.conversations or self.items or self.words or self.receipts)


class ConversationStore(Protocol):
    """Conversations and their items. Raises ``NotFound``, ``Conflict`` (a duplicate item id, an
    Idempotency-Key reused), ``InvalidRequest`` (a bad cursor) or ``ServiceUnavailable`` (the
    database cannot answer, its storage is full, or it did not answer in time).

    A write made while serving a request with an ``Idempotency-Key`` (``domain.requests``) is
    answered once per key: the same request again gets the first result (store/receipts.py)."""

    async def create_conversation(
        self,
        owner: Owner,
        conversation_id: str,
        *,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        now: int,
    ) -> ConversationRecord: ...

    async def get_conversation(self, owner: Owner, conversation_id: str) -> ConversationRecord: ...

    async def update_conversation(
        self, owner: Owner, conversation_id: str, *, metadata: dict[str, str]
    ) -> ConversationRecord: ...

    async def delete_conversation(self, owner: Owner, conversation_id: str, *, now: int) -> None:
        """Soft delete: sets ``deleted_at``; the items are kept."""

    async def list_conversations(self, owner: Owner, query: ConversationQuery) -> ConversationPage:
        """Ordered by last update, then id; ``after`` is a conversation id of this owner."""

    async def append_items(
        self, owner: Owner, conversation_id: str, items: Sequence[NewItem], *, now: int
    ) -> ItemPage:
        """Append after every existing item, as one contiguous block, or not at all; the
        created items (those of the first answer, for a request answered before: an
        Idempotency-Key's receipt, or a retry after an unconfirmed commit)."""

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
        """Up to ``limit`` items past ``after``, and no more than ``max_bytes`` of their JSON
        (the first always whole): a page cut short has ``has_more``. Never reads an item's
        JSON that the page does not return."""

    async def get_item(self, owner: Owner, conversation_id: str, item_id: str) -> bytes: ...

    async def delete_items(
        self, owner: Owner, conversation_id: str, item_ids: Sequence[str], *, now: int
    ) -> ConversationRecord:
        """Delete all the given items or, if any is not in the conversation, none."""

    async def grant(self, caller: Owner, change: Grant, *, now: int) -> None:
        """Give the grantee the role (replacing its grant); the caller must own the
        conversation, or the stored response when ``change.resource_type`` is ``"response"``
        (NotFound, PermissionDenied: ``sharing.py``)."""

    async def revoke(self, caller: Owner, change: Grant) -> None:
        """Remove the grantee's grant if it is of the role or higher; as ``grant``."""

    async def check(
        self,
        caller: Owner,
        conversation_id: str,
        role: Role,
        resource_type: str = "conversation",
    ) -> bool:
        """Whether the caller may act as ``role`` on the live conversation (or stored
        response)."""


class KeyStore(Protocol):
    """API keys stored in the database, by the SHA-256 hex of the key (never the key)."""

    async def account_for_key(self, key_hash: str) -> str | None:
        """The account of a stored, unrevoked key, else None."""

    async def create_api_key(self, key_hash: str, *, account: str, name: str, now: int) -> None: ...

    async def count_api_keys(self) -> int:
        """How many unrevoked keys are stored."""

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every stored key, revoked ones too, oldest first."""

    async def revoke_api_key(self, key_hash: str, *, now: int) -> bool:
        """Mark the key revoked; False when there is no such unrevoked key."""

    async def record_key_use(self, last_used: dict[str, int]) -> None:
        """Set ``last_used_at`` (never backwards) for each key hash: one batched write."""


class MaintenanceStore(Protocol):
    """What operators run beside the service: the retention purge and the health checks."""

    async def purge_deleted(self, *, deleted_before: int, max_rows: int) -> PurgeBatch:
        """One short transaction of the retention purge: hard-delete up to ``max_rows`` rows of
        items and indexed words of conversations soft-deleted before ``deleted_before`` (unix
        seconds), then, if the budget was not used up, up to ``max_rows`` of those
        conversations that have nothing left, and expired Idempotency-Key receipts. Call it
        until it returns an empty batch."""

    async def ping(self) -> None:
        """Raise ServiceUnavailable when the database cannot answer."""

    async def check_ready(self) -> None:
        """Raise ServiceUnavailable unless the database answers and has every migration this
        code ships (readiness: ``GET /readyz``)."""
