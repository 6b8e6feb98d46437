"""The OpenAPI 3.1 document, generated from the msgspec types and the item table, and the
interactive docs at ``/docs`` (Swagger UI served from the installed package: no internet needed).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..domain.conversations import (
    ConversationDeleted,
    ConversationObject,
    CreateConversationInput,
    CreateItemsInput,
    DeleteItemsInput,
    UpdateConversationInput,
)
from ..domain.items import ITEM_TYPES
from .errors import ErrorEnvelope
from .params import CONVERSATION_LIST_LIMIT, ITEM_LIST_LIMIT, MAX_SEARCH_CHARS
from .routes import BASE_PATH

__all__ = ["build_document", "docs_routes", "is_docs_path"]

_REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _item_schemas(components: dict[str, Any]) -> None:
    """``InputItem`` (request union) and ``Item`` (response union: each variant with id), one
    variant per ``type``, so that exactly one variant fits any item (a validator never has to
    choose): both message models are one variant, ``Message`` (the service reads a message as an
    output message when it has an output message's shape, as an input message otherwise). In
    ``Item`` the ``type`` is required and names its variant (the discriminator)."""
    models: dict[str, list[str]] = {}
    for t in ITEM_TYPES:
        models.setdefault(t.name, []).append(t.model.__name__)
    names: dict[str, str] = {}  # type → the variant's schema name
    for type_name, members in models.items():
        if len(members) == 1:
            names[type_name] = members[0]
            continue
        names[type_name] = "Message"
        components["Message"] = {
            "description": (
                "An input message, or an output message (`role: assistant` with an `id`, a "
                "`status` and only `output_text`/`refusal` parts)."
            ),
            "anyOf": [_ref(m) for m in members],
        }
    components["InputItem"] = {
        "description": (
            "One of the item types. `type` may be omitted for input messages (and item "
            "references); a `message` with `role: assistant`, an `id`, a `status` and only "
            "`output_text`/`refusal` parts is an output message."
        ),
        "oneOf": [_ref(n) for n in names.values()],
    }
    mapping = {}
    for type_name, name in names.items():
        with_id = f"{name}WithId"
        components[with_id] = {
            "allOf": [
                _ref(name),
                {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"const": type_name},
                        "response_id": {"type": ["string", "null"]},
                    },
                },
            ]
        }
        mapping[type_name] = _REF.format(name=with_id)
    components["Item"] = {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    for list_name, element in (("ItemList", "Item"), ("ConversationList", "ConversationObject")):
        components[list_name] = {
            "type": "object",
            "required": ["object", "data", "first_id", "last_id", "has_more"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": _ref(element)},
                "first_id": {"type": "string", "description": "First id of the page; '' if empty."},
                "last_id": {"type": "string", "description": "Last id of the page; '' if empty."},
                "has_more": {"type": "boolean"},
            },
        }


def _item_reference_schema(components: dict[str, Any]) -> None:
    """An item reference with ``type`` may carry unknown fields like every item; without one it
    is only ``{"id"}`` (an object with an id and other fields but no type or role is not an item
    reference but an item missing its type: 400)."""
    generated = components["ItemReference"]
    with_type = {
        "type": "object",
        "properties": {**generated["properties"], "type": {"const": "item_reference"}},
        "required": ["id", "type"],
    }
    bare = {
        "type": "object",
        "properties": {**generated["properties"], "type": {"type": "null"}},
        "required": ["id"],
        "additionalProperties": False,
    }
    components["ItemReference"] = {**generated, "oneOf": [with_type, bare]}


_ERRORS = {
    "400": "Invalid request (OpenAI error envelope with code and param), or one that could not "
    "be parsed as HTTP.",
    "401": "Missing or unknown API key.",
    "404": "Unknown, foreign or deleted conversation or item.",
    "408": "The request body did not arrive within the read timeout.",
    "413": "Request body too large.",
    "414": "The URL (path and query) is over the limit.",
    "415": "Body sent with a media type other than JSON.",
    "431": "The request line and headers are over the limit.",
    "429": "Rate limited (when MKA1_RATE_LIMIT is set): retry after the Retry-After seconds.",
}
#: Answered by the HTTP server itself for a request it refuses before the service sees it
#: (docs/security.md): under Granian with no body at all (hence no media type here), under plain
#: uvicorn (not ``serve``) as text/plain.
_SERVER_ANSWERS = ("400", "414", "431")
_SERVER_NOTE = (
    " Without a body when Granian's HTTP parser refuses the request itself (docs/security.md)."
)


_CONVERSATION_OPERATIONS = (
    "conversations.retrieve",
    "conversations.update",
    "conversations.delete",
    "conversations.items.create",
    "conversations.items.list",
    "conversations.items.deleteMany",
)
_ITEM_OPERATIONS = ("conversations.items.retrieve", "conversations.items.delete")


def _links(source: str) -> dict[str, Any]:
    """OpenAPI links from an answer to the operations that can use the ids in it (so that
    clients and stateful fuzzers chain a created conversation or item into the next call)."""
    if source == "conversation":  # the answer is a Conversation
        return {
            op: {"operationId": op, "parameters": {"conversation_id": "$response.body#/id"}}
            for op in _CONVERSATION_OPERATIONS
        }
    return {  # the answer is an item list of one conversation
        op: {
            "operationId": op,
            "parameters": {
                "conversation_id": "$request.path.conversation_id",
                "item_id": "$response.body#/first_id",
            },
        }
        for op in _ITEM_OPERATIONS
    }


def _responses(ok: str, *, extra: tuple[str, ...] = (), links: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref(ok)}}}
    }
    if links is not None:
        out["200"]["links"] = _links(links)
    codes = dict(_ERRORS)
    if "409" in extra:
        codes["409"] = "An item id already exists in this conversation (x-should-retry: false)."
    for code, text in sorted(codes.items()):
        out[code] = {
            "description": text,
            "content": {"application/json": {"schema": _ref("ErrorEnvelope")}},
        }
    for code in _SERVER_ANSWERS:
        out[code]["description"] += _SERVER_NOTE
        out[code]["content"]["text/plain"] = {"schema": {"type": "string"}}
    return out


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_CONVERSATION_ID = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The ID of the conversation.",
}
_ITEM_ID = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The ID of the item.",
}
_ON_BEHALF_OF = {
    "name": "X-On-Behalf-Of",
    "in": "header",
    "required": False,
    # Printable ASCII, not "*"; no space at either end (HTTP strips it: it would not arrive).
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 150,
        "pattern": "^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$",
        "not": {"const": "*"},
    },
    "description": "Your end user's stable id (1-150 printable ASCII characters, not '*'): "
    "scopes every operation to that user.",
}
# An empty query value (``order=``, ``limit=``) is read as absent: the default.
_ORDER = {"type": "string", "enum": ["asc", "desc", ""], "default": "asc"}


def _limit(maximum: int) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": maximum},
            {"type": "string", "const": ""},
        ],
        "default": 20,
    }


_INCLUDE = _query(
    "include",
    {"type": "array", "items": {"type": "string"}},
    "Accepted (also as include[]) and ignored.",
)


def _operation(
    op_id: str,
    summary: str,
    ok: str,
    *,
    body: str | None = None,
    params: tuple[dict[str, Any], ...] = (),
    extra: tuple[str, ...] = (),
    links: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": ["Conversations"],
        "parameters": [*params, _ON_BEHALF_OF],
        "responses": _responses(ok, extra=extra, links=links),
    }
    if body is not None:
        op["requestBody"] = {
            "required": False,  # an empty body is read as {} (then validated as usual)
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


@functools.cache
def build_document() -> dict[str, Any]:
    """The whole OpenAPI document (built once)."""
    models: list[Any] = [
        CreateConversationInput,
        UpdateConversationInput,
        CreateItemsInput,
        DeleteItemsInput,
        ConversationObject,
        ConversationDeleted,
        ErrorEnvelope,
        *(t.model for t in ITEM_TYPES),
    ]
    _, components = msgspec.json.schema_components(models, ref_template=_REF)
    _item_reference_schema(components)
    _item_schemas(components)
    conv = BASE_PATH + "/{conversation_id}"
    items = conv + "/items"
    limit_items = _limit(ITEM_LIST_LIMIT)
    limit_convs = _limit(CONVERSATION_LIST_LIMIT)
    paths = {
        BASE_PATH: {
            "post": _operation(
                "conversations.create",
                "Create a conversation",
                "ConversationObject",
                body="CreateConversationInput",
                links="conversation",
            ),
            "get": _operation(
                "conversations.list",
                "List conversations",
                "ConversationList",
                params=(
                    _query("after", {"type": "string"}, "Conversation id to list after."),
                    _query("limit", limit_convs, "1-50, default 20."),
                    _query("order", _ORDER, "By last update: asc (oldest first) or desc."),
                    _query(
                        "metadata",
                        {"type": "string"},
                        "JSON object of key/value pairs that must all match; also "
                        "metadata[key]=value, or bare key=value query parameters.",
                    ),
                    _query(
                        "search",
                        {"type": "string", "maxLength": MAX_SEARCH_CHARS},
                        "Full-text search over the items' text: every word must match.",
                    ),
                    {
                        **_query(
                            "metadata_pairs",
                            {
                                "type": "object",
                                "additionalProperties": {"type": "string", "maxLength": 512},
                                "maxProperties": 16,
                            },
                            "Any other query parameter is a metadata pair that must match "
                            "(key=value; what the MKA1 SDK sends for a metadata dict).",
                        ),
                        "style": "form",
                        "explode": True,
                    },
                ),
            ),
        },
        conv: {
            "get": _operation(
                "conversations.retrieve",
                "Get a conversation",
                "ConversationObject",
                params=(_CONVERSATION_ID,),
            ),
            "post": _operation(
                "conversations.update",
                "Update a conversation's metadata",
                "ConversationObject",
                body="UpdateConversationInput",
                params=(_CONVERSATION_ID,),
            ),
            "delete": _operation(
                "conversations.delete",
                "Delete a conversation (soft)",
                "ConversationDeleted",
                params=(_CONVERSATION_ID,),
            ),
        },
        items: {
            "post": _operation(
                "conversations.items.create",
                "Create items",
                "ItemList",
                body="CreateItemsInput",
                params=(_CONVERSATION_ID, _INCLUDE),
                extra=("409",),
                links="items",
            ),
            "get": _operation(
                "conversations.items.list",
                "List items",
                "ItemList",
                params=(
                    _CONVERSATION_ID,
                    _query("after", {"type": "string"}, "Item id to list after."),
                    _query("limit", limit_items, "1-100, default 20."),
                    _query("order", _ORDER, "asc (oldest first) or desc."),
                    _INCLUDE,
                ),
            ),
            "delete": _operation(
                "conversations.items.deleteMany",
                "Delete items (all or none)",
                "ConversationObject",
                body="DeleteItemsInput",
                params=(_CONVERSATION_ID,),
            ),
        },
        items + "/{item_id}": {
            "get": _operation(
                "conversations.items.retrieve",
                "Get an item",
                "Item",
                params=(_CONVERSATION_ID, _ITEM_ID, _INCLUDE),
            ),
            "delete": _operation(
                "conversations.items.delete",
                "Delete an item",
                "ConversationObject",
                params=(_CONVERSATION_ID, _ITEM_ID),
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MKA1 Conversations",
            "version": __version__,
            "description": "An open implementation of the MKA1 API's Conversations resource.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer_auth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer_auth": {"type": "http", "scheme": "bearer"}},
        },
    }


_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MKA1 Conversations API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


def _swagger_assets() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


async def _openapi(request: Request) -> Response:
    return Response(_openapi_bytes(), media_type="application/json")


@functools.cache
def _openapi_bytes() -> bytes:
    return msgspec.json.encode(build_document())


async def _docs(request: Request) -> Response:
    return HTMLResponse(_DOCS_HTML)


def is_docs_path(path: str) -> bool:
    return path in ("/openapi.json", "/docs") or path.startswith("/docs/")


def docs_routes() -> list[BaseRoute]:
    return [
        Route("/openapi.json", _openapi, methods=["GET"]),
        Route("/docs", _docs, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=_swagger_assets()), name="docs-assets"),
    ]
