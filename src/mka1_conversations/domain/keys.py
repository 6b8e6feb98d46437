"""API keys as the service knows them: a new key's text, and the digest it is stored and looked up
by (the key itself is never stored). Used by the key ring (HTTP face) and by ``keys create``."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["KEY_PREFIX", "api_key_id", "hash_key", "new_api_key"]

KEY_PREFIX = "mk-"
"""Keys this service creates start with it (``MKA1_API_KEYS`` may hold keys of any shape)."""


def hash_key(key: str) -> str:
    """How keys are stored and compared: SHA-256 hex of the key's UTF-8 bytes."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_id(digest: str) -> str:
    """How usage names a key (``api_key_id``): the first 12 hex digits of its SHA-256 digest,
    the ID ``keys list`` shows."""
    return digest[:12]


def new_api_key() -> str:
    """A new key: ``mk-`` and 256 random bits, URL-safe base64."""
    return KEY_PREFIX + secrets.token_urlsafe(32)
