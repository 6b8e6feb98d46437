"""The OpenAPI 3.1 documents, one per face of the API (``/openapi.json`` for MKA1's,
``/v1/openapi.json`` for OpenAI's), generated from the msgspec types, the item table and the
operations' table, and the interactive docs at ``/docs`` (Swagger UI served from the installed
package: no internet needed)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
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
from ..domain.limits import (
    CONVERSATION_LIST_LIMIT,
    DEFAULT_LIST_LIMIT,
    ITEM_LIST_LIMIT,
    MAX_SEARCH_CHARS,
)
from ..domain.response_request import CreateResponseInput
from ..domain.responses import ResponseDeleted
from ..domain.sharing import GrantInput
from ..domain.usage import UsagePage
from .dialects import DIALECTS, MKA1, Dialect
from .errors import ErrorEnvelope
from .routes import OPERATIONS
from .sharing import SharingRoutes

__all__ = ["DOCS_OPERATIONS", "build_document", "docs_routes"]

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
    for list_name, element in (
        ("ItemList", "Item"),
        ("ConversationList", "ConversationObject"),
        ("ResponseList", "ResponseObject"),
    ):
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
    "403": "Shared with you, but your role does not allow this operation "
    "(`permission_error`, `insufficient_role`; docs/sharing.md).",
    "404": "Unknown, foreign or deleted conversation or item.",
    "408": "The request body did not arrive within the read timeout.",
    "413": "Request body too large.",
    "414": "The URL (path and query) is over the limit.",
    "415": "Body sent with a media type other than JSON.",
    "431": "The request line and headers are over the limit.",
    "429": "Rate limited (when MKA1_RATE_LIMIT is set): retry after the Retry-After seconds.",
    "503": "The database is unavailable (`database_unavailable`), did not answer within the "
    "request timeout (`database_timeout`: the message says whether a write may have been "
    "stored), or its storage is full (`storage_full`); see Retry-After.",
}

#: The operations that write: each takes an Idempotency-Key (docs/api.md, "Retries").
_WRITES = frozenset(
    {
        "create_conversation",
        "update_conversation",
        "delete_conversation",
        "create_items",
        "delete_item",
        "delete_items",
    }
)
#: OpenAI's Response object, in outline: its fields are OpenAI's (docs/responses.md); the
#: ``tool_choice`` union has no JSON Schema msgspec can generate.
_RESPONSE_OBJECT: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's Response object (see OpenAI's API reference for every field).",
    "required": ["id", "object", "created_at", "status", "model", "output", "usage"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "response"},
        "created_at": {"type": "integer"},
        "status": {"enum": ["completed", "incomplete", "failed", "in_progress"]},
        "model": {"type": "string"},
        "conversation": {
            "anyOf": [
                {"type": "object", "properties": {"id": {"type": "string"}}},
                {"type": "null"},
            ]
        },
        "previous_response_id": {"type": ["string", "null"]},
        "output": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": "object"},
        "error": {"anyOf": [{"type": "object"}, {"type": "null"}]},
    },
}

#: The Responses operations (docs/responses.md): they answer 503 without a model server.
_RESPONSE_OPERATIONS = frozenset(
    {"create_response", "list_responses", "get_response", "delete_response", "list_input_items"}
)
_RESPONSE_ERRORS = {
    "400": " Also `unsupported_parameter`/`unsupported_value` (a parameter this server cannot "
    "honour), `conversation_locked` (another turn is running on the conversation), and the "
    "model server's refusal (4xx) with its message.",
    "502": "The model server could not be reached, failed (5xx) or answered something that is "
    "not Chat Completions.",
    "504": "The model server did not answer within MKA1_UPSTREAM_TIMEOUT.",
    "503": " Also `upstream_not_configured`: no model server is configured (MKA1_UPSTREAM_URL).",
}

#: Answered by the HTTP server itself for a request it refuses before the service sees it
#: (docs/security.md): under Granian with no body at all (hence no media type here), under plain
#: uvicorn (not ``serve``) as text/plain.
_SERVER_ANSWERS = ("400", "414", "431")
_SERVER_NOTE = (
    " Without a body when Granian's HTTP parser refuses the request itself (docs/security.md)."
)


#: Our operation names → the operationIds of the document (OpenAI's SDK method names).
OPERATION_IDS = {
    "create_conversation": "conversations.create",
    "list_conversations": "conversations.list",
    "get_conversation": "conversations.retrieve",
    "update_conversation": "conversations.update",
    "delete_conversation": "conversations.delete",
    "create_items": "conversations.items.create",
    "list_items": "conversations.items.list",
    "delete_items": "conversations.items.deleteMany",
    "get_item": "conversations.items.retrieve",
    "delete_item": "conversations.items.delete",
    "create_response": "responses.create",
    "list_responses": "responses.list",
    "get_response": "responses.retrieve",
    "delete_response": "responses.delete",
    "list_input_items": "responses.inputItems.list",
}
_USE_A_CONVERSATION = (
    "get_conversation",
    "update_conversation",
    "delete_conversation",
    "create_items",
    "list_items",
    "delete_items",
)
_USE_AN_ITEM = ("get_item", "delete_item")


def _links(source: str, dialect: Dialect) -> dict[str, Any]:
    """OpenAPI links from an answer to the operations that can use the ids in it (so that
    clients and stateful fuzzers chain a created conversation or item into the next call)."""
    if source == "conversation":  # the answer is a Conversation
        return {
            OPERATION_IDS[op]: {
                "operationId": OPERATION_IDS[op],
                "parameters": {"conversation_id": "$response.body#/id"},
            }
            for op in _USE_A_CONVERSATION
            if dialect.serves(op)
        }
    return {  # the answer is an item list of one conversation
        OPERATION_IDS[op]: {
            "operationId": OPERATION_IDS[op],
            "parameters": {
                "conversation_id": "$request.path.conversation_id",
                "item_id": "$response.body#/first_id",
            },
        }
        for op in _USE_AN_ITEM
        if dialect.serves(op)
    }


def _responses(
    ok: str, dialect: Dialect, *, extra: tuple[str, ...] = (), links: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref(ok)}}}
    }
    if links is not None:
        out["200"]["links"] = _links(links, dialect)
    codes = dict(_ERRORS)
    if dialect.null_404_code:
        codes["404"] += " `code` is null, as OpenAI sends it."
    conflicts = []
    if "409" in extra:
        conflicts.append("an item id already exists in this conversation")
    if "idempotency" in extra:
        conflicts.append("the Idempotency-Key was used with another request")
    if conflicts:
        codes["409"] = f"Conflict: {'; or '.join(conflicts)} (x-should-retry: false)."
    for code, text in sorted(codes.items()):
        out[code] = {
            "description": text,
            "content": {"application/json": {"schema": _ref("ErrorEnvelope")}},
        }
    if ok in ("ResponseObject", "ResponseList", "ResponseDeleted") or extra == ("responses",):
        for code, text in _RESPONSE_ERRORS.items():
            if code in out:
                out[code]["description"] += text
            else:
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
_RESPONSE_ID = {
    "name": "response_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The ID of the response.",
}
_ITEM_ID = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The ID of the item.",
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[\\x21-\\x7E]+$",
    },
    "description": "Makes this write exactly-once for 24 hours: the same key and request again "
    "answer the first answer and write nothing; the key with another request is a 409.",
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


def _order(default: str) -> dict[str, Any]:
    # An empty query value (``order=``, ``limit=``) is read as absent: the default.
    return {"type": "string", "enum": ["asc", "desc", ""], "default": default}


def _limit(maximum: int) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": maximum},
            {"type": "string", "const": ""},
        ],
        "default": DEFAULT_LIST_LIMIT,
    }


def _limit_text(maximum: int) -> str:
    return f"1-{maximum}, default {DEFAULT_LIST_LIMIT}."


_INCLUDE = _query(
    "include",
    {"type": "array", "items": {"type": "string"}},
    "Accepted (also as include[]) and ignored.",
)


def _operation(
    name: str,
    summary: str,
    ok: str,
    dialect: Dialect,
    *,
    body: str | None = None,
    params: tuple[dict[str, Any], ...] = (),
    extra: tuple[str, ...] = (),
    links: str | None = None,
) -> dict[str, Any]:
    if name in _WRITES:
        params = (*params, _IDEMPOTENCY_KEY)
    op: dict[str, Any] = {
        "operationId": OPERATION_IDS[name],
        "summary": summary,
        "tags": ["Responses" if name in _RESPONSE_OPERATIONS else "Conversations"],
        "parameters": [*params, _ON_BEHALF_OF],
        "responses": _responses(
            ok,
            dialect,
            extra=(*extra, "idempotency") if name in _WRITES else extra,
            links=links,
        ),
    }
    if body is not None:
        op["requestBody"] = {
            "required": False,  # an empty body is read as {} (then validated as usual)
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


@functools.cache
def build_document(dialect: Dialect = MKA1) -> dict[str, Any]:
    """The OpenAPI document of one face of the API (built once per face)."""
    models: list[Any] = [
        CreateConversationInput,
        UpdateConversationInput,
        CreateItemsInput,
        DeleteItemsInput,
        ConversationObject,
        ConversationDeleted,
        ErrorEnvelope,
        CreateResponseInput,
        ResponseDeleted,
        *(t.model for t in ITEM_TYPES),
    ]
    _, components = msgspec.json.schema_components(models, ref_template=_REF)
    components["ResponseObject"] = _RESPONSE_OBJECT
    _item_reference_schema(components)
    _item_schemas(components)
    operations = _operations(dialect)
    paths: dict[str, dict[str, Any]] = {}
    for path, methods in reversed(OPERATIONS.items()):  # the base path first
        served = {m.lower(): operations[op] for m, op in methods.items() if dialect.serves(op)}
        if served:
            paths[dialect.prefix + path] = served
    if dialect is MKA1:  # MKA1's own: sharing and usage (docs/sharing.md)
        components.update(_sharing_schemas())
        for path, methods in SharingRoutes.OPERATIONS.items():
            paths[path] = {m.lower(): _sharing_operation(op) for m, op in methods.items()}
    if dialect is MKA1:
        title = "MKA1 Conversations"
        description = "An open implementation of the MKA1 API's Conversations resource."
    else:
        title = f"MKA1 Conversations: the {dialect.name} face"
        description = (
            f"The operations OpenAI's API has, under {dialect.prefix}, with OpenAI's defaults and "
            "error codes (docs/api.md, 'Two faces')."
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__, "description": description},
        "servers": [{"url": "/"}],
        "security": [{"bearer_auth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer_auth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operations(dialect: Dialect) -> dict[str, dict[str, Any]]:
    """Every operation's document, by our operation name."""
    limit_items = _limit(ITEM_LIST_LIMIT)
    limit_convs = _limit(CONVERSATION_LIST_LIMIT)
    return {
        "create_conversation": _operation(
            "create_conversation",
            "Create a conversation",
            "ConversationObject",
            dialect,
            body="CreateConversationInput",
            links="conversation",
        ),
        "list_conversations": _operation(
            "list_conversations",
            "List conversations",
            "ConversationList",
            dialect,
            params=(
                _query("after", {"type": "string"}, "Conversation id to list after."),
                _query("limit", limit_convs, _limit_text(CONVERSATION_LIST_LIMIT)),
                _query("order", _order("asc"), "By last update: asc (oldest first) or desc."),
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
        "get_conversation": _operation(
            "get_conversation",
            "Get a conversation",
            "ConversationObject",
            dialect,
            params=(_CONVERSATION_ID,),
        ),
        "update_conversation": _operation(
            "update_conversation",
            "Update a conversation's metadata",
            "ConversationObject",
            dialect,
            body="UpdateConversationInput",
            params=(_CONVERSATION_ID,),
        ),
        "delete_conversation": _operation(
            "delete_conversation",
            "Delete a conversation (soft)",
            "ConversationDeleted",
            dialect,
            params=(_CONVERSATION_ID,),
        ),
        "create_items": _operation(
            "create_items",
            "Create items",
            "ItemList",
            dialect,
            body="CreateItemsInput",
            params=(_CONVERSATION_ID, _INCLUDE),
            extra=("409",),
            links="items",
        ),
        "list_items": _operation(
            "list_items",
            "List items",
            "ItemList",
            dialect,
            params=(
                _CONVERSATION_ID,
                _query("after", {"type": "string"}, "Item id to list after."),
                _query("limit", limit_items, _limit_text(ITEM_LIST_LIMIT)),
                _query("order", _order(dialect.item_order), "asc (oldest first) or desc."),
                _INCLUDE,
            ),
        ),
        "delete_items": _operation(
            "delete_items",
            "Delete items (all or none)",
            "ConversationObject",
            dialect,
            body="DeleteItemsInput",
            params=(_CONVERSATION_ID,),
        ),
        "get_item": _operation(
            "get_item",
            "Get an item",
            "Item",
            dialect,
            params=(_CONVERSATION_ID, _ITEM_ID, _INCLUDE),
        ),
        "delete_item": _operation(
            "delete_item",
            "Delete an item",
            "ConversationObject",
            dialect,
            params=(_CONVERSATION_ID, _ITEM_ID),
        ),
        "create_response": _create_response(dialect),
        "list_responses": _operation(
            "list_responses",
            "List stored responses (MKA1)",
            "ResponseList",
            dialect,
            params=(
                _query("after", {"type": "string"}, "Response id to list after."),
                _query("limit", limit_items, _limit_text(ITEM_LIST_LIMIT)),
                _query("order", _order("desc"), "By creation: asc (oldest first) or desc."),
            ),
        ),
        "get_response": _operation(
            "get_response",
            "Get a stored response",
            "ResponseObject",
            dialect,
            params=(_RESPONSE_ID, _INCLUDE),
        ),
        "delete_response": _operation(
            "delete_response",
            "Delete a stored response",
            "ResponseDeleted",
            dialect,
            params=(_RESPONSE_ID,),
        ),
        "list_input_items": _operation(
            "list_input_items",
            "List a response's input items",
            "ItemList",
            dialect,
            params=(
                _RESPONSE_ID,
                _query("after", {"type": "string"}, "Item id to list after."),
                _query("limit", limit_items, _limit_text(ITEM_LIST_LIMIT)),
                _query("order", _order(dialect.item_order), "asc (oldest first) or desc."),
                _INCLUDE,
            ),
            extra=("responses",),
        ),
    }


def _create_response(dialect: Dialect) -> dict[str, Any]:
    """A turn: JSON, or (``stream: true``) Server-Sent Events."""
    op = _operation(
        "create_response",
        "Create a model response (a turn), optionally on a stored conversation",
        "ResponseObject",
        dialect,
        body="CreateResponseInput",
    )
    op["responses"]["200"]["content"]["text/event-stream"] = {
        "schema": {"type": "string"},
        "description": "With `stream: true`: OpenAI's Responses events, one per SSE event.",
    }
    op["requestBody"]["required"] = True
    return op


_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MKA1 Conversations API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({urls: %(urls)s, dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
</script>
</body></html>
"""


def document_path(dialect: Dialect) -> str:
    """Where a face's OpenAPI document is served: ``/openapi.json`` for the first face (MKA1's),
    ``<prefix>/openapi.json`` for the others (``/v1/openapi.json``)."""
    return "/openapi.json" if dialect is DIALECTS[0] else dialect.prefix + "/openapi.json"


def _swagger_assets() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def _document_endpoint(dialect: Dialect) -> Callable[[Request], Awaitable[Response]]:
    body = msgspec.json.encode(build_document(dialect))

    async def document(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return document


@functools.cache
def _docs_page() -> str:
    urls = [{"url": document_path(d), "name": f"{d.name} ({d.prefix})"} for d in DIALECTS]
    return _DOCS_HTML % {"urls": msgspec.json.encode(urls).decode()}


async def _docs(request: Request) -> Response:
    return HTMLResponse(_docs_page())


#: Path → method → operation (for metrics and logs) of the routes below.
DOCS_OPERATIONS = {
    **{document_path(d): {"GET": "openapi"} for d in DIALECTS},
    "/docs": {"GET": "docs"},
    "/docs/assets": {"GET": "docs"},
}


def docs_routes() -> list[BaseRoute]:
    """Each face's OpenAPI document, and the interactive docs that show them (no internet)."""
    return [
        *(Route(document_path(d), _document_endpoint(d), methods=["GET"]) for d in DIALECTS),
        Route("/docs", _docs, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=_swagger_assets()), name="docs-assets"),
    ]


# --- sharing and usage (MKA1's face only) --------------------------------------------------------

SHARING_OPERATION_IDS = {
    "grant": "llm.grant",
    "revoke": "llm.revoke",
    "check": "llm.check",
    "usage_conversations": "getConversationsUsage",
}
_RESOURCE_TYPES = ["completion", "file", "vector_store", "conversation", "response", "skill"]
_ROLES = ["owner", "writer", "reader"]


def _sharing_schemas() -> dict[str, Any]:
    _, generated = msgspec.json.schema_components([GrantInput, UsagePage], ref_template=_REF)
    generated["GrantInput"]["description"] = (
        "A grant (or revocation) of a role on a conversation or a stored response to an end "
        "user of your account ('userId', as it sends X-On-Behalf-Of) or to all of them ('*': "
        "reader or writer only). Only 'conversation' and 'response' resources are shared here: "
        "any other resourceType is a 400."
    )
    generated["CheckPermissionResponse"] = {
        "type": "object",
        "properties": {"allowed": {"type": "boolean"}},
        "required": ["allowed"],
        "additionalProperties": False,
    }
    return generated


def _required_query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**_query(name, schema, description), "required": True}


def _sharing_operation(name: str) -> dict[str, Any]:
    errors = {k: v for k, v in _ERRORS.items()}
    errors["400"] = (
        _ERRORS["400"]
        + " Also: a resourceType other than 'conversation' or 'response', '*' as owner, "
        "a parameter that cannot be honoured (all_orgs, org_ids, group_by=org_id)."
    )
    errors["403"] = "You can see the conversation (or response), but you are not its owner."
    errors["404"] = "Unknown, foreign or deleted conversation or response (grant, revoke)."
    responses: dict[str, Any] = {}
    if name in ("grant", "revoke"):
        responses["204"] = {"description": "Granted (or revoked)."}
    else:
        ok = "CheckPermissionResponse" if name == "check" else "UsagePage"
        responses["200"] = {
            "description": "OK",
            "content": {"application/json": {"schema": _ref(ok)}},
        }
    if name in ("check", "usage_conversations"):
        errors.pop("403")
        errors["404"] = "Not for a resource: a check of one you cannot see answers allowed: false."
    for code, text in sorted(errors.items()):
        responses[code] = {
            "description": text,
            "content": {"application/json": {"schema": _ref("ErrorEnvelope")}},
        }
    for code in _SERVER_ANSWERS:
        responses[code]["description"] += _SERVER_NOTE
        responses[code]["content"]["text/plain"] = {"schema": {"type": "string"}}
    op: dict[str, Any] = {
        "operationId": SHARING_OPERATION_IDS[name],
        "tags": ["Usage" if name == "usage_conversations" else "Resource Authorization"],
        "responses": responses,
    }
    if name in ("grant", "revoke"):
        op["summary"] = (
            "Grant a role on a conversation or a response" if name == "grant" else "Revoke a role"
        )
        op["parameters"] = [_ON_BEHALF_OF]
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("GrantInput")}},
        }
    elif name == "check":
        op["summary"] = "Check whether you may act as a role on a conversation or a response"
        op["parameters"] = [
            _required_query("resourceType", {"type": "string", "enum": _RESOURCE_TYPES}, ""),
            _required_query(
                "resourceId",
                {"type": "string", "minLength": 1},
                "The conversation's (or the response's) id.",
            ),
            _required_query("role", {"type": "string", "enum": _ROLES}, ""),
            _ON_BEHALF_OF,
        ]
    else:
        op["summary"] = "Conversation usage per time bucket"
        integer_or_empty = {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 1 << 40},
                {"type": "string", "const": ""},
            ]
        }
        op["parameters"] = [
            _required_query(
                "start_time",
                {"type": "integer", "minimum": 0, "maximum": 1 << 40},
                "Unix seconds; the first bucket is the one holding it.",
            ),
            _query(
                "end_time",
                integer_or_empty,
                "Unix seconds, exclusive, after start_time; default now.",
            ),
            _query(
                "bucket_width",
                {"type": "string", "enum": ["1m", "1h", "1d", ""], "default": "1d"},
                "Buckets are aligned to the width since the epoch (UTC).",
            ),
            _query(
                "limit",
                {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 1440},
                        {"type": "string", "const": ""},
                    ]
                },
                "Buckets per page: 1m 1-1440 (default 60), 1h 1-168 (24), 1d 1-31 (7).",
            ),
            _query("page", {"type": "string"}, "The next_page of the previous page."),
            {
                **_query(
                    "user_ids",
                    {"type": "array", "items": {"type": "string"}},
                    "End users (X-On-Behalf-Of values) whose usage is summed.",
                ),
                "style": "form",
                "explode": True,
            },
            {
                **_query(
                    "external_user_ids",
                    {"type": "array", "items": {"type": "string"}},
                    "The same as user_ids (end users are known by their external id).",
                ),
                "style": "form",
                "explode": True,
            },
            {
                **_query(
                    "group_by",
                    {
                        "type": "array",
                        "items": {"type": "string", "enum": ["user_id", "api_key_id"]},
                    },
                    "Group each bucket's results by end user and/or API key.",
                ),
                "style": "form",
                "explode": True,
            },
            _ON_BEHALF_OF,
        ]
    return op
