"""Every bound the API puts on one request's input, in one place: list page sizes, items per
write, ids per bulk delete, metadata sizes, search length. The body Structs, the query parsers
and the OpenAPI document read them from here; docs/api.md ("Limits") lists them for users."""

from __future__ import annotations

__all__ = [
    "CONVERSATION_LIST_LIMIT",
    "DEFAULT_LIST_LIMIT",
    "ITEM_LIST_LIMIT",
    "MAX_BULK_DELETE",
    "MAX_ITEMS_PER_REQUEST",
    "MAX_METADATA_KEY",
    "MAX_METADATA_PAIRS",
    "MAX_METADATA_VALUE",
    "MAX_SEARCH_CHARS",
]

DEFAULT_LIST_LIMIT = 20
"""A list's page size when ``limit`` is absent (or empty)."""
ITEM_LIST_LIMIT = 100
"""Largest ``limit`` of an item list."""
CONVERSATION_LIST_LIMIT = 50
"""Largest ``limit`` of a conversation list."""

MAX_ITEMS_PER_REQUEST = 20
"""Items in one create-conversation or create-items body."""
MAX_BULK_DELETE = 100
"""Ids in one bulk delete (``item_ids``)."""

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
"""Characters in a metadata key."""
MAX_METADATA_VALUE = 512
"""Characters in a metadata value."""

MAX_SEARCH_CHARS = 16_384
"""Characters in a conversation list's ``search``."""
