"""The rules of a conversation's items: appending a block, paging, reading one, deleting some.

Items are numbered per conversation (``seq``) in the transaction that writes them, after every
existing item, so concurrent appends from any number of processes give one total order, each
request's items contiguous. A deleted item keeps its row (its id stays a valid cursor) but not
its content, and its words leave the conversation's index (``words.py``).

An item id is a page cursor, and the id of a deleted item may be used again, so one id can name
several places in a conversation. A cursor names the first of them in the page's order (the
lowest ``seq`` ascending, the highest descending): whichever place the client's page ended at,
every item past it is past that one too, so paging never skips an item that was not deleted
(the items between the places may come again).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from ..domain.conversations import ConversationRecord
from ..domain.errors import Conflict, InvalidRequest, NotFound
from ..domain.identity import Owner
from ..domain.items import NewItem
from ..domain.search import index_words
from ..domain.store import ItemPage, Order
from ..domain.usage import UsageMark, mark
from .backend import one_statement
from .words import WordStatements, fold_due, unindex_items

__all__ = [
    "ItemStatements",
    "append_items",
    "delete_items",
    "duplicate_item",
    "get_item",
    "list_items",
    "within_bytes",
]


class ItemStatements(WordStatements, Protocol):
    async def append_items(
        self,
        owner_key: str,
        conversation_id: str,
        items: Sequence[NewItem],
        words: Collection[str],
        *,
        now: int,
        usage: UsageMark | None = None,
    ) -> tuple[int, int] | None:
        """Move the live conversation to a new position and write the items after its last
        one, pending (``words.py``): a row with a count of 0 for each of ``words`` the
        conversation has none for, and the items and their search text's characters added to
        its pending ones; with ``usage``, the append counted (``usage.py``). Returns its pending
        (items, characters) then; None (nothing written) when there is no such
        conversation."""

    async def live_item_ids(
        self, owner_key: str, conversation_id: str, ids: Sequence[str]
    ) -> set[str]:
        """Which of ``ids`` are live items of the conversation."""

    async def item_page(
        self,
        owner_key: str,
        conversation_id: str,
        after: str | None,
        limit: int,
        order: Order,
        max_bytes: int,
    ) -> list[tuple[str, bytes | None]]:
        """``(id, data)`` of up to ``limit`` live items past the cursor item (deleted or not),
        in order; nothing if the conversation is not the owner's live one. An id that was
        deleted and created again has several places: the cursor is the first of them in this
        order (see the module docstring). Only the items ``within_bytes`` keeps within
        ``max_bytes`` come with their data; past them at most one row, its data None, which
        says the page has more (no row after it is read)."""

    async def explain_empty_page(
        self, owner_key: str, conversation_id: str, after: str | None
    ) -> tuple[bool, bool]:
        """(the conversation is the owner's and live, an item with id ``after`` was ever in
        it)."""

    async def get_item(
        self, owner_key: str, conversation_id: str, item_id: str
    ) -> tuple[bool, bytes | None]:
        """(the conversation is the owner's and live, the live item's data or None)."""

    async def touch_conversation(
        self, owner_key: str, conversation_id: str
    ) -> ConversationRecord | None:
        """Move the live conversation to a new position (locking it until commit); None if
        there is no such conversation."""

    async def live_search_texts_of(
        self, owner_key: str, conversation_id: str, ids: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        """Item id → (seq, search text), for those of ``ids`` that are live items of the
        conversation."""

    async def blank_items(
        self, owner_key: str, conversation_id: str, ids: Sequence[str], *, now: int
    ) -> None:
        """Mark the live items deleted and drop their content."""


@one_statement
async def append_items(
    st: ItemStatements,
    owner: Owner,
    conversation_id: str,
    items: Sequence[NewItem],
    now: int,
    caller: Owner | None = None,
) -> bool:
    """Whether the conversation's words should be folded now (``words.fold_words``). The
    append is counted for ``caller`` (a grantee writing in the owner's conversation), by
    default the owner."""
    words = set().union(*(index_words(item.search_text) for item in items))
    usage = mark(caller or owner, now)
    pending = await st.append_items(owner.key, conversation_id, items, words, now=now, usage=usage)
    if pending is None:
        raise NotFound.conversation(conversation_id)
    return fold_due(*pending)


async def duplicate_item(
    st: ItemStatements, owner: Owner, conversation_id: str, items: Sequence[NewItem]
) -> Conflict:
    """After an append failed on a duplicate id (and was rolled back): which item collided."""
    ids = [item.id for item in items]
    taken = await st.live_item_ids(owner.key, conversation_id, ids)
    return Conflict.duplicate_item(conversation_id, ids, taken)


def within_bytes(
    rows: Iterable[tuple[str, bytes]], max_bytes: int
) -> list[tuple[str, bytes | None]]:
    """A page's ``(id, data)`` rows, in order, as ``item_page`` returns them: each while the
    running total of their sizes stays within ``max_bytes`` (and always the first, so that
    paging moves on however large one item is), then the first row past it with its data
    dropped, and no row after it is read. PostgreSQL's ``item_page`` says the same in SQL."""
    page: list[tuple[str, bytes | None]] = []
    total = 0
    for item_id, data in rows:
        total += len(data)
        if total > max_bytes and page:
            page.append((item_id, None))
            break
        page.append((item_id, data))
    return page


async def list_items(
    st: ItemStatements,
    owner: Owner,
    conversation_id: str,
    after: str | None,
    limit: int,
    order: Order,
    max_bytes: int,
) -> ItemPage:
    """One statement for the page; only an empty page asks why (no such conversation? an
    unknown cursor? or just nothing there). A page cut short by ``max_bytes`` has more."""
    rows = await st.item_page(owner.key, conversation_id, after, limit + 1, order, max_bytes)
    if not rows:
        visible, cursor_known = await st.explain_empty_page(owner.key, conversation_id, after)
        if not visible:
            raise NotFound.conversation(conversation_id)
        if after is not None and not cursor_known:
            raise InvalidRequest.unknown_item_cursor(after)
    page: list[tuple[str, bytes]] = []
    for item_id, data in rows[:limit]:
        if data is None:
            break
        page.append((item_id, data))
    return ItemPage(
        ids=[row[0] for row in page], data=[row[1] for row in page], has_more=len(rows) > len(page)
    )


async def get_item(st: ItemStatements, owner: Owner, conversation_id: str, item_id: str) -> bytes:
    visible, data = await st.get_item(owner.key, conversation_id, item_id)
    if not visible:
        raise NotFound.conversation(conversation_id)
    if data is None:
        raise NotFound.item(item_id)
    return data


async def delete_items(
    st: ItemStatements, owner: Owner, conversation_id: str, item_ids: Sequence[str], now: int
) -> ConversationRecord:
    """All of them or, if any is not a live item of the conversation, none (the first missing
    one is named). The conversation is locked first, so the items cannot change meanwhile."""
    record = await st.touch_conversation(owner.key, conversation_id)
    if record is None:
        raise NotFound.conversation(conversation_id)
    texts = await st.live_search_texts_of(owner.key, conversation_id, item_ids)
    for index, item_id in enumerate(item_ids):
        if item_id not in texts:
            raise NotFound.item(item_id, param=f"item_ids[{index}]")
    await st.blank_items(owner.key, conversation_id, item_ids, now=now)
    await unindex_items(st, owner.key, conversation_id, texts.values())
    return record
