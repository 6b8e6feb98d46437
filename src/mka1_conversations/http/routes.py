"""The conversation operations: parse the request, call the service, return the answer's bytes.
No SQL, no rules. Each path is one small ASGI endpoint that sends those bytes as JSON.

One table (``OPERATIONS``) lists them; each face of the API (``dialects.py``) mounts the rows its
dialect serves under its prefix, with the same handlers, bound to that dialect. Stored items are
spliced into the list envelope as the bytes the storage returned: an item page is never decoded
and re-encoded.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import msgspec
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..domain.conversations import (
    CreateConversationInput,
    CreateItemsInput,
    DeleteItemsInput,
    UpdateConversationInput,
)
from ..domain.identity import Owner
from ..domain.limits import ITEM_LIST_LIMIT
from ..domain.service import ConversationService
from ..domain.store import ItemPage
from .auth import CALLER
from .body import read_json
from .dialects import Dialect
from .params import (
    parse_after,
    parse_conversation_query,
    parse_limit,
    parse_order,
    path_ids,
    query_params,
)
from .services import services

__all__ = ["OPERATIONS", "ConversationRoutes", "mount"]

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode

#: Path (under a face's prefix) → method → operation: the name of its handler below, and of the
#: operation in metrics and logs. Every face serves every row its dialect does not leave out, so
#: an operation added here is served by both faces. The router tries the paths in this order:
#: the hottest (items) first.
OPERATIONS: dict[str, dict[str, str]] = {
    "/conversations/{conversation_id}/items/{item_id}": {
        "GET": "get_item",
        "DELETE": "delete_item",
    },
    "/conversations/{conversation_id}/items": {
        "POST": "create_items",
        "GET": "list_items",
        "DELETE": "delete_items",
    },
    "/conversations/{conversation_id}": {
        "GET": "get_conversation",
        "POST": "update_conversation",
        "DELETE": "delete_conversation",
    },
    "/conversations": {"POST": "create_conversation", "GET": "list_conversations"},
}


def _list_envelope(data: Sequence[bytes], ids: Sequence[str], has_more: bool) -> bytes:
    """``{"object":"list","data":[…],"first_id","last_id","has_more"}``; ids are "" when empty."""
    first = ids[0] if ids else ""
    last = ids[-1] if ids else ""
    return b"".join(
        (
            b'{"object":"list","data":[',
            b",".join(data),
            b'],"first_id":',
            _encode(first),
            b',"last_id":',
            _encode(last),
            b',"has_more":',
            b"true" if has_more else b"false",
            b"}",
        )
    )


def item_list_bytes(page: ItemPage) -> bytes:
    return _list_envelope(page.data, page.ids, page.has_more)


Handler = Callable[[Request], Awaitable[bytes]]

_JSON_HEADERS = [(b"content-type", b"application/json")]


#: Operations whose successful write counts its own usage, in its transaction (store/usage.py).
_COUNTED_BY_WRITE = frozenset({"create_conversation", "create_items"})


class _Endpoint:
    """One path's ASGI app: picks the handler by method, sends the bytes it returns as JSON.

    No Request/Response machinery beyond the Request a handler reads; an exception propagates to
    ErrorEnvelopeMiddleware, which answers it with the error envelope. Every request (the
    caller is authenticated by then) counts as one operation of the caller's usage: in memory,
    unless it is a write that counted itself."""

    __slots__ = ("handlers", "operations")

    def __init__(self, handlers: dict[str, Handler], operations: dict[str, str]) -> None:
        self.handlers = handlers
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        try:
            body = await self.handlers[method](Request(scope, receive))
        except BaseException:
            services(scope).usage.tally.count(scope[CALLER])
            raise
        if self.operations[method] not in _COUNTED_BY_WRITE:
            services(scope).usage.tally.count(scope[CALLER])
        method = scope["method"]
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def _caller(request: Request) -> Owner:
    owner: Owner = request.scope[CALLER]
    return owner


def _service(request: Request) -> ConversationService:
    return services(request.scope).conversations


@dataclass(frozen=True, slots=True)
class ConversationRoutes:
    """One face's routes: the operations its dialect serves, under its prefix, bound to the body
    limits; the service comes from the running app's state."""

    dialect: Dialect
    max_body_bytes: int
    read_timeout_seconds: float = 30.0

    @property
    def operations(self) -> dict[str, dict[str, str]]:
        """Path template (prefix included) → method → operation, for the paths this face
        serves: the routes below, and the table metrics and logs read."""
        out: dict[str, dict[str, str]] = {}
        for path, methods in OPERATIONS.items():
            served = {m: op for m, op in methods.items() if self.dialect.serves(op)}
            if served:
                out[self.dialect.prefix + path] = served
        return out

    def routes(self, middleware: Sequence[Middleware] = ()) -> list[Route]:
        """One Route per path, dispatching on the method (so a 405 lists every allowed one),
        each wrapped in ``middleware`` (which runs after routing, for that route only)."""
        return [
            Route(
                path,
                _Endpoint({m: getattr(self, op) for m, op in ops.items()}, ops),
                methods=list(ops),
                middleware=middleware,
            )
            for path, ops in self.operations.items()
        ]

    async def _body(self, request: Request, model: type[T]) -> T:
        return await read_json(request, model, self.max_body_bytes, self.read_timeout_seconds)

    async def create_conversation(self, request: Request) -> bytes:
        body = await self._body(request, CreateConversationInput)
        return _encode(await _service(request).create(_caller(request), body))

    async def list_conversations(self, request: Request) -> bytes:
        query = parse_conversation_query(query_params(request.scope["query_string"]))
        owner = _caller(request)
        service = _service(request)
        page = await service.list(owner, query)
        return _list_envelope(
            [_encode(service.present(owner, c)) for c in page.conversations],
            [c.id for c in page.conversations],
            page.has_more,
        )

    async def get_conversation(self, request: Request) -> bytes:
        conversation_id, _ = path_ids(request.path_params)
        return _encode(await _service(request).get(_caller(request), conversation_id))

    async def update_conversation(self, request: Request) -> bytes:
        body = await self._body(request, UpdateConversationInput)
        conversation_id, _ = path_ids(request.path_params)
        return _encode(await _service(request).update(_caller(request), conversation_id, body))

    async def delete_conversation(self, request: Request) -> bytes:
        conversation_id, _ = path_ids(request.path_params)
        return _encode(await _service(request).delete(_caller(request), conversation_id))

    async def create_items(self, request: Request) -> bytes:
        body = await self._body(request, CreateItemsInput)
        conversation_id, _ = path_ids(request.path_params)
        page = await _service(request).create_items(_caller(request), conversation_id, body)
        return item_list_bytes(page)

    async def list_items(self, request: Request) -> bytes:
        query = query_params(request.scope["query_string"])
        limit = parse_limit(query, maximum=ITEM_LIST_LIMIT)
        order = parse_order(query, default=self.dialect.item_order)
        after = parse_after(query)
        conversation_id, _ = path_ids(request.path_params)
        page = await _service(request).list_items(
            _caller(request), conversation_id, after=after, limit=limit, order=order
        )
        return item_list_bytes(page)

    async def get_item(self, request: Request) -> bytes:
        conversation_id, item_id = path_ids(request.path_params)
        data = await _service(request).get_item(_caller(request), conversation_id, item_id)
        return data

    async def delete_item(self, request: Request) -> bytes:
        conversation_id, item_id = path_ids(request.path_params)
        service = _service(request)
        return _encode(await service.delete_item(_caller(request), conversation_id, item_id))

    async def delete_items(self, request: Request) -> bytes:
        body = await self._body(request, DeleteItemsInput)
        conversation_id, _ = path_ids(request.path_params)
        conversation = await _service(request).delete_items(_caller(request), conversation_id, body)
        return _encode(conversation)


def mount(faces: Sequence[ConversationRoutes], middleware: Sequence[Middleware]) -> list[Route]:
    """Every face's routes, path by path in the table's order and face by face within a path,
    so that a request of any face reaches its route after as few others as possible."""
    per_face = [face.routes(middleware) for face in faces]
    return [route for level in itertools.zip_longest(*per_face) for route in level if route]
