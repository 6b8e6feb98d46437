"""Query parameters: ``limit``/``order``/``after``/``include`` and the three forms of the
list-conversations metadata filter (``metadata=<JSON>``, ``metadata[key]=value``, bare keys)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from starlette.datastructures import QueryParams

from ..domain.conversations import validate_metadata
from ..domain.errors import InvalidRequest, NotFound
from ..domain.ids import is_possible_id
from ..domain.limits import (
    CONVERSATION_LIST_LIMIT,
    DEFAULT_LIST_LIMIT,
    MAX_SEARCH_CHARS,
)
from ..domain.store import ConversationQuery, Order

__all__ = [
    "CONVERSATION_LIST_PARAMS",
    "parse_after",
    "parse_conversation_query",
    "parse_integer",
    "parse_limit",
    "parse_order",
    "path_ids",
    "query_params",
]

CONVERSATION_LIST_PARAMS = frozenset({"after", "limit", "order", "metadata", "search"})

_decode_object = msgspec.json.Decoder(dict[str, object]).decode


def query_params(query_string: bytes) -> QueryParams:
    """The query string as Starlette's QueryParams, skipping ``parse_qsl`` for the common plain
    case (``limit=20&order=desc``: no escapes), which it would only slow down."""
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text or ";" in text:
        return QueryParams(text)
    pairs = [part.partition("=") for part in text.split("&") if part]
    return QueryParams([(k, v) for k, _, v in pairs])


def parse_integer(
    query: QueryParams, name: str, *, minimum: int, maximum: int, default: int
) -> int:
    """An integer query parameter within ``[minimum, maximum]``; ``default`` when absent or
    empty. Only an optional ``-`` and ASCII digits are an integer: not a ``+``, a space, a ``_``
    or a non-ASCII digit, all of which Python's ``int`` would take. Any count of digits is
    compared with the bounds (400 below or above), never refused as a string."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    negative = raw.startswith("-")
    digits = raw[1:] if negative else raw
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidRequest(
            f"Invalid type for '{name}': expected an integer, but got a string ('{raw[:40]}') "
            "instead.",
            code="invalid_type",
            param=name,
        )
    digits = digits.lstrip("0") or "0"
    if len(digits) <= 18:  # int() refuses over 4,300 digits; no bound needs more than 18
        value = -int(digits) if negative else int(digits)
        shown = str(value)
    else:
        value = -(10**18) if negative else 10**18
        shown = ("-" if negative else "") + digits[:40] + "..."
    if value < minimum:
        raise InvalidRequest(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but "
            f"got {shown} instead.",
            code="integer_below_min_value",
            param=name,
        )
    if value > maximum:
        raise InvalidRequest(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}, but "
            f"got {shown} instead.",
            code="integer_above_max_value",
            param=name,
        )
    return value


def parse_limit(query: QueryParams, *, maximum: int, default: int = DEFAULT_LIST_LIMIT) -> int:
    return parse_integer(query, "limit", minimum=1, maximum=maximum, default=default)


def parse_order(query: QueryParams, *, default: Order = "asc") -> Order:
    raw = query.get("order")
    if raw is None or raw == "":
        return default
    if raw == "asc":
        return "asc"
    if raw == "desc":
        return "desc"
    raise InvalidRequest(
        f"Invalid value: '{raw[:40]}'. Supported values are: 'asc' and 'desc'.",
        code="invalid_value",
        param="order",
    )


def parse_after(query: QueryParams) -> str | None:
    raw = query.get("after")
    if raw and not is_possible_id(raw):
        raise InvalidRequest(
            "Invalid 'after': not an id that can exist.", code="invalid_value", param="after"
        )
    return raw or None


def path_ids(path_params: Mapping[str, str]) -> tuple[str, str]:
    """``conversation_id`` and ``item_id`` (``""`` if absent) from the path; an id that could
    never have been stored (a NUL, too long) is not found, without asking the database."""
    conversation_id = path_params["conversation_id"]
    item_id = path_params.get("item_id", "")
    if not is_possible_id(conversation_id):
        raise NotFound.conversation(conversation_id)
    if "item_id" in path_params and not is_possible_id(item_id):
        raise NotFound.item(item_id)
    return conversation_id, item_id


def _metadata_filter(query: QueryParams) -> dict[str, str]:
    pairs: dict[str, object] = {}

    def put(key: str, value: object) -> None:
        if key in pairs and pairs[key] != value:
            raise InvalidRequest(
                f"Invalid 'metadata': the filter gives key '{key}' two different values.",
                code="invalid_value",
                param=f"metadata.{key}",
            )
        pairs[key] = value

    for key, value in query.multi_items():
        if key == "metadata":
            try:
                obj = _decode_object(value)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise InvalidRequest(
                    "Invalid 'metadata': expected a JSON object of string values, e.g. "
                    'metadata={"user_type":"premium"}.',
                    code="invalid_value",
                    param="metadata",
                ) from None
            for k, v in obj.items():
                put(k, v)
        elif key.startswith("metadata[") and key.endswith("]"):
            put(key[len("metadata[") : -1], value)
        elif key not in CONVERSATION_LIST_PARAMS:
            put(key, value)  # the MKA1 SDK sends a dict filter as bare query keys
    return validate_metadata(pairs)


def parse_conversation_query(query: QueryParams) -> ConversationQuery:
    search = query.get("search")
    if search is not None and len(search) > MAX_SEARCH_CHARS:
        raise InvalidRequest(
            f"Invalid 'search': string too long. Expected a string with maximum length "
            f"{MAX_SEARCH_CHARS}, but got a string with length {len(search)} instead.",
            code="string_above_max_length",
            param="search",
        )
    return ConversationQuery(
        limit=parse_limit(query, maximum=CONVERSATION_LIST_LIMIT),
        order=parse_order(query),
        after=parse_after(query),
        metadata=_metadata_filter(query),
        search=search or None,
    )
