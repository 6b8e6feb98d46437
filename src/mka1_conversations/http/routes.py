"""The ten operations: parse the request, call the service, encode the answer. No SQL, no rules.

Stored items are spliced into the list envelope as the bytes the Store returned: an item page is
never decoded and re-encoded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.conversations import (
    CreateConversationInput,
    CreateItemsInput,
    DeleteItemsInput,
    UpdateConversationInput,
)
from ..domain.identity import Owner
from ..domain.service import ConversationService
from ..domain.store import ItemPage
from .body import read_json
from .params import (
    ITEM_LIST_LIMIT,
    parse_after,
    parse_conversation_query,
    parse_limit,
    parse_order,
    path_ids,
    query_params,
)

__all__ = ["BASE_PATH", "ConversationRoutes"]

BASE_PATH = "/api/v1/llm/conversations"

_encode = msgspec.json.Encoder().encode


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


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


Handler = Callable[[Request], Awaitable[Response]]


def _by_method(handlers: dict[str, Handler]) -> Handler:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return dispatch


def _owner(request: Request) -> Owner:
    owner: Owner = request.scope["mka1.owner"]
    return owner


@dataclass(slots=True)
class ConversationRoutes:
    """The routes, bound to the service (set once the app has started) and the body limit."""

    service: Callable[[], ConversationService]
    max_body_bytes: int

    def routes(self) -> list[Route]:
        """One Route per path, dispatching on the method (so a 405 lists every allowed one)."""
        conv = BASE_PATH + "/{conversation_id}"
        items = conv + "/items"
        table: dict[str, dict[str, Handler]] = {
            BASE_PATH: {"POST": self.create_conversation, "GET": self.list_conversations},
            conv: {
                "GET": self.get_conversation,
                "POST": self.update_conversation,
                "DELETE": self.delete_conversation,
            },
            items: {"POST": self.create_items, "GET": self.list_items, "DELETE": self.delete_items},
            items + "/{item_id}": {"GET": self.get_item, "DELETE": self.delete_item},
        }
        return [
            Route(path, _by_method(handlers), methods=list(handlers))
            for path, handlers in table.items()
        ]

    async def create_conversation(self, request: Request) -> Response:
        body = await read_json(request, CreateConversationInput, self.max_body_bytes)
        return _json(_encode(await self.service().create(_owner(request), body)))

    async def list_conversations(self, request: Request) -> Response:
        query = parse_conversation_query(query_params(request.scope["query_string"]))
        owner = _owner(request)
        service = self.service()
        page = await service.list(owner, query)
        return _json(
            _list_envelope(
                [_encode(service.present(owner, c)) for c in page.conversations],
                [c.id for c in page.conversations],
                page.has_more,
            )
        )

    async def get_conversation(self, request: Request) -> Response:
        conversation_id, _ = path_ids(request.path_params)
        return _json(_encode(await self.service().get(_owner(request), conversation_id)))

    async def update_conversation(self, request: Request) -> Response:
        body = await read_json(request, UpdateConversationInput, self.max_body_bytes)
        conversation_id, _ = path_ids(request.path_params)
        return _json(_encode(await self.service().update(_owner(request), conversation_id, body)))

    async def delete_conversation(self, request: Request) -> Response:
        conversation_id, _ = path_ids(request.path_params)
        return _json(_encode(await self.service().delete(_owner(request), conversation_id)))

    async def create_items(self, request: Request) -> Response:
        body = await read_json(request, CreateItemsInput, self.max_body_bytes)
        conversation_id, _ = path_ids(request.path_params)
        page = await self.service().create_items(_owner(request), conversation_id, body)
        return _json(item_list_bytes(page))

    async def list_items(self, request: Request) -> Response:
        query = query_params(request.scope["query_string"])
        limit = parse_limit(query, maximum=ITEM_LIST_LIMIT)
        order = parse_order(query)
        after = parse_after(query)
        conversation_id, _ = path_ids(request.path_params)
        page = await self.service().list_items(
            _owner(request), conversation_id, after=after, limit=limit, order=order
        )
        return _json(item_list_bytes(page))

    async def get_item(self, request: Request) -> Response:
        conversation_id, item_id = path_ids(request.path_params)
        data = await self.service().get_item(_owner(request), conversation_id, item_id)
        return _json(data)

    async def delete_item(self, request: Request) -> Response:
        conversation_id, item_id = path_ids(request.path_params)
        conversation = await self.service().delete_item(_owner(request), conversation_id, item_id)
        return _json(_encode(conversation))

    async def delete_items(self, request: Request) -> Response:
        body = await read_json(request, DeleteItemsInput, self.max_body_bytes)
        conversation_id, _ = path_ids(request.path_params)
        conversation = await self.service().delete_items(_owner(request), conversation_id, body)
        return _json(_encode(conversation))
