"""Conversations and their items, as the service sees them (``domain.store.ConversationStore``),
written once over any backend: each operation is one rule run in one transaction.

A conversation is its owner's (``Owner.key``): every statement is given the caller as owner and
finds nothing of anyone else's. Sharing is enforced here, once, for every operation on one
conversation (``_shared``): only when the caller's own statement finds no conversation is its
grant looked up (``sharing.granted_owner``), and the operation run again as the owner the grant
names; no grant (or a deleted conversation) stays ``NotFound``, a role too low for the operation
is ``PermissionDenied``. The owner's own requests cost exactly what they did.

A conversation's position in its owner's list (``listing.py``) moves on every change, which
the dialect stamps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from ..domain import requests
from ..domain.conversations import ConversationRecord
from ..domain.errors import DatabaseTimeout, NotFound, ServiceUnavailable
from ..domain.identity import Owner
from ..domain.items import NewItem
from ..domain.sharing import NEEDS, Grant, Role
from ..domain.store import ConversationPage, ConversationQuery, ItemPage, Order
from ..domain.usage import UsageMark, mark
from . import items as item_rules
from . import receipts, sharing
from .backend import Backend, DuplicateKey, Instruments, QueryFailed, one_statement
from .items import ItemStatements
from .listing import ListingStatements, list_conversations
from .receipts import ReceiptStatements, Result, Unconfirmed, Written
from .sharing import GrantStatements, granted_owner
from .words import fold_words, word_counts

__all__ = ["ConversationStatements", "Conversations"]

logger = logging.getLogger("mka1_conversations")

T = TypeVar("T")


class ConversationStatements(
    ItemStatements, ListingStatements, ReceiptStatements, GrantStatements, Protocol
):
    async def insert_conversation(
        self,
        owner_key: str,
        conversation_id: str,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        words: dict[str, int],
        *,
        now: int,
        usage: UsageMark | None = None,
    ) -> None:
        """The conversation, at a new position, with its first items and their words, counted
        (``words``: each word's holders among them; none pending); and, with ``usage``, the
        creation counted (``usage.py``)."""

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
    await st.insert_conversation(
        owner.key, conversation_id, metadata, items, words, now=now, usage=mark(owner, now)
    )
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


async def creation_applied(
    st: ConversationStatements, owner: Owner, conversation_id: str, item_id: str | None
) -> bool:
    """Whether an unconfirmed creation was applied: its first item (or, without items, its
    conversation) is there (receipts.py). An append's conversation that is not the owner's is
    NotFound (so that a grantee's retry is looked for in the conversation shared with it)."""
    if item_id is None:
        return await st.get_conversation(owner.key, conversation_id) is not None
    visible, data = await st.get_item(owner.key, conversation_id, item_id)
    if not visible:
        raise NotFound.conversation(conversation_id)
    return data is not None


def _record(value: ConversationRecord) -> Result:
    return value


def _nothing(value: object) -> Result:
    return None


class Conversations:
    """``domain.store.ConversationStore`` over a backend: each method runs its rule under its
    own name (the database time of the call). A write sent with an ``Idempotency-Key`` runs
    with its receipt, and a creation sent again after an unconfirmed commit is first looked for
    (``receipts.py``)."""

    def __init__(self, backend: Backend[ConversationStatements], instruments: Instruments) -> None:
        self._db = backend
        self._instruments = instruments
        self._unconfirmed = Unconfirmed()

    async def _write(
        self,
        call: str,
        owner: Owner,
        rule: Callable[..., Coroutine[Any, Any, T]],
        args: tuple[Any, ...],
        keep: Callable[[T], Result],
    ) -> Written[T]:
        """``rule`` in one transaction, under the request's Idempotency-Key if it has one."""
        ticket = receipts.current_ticket()
        if ticket is None:
            value = await self._db.write(call, rule, *args)
            return Written(keep(value), False, value)
        now = int(time.time())
        try:
            return await self._db.write(
                call, receipts.write_once, owner.key, ticket, now, rule, args, keep
            )
        except DuplicateKey:
            # The key was taken meanwhile (a concurrent request, committed first), or the
            # rule's own key (an item id: the caller's 409).
            replay = await self._db.read(call, receipts.read_receipt, owner.key, ticket, now)
            if replay is None:
                raise
            return replay

    async def _retried(self, call: str, owner: Owner) -> Result | Literal[False]:
        """For a creation without a key: if this same request was sent before and its commit
        was not confirmed, and it was applied after all, its result; else False."""
        request = requests.current()
        if request is None or request.idempotency_key is not None:
            return False
        attempt = self._unconfirmed.take(owner.key, request.fingerprint)
        if attempt is None:
            return False
        conversation_id, item_id = attempt.conversation_id, attempt.item_id

        async def applied_as(as_owner: Owner) -> bool:
            return await self._db.read(call, creation_applied, as_owner, conversation_id, item_id)

        try:
            applied = await self._shared(owner, conversation_id, "get_item", applied_as)
        except ServiceUnavailable:  # not known yet: ask again on the next retry
            self._unconfirmed.remember(
                owner.key,
                request.fingerprint,
                attempt.conversation_id,
                attempt.item_id,
                attempt.result,
            )
            raise
        return attempt.result if applied else False

    def _unconfirmed_creation(
        self, owner: Owner, conversation_id: str, item_id: str | None, result: Result
    ) -> None:
        request = requests.current()
        if request is not None and request.idempotency_key is None:
            self._unconfirmed.remember(
                owner.key, request.fingerprint, conversation_id, item_id, result
            )

    async def create_conversation(
        self,
        owner: Owner,
        conversation_id: str,
        *,
        metadata: dict[str, str],
        items: Sequence[NewItem],
        now: int,
    ) -> ConversationRecord:
        earlier = await self._retried("create_conversation", owner)
        if isinstance(earlier, ConversationRecord):
            return earlier
        try:
            written = await self._write(
                "create_conversation",
                owner,
                create_conversation,
                (owner, conversation_id, metadata, items, now),
                _record,
            )
        except DatabaseTimeout as exc:
            if exc.stored is None:
                record = ConversationRecord(
                    id=conversation_id, created_at=now, deleted_at=None, metadata=metadata
                )
                first = items[0].id if items else None
                self._unconfirmed_creation(owner, conversation_id, first, record)
            raise
        assert isinstance(written.result, ConversationRecord)
        if items and not written.replayed:
            self._instruments.items_written(len(items))
        return written.result

    async def _shared(
        self,
        caller: Owner,
        conversation_id: str,
        operation: str,
        run: Callable[[Owner], Awaitable[T]],
    ) -> T:
        """``run`` as the caller; if that finds no conversation, as the owner whose grant lets
        the caller do ``operation`` (``sharing.granted_owner``: NotFound without one,
        PermissionDenied with too low a role)."""
        try:
            return await run(caller)
        except NotFound as exc:
            if exc.of_conversation != conversation_id:
                raise
        owner = await self._db.read(
            "find_grant", granted_owner, caller, conversation_id, NEEDS[operation]
        )
        return await run(owner)

    @staticmethod
    def _seen_by(caller: Owner, owner: Owner, record: ConversationRecord) -> ConversationRecord:
        """The record as the caller is answered: naming its owner when that is someone else."""
        if owner == caller:
            return record
        return msgspec.structs.replace(record, owner_key=owner.key)

    async def get_conversation(self, owner: Owner, conversation_id: str) -> ConversationRecord:
        async def run(as_owner: Owner) -> ConversationRecord:
            record = await self._db.read(
                "get_conversation", get_conversation, as_owner, conversation_id
            )
            return self._seen_by(owner, as_owner, record)

        return await self._shared(owner, conversation_id, "get_conversation", run)

    async def update_conversation(
        self, owner: Owner, conversation_id: str, *, metadata: dict[str, str]
    ) -> ConversationRecord:
        async def run(as_owner: Owner) -> ConversationRecord:
            written = await self._write(
                "update_conversation",
                owner,
                update_conversation,
                (as_owner, conversation_id, metadata),
                _record,
            )
            assert isinstance(written.result, ConversationRecord)
            return self._seen_by(owner, as_owner, written.result)

        return await self._shared(owner, conversation_id, "update_conversation", run)

    async def delete_conversation(self, owner: Owner, conversation_id: str, *, now: int) -> None:
        async def run(as_owner: Owner) -> None:
            await self._write(
                "delete_conversation",
                owner,
                delete_conversation,
                (as_owner, conversation_id, now),
                _nothing,
            )

        await self._shared(owner, conversation_id, "delete_conversation", run)

    async def list_conversations(self, owner: Owner, query: ConversationQuery) -> ConversationPage:
        return await self._db.read("list_conversations", list_conversations, owner, query)

    async def append_items(
        self, owner: Owner, conversation_id: str, items: Sequence[NewItem], *, now: int
    ) -> ItemPage:
        page = ItemPage(ids=[i.id for i in items], data=[i.data for i in items], has_more=False)
        earlier = await self._retried("append_items", owner)
        if isinstance(earlier, ItemPage):
            return earlier

        async def run(as_owner: Owner) -> tuple[Owner, Written[bool]]:
            try:
                written = await self._write(
                    "append_items",
                    owner,
                    item_rules.append_items,
                    (as_owner, conversation_id, items, now, owner),
                    lambda fold: page,
                )
            except DuplicateKey:
                raise await self._db.read(
                    "append_items", item_rules.duplicate_item, as_owner, conversation_id, items
                ) from None
            return as_owner, written

        try:
            as_owner, written = await self._shared(owner, conversation_id, "create_items", run)
        except DatabaseTimeout as exc:
            if exc.stored is None:
                self._unconfirmed_creation(owner, conversation_id, items[0].id, page)
            raise
        assert isinstance(written.result, ItemPage)
        if written.replayed:
            return written.result
        self._instruments.items_written(len(items))
        if written.value:  # a fold is due
            try:
                await self._db.write("fold_words", fold_words, as_owner.key, conversation_id)
            except (QueryFailed, ServiceUnavailable):
                # The items are stored; the next append folds them (a delete reads them
                # meanwhile: words.py).
                logger.warning("could not fold the words of conversation %s", conversation_id)
        return written.result

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
        async def run(as_owner: Owner) -> ItemPage:
            return await self._db.read(
                "list_items",
                item_rules.list_items,
                as_owner,
                conversation_id,
                after,
                limit,
                order,
                max_bytes,
            )

        return await self._shared(owner, conversation_id, "list_items", run)

    async def get_item(self, owner: Owner, conversation_id: str, item_id: str) -> bytes:
        async def run(as_owner: Owner) -> bytes:
            return await self._db.read(
                "get_item", item_rules.get_item, as_owner, conversation_id, item_id
            )

        return await self._shared(owner, conversation_id, "get_item", run)

    async def delete_items(
        self, owner: Owner, conversation_id: str, item_ids: Sequence[str], *, now: int
    ) -> ConversationRecord:
        async def run(as_owner: Owner) -> ConversationRecord:
            written = await self._write(
                "delete_items",
                owner,
                item_rules.delete_items,
                (as_owner, conversation_id, item_ids, now),
                _record,
            )
            assert isinstance(written.result, ConversationRecord)
            return self._seen_by(owner, as_owner, written.result)

        return await self._shared(owner, conversation_id, "delete_items", run)

    # --- sharing -------------------------------------------------------------------------------

    async def grant(self, caller: Owner, change: Grant, *, now: int) -> None:
        await self._db.write("grant", sharing.grant, caller, change, now)

    async def revoke(self, caller: Owner, change: Grant) -> None:
        await self._db.write("revoke", sharing.revoke, caller, change)

    async def check(
        self,
        caller: Owner,
        conversation_id: str,
        role: Role,
        resource_type: str = "conversation",
    ) -> bool:
        return await self._db.read(
            "check", sharing.check, caller, conversation_id, role, resource_type
        )
