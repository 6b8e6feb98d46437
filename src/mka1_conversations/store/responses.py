"""Stored responses and the conversation turn lease (``domain.response_store.ResponseStore``),
written once over any backend: each operation is one rule run in one transaction.

Like conversations, everything is its owner's (``Owner.key``): every statement is given the owner
and finds nothing of anyone else's.

- The lease is two columns of the conversation (the turn holding it, and until when): taken,
  renewed and given back by one short statement each, never by a transaction held open while the
  model server answers. A lease that ran out is anyone's.
- ``save_response`` with ``append``: in one transaction, check the lease (another turn holding
  it → ``conversation_locked``), append the input then the output items through the same rule as
  ``POST …/items`` (``items.append_items``: positions, words, ``updated_at``), give the lease
  back, and store the response with its items.
- A response remembers the conversation it read and that conversation's last item before the
  turn (``context_seq``), so a later ``previous_response_id`` reads the same context back.
- Responses do not reference conversations: deleting (or purging) a conversation leaves its
  responses retrievable, as OpenAI does; deleting a response leaves the items it appended.
- Sharing (docs/sharing.md), enforced here once, as ``conversations.py`` does: a response
  operation runs as the caller; only when that finds no response is the caller's grant looked
  up (``sharing.granted_owner`` with ``resource="response"``) and the operation run again as
  the owner it names. Deleting a response deletes its grants. ``previous_response_id`` is not
  shared: a chain is one owner's responses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from ..domain.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from ..domain.identity import Owner
from ..domain.items import NewItem
from ..domain.response_store import ResponsePage, ResponseRecord
from ..domain.sharing import RESPONSE_NEEDS
from ..domain.store import ItemPage, Order
from . import items as item_rules
from . import receipts
from .backend import Backend, DuplicateKey, Instruments, QueryFailed, one_statement
from .items import ItemStatements
from .receipts import ReceiptStatements, ResponseMade, Result, Ticket, Written
from .sharing import GrantStatements, granted_owner
from .words import fold_words

__all__ = ["ResponseStatements", "Responses"]

logger = logging.getLogger("mka1_conversations")

INPUT, OUTPUT = 0, 1
"""The two parts of a response's items."""

T = TypeVar("T")


class ResponseStatements(ItemStatements, GrantStatements, ReceiptStatements, Protocol):
    async def take_turn(
        self, owner_key: str, conversation_id: str, response_id: str, now: int, until: int
    ) -> bool | None:
        """Give the live conversation's lease to the turn until ``until`` if nobody holds it
        at ``now`` (or this turn does); False when another turn does, None when there is no
        such conversation."""

    async def renew_turn(
        self, owner_key: str, conversation_id: str, response_id: str, until: int
    ) -> bool:
        """Extend the lease the turn holds; False when it does not hold it."""

    async def end_turn(self, owner_key: str, conversation_id: str, response_id: str) -> None:
        """Free the lease if the turn holds it."""

    async def turn_state(
        self, owner_key: str, conversation_id: str
    ) -> tuple[int, str | None, int | None] | None:
        """The conversation's (last item seq, lease holder, lease end), deleted or not; None if
        it is not the owner's."""

    async def live_items(
        self, owner_key: str, conversation_id: str, through_seq: int | None
    ) -> list[bytes]:
        """The conversation's live items up to ``through_seq`` (all when None), oldest first."""

    async def insert_response(
        self, owner_key: str, record: ResponseRecord, context_seq: int | None
    ) -> None:
        """The response row and its input (part 0) and output (part 1) items."""

    async def response_data(self, owner_key: str, response_id: str) -> bytes | None: ...

    async def chain_of(
        self, owner_key: str, response_id: str
    ) -> list[tuple[str, str | None, int | None]]:
        """(id, conversation_id, context_seq) of the response and of each previous response it
        chains to, newest first; empty when it is not stored."""

    async def chain_items(self, owner_key: str, response_ids: Sequence[str]) -> list[bytes]:
        """The items of these responses, response by response in the given order, each
        response's input items then its output items."""

    async def delete_response(self, owner_key: str, response_id: str) -> bool: ...

    async def delete_response_grants(self, owner_key: str, response_id: str) -> None:
        """Remove every grant of the owner's response."""

    async def response_page(
        self, owner_key: str, after: str | None, limit: int, order: Order
    ) -> list[tuple[str, bytes]] | None:
        """Up to ``limit`` (id, data) past the cursor response; None when the cursor is not one
        of the owner's responses."""

    async def input_item_page(
        self, owner_key: str, response_id: str, after: str | None, limit: int, order: Order
    ) -> list[tuple[str, bytes]] | None:
        """Up to ``limit`` (id, data) of the response's input items past the cursor item; None
        when the cursor is not one of them."""


# --- the rules ----------------------------------------------------------------------------------


