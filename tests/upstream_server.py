"""A model server on loopback for tests: a real HTTP server (uvicorn in a thread, 127.0.0.1) that
speaks OpenAI Chat Completions, plain and streamed (SSE ending in ``data: [DONE]``), answering
each request with the next scripted ``Reply`` and recording every request it received.

A reply scripts what a test needs: text, ``reasoning_content``, tool calls (streamed as argument
fragments), usage, ``finish_reason``, an error status with its body, a delay before answering or
between chunks, and a stream cut off mid-answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

__all__ = ["Call", "LoopbackModelServer", "Received", "Reply", "serve_model_server"]

DEFAULT_USAGE: dict[str, Any] = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 3},
}


@dataclass
class Call:
    """A tool call the model makes."""

    name: str
    arguments: str = "{}"
    id: str | None = None
    custom: bool = False
    """A custom tool call: ``arguments`` is its free-form input."""


@dataclass
class Reply:
    """One scripted answer."""

    text: str | None = None
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    calls: list[Call] = field(default_factory=list)
    finish_reason: str | None = None
    """Default: ``tool_calls`` when there are calls, else ``stop``."""
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    status: int = 200
    error: Any = None
    """The body of an error answer (JSON-encoded unless bytes)."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds before answering at all."""
    chunk_delay: float = 0.0
    """Seconds between streamed chunks."""
    piece: int = 4
    """Characters per streamed text or argument fragment."""
    cut_after: int | None = None
    """Streamed: break the connection after this many chunks (no finish, no ``[DONE]``)."""
    raw: list[bytes] | None = None
    """Streamed: send exactly these SSE bytes instead."""
    raw_body: bytes | None = None
    """Whole: answer 200 with exactly this body instead."""


@dataclass
class Received:
    """A request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    client_port: int = 0
    """The port the request came from: one per connection."""
    query: str = ""


class _Cut(Exception):
    """Raised inside a streaming body: the server drops the connection."""


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "loopback",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.calls else "stop")


def _tool_call(call: Call, index: int) -> dict[str, Any]:
    call_id = call.id or f"call_{index}"
    if call.custom:
        return {
            "id": call_id,
            "type": "custom",
            "custom": {"name": call.name, "input": call.arguments},
        }
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def completion(reply: Reply) -> dict[str, Any]:
    """The whole answer (``stream: false``)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning is not None:
        message[reply.reasoning_field] = reply.reasoning
    if reply.calls:
        message["tool_calls"] = [_tool_call(c, i) for i, c in enumerate(reply.calls)]
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": "loopback",
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
        "usage": reply.usage,
    }


def chunks(reply: Reply) -> list[dict[str, Any]]:
    """The streamed answer, chunk by chunk (usage in a last chunk without choices)."""
    out = [_chunk({"role": "assistant", "content": ""})]
    for piece in _pieces(reply.reasoning or "", reply.piece) if reply.reasoning else []:
        out.append(_chunk({reply.reasoning_field: piece}))
    for piece in _pieces(reply.text, reply.piece) if reply.text else []:
        out.append(_chunk({"content": piece}))
    for index, call in enumerate(reply.calls):
        first = _tool_call(call, index)
        key = "custom" if call.custom else "function"
        field_name = "input" if call.custom else "arguments"
        first[key][field_name] = ""
        out.append(_chunk({"tool_calls": [{"index": index, **first}]}))
        for piece in _pieces(call.arguments, reply.piece):
            fragment = {"index": index, key: {field_name: piece}}
            out.append(_chunk({"tool_calls": [fragment]}))
    out.append(_chunk({}, _finish(reply)))
    if reply.usage is not None:
        out.append({**_chunk({}), "choices": [], "usage": reply.usage})
    return out


class LoopbackModelServer:
    """The scripted server's state: replies to give, requests received."""

    def __init__(self) -> None:
        self.url = ""
        """The base URL, ``http://127.0.0.1:<port>/v1`` (what ``MKA1_UPSTREAM_URL`` takes)."""
        self.received: list[Received] = []
        self.chunks_sent = 0
        """Streamed chunks sent so far (all requests)."""
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._answer, methods=["POST"])])

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.received.clear()
            self.chunks_sent = 0

    @property
    def last(self) -> Received:
        return self.received[-1]

    async def _answer(self, request: Request) -> Response:
        body = msgspec.json.decode(await request.body())
        port = request.client.port if request.client else 0
        self.received.append(
            Received(request.url.path, dict(request.headers), body, port, request.url.query)
        )
        with self._lock:
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            return Response(b'{"error": {"message": "no reply scripted"}}', status_code=500)
        await asyncio.sleep(reply.delay)
        if reply.status != 200:
            content = (
                reply.error if isinstance(reply.error, bytes) else msgspec.json.encode(reply.error)
            )
            return Response(content, reply.status, reply.headers, media_type="application/json")
        if not body.get("stream") and reply.raw_body is not None:
            return Response(reply.raw_body, media_type="application/json")
        if not body.get("stream"):
            return Response(msgspec.json.encode(completion(reply)), media_type="application/json")
        return StreamingResponse(self._stream(reply), media_type="text/event-stream")

    async def _stream(self, reply: Reply) -> AsyncIterator[bytes]:
        if reply.raw is not None:
            for raw in reply.raw:
                yield raw
            return
        for count, chunk in enumerate(chunks(reply)):
            if reply.cut_after is not None and count >= reply.cut_after:
                raise _Cut
            if count and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield b"data: " + msgspec.json.encode(chunk) + b"\n\n"
            self.chunks_sent += 1
        yield b"data: [DONE]\n\n"


@contextmanager
def serve_model_server() -> Iterator[LoopbackModelServer]:
    """Start a loopback model server; yield it (its ``url`` set)."""
    from .conftest import serve_asgi

    server = LoopbackModelServer()
    with serve_asgi(server.app) as base:
        server.url = base + "/v1"
        yield server
