"""Moving data between databases (e.g. SQLite → PostgreSQL): every row as one JSON line.

The format, one JSON object per line, each tagged by ``record``::

    {"record": "conversation", "owner": "acme:user_1", "id": "conv_…", "created_at": …,
     "updated_at": …, "deleted_at": null, "metadata": {…}, "next_seq": 3}
    {"record": "item", "owner": …, "conversation_id": "conv_…", "seq": 1, "id": "msg_…",
     "type": "message", "created_at": …, "deleted_at": null, "data": {…item…}, "search_text": "…"}
    {"record": "api_key", "key_hash": "…", "account": "…", "name": "…", "created_at": …,
     "last_used_at": null, "revoked_at": null}

A conversation's line comes before its items, items in ``seq`` order. Everything is kept as it
is: owners, ids, positions (``seq``, ``next_seq``), soft-deleted conversations and deleted items
(whose ``data`` is null: their ids stay valid cursors), timestamps and API key hashes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import IO, Any, Protocol

import msgspec

NULL = msgspec.Raw(b"null")

__all__ = [
    "API_KEY_COLUMNS",
    "CONVERSATION_COLUMNS",
    "ITEM_COLUMNS",
    "NULL",
    "ApiKeyRow",
    "ConversationRow",
    "ItemRow",
    "Row",
    "Transferable",
    "api_key_row",
    "conversation_row",
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


Row = ConversationRow | ItemRow | ApiKeyRow

_decode_metadata = msgspec.json.Decoder(dict[str, str]).decode

#: The columns both stores select for an export, in the order the row builders below read them.
API_KEY_COLUMNS = "key_hash, account, name, created_at, last_used_at, revoked_at"
CONVERSATION_COLUMNS = "owner_id, id, created_at, updated_at, deleted_at, metadata, next_seq"
ITEM_COLUMNS = "seq, id, type, created_at, deleted_at, data, search_text"


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


_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(Row)


class Transferable(Protocol):
    """A store that can dump all its rows and load rows into itself."""

    def export_rows(self) -> AsyncIterator[Row]: ...

    async def import_rows(self, rows: Iterable[Row]) -> int:
        """Insert the rows in one transaction (all or nothing); returns how many."""


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
