"""What model turns need from storage: the context of a turn, the conversation's turn lease, and
stored responses with their input items.

Like every Store protocol, each method takes the caller's ``Owner`` and behaves as if other
owners' conversations and responses (and soft-deleted conversations) did not exist
(``NotFound``); each method is one transaction. Items are exchanged as their stored JSON, in the
order they were written (oldest first).

The lease: a conversation turn takes it in ``begin_turn`` and holds it for ``lease_seconds``
(renewed by ``renew_turn`` while the model server is answering) so that two turns on one
conversation, from any number of processes, cannot run at once; no transaction stays open while
the model server answers, and a crashed turn frees the conversation when its lease runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .identity import Owner
from .items import NewItem
from .responses import ResponseStatus
from .store import ItemPage, Order

__all__ = ["ResponsePage", "ResponseRecord", "ResponseStore"]


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """A finished turn, to store: the Response and the items it read and wrote."""

    id: str
    data: bytes
    """The Response object's JSON, returned verbatim by ``get_response``."""
    status: ResponseStatus
    created_at: int
    conversation_id: str | None
    previous_response_id: str | None
    input_items: Sequence[NewItem]
    """The turn's ``input``, normalised, each with ``response_id`` set to ``id``."""
    output_items: Sequence[NewItem]
    """The turn's output, each with ``response_id`` set to ``id`` (empty when it failed)."""
    append: bool
    """Append ``input_items`` then ``output_items`` to ``conversation_id`` (a turn that
    finished on a conversation), in the same transaction, and end the turn's lease."""


@dataclass(frozen=True, slots=True)
class ResponsePage:
    """One page of stored responses: their ids and JSON, in the requested order."""

    ids: list[str]
    data: list[bytes]
    has_more: bool


class ResponseStore(Protocol):
    """Raises ``NotFound`` (a conversation or response that is not the owner's),
    ``InvalidRequest`` (``conversation_locked``, a bad cursor) and ``ServiceUnavailable``."""

    async def conversation_items(self, owner: Owner, conversation_id: str) -> list[bytes]:
        """The conversation's live items, oldest first, read without taking its lease (a turn
        with ``store: false`` only reads the conversation)."""

    async def begin_turn(
        self,
        owner: Owner,
        conversation_id: str,
        response_id: str,
        *,
        now: int,
        lease_seconds: int,
    ) -> list[bytes]:
        """Take the conversation's lease for the turn ``response_id`` until ``now +
        lease_seconds`` and return its live items, oldest first, in one transaction. Raises
        ``InvalidRequest.conversation_locked()`` while another turn's lease has not run out."""

    async def renew_turn(
        self,
        owner: Owner,
        conversation_id: str,
        response_id: str,
        *,
        now: int,
        lease_seconds: int,
    ) -> bool:
        """Extend the turn's lease to ``now + lease_seconds``; False when the turn no longer
        holds it (it ran out and another turn took it)."""

    async def end_turn(self, owner: Owner, conversation_id: str, response_id: str) -> None:
        """Give the lease back without writing anything (the turn failed or was abandoned).
        Does nothing when the turn no longer holds it."""

    async def response_context(self, owner: Owner, response_id: str) -> list[bytes]:
        """Everything the model saw in turn ``response_id`` and what it answered, oldest first:
        that turn's own context (its previous response's ``response_context``, or the
        conversation items that preceded it), then its input items, then its output items (none
        for a failed turn). ``NotFound.response(response_id, param="previous_response_id")``
        when it is not stored."""

    async def answered(self, owner: Owner) -> bytes | None:
        """The stored Response JSON that already answered the request being served
        (``domain.requests``: its ``Idempotency-Key`` and fingerprint), or None (no key, or
        the key has answered nothing yet). Raises ``Conflict.idempotency_key_reused`` when the
        key answered another request, ``NotFound`` when its response was deleted since."""

    async def save_response(
        self, owner: Owner, record: ResponseRecord, *, now: int
    ) -> bytes | None:
        """Store the response with its input and output items. With ``record.append``, also
        append the input items then the output items to the conversation after all of its
        items and end the turn's lease, all in this one transaction; raises
        ``InvalidRequest.conversation_locked()`` (and writes nothing) when another turn holds
        the lease, ``Conflict`` when an item id is already in the conversation.

        A completed or incomplete response of a request with an ``Idempotency-Key`` keeps the
        key's receipt in the same transaction. If the key answered the same request meanwhile
        (two sent at once), nothing is written and that response's JSON is returned instead of
        None (the lease is left for ``end_turn``)."""

    async def get_response(self, owner: Owner, response_id: str) -> bytes:
        """The stored Response JSON."""

    async def delete_response(self, owner: Owner, response_id: str) -> None:
        """Delete the response and its stored input items. Items it appended to a conversation
        stay there (they belong to the conversation)."""

    async def list_responses(
        self, owner: Owner, *, after: str | None, limit: int, order: Order
    ) -> ResponsePage:
        """The owner's stored responses in the order they were stored; ``after`` is a response id
        of this owner (exclusive, in the requested order)."""

    async def list_input_items(
        self,
        owner: Owner,
        response_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
    ) -> ItemPage:
        """The response's input items in the order they were sent; ``after`` is one of them."""
