"""Identifiers: ``<prefix>_`` followed by 32 lowercase hex digits from a cryptographic source."""

from __future__ import annotations

import secrets

__all__ = ["CONVERSATION_PREFIX", "MAX_ID_LENGTH", "is_possible_id", "is_storable_text", "new_id"]

CONVERSATION_PREFIX = "conv"
MAX_ID_LENGTH = 256


def new_id(prefix: str) -> str:
    """A fresh id such as ``msg_0f3c…`` (128 random bits)."""
    return f"{prefix}_{secrets.token_hex(16)}"


def is_storable_text(value: str) -> bool:
    """Text every backend can store: valid UTF-8 (no lone surrogates) and no NUL character."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_possible_id(value: str) -> bool:
    """Whether ``value`` could be the id of something stored (ids are 1–256 storable chars).

    Anything else is answered as "not found" before it reaches a database.
    """
    return 0 < len(value) <= MAX_ID_LENGTH and is_storable_text(value)
