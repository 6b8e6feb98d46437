"""Full-text search, backend-neutral: which words a text has, and how they are folded.

A word is a run of Unicode letters and digits; words are folded (NFKD, combining marks removed,
case-folded). The stored search text of an item is its words joined by spaces, and a query is
its words, so a search is case- and diacritics-insensitive wherever it runs, and no user input
ever reaches a query language as syntax. The storage indexes these words per conversation
(``store/words.py``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_SEARCH_WORDS", "fold", "search_document", "search_words"]

MAX_SEARCH_WORDS = 32
"""Words beyond this many are ignored (each word is one index lookup)."""

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