async def begin_turn(
    st: ResponseStatements,
    owner: Owner,
    conversation_id: str,
    response_id: str,
    now: int,
    lease_seconds: int,
) -> list[bytes]:
    taken = await st.take_turn(owner.key, conversation_id, response_id, now, now + lease_seconds)
    if taken is None:
        raise NotFound.conversation(conversation_id)
    if not taken:
        raise InvalidRequest.conversation_locked()
    return await st.live_items(owner.key, conversation_id, None)


async def conversation_items(
    st: ResponseStatements, owner: Owner, conversation_id: str
) -> list[bytes]:
    visible, _ = await st.explain_empty_page(owner.key, conversation_id, None)
    if not visible:
        raise NotFound.conversation(conversation_id)
    return await st.live_items(owner.key, conversation_id, None)


@one_statement
async def renew_turn(
    st: ResponseStatements,
    owner: Owner,
    conversation_id: str,
    response_id: str,
    until: int,
) -> bool:
    return await st.renew_turn(owner.key, conversation_id, response_id, until)


@one_statement
async def end_turn(
    st: ResponseStatements, owner: Owner, conversation_id: str, response_id: str
) -> None:
    await st.end_turn(owner.key, conversation_id, response_id)


async def save_response(
    st: ResponseStatements, owner: Owner, record: ResponseRecord, now: int
) -> bool:
    """Whether the conversation's words should be folded now (an append happened)."""
    context_seq: int | None = None
    fold = False
    if record.conversation_id is not None:
        state = await st.turn_state(owner.key, record.conversation_id)
        if state is not None:
            context_seq, holder, until = state
            if record.append:
                if holder not in (None, record.id) and until is not None and until > now:
                    raise InvalidRequest.conversation_locked()
                appended = [*record.input_items, *record.output_items]
                if appended:
                    fold = await item_rules.append_items(
                        st, owner, record.conversation_id, appended, now
                    )
                await st.end_turn(owner.key, record.conversation_id, record.id)
        elif record.append:
            raise NotFound.conversation(record.conversation_id)
    await st.insert_response(owner.key, record, context_seq)
    return fold


async def answered_response(
    st: ResponseStatements, owner: Owner, ticket: Ticket, now: int
) -> bytes | None:
    written = await receipts.read_receipt(st, owner.key, ticket, now)
    return None if written is None else await replayed_response(st, owner, written)


async def replayed_response(st: ResponseStatements, owner: Owner, written: Written[Any]) -> bytes:
    """The stored response a receipt names."""
    made = written.result
    # The receipt answered this same request (method, path and body): a turn's.
    assert isinstance(made, ResponseMade)
    data = await st.response_data(owner.key, made.id)
    if data is None:
        raise NotFound.response(made.id)
    return data


async def response_context(st: ResponseStatements, owner: Owner, response_id: str) -> list[bytes]:
    chain = await st.chain_of(owner.key, response_id)
    if not chain:
        raise NotFound.response(response_id, param="previous_response_id")
    _, conversation_id, context_seq = chain[-1]
    context: list[bytes] = []
    if conversation_id is not None and context_seq is not None:
        context = await st.live_items(owner.key, conversation_id, context_seq)
    return context + await st.chain_items(owner.key, [r[0] for r in reversed(chain)])


async def get_response(st: ResponseStatements, owner: Owner, response_id: str) -> bytes:
    data = await st.response_data(owner.key, response_id)
    if data is None:
        raise NotFound.response(response_id)
    return data


async def delete_response(st: ResponseStatements, owner: Owner, response_id: str) -> None:
    if not await st.delete_response(owner.key, response_id):
        raise NotFound.response(response_id)
    await st.delete_response_grants(owner.key, response_id)


async def list_responses(
    st: ResponseStatements, owner: Owner, after: str | None, limit: int, order: Order
) -> ResponsePage:
    rows = await st.response_page(owner.key, after, limit + 1, order)
    if rows is None:
        assert after is not None
        raise InvalidRequest(f"Invalid 'after': no response with id '{after[:64]}'.", param="after")
    page = rows[:limit]
    return ResponsePage(
        ids=[r[0] for r in page], data=[r[1] for r in page], has_more=len(rows) > limit
    )


async def list_input_items(
    st: ResponseStatements,
    owner: Owner,
    response_id: str,
    after: str | None,
    limit: int,
    order: Order,
) -> ItemPage:
    if await st.response_data(owner.key, response_id) is None:
        raise NotFound.response(response_id)
    rows = await st.input_item_page(owner.key, response_id, after, limit + 1, order)
    if rows is None:
        assert after is not None
        raise InvalidRequest(
            f"Invalid 'after': no input item with id '{after[:64]}' in this response.",
            param="after",
        )
    page = rows[:limit]
    return ItemPage(ids=[r[0] for r in page], data=[r[1] for r in page], has_more=len(rows) > limit)


# --- the store ----------------------------------------------------------------------------------


