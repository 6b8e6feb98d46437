"""The word index: which words a conversation's live items hold, so a search costs index lookups.

One row per (conversation, word of its live items) in ``conversation_words``: a row exists
exactly while some live item of the conversation holds the word (the index key of
``domain.search.index_word``), so a search never finds a conversation that does not hold every
word. Its ``items`` counts the holders among the conversation's *counted* items: all of them but
its newest, *pending* ones (``words_pending_items`` on the conversation).

- **Creating** a conversation counts its items' words at once (new rows).
- **Appending** adds a row, with a count of 0, only for a word the conversation does not hold
  yet; every other row is left alone (a probe, no page written), whatever the conversation's
  length. The items are pending.
- **Folding** counts the pending items into the rows and makes them counted: once an append
  leaves more than ``FOLD_ITEMS`` items or ``FOLD_CHARS`` characters of search text pending, in a
  transaction of its own right after it. Its cost is that of the pending text, a common word
  written once per fold instead of once per append.
- **Deleting** items takes their words out: a counted item's words are counted down; then a word
  of the deleted items stays exactly if its count is above zero or a pending live item still
  holds it. So a delete reads the deleted items' words and at most the pending texts: its cost
  does not grow with the conversation (the pending text is bounded by the fold).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from ..domain.search import index_words

__all__ = [
    "FOLD_CHARS",
    "FOLD_ITEMS",
    "WordStatements",
    "fold_due",
    "fold_words",
    "unindex_items",
    "word_counts",
]

FOLD_ITEMS = 128
"""Pending items (appended since the last fold) that make the next append fold them."""

FOLD_CHARS = 32 * 1024
"""Characters of pending search text that make the next append fold them: a delete reads at
most this much (plus one append's worth) besides the deleted items' own words."""


def word_counts(documents: Iterable[str]) -> dict[str, int]:
    """For each index key of the stored search texts ``documents``, how many of them hold it:
    what a conversation's counts gain when those items are counted, and lose when they go."""
    counts: dict[str, int] = {}
    for document in documents:
        for word in index_words(document):
            counts[word] = counts.get(word, 0) + 1
    return counts


def fold_due(pending_items: int, pending_chars: int) -> bool:
    """Whether a conversation with this much pending should be folded now."""
    return pending_items > FOLD_ITEMS or pending_chars > FOLD_CHARS


class WordStatements(Protocol):
    async def first_pending_seq(
        self, owner_key: str, conversation_id: str, *, lock: bool
    ) -> int | None:
        """The ``seq`` of the live conversation's first pending item (its next ``seq`` when
        none is pending); None if there is no such conversation. ``lock``: hold the
        conversation against concurrent writers until commit."""

    async def live_texts_from(
        self, owner_key: str, conversation_id: str, first_seq: int
    ) -> list[str]:
        """The search texts of the conversation's live items from ``first_seq`` on."""

    async def add_to_counts(
        self, owner_key: str, conversation_id: str, deltas: dict[str, int]
    ) -> None:
        """Add each delta to its word's count (the rows exist)."""

    async def counted_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> set[str]:
        """Which of ``words`` have a count above zero."""

    async def drop_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> None: ...

    async def mark_folded(self, owner_key: str, conversation_id: str) -> None:
        """No item of the conversation is pending any more."""


async def fold_words(st: WordStatements, owner_key: str, conversation_id: str) -> None:
    """Count the conversation's pending items into its words (one transaction: the
    conversation is held meanwhile)."""
    first = await st.first_pending_seq(owner_key, conversation_id, lock=True)
    if first is None:
        return
    counts = word_counts(await st.live_texts_from(owner_key, conversation_id, first))
    if counts:
        await st.add_to_counts(owner_key, conversation_id, counts)
    await st.mark_folded(owner_key, conversation_id)


async def unindex_items(
    st: WordStatements, owner_key: str, conversation_id: str, deleted: Iterable[tuple[int, str]]
) -> None:
    """Take the words of just-deleted items (``(seq, search text)``; the items themselves are
    already blanked, so they no longer hold anything) out of the conversation's index. The
    conversation is held by the caller's transaction."""
    deleted = list(deleted)
    words = set().union(*(index_words(text) for _, text in deleted))
    if not words:
        return
    first = await st.first_pending_seq(owner_key, conversation_id, lock=False)
    assert first is not None, "the caller holds the live conversation"
    counted = word_counts(text for seq, text in deleted if seq < first)
    if counted:
        await st.add_to_counts(
            owner_key, conversation_id, {word: -n for word, n in counted.items()}
        )
    unheld = words - await st.counted_words(owner_key, conversation_id, words)
    if unheld:
        for text in await st.live_texts_from(owner_key, conversation_id, first):
            unheld -= index_words(text)
            if not unheld:
                return
        await st.drop_words(owner_key, conversation_id, unheld)
