"""Identifiers: ``<prefix>_`` followed by 32 lowercase hex digits from a cryptographic source."""

from __future__ import annotations

import secrets

__all__ = ["CONVERSATION_PREFIX", "new_id"]

CONVERSATION_PREFIX = "conv"


def new_id(prefix: str) -> str:
    """A fresh id such as ``msg_0f3c…`` (128 random bits)."""
    return f"{prefix}_{secrets.token_hex(16)}"
