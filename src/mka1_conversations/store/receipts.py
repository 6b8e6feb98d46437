"""Receipts: a write's result kept under a key, so that the same request sent again is answered
the same and stored once.

- **With an ``Idempotency-Key``** (``http/idempotency.py``), a write stores its receipt (the
  owner, the key, the request's fingerprint and the write's result) in the write's own
  transaction. The same key again, from the same owner, within ``RECEIPT_RETENTION_SECONDS``:
  with the same fingerprint it is answered with the stored result and writes nothing; with
  another it is a 409 (``Conflict.idempotency_key_reused``). Two at once: the second waits for
  the first's commit (the key is unique) and is then answered from its receipt. Receipts older
  than the retention are ignored, and removed by ``purge`` (``retention.py``).
- A model turn (``responses.py``) keeps the response it made as its receipt, in the transaction
  that stores it (completed or incomplete: a failed turn keeps none, so that sending it again
  runs it again), and looks for the receipt before it starts.
- **Without a key** nothing is stored. But a creation whose commit was not confirmed (the
  database stalled or the connection died during it: ``DatabaseTimeout(stored=None)``) is
  remembered in this process (``Unconfirmed``), under the owner and the request's fingerprint;
  the same request again (an SDK's retry: neither SDK sends a key, and their retries send the
  same body) first asks the database whether that write was applied, and if it was, is answered
  with its result instead of writing again. A retry that reaches another server process is not
  recognised: clients that need exactly-once across processes send an ``Idempotency-Key``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from ..domain import requests
from ..domain.conversations import ConversationRecord
from ..domain.errors import Conflict
from ..domain.store import ItemPage

__all__ = [
    "RECEIPT_RETENTION_SECONDS",
    "ReceiptStatements",
    "ResponseMade",
    "Result",
    "Ticket",
    "Unconfirmed",
    "Written",
    "current_ticket",
    "decode_result",
    "encode_result",
    "purge_receipts",
    "read_receipt",
    "write_once",
]

T = TypeVar("T")

RECEIPT_RETENTION_SECONDS = 24 * 3600
"""How long an Idempotency-Key's receipt answers for it."""


@dataclass(frozen=True, slots=True)
class ResponseMade:
    """A model turn's receipt: the response that answered it (its JSON is the response's)."""

    id: str


Result = ConversationRecord | ItemPage | ResponseMade | None
"""What a write answers with, as its receipt keeps it: the conversation (create, update, delete
items), the created items, the response a turn made, or nothing (delete a conversation or a
response)."""


class _Conversation(msgspec.Struct, tag="conversation"):
    id: str
    created_at: int
    deleted_at: int | None
    metadata: dict[str, str]


class _Items(msgspec.Struct, tag="items"):
    ids: list[str]
    data: list[msgspec.Raw]


class _Response(msgspec.Struct, tag="response"):
    id: str


class _Nothing(msgspec.Struct, tag="nothing"):
    pass


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Conversation | _Items | _Response | _Nothing)


def encode_result(result: Result) -> bytes:
    if isinstance(result, ConversationRecord):
        return _encoder.encode(
            _Conversation(result.id, result.created_at, result.deleted_at, result.metadata)
        )
    if isinstance(result, ItemPage):
        return _encoder.encode(_Items(result.ids, [msgspec.Raw(d) for d in result.data]))
    if isinstance(result, ResponseMade):
        return _encoder.encode(_Response(result.id))
    return _encoder.encode(_Nothing())


def decode_result(data: bytes) -> Result:
    stored = _decoder.decode(data)
    if isinstance(stored, _Conversation):
        return ConversationRecord(
            id=stored.id,
            created_at=stored.created_at,
            deleted_at=stored.deleted_at,
            metadata=stored.metadata,
        )
    if isinstance(stored, _Items):
        return ItemPage(ids=stored.ids, data=[bytes(d) for d in stored.data], has_more=False)
    if isinstance(stored, _Response):
        return ResponseMade(stored.id)
    return None


@dataclass(frozen=True, slots=True)
class Ticket:
    """A keyed request: its ``Idempotency-Key`` and its fingerprint."""

    key: str
    fingerprint: str


def current_ticket() -> Ticket | None:
    """The ticket of the request being served (``domain.requests``), if it sent a key."""
    request = requests.current()
    if request is None or request.idempotency_key is None:
        return None
    return Ticket(request.idempotency_key, request.fingerprint)


