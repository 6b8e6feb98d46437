"""Full-text search, backend-neutral: which words a text has, and how they are folded.

A word is a run of Unicode letters and digits; words are folded (NFKD, combining marks removed,
case-folded). The stored search text of an item is its words joined by spaces, and a query is
its words. Both backends index words per conversation (``conversation_words``: which live items
of a conversation hold a word, counted), so a search is case- and diacritics-insensitive wherever
it runs, costs index lookups proportional to its words (not to how many items hold them), and no
user input ever reaches a query language as syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "EXACT_WORD_COUNT",
    "MAX_SEARCH_WORDS",
    "fold",
    "search_document",
    "search_words",
    "word_counts",
]

MAX_SEARCH_WORDS = 32
"""Words beyond this many are ignored (each word is one index lookup)."""

EXACT_WORD_COUNT = 4
"""A conversation's word index counts the live items holding a word up to this many; from there
on the count is no longer kept (it stays at or above this value: "held, by at least one live
item"), so appending to a conversation does not rewrite the index rows of words it already holds
often, which in a long conversation are most words of a new message (100,000 items: 18 of 26
pages written per one-message append were such rows). Deleting an item counts an exact word
down and drops it at zero; a word past this count is dropped only if no live item of the
conversation still holds it, which the backend checks on the items' search texts then."""

_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """``"Crème BRÛLÉE"`` → ``"creme brulee"``."""
    if text.isascii():  # NFKD leaves ASCII as it is, with no combining marks to drop
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def search_words(query: str) -> list[str]:
    """The distinct folded words of a search, in order, at most ``MAX_SEARCH_WORDS``."""
    words: list[str] = []
    for word in _WORD.findall(fold(query)):
        if word not in words:
            words.append(word)
            if len(words) == MAX_SEARCH_WORDS:
                break
    return words


def search_document(texts: list[str]) -> str:
    """What is stored and indexed for an item: the folded words of its texts, space-separated."""
    return " ".join(" ".join(_WORD.findall(fold(text))) for text in texts if text)


def word_counts(documents: Iterable[str]) -> dict[str, int]:
    """For each word of the stored search texts ``documents``, how many of them hold it: what a
    conversation's word index gains when those items are written, and loses when they are
    deleted."""
    counts: dict[str, int] = {}
    for document in documents:
        for word in set(document.split()):
            counts[word] = counts.get(word, 0) + 1
    return counts
