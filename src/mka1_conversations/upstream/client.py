"""The model server client: ``POST {MKA1_UPSTREAM_URL}/chat/completions`` over one pool of
keep-alive connections per process (``http11.Pool``), whole or streamed (Server-Sent Events),
with every failure turned into the domain's errors.

Failures: no connection (refused, unknown host, TLS, connect timeout) → ``UpstreamUnreachable``
(502); no answer, or no next chunk, within the timeout → ``UpstreamTimeout`` (504); 429 →
``UpstreamRateLimited`` (429, its ``Retry-After`` passed on); any other 4xx →
``UpstreamRejected`` (400, with the model server's message); 5xx, a broken connection, or an
answer that is not Chat Completions → ``UpstreamError`` (502).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ..domain.errors import (
    ServiceError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from ..domain.model_server import ModelAnswer
from ..domain.response_events import OutputEvent
from ..domain.response_rules import TurnRequest
from ..settings import Settings
from .chat import ChatChunk, ChatCompletion
from .http11 import Answer, ConnectFailed, HTTPFailure, Pool, ReadTimeout
from .stream import translate_stream
from .translate import answer_of, chat_request

__all__ = ["ChatCompletionsModel"]

_CONNECT_SECONDS = 10.0
_KEEP_ALIVE = 100
"""Idle connections kept open to the model server."""
_encode = msgspec.json.Encoder().encode
_completion = msgspec.json.Decoder(ChatCompletion).decode
_chunk = msgspec.json.Decoder(ChatChunk).decode
_NOT_CHAT = "The model server's answer is not a Chat Completions response."


def _user_agent() -> str:
    try:
        return f"mka1-conversations/{version('mka1-conversations')}"
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without metadata
        return "mka1-conversations"


class ChatCompletionsModel:
    """A ``ModelServer`` over any OpenAI-compatible Chat Completions API."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 300.0):
        parts = urlsplit(base_url)
        path = parts.path.rstrip("/") + "/chat/completions"
        self.url = base_url.split("?", 1)[0].rstrip("/") + "/chat/completions"
        self.target = path + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        if api_key and any(c in api_key for c in "\r\n\0"):
            raise ValueError("MKA1_UPSTREAM_API_KEY holds a line break or a NUL")
        headers = [("User-Agent", _user_agent()), ("Content-Type", "application/json")]
        if api_key:
            headers.append(("Authorization", f"Bearer {api_key}"))
        try:
            common = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("MKA1_UPSTREAM_API_KEY is not Latin-1 text") from None
        self._json = common + b"Accept: application/json\r\n"
        self._sse = common + b"Accept: text/event-stream\r\n"
        self._pool = Pool(
            base_url,
            timeout=timeout,
            connect_timeout=min(timeout, _CONNECT_SECONDS),
            keep=_KEEP_ALIVE,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatCompletionsModel | None:
        """The process's client, or None when no model server is configured."""
        if settings.upstream_url is None:
            return None
        return cls(
            settings.upstream_url,
            api_key=settings.upstream_api_key,
            timeout=settings.upstream_timeout_seconds,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def answer(self, turn: TurnRequest, items: Sequence[dict[str, Any]]) -> ModelAnswer:
        body = _encode(chat_request(turn, items, stream=False))
        try:
            answer = await self._pool.request("POST", self.target, self._json, body)
            content = await answer.read()
        except HTTPFailure as exc:
            raise self._failure(exc) from None
        if answer.status != 200:
            raise _status_error(answer, content)
        try:
            completion = _completion(content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise _error_in(content) or UpstreamError(_NOT_CHAT) from None
        if not completion.choices:
            raise _error_in(content) or UpstreamError(
                "The model server answered without any choice."
            )
        return answer_of(completion)

    async def answer_streamed(
        self, turn: TurnRequest, items: Sequence[dict[str, Any]]
    ) -> AsyncIterator[OutputEvent | ModelAnswer]:
        body = _encode(chat_request(turn, items, stream=True))
        try:
            answer = await self._pool.request("POST", self.target, self._sse, body)
            if answer.status != 200:
                raise _status_error(answer, await answer.read())
        except HTTPFailure as exc:
            raise self._failure(exc) from None
        return translate_stream(self._chunks(answer))

    async def _chunks(self, answer: Answer) -> AsyncGenerator[ChatChunk, None]:
        """The chunks of an SSE answer until ``data: [DONE]``; an answer that ends without it
        and without a finish reason was cut off."""
        finished = False
        try:
            async for data in _sse_data(answer.chunks()):
                if data == b"[DONE]":
                    answer.release()
                    return
                try:
                    chunk = _chunk(data)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    raise _error_in(data) or UpstreamError(_NOT_CHAT) from None
                if not chunk.choices and chunk.usage is None and (error := _error_in(data)):
                    raise error
                finished = finished or any(c.finish_reason for c in chunk.choices)
                yield chunk
        except HTTPFailure as exc:
            raise self._failure(exc) from None
        finally:
            answer.close()
        if not finished:
            raise UpstreamError("The model server's stream ended before its answer did.")

    def _failure(self, exc: HTTPFailure) -> ServiceError:
        if isinstance(exc, ConnectFailed):
            return UpstreamUnreachable()
        if isinstance(exc, ReadTimeout):
            return UpstreamTimeout(self.timeout)
        return UpstreamError(
            "The connection to the model server broke before its answer was complete."
        )


async def _sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The ``data`` of each Server-Sent Event (multi-line data joined by newlines), from the
    body's bytes as they arrive; lines end in LF, CRLF or CR; comments, ``event:``, ``id:`` and
    ``retry:`` lines are skipped."""
    data: list[bytes] = []
    pending = b""
    async for chunk in chunks:
        buffer = pending + chunk
        held = b""
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):  # its LF may be in the next chunk
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        pending = lines.pop() + held
        for line in lines:
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
    last = pending.rstrip(b"\r")
    if last.startswith(b"data:"):
        value = last[5:]
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)


def _message(body: bytes) -> str | None:
    """The error message in a model server's error body: OpenAI's ``{"error": {"message"}}``,
    ``{"error": "..."}`` (Ollama), or a top-level ``message`` / ``detail`` (vLLM, FastAPI)."""
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message: str = error["message"]
        return message
    if isinstance(error, str):
        return error
    for key in ("message", "detail"):
        if isinstance(value.get(key), str):
            detail: str = value[key]
            return detail
    return None


def _error_in(body: bytes) -> UpstreamError | None:
    """An error the model server sent in place of an answer or a chunk."""
    message = _message(body)
    return UpstreamError(f"The model server failed: {message}") if message else None


def _status_error(answer: Answer, body: bytes) -> ServiceError:
    status = answer.status
    text = body.decode("utf-8", "replace").strip()[:1000]
    message = _message(body) or text or answer.reason or f"HTTP {status}"
    if status == 429:
        return UpstreamRateLimited(message, answer.headers.get("retry-after"))
    if 400 <= status < 500:
        return UpstreamRejected(status, message)
    return UpstreamError(f"The model server failed (HTTP {status}): {message}")