class ReceiptStatements(Protocol):
    async def find_receipt(self, owner_key: str, key: str) -> tuple[str, int, bytes] | None:
        """(fingerprint, created_at, result) of the owner's receipt under the key."""

    async def insert_receipt(
        self, owner_key: str, key: str, fingerprint: str, result: bytes, *, now: int
    ) -> None:
        """A new receipt; a unique-key violation (DuplicateKey) when the key is taken."""

    async def delete_receipt(self, owner_key: str, key: str) -> None: ...

    async def purge_receipts(self, created_before: int, limit: int) -> int:
        """Delete up to ``limit`` receipts created before the time; how many."""


def _fresh(
    found: tuple[str, int, bytes] | None, ticket: Ticket, now: int
) -> tuple[str, int, bytes] | None:
    if found is None or found[1] < now - RECEIPT_RETENTION_SECONDS:
        return None
    if found[0] != ticket.fingerprint:
        raise Conflict.idempotency_key_reused(ticket.key)
    return found


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """What ``write_once`` did: ``replayed``, the key had answered this request already and
    ``result`` is its stored result (``value`` None); otherwise the rule ran, returned
    ``value``, and ``result`` is what was stored."""

    result: Result
    replayed: bool
    value: T | None


async def write_once(
    st: ReceiptStatements,
    owner_key: str,
    ticket: Ticket,
    now: int,
    rule: Callable[..., Coroutine[Any, Any, T]],
    args: tuple[Any, ...],
    keep: Callable[[T], Result],
) -> Written[T]:
    """``rule(st, *args)`` under the ticket, in the caller's one transaction, storing
    ``keep(value)`` as the receipt; or, when the key already answered this request, its stored
    result without running the rule."""
    found = await st.find_receipt(owner_key, ticket.key)
    fresh = _fresh(found, ticket, now)
    if fresh is not None:
        return Written(decode_result(fresh[2]), True, None)
    if found is not None:  # expired: the key is free again
        await st.delete_receipt(owner_key, ticket.key)
    value = await rule(st, *args)
    result = keep(value)
    await st.insert_receipt(
        owner_key, ticket.key, ticket.fingerprint, encode_result(result), now=now
    )
    return Written(result, False, value)


async def read_receipt(
    st: ReceiptStatements, owner_key: str, ticket: Ticket, now: int
) -> Written[Any] | None:
    """The stored result for the ticket, if its key answered this request (after a write lost
    the race for the key to a concurrent one); None if it has no receipt."""
    fresh = _fresh(await st.find_receipt(owner_key, ticket.key), ticket, now)
    return None if fresh is None else Written(decode_result(fresh[2]), True, None)


async def purge_receipts(st: ReceiptStatements, now: int, max_rows: int) -> int:
    return await st.purge_receipts(now - RECEIPT_RETENTION_SECONDS, max_rows)


UNCONFIRMED_SECONDS = 600.0
"""How long an unconfirmed creation is remembered: past any SDK's retries."""
UNCONFIRMED_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Attempt:
    """An unconfirmed creation: the conversation and the first item it wrote (None for a new
    conversation without items: the conversation itself is the probe), and what it answers."""

    conversation_id: str
    item_id: str | None
    result: Result
    at: float


class Unconfirmed:
    """Creations whose commit was not confirmed, by (owner key, fingerprint), in this process
    (see the module docstring): bounded in number and age."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._attempts: OrderedDict[tuple[str, str], Attempt] = OrderedDict()

    def remember(
        self,
        owner_key: str,
        fingerprint: str,
        conversation_id: str,
        item_id: str | None,
        result: Result,
    ) -> None:
        self._attempts[owner_key, fingerprint] = Attempt(
            conversation_id, item_id, result, self._clock()
        )
        self._attempts.move_to_end((owner_key, fingerprint))
        while len(self._attempts) > UNCONFIRMED_ENTRIES:
            self._attempts.popitem(last=False)

    def take(self, owner_key: str, fingerprint: str) -> Attempt | None:
        """The remembered attempt of this request, forgotten now (asked about once)."""
        attempt = self._attempts.pop((owner_key, fingerprint), None)
        if attempt is None or self._clock() - attempt.at > UNCONFIRMED_SECONDS:
            return None
        return attempt
