"""Conversations: the request bodies (input), the stored record, the objects returned (output),
and the metadata rules (their bounds are in ``limits.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .errors import InvalidRequest
from .ids import is_storable_text
from .limits import (
    MAX_BULK_DELETE,
    MAX_ITEMS_PER_REQUEST,
    MAX_METADATA_KEY,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE,
)
from .validation import describe_value

__all__ = [
    "ConversationDeleted",
    "ConversationObject",
    "ConversationRecord",
    "CreateConversationInput",
    "CreateItemsInput",
    "DeleteItemsInput",
    "UpdateConversationInput",
    "validate_metadata",
]

_ITEMS_SCHEMA = {"items": {"$ref": "#/components/schemas/InputItem"}}
Metadata = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description=f"Up to {MAX_METADATA_PAIRS} key-value pairs; keys ≤{MAX_METADATA_KEY} "
        f"characters, string values ≤{MAX_METADATA_VALUE}.",
        extra_json_schema={
            "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE},
            "maxProperties": MAX_METADATA_PAIRS,
        },
    ),
]
IncludeList = Annotated[
    list[str], msgspec.Meta(description="Accepted for compatibility and ignored.")
]


# --- input (request bodies) -----------------------------------------------------------------


class _Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class CreateConversationInput(_Input):
    """Body of ``POST /conversations``: optional initial items and metadata."""

    items: (
        Annotated[
            list[Any],
            msgspec.Meta(max_length=MAX_ITEMS_PER_REQUEST, extra_json_schema=_ITEMS_SCHEMA),
        ]
        | None
    ) = None
    metadata: Metadata | None = None


class UpdateConversationInput(_Input):
    """Body of ``POST /conversations/{id}``: the new metadata (replaces the map; null clears it)."""

    metadata: Metadata | None


class CreateItemsInput(_Input):
    """Body of ``POST /conversations/{id}/items``: 1–20 items."""

    items: Annotated[
        list[Any],
        msgspec.Meta(
            min_length=1, max_length=MAX_ITEMS_PER_REQUEST, extra_json_schema=_ITEMS_SCHEMA
        ),
    ]
    include: IncludeList | None = None


class DeleteItemsInput(_Input):
    """Body of ``DELETE /conversations/{id}/items``: 1–100 distinct item ids, all or nothing."""

    item_ids: Annotated[
        list[str],
        msgspec.Meta(
            min_length=1, max_length=MAX_BULK_DELETE, extra_json_schema={"uniqueItems": True}
        ),
    ]


# --- stored ---------------------------------------------------------------------------------


class ConversationRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A conversation as the Store returns it."""

    id: str
    created_at: int
    deleted_at: int | None
    metadata: dict[str, str]
    owner_key: str | None = None
    """The owner's key when the caller is not the owner (a grantee: docs/sharing.md), so that
    the conversation shows its owner's ``identity``; None when the caller owns it."""


# --- output ---------------------------------------------------------------------------------


class ConversationObject(msgspec.Struct, kw_only=True):
    """A conversation as the API returns it."""

    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    deleted_at: int | None
    metadata: dict[str, str]
    identity: str


class ConversationDeleted(msgspec.Struct, kw_only=True):
    """What deleting a conversation returns."""

    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


# --- rules ----------------------------------------------------------------------------------


def validate_metadata(
    metadata: dict[str, Any] | None, *, param: str = "metadata"
) -> dict[str, str]:
    """Check the metadata limits with OpenAI's wording; ``None`` means an empty map."""
    if metadata is None:
        return {}
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidRequest(
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{MAX_METADATA_PAIRS} properties, but got an object with {len(metadata)} "
            "properties instead.",
            code="object_above_max_properties",
            param=param,
        )
    for key, value in metadata.items():
        if not is_storable_text(key) or (isinstance(value, str) and not is_storable_text(value)):
            raise InvalidRequest(
                f"Invalid value for '{param}.{key!r}': metadata must be valid UTF-8 text "
                "without NUL characters.",
                code="invalid_value",
                param=param,
            )
        if len(key) > MAX_METADATA_KEY:
            raise InvalidRequest(
                f"Invalid property name in '{param}': '{key}' is too long. Expected a string "
                f"with maximum length {MAX_METADATA_KEY}, but got a string with length "
                f"{len(key)} instead.",
                code="property_name_above_max_length",
                param=f"{param}.{key}",
            )
        if not isinstance(value, str):
            raise InvalidRequest(
                f"Invalid type for '{param}.{key}': expected a string, but got "
                f"{describe_value(value)} instead.",
                code="invalid_type",
                param=f"{param}.{key}",
            )
        if len(value) > MAX_METADATA_VALUE:
            raise InvalidRequest(
                f"Invalid '{param}.{key}': string too long. Expected a string with maximum "
                f"length {MAX_METADATA_VALUE}, but got a string with length {len(value)} "
                "instead.",
                code="string_above_max_length",
                param=f"{param}.{key}",
            )
    return metadata
