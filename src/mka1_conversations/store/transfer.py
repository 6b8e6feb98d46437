"""Moving data between databases (e.g. SQLite → PostgreSQL): every row as one JSON line, and
the rules of writing them out and reading them back in, the same on every backend.

The format, one JSON object per line, each tagged by ``record``::

    {"record": "conversation", "owner": "acme:user_1", "id": "conv_…", "created_at": …,
     "updated_at": …, "deleted_at": null, "metadata": {…}, "next_seq": 3}
    {"record": "item", "owner": …, "conversation_id": "conv_…", "seq": 1, "id": "msg_…",
     "type": "message", "created_at": …, "deleted_at": null, "data": {…item…}, "search_text": "…"}
    {"record": "api_key", "key_hash": "…", "account": "…", "name": "…", "created_at": …,
     "last_used_at": null, "revoked_at": null}
    {"record": "response", "owner": …, "id": "resp_…", "created_at": …, "position": …,
     "status": "completed", "conversation_id": …, "context_seq": …, "previous_response_id": …,
     "data": {…Response…}, "input_items": [{"id": …, "data": {…}}], "output_items": […]}
    {"record": "grant", "grantee": "acme:user_2", "conversation_id": "conv_…",
     "owner": "acme:user_1", "role": "reader", "granted_at": …}
    {"record": "grant", "grantee": "acme:*", "conversation_id": "resp_…",
     "owner": "acme:user_1", "role": "reader", "granted_at": …, "resource_type": "response"}
    {"record": "usage", "owner": "acme:user_1", "minute": …, "api_key_id": "…",
     "account": "acme", "end_user": "user_1", "conversations_created": 1, "items_added": 3,
     "operations": 4}

A conversation's line comes before its items, items in ``seq`` order; stored responses (model
turns, ``responses.py``) come next, each with its input and output items; grants and usage
come last. A grant's ``resource_type`` is ``"conversation"`` when absent (exports made before
responses were shared import unchanged); on a ``"response"`` grant, ``conversation_id`` holds
the response's id. The turn lease is not carried (it is transient). Everything is kept as it
is: owners, ids, positions (``seq``, ``next_seq``), soft-deleted conversations and deleted items
(whose ``data`` is null: their ids stay valid cursors), timestamps and API key hashes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import IO, Any, Literal, Protocol

import msgspec

from .words import word_counts

NULL = msgspec.Raw(b"null")

__all__ = [
    "API_KEY_COLUMNS",
    "CONVERSATION_COLUMNS",
    "ITEM_COLUMNS",
    "NULL",
    "RESPONSE_COLUMNS",
    "ApiKeyRow",
    "ConversationRow",
    "GrantRow",
    "ItemRow",
    "ResponseItemRow",
    "ResponseRow",
    "Row",
    "TransferStatements",
    "UsageRow",
    "api_key_row",
    "conversation_row",
    "export_rows",
    "import_rows",
    "item_row",
    "read_rows",
    "write_rows",
]


class ConversationRow(msgspec.Struct, tag="conversation", tag_field="record", kw_only=True):
    owner: str
    id: str
    created_at: int
    updated_at: int
    deleted_at: int | None
    metadata: dict[str, str]
    next_seq: int


class ItemRow(msgspec.Struct, tag="item", tag_field="record", kw_only=True):
    owner: str
    conversation_id: str
    seq: int
    id: str
    type: str
    created_at: int
    deleted_at: int | None
    data: msgspec.Raw
    """The stored item JSON; ``null`` for a deleted item."""

    @property
    def stored_data(self) -> bytes:
        """What the items table holds: the JSON, or nothing for a deleted item."""
        return b"" if self.deleted_at is not None else bytes(self.data)

    search_text: str


class ApiKeyRow(msgspec.Struct, tag="api_key", tag_field="record", kw_only=True):
    key_hash: str
    account: str
    name: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


class ResponseItemRow(msgspec.Struct, kw_only=True):
    id: str
    data: msgspec.Raw


class ResponseRow(msgspec.Struct, tag="response", tag_field="record", kw_only=True):
    owner: str
    id: str
    created_at: int
    position: int
    status: str
    conversation_id: str | None
    context_seq: int | None
    previous_response_id: str | None
    data: msgspec.Raw
    input_items: list[ResponseItemRow]
    output_items: list[ResponseItemRow]


class GrantRow(msgspec.Struct, tag="grant", tag_field="record", kw_only=True, omit_defaults=True):
    grantee: str
    conversation_id: str
    """The id of the resource granted (a response's when ``resource_type`` is ``"response"``)."""
    owner: str
    role: Literal["reader", "writer", "owner"]
    granted_at: int
    resource_type: Literal["conversation", "response"] = "conversation"


class UsageRow(msgspec.Struct, tag="usage", tag_field="record", kw_only=True):
    owner: str
    minute: int
    api_key_id: str
    account: str
    end_user: str
    conversations_created: int
    items_added: int
    operations: int


Row = ConversationRow | ItemRow | ApiKeyRow | ResponseRow | GrantRow | UsageRow

_ROLES: tuple[Literal["reader", "writer", "owner"], ...] = ("reader", "writer", "owner")

_decode_metadata = msgspec.json.Decoder(dict[str, str]).decode

#: The columns both stores select for an export, in the order the row builders below read them.
API_KEY_COLUMNS = "key_hash, account, name, created_at, last_used_at, revoked_at"
CONVERSATION_COLUMNS = "owner_id, id, created_at, updated_at, deleted_at, metadata, next_seq"
ITEM_COLUMNS = "seq, id, type, created_at, deleted_at, data, search_text"
RESPONSE_COLUMNS = (
    "owner_id, id, created_at, position, status, conversation_id, context_seq, "
    "previous_response_id, data"
)


class Columns(Protocol):
    """A selected row: a tuple (sqlite3) or a Record (asyncpg)."""

    def __getitem__(self, index: int, /) -> Any: ...


def api_key_row(k: Columns) -> ApiKeyRow:
    return ApiKeyRow(
        key_hash=k[0],
        account=k[1],
        name=k[2],
        created_at=k[3],
        last_used_at=k[4],
        revoked_at=k[5],
    )


def conversation_row(c: Columns) -> ConversationRow:
    """``c`` as CONVERSATION_COLUMNS, metadata as JSON text."""
    return ConversationRow(
        owner=c[0],
        id=c[1],
        created_at=c[2],
        updated_at=c[3],
        deleted_at=c[4],
        metadata=_decode_metadata(c[5]),
        next_seq=c[6],
    )


def item_row(owner: str, conversation_id: str, i: Columns) -> ItemRow:
    """``i`` as ITEM_COLUMNS; ``data`` as text or bytes."""
    data = i[5].encode() if isinstance(i[5], str) else i[5]
    return ItemRow(
        owner=owner,
        conversation_id=conversation_id,
        seq=i[0],
        id=i[1],
        type=i[2],
        created_at=i[3],
        deleted_at=i[4],
        data=msgspec.Raw(data) if i[4] is None else NULL,
        search_text=i[6],
    )


def _bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def response_row(r: Columns, items: Sequence[Columns]) -> ResponseRow:
    """``r`` as RESPONSE_COLUMNS; ``items`` as (part, id, data), in order."""
    parts: tuple[list[ResponseItemRow], list[ResponseItemRow]] = ([], [])
    for item in items:
        parts[item[0]].append(ResponseItemRow(id=item[1], data=msgspec.Raw(_bytes(item[2]))))
    return ResponseRow(
        owner=r[0],
        id=r[1],
        created_at=r[2],
        position=r[3],
        status=r[4],
        conversation_id=r[5],
        context_seq=r[6],
        previous_response_id=r[7],
        data=msgspec.Raw(_bytes(r[8])),
        input_items=parts[0],
        output_items=parts[1],
    )


_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(Row)


class TransferStatements(Protocol):
    async def export_api_keys(self) -> Sequence[Columns]:
        """Every key as API_KEY_COLUMNS, by key hash (byte order)."""

    async def export_conversations(
        self, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Columns]:
        """Up to ``limit`` conversations as CONVERSATION_COLUMNS (metadata as JSON text),
        deleted ones too, by (owner, id) in byte order, after ``after``."""

    async def export_items(self, owner_key: str, conversation_id: str) -> Sequence[Columns]:
        """The conversation's items as ITEM_COLUMNS, deleted ones too, by seq."""

    async def export_responses(
        self, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Columns]:
        """Up to ``limit`` stored responses as RESPONSE_COLUMNS, by (owner, id) in byte order,
        after ``after``."""

    async def export_response_items(self, owner_key: str, response_id: str) -> Sequence[Columns]:
        """The response's items as (part, id, data): its input items (part 0), then its
        output items (part 1), in order."""

    async def insert_responses(self, responses: list[ResponseRow]) -> None:
        """Insert the stored responses and their items as they are."""

    async def insert_rows(
        self,
        keys: list[ApiKeyRow],
        conversations: list[ConversationRow],
        items: list[ItemRow],
        words: list[tuple[str, str, str, int]],
    ) -> None:
        """Insert the rows as they are; ``words`` (owner, conversation, word, holders) are
        added to the index, counted (a word's count adds up across calls; no item is pending)."""

    async def export_grants(self) -> Sequence[Columns]:
        """Every grant: grantee, resource id, owner, role (1–3), granted_at, resource type
        (``"conversation"``, ``"response"``); in key order."""

    async def export_usage(self) -> Sequence[Columns]:
        """Every usage row, as ``UsageRow``'s fields in order; in key order."""

    async def insert_shares(self, grants: list[GrantRow], usage: list[UsageRow]) -> None:
        """Insert the grants and usage rows as they are."""


EXPORT_BATCH = 1000
IMPORT_BATCH = 1000


async def export_rows(st: TransferStatements) -> AsyncIterator[Row]:
    """Every row, keys first, then each conversation followed by its items, then the stored
    responses."""
    for k in await st.export_api_keys():
        yield api_key_row(k)
    after: tuple[str, str] | None = None
    while True:
        batch = await st.export_conversations(after, EXPORT_BATCH)
        for c in batch:
            yield conversation_row(c)
            for i in await st.export_items(c[0], c[1]):
                yield item_row(c[0], c[1], i)
        if len(batch) < EXPORT_BATCH:
            break
        after = (batch[-1][0], batch[-1][1])
    after = None
    while True:
        responses = await st.export_responses(after, EXPORT_BATCH)
        for r in responses:
            yield response_row(r, await st.export_response_items(r[0], r[1]))
        if len(responses) < EXPORT_BATCH:
            break
        after = (responses[-1][0], responses[-1][1])
    for g in await st.export_grants():
        yield GrantRow(
            grantee=g[0],
            conversation_id=g[1],
            owner=g[2],
            role=_ROLES[g[3] - 1],
            granted_at=g[4],
            resource_type=g[5],
        )
    for u in await st.export_usage():
        yield UsageRow(
            owner=u[0],
            minute=u[1],
            api_key_id=u[2],
            account=u[3],
            end_user=u[4],
            conversations_created=u[5],
            items_added=u[6],
            operations=u[7],
        )


async def import_rows(st: TransferStatements, rows: Iterable[Row]) -> int:
    """Insert every row (in the caller's one transaction), and index the words of the live
    items; returns how many rows."""
    count = 0
    for batch in _batches(rows, IMPORT_BATCH):
        keys: list[ApiKeyRow] = []
        conversations: list[ConversationRow] = []
        items: list[ItemRow] = []
        responses: list[ResponseRow] = []
        grants: list[GrantRow] = []
        usage: list[UsageRow] = []
        held: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        for row in batch:
            if isinstance(row, ConversationRow):
                conversations.append(row)
            elif isinstance(row, ItemRow):
                items.append(row)
                if row.deleted_at is None:
                    held[row.owner, row.conversation_id].append(row.search_text)
            elif isinstance(row, ResponseRow):
                responses.append(row)
            elif isinstance(row, GrantRow):
                grants.append(row)
            elif isinstance(row, UsageRow):
                usage.append(row)
            else:
                keys.append(row)
        words = [
            (owner, conversation_id, word, n)
            for (owner, conversation_id), texts in held.items()
            for word, n in word_counts(texts).items()
        ]
        await st.insert_rows(keys, conversations, items, words)
        if responses:
            await st.insert_responses(responses)
        if grants or usage:
            await st.insert_shares(grants, usage)
        count += len(batch)
    return count


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_rows(rows: Iterable[Row], out: IO[bytes]) -> None:
    for row in rows:
        out.write(_encoder.encode(row) + b"\n")


def read_rows(source: IO[bytes]) -> Iterator[Row]:
    """Decode lines; a malformed line raises ValueError naming its line number."""
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            yield _decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ValueError(f"line {number}: {exc}") from None
