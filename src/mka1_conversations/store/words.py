"""The word index: which words a conversation's live items hold, so a search costs index lookups.

One row per (conversation, word of its live items) in ``conversation_words``, counting the live
items that hold the word, but only up to ``EXACT_WORD_COUNT``: past it the count is no longer
kept ("held by at least that many"), so an append to a long conversation leaves the rows of the
words it already holds often alone. The words of new items are added in the same statement as
the items (each dialect's append); this module decides how they are counted and how they go
when items are deleted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

__all__ = ["EXACT_WORD_COUNT", "SCAN_ROWS", "WordStatements", "unindex_items", "word_counts"]

EXACT_WORD_COUNT = 4
"""A word's holders are counted exactly up to this many; see the module docstring."""

SCAN_ROWS = 500
"""Live items read per statement when a deletion checks which words are still held."""


def word_counts(documents: Iterable[str]) -> dict[str, int]:
    """For each word of the stored search texts ``documents``, how many of them hold it: what a
    conversation's word index gains when those items are written, and loses when they go."""
    counts: dict[str, int] = {}
    for document in documents:
        for word in set(document.split()):
            counts[word] = counts.get(word, 0) + 1
    return counts


class WordStatements(Protocol):
    async def count_down_words(
        self, owner_key: str, conversation_id: str, counts: dict[str, int]
    ) -> None:
        """Subtract from each word's exact count (those below ``EXACT_WORD_COUNT``); a count
        that reaches zero removes the word's row."""

    async def words_past_count(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> set[str]:
        """Which of ``words`` the conversation's index holds past the exact count."""

    async def live_search_texts(
        self, owner_key: str, conversation_id: str, *, after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """``(seq, search_text)`` of the conversation's live items after ``after_seq``, in
        order, at most ``limit``."""

    async def drop_words(
        self, owner_key: str, conversation_id: str, words: Collection[str]
    ) -> None: ...


async def unindex_items(
    st: WordStatements, owner_key: str, conversation_id: str, texts: Iterable[str]
) -> None:
    """Take the words of just-deleted items (their search ``texts``; the items themselves are
    already blanked, so they no longer count as holders) out of the conversation's index.

    An exact count goes down and leaves at zero. A word past the exact count leaves when no
    live item of the conversation holds it any more: one pass over the live items for all such
    words together, which stops as soon as each has been found held."""
    counts = word_counts(texts)
    if not counts:
        return
    await st.count_down_words(owner_key, conversation_id, counts)
    unheld = await st.words_past_count(owner_key, conversation_id, counts)
    seq = 0
    while unheld:
        rows = await st.live_search_texts(
            owner_key, conversation_id, after_seq=seq, limit=SCAN_ROWS
        )
        for _, text in rows:
            unheld.difference_update(text.split())
            if not unheld:
                return
        if len(rows) < SCAN_ROWS:
            break
        seq = rows[-1][0]
    if unheld:
        await st.drop_words(owner_key, conversation_id, unheld)