class Responses:
    """``domain.response_store.ResponseStore`` over a backend: each method runs its rule under
    its own name (the database time of the call)."""

    def __init__(self, backend: Backend[ResponseStatements], instruments: Instruments) -> None:
        self._db = backend
        self._instruments = instruments

    async def conversation_items(self, owner: Owner, conversation_id: str) -> list[bytes]:
        return await self._db.read("conversation_items", conversation_items, owner, conversation_id)

    async def begin_turn(
        self,
        owner: Owner,
        conversation_id: str,
        response_id: str,
        *,
        now: int,
        lease_seconds: int,
    ) -> list[bytes]:
        return await self._db.write(
            "begin_turn", begin_turn, owner, conversation_id, response_id, now, lease_seconds
        )

    async def renew_turn(
        self,
        owner: Owner,
        conversation_id: str,
        response_id: str,
        *,
        now: int,
        lease_seconds: int,
    ) -> bool:
        return await self._db.write(
            "renew_turn", renew_turn, owner, conversation_id, response_id, now + lease_seconds
        )

    async def end_turn(self, owner: Owner, conversation_id: str, response_id: str) -> None:
        await self._db.write("end_turn", end_turn, owner, conversation_id, response_id)

    async def response_context(self, owner: Owner, response_id: str) -> list[bytes]:
        return await self._db.read("response_context", response_context, owner, response_id)

    async def answered(self, owner: Owner) -> bytes | None:
        ticket = receipts.current_ticket()
        if ticket is None:
            return None
        return await self._db.read(
            "answered_response", answered_response, owner, ticket, int(time.time())
        )

    async def save_response(
        self, owner: Owner, record: ResponseRecord, *, now: int
    ) -> bytes | None:
        ticket = receipts.current_ticket() if record.status != "failed" else None
        try:
            if ticket is None:
                fold = await self._db.write("save_response", save_response, owner, record, now)
            else:
                written: Written[bool] = await self._db.write(
                    "save_response",
                    receipts.write_once,
                    owner.key,
                    ticket,
                    int(time.time()),
                    save_response,
                    (owner, record, now),
                    _made(record.id),
                )
                if written.replayed:
                    return await self._db.read("save_response", replayed_response, owner, written)
                fold = bool(written.value)
        except DuplicateKey:
            if ticket is not None:  # the key, taken meanwhile by the same request?
                answered = await self._db.read(
                    "save_response", answered_response, owner, ticket, int(time.time())
                )
                if answered is not None:
                    return answered
            if record.conversation_id is None or not record.append:
                raise
            items: list[NewItem] = [*record.input_items, *record.output_items]
            conflict: Conflict = await self._db.read(
                "save_response", item_rules.duplicate_item, owner, record.conversation_id, items
            )
            raise conflict from None
        if record.append and record.conversation_id is not None:
            self._instruments.items_written(len(record.input_items) + len(record.output_items))
            if fold:
                try:
                    await self._db.write(
                        "fold_words", fold_words, owner.key, record.conversation_id
                    )
                except (QueryFailed, ServiceUnavailable):
                    logger.warning(
                        "could not fold the words of conversation %s", record.conversation_id
                    )
        return None

    async def _shared(
        self,
        caller: Owner,
        response_id: str,
        operation: str,
        run: Callable[[Owner], Awaitable[T]],
    ) -> T:
        """``run`` as the caller; if that finds no response, as the owner whose grant lets the
        caller do ``operation`` (``sharing.granted_owner``: NotFound without one,
        PermissionDenied with too low a role)."""
        try:
            return await run(caller)
        except NotFound as exc:
            if exc.param is not None:
                raise
        owner = await self._db.read(
            "find_grant", granted_owner, caller, response_id, RESPONSE_NEEDS[operation], "response"
        )
        return await run(owner)

    async def get_response(self, owner: Owner, response_id: str) -> bytes:
        async def run(as_owner: Owner) -> bytes:
            return await self._db.read("get_response", get_response, as_owner, response_id)

        return await self._shared(owner, response_id, "get_response", run)

    async def delete_response(self, owner: Owner, response_id: str) -> None:
        async def run(as_owner: Owner) -> None:
            await self._db.write("delete_response", delete_response, as_owner, response_id)

        await self._shared(owner, response_id, "delete_response", run)

    async def list_responses(
        self, owner: Owner, *, after: str | None, limit: int, order: Order
    ) -> ResponsePage:
        return await self._db.read("list_responses", list_responses, owner, after, limit, order)

    async def list_input_items(
        self,
        owner: Owner,
        response_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
    ) -> ItemPage:
        async def run(as_owner: Owner) -> ItemPage:
            return await self._db.read(
                "list_input_items", list_input_items, as_owner, response_id, after, limit, order
            )

        return await self._shared(owner, response_id, "list_input_items", run)


def _made(response_id: str) -> Callable[[object], Result]:
    def keep(_: object) -> Result:
        return ResponseMade(response_id)

    return keep
