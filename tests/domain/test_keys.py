"""API keys: a new key is ``mk-`` and 256 random bits, and a key is stored and looked up by the
SHA-256 hex of its UTF-8 bytes."""

from __future__ import annotations

import hashlib

from mka1_conversations.domain.keys import KEY_PREFIX, hash_key, new_api_key


def test_a_key_is_known_by_its_sha256() -> None:
    assert hash_key("sk-1") == hashlib.sha256(b"sk-1").hexdigest()
    assert hash_key("clé") == hashlib.sha256("clé".encode()).hexdigest()
    assert len(hash_key("")) == 64


def test_new_keys_are_long_random_and_url_safe() -> None:
    keys = {new_api_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) == len(KEY_PREFIX) + 43  # 32 bytes, base64url without padding
        assert key.isascii() and " " not in key and "/" not in key and "+" not in key
