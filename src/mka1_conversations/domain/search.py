"""Full-text search, backend-neutral: which words a text has, how they are folded, and the key
each word is indexed under.

A word is a run of Unicode letters and digits; words are folded (NFKD, combining marks removed,
case-folded). The stored search text of an item is its words joined by spaces, and a query is
its words, so a search is case- and diacritics-insensitive wherever it runs, and no user input
ever reaches a query language as syntax. The storage indexes these words per conversation
(``store/words.py``), each under its *index key* (``index_word``): the word itself up to
``MAX_INDEXED_CHARS`` characters, a fixed-length digest of it beyond, so that a word of any
length fits every database's index (PostgreSQL's b-tree refuses a row over 2,704 bytes) and is
still matched whole.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = [
    "MAX_INDEXED_CHARS",
    "MAX_SEARCH_WORDS",
    "fold",
    "index_word",
    "index_words",
    "search_document",
    "search_words",
]

MAX_SEARCH_WORDS = 32
"""Words beyond this many are ignored (each word is one index lookup)."""

MAX_INDEXED_CHARS = 64
"""Words up to this many characters are their own index key; a longer one is keyed by
``index_word``. Migration 0006 computes the same key in SQL (PostgreSQL) and with this function
(SQLite): change both together."""

_DIGEST_HEX = 32

_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """``"Crème BRÛLÉE"`` → ``"creme brulee"``."""
    if text.isascii():  # NFKD leaves ASCII as it is, with no combining marks to drop
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def index_word(word: str) -> str:
    """The key a folded word is indexed and looked up under: the word, or, past
    ``MAX_INDEXED_CHARS`` characters, its first ``MAX_INDEXED_CHARS`` characters, ``_`` and 32
    hex digits of the SHA-256 of the whole word (UTF-8). At most 64 × 4 + 33 bytes. A word never
    holds ``_``, so a key of a long word is never a short word's; two long words share a key
    only if they share their first 64 characters and 128 bits of digest."""
    if len(word) <= MAX_INDEXED_CHARS:
        return word
    digest = hashlib.sha256(word.encode()).hexdigest()[:_DIGEST_HEX]
    return f"{word[:MAX_INDEXED_CHARS]}_{digest}"


def index_words(search_text: str) -> set[str]:
    """The distinct index keys of a stored search text (see ``search_document``)."""
    return {index_word(word) for word in search_text.split()}


def search_words(query: str) -> list[str]:
    """The distinct index keys of a search's folded words, in order, at most
    ``MAX_SEARCH_WORDS``: what a listing looks up."""
    words: list[str] = []
    for word in _WORD.findall(fold(query)):
        key = index_word(word)
        if key not in words:
            words.append(key)
            if len(words) == MAX_SEARCH_WORDS:
                break
    return words


def search_document(texts: list[str]) -> str:
    """What is stored for an item: the folded words of its texts, space-separated (whole:
    the index keys are derived from it, ``index_words``)."""
    return " ".join(" ".join(_WORD.findall(fold(text))) for text in texts if text)
