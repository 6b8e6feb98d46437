"""The Responses operations' handlers: parse the request, call the turn service or the stored
responses, return the answer's bytes, or, for a streamed turn, its Server-Sent Events.

A streamed answer (``Streamed``) is sent by the route's endpoint (``routes._Endpoint``) as
``text/event-stream``, event by event, while a watcher reads the request's channel: when the
client goes away, the turn is cancelled (it fails, nothing is appended: ``domain.turns``).
The create handler names the response it made in the request's scope (``RESPONSE_ID``), for
the log line; nothing else of it is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.types import Message, Receive, Send

from ..domain.identity import Owner
from ..domain.limits import ITEM_LIST_LIMIT
from ..domain.response_events import ResponseCreated, StreamEvent
from ..domain.response_request import CreateResponseInput
from ..domain.store import Order
from ..suspension import Suspended, start
from .auth import CALLER
from .params import parse_after, parse_limit, parse_order, query_params
from .services import services
from .sse import SSE_MEDIA_TYPE, sse_event

__all__ = [
    "RESPONSE_ID",
    "Streamed",
    "create_response",
    "delete_response",
    "get_response",
    "list_input_items",
    "list_responses",
]

RESPONSE_ID = "mka1.response_id"
"""Scope key: the id of the response a create request made (the request log names it)."""

_encode = msgspec.json.Encoder().encode

_SSE_HEADERS = [
    (b"content-type", SSE_MEDIA_TYPE.encode()),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class Streamed:
    """A streamed answer: its events, the first of which has already been produced."""

    __slots__ = ("events", "first")

    def __init__(self, first: StreamEvent, events: AsyncIterator[StreamEvent]) -> None:
        self.first = first
        self.events = events

    async def send(self, receive: Receive, send: Send) -> None:
        """Send every event as it comes; stop the turn when the client goes away."""
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        streaming = asyncio.create_task(self._send_events(send))
        watching = asyncio.create_task(_wait_for_disconnect(receive))
        try:
            done, _ = await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not streaming.done():
                streaming.cancel()
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            with contextlib.suppress(asyncio.CancelledError):
                await streaming
        if streaming in done:
            streaming.result()  # an error of the stream itself (not the turn's) propagates
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_events(self, send: Send) -> None:
        """Send the events as they come, those that are ready together in one body chunk: the
        events of one model server read go out in one ``send``, sent before waiting for the
        next."""
        events = self.events
        ready = [sse_event(self.first)]
        try:
            while True:
                try:
                    step = start(anext(events))
                    if isinstance(step, Suspended):
                        try:
                            await send(_chunk(b"".join(ready)))
                        except BaseException:  # the client is gone: so is the turn
                            await step.abandon(asyncio.CancelledError())
                            raise
                        ready = []
                        event = await step
                    else:
                        event = step
                except StopAsyncIteration:
                    break
                ready.append(sse_event(event))
            if ready:
                await send(_chunk(b"".join(ready)))
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await asyncio.shield(aclose())


def _chunk(data: bytes) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": True}


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _caller(request: Request) -> Owner:
    owner: Owner = request.scope[CALLER]
    return owner


def _page_params(request: Request, default_order: Order) -> tuple[str | None, int, Order]:
    query = query_params(request.scope["query_string"])
    limit = parse_limit(query, maximum=ITEM_LIST_LIMIT)
    order = parse_order(query, default=default_order)
    return parse_after(query), limit, order


def _list(data: list[bytes], ids: list[str], has_more: bool) -> bytes:
    from .routes import list_envelope

    return list_envelope(data, ids, has_more)


async def create_response(request: Request, body: CreateResponseInput) -> bytes | Streamed:
    running = services(request.scope)
    owner = _caller(request)
    if body.stream:
        events = await running.turns.create_stream(owner, body)
        first = await anext(events)
        if isinstance(first, ResponseCreated):
            request.scope[RESPONSE_ID] = first.response.id
        return Streamed(first, events)
    response = await running.turns.create(owner, body)
    request.scope[RESPONSE_ID] = response.id
    return _encode(response)


def _response_id(request: Request) -> str:
    response_id: str = request.path_params["response_id"]
    return response_id


async def get_response(request: Request) -> bytes:
    return await services(request.scope).responses.get(_caller(request), _response_id(request))


async def delete_response(request: Request) -> bytes:
    deleted = await services(request.scope).responses.delete(
        _caller(request), _response_id(request)
    )
    return _encode(deleted)


async def list_responses(request: Request) -> bytes:
    after, limit, order = _page_params(request, "desc")
    page = await services(request.scope).responses.list(
        _caller(request), after=after, limit=limit, order=order
    )
    return _list(page.data, page.ids, page.has_more)


async def list_input_items(request: Request, default_order: Order) -> bytes:
    after, limit, order = _page_params(request, default_order)
    page = await services(request.scope).responses.list_input_items(
        _caller(request), _response_id(request), after=after, limit=limit, order=order
    )
    return _list(page.data, page.ids, page.has_more)
