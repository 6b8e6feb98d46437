"""The model server client: ``POST {MKA1_UPSTREAM_URL}/chat/completions`` over one pooled
``httpx.AsyncClient`` per process, whole or streamed (Server-Sent Events), with every failure
turned into the domain's errors.

Failures: no connection (refused, DNS, connect timeout) → ``UpstreamUnreachable`` (502); no
answer, or no next chunk, within the timeout → ``UpstreamTimeout`` (504); 429 →
``UpstreamRateLimited`` (429, its ``Retry-After`` passed on); any other 4xx →
``UpstreamRejected`` (400, with the model server's message); 5xx, a broken connection, or an
answer that is not Chat Completions → ``UpstreamError`` (502).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import httpx
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
from .stream import translate_stream
from .translate import answer_of, chat_request

__all__ = ["ChatCompletionsModel"]

_CONNECT_SECONDS = 10.0
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
_encode = msgspec.json.Encoder().encode
_completion = msgspec.json.Decoder(ChatCompletion).decode
_chunk = msgspec.json.Decoder(ChatChunk).decode
_NOT_CHAT = "The model server's answer is not a Chat Completions response."


class ChatCompletionsModel:
    """A ``ModelServer`` over any OpenAI-compatible Chat Completions API."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, _CONNECT_SECONDS)),
            limits=_LIMITS,
            transport=transport,
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
        await self._http.aclose()

    async def answer(self, turn: TurnRequest, items: Sequence[dict[str, Any]]) -> ModelAnswer:
        body = _encode(chat_request(turn, items, stream=False))
        try:
            response = await self._http.post(self.url, content=body, headers=_JSON)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        if response.status_code != 200:
            raise _status_error(response)
        try:
            completion = _completion(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise _error_in(response.content) or UpstreamError(_NOT_CHAT) from None
        if not completion.choices:
            raise _error_in(response.content) or UpstreamError(
                "The model server answered without any choice."
            )
        return answer_of(completion)

    async def answer_streamed(
        self, turn: TurnRequest, items: Sequence[dict[str, Any]]
    ) -> AsyncIterator[OutputEvent | ModelAnswer]:
        body = _encode(chat_request(turn, items, stream=True))
        request = self._http.build_request("POST", self.url, content=body, headers=_SSE)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        if response.status_code != 200:
            try:
                await response.aread()
            except httpx.HTTPError as exc:
                raise self._failure(exc) from None
            finally:
                await response.aclose()
            raise _status_error(response)
        return translate_stream(self._chunks(response))

    async def _chunks(self, response: httpx.Response) -> AsyncGenerator[ChatChunk, None]:
        """The chunks of an SSE answer until ``data: [DONE]``; an answer that ends without it
        and without a finish reason was cut off."""
        finished = False
        try:
            async for data in _sse_data(response):
                if data == b"[DONE]":
                    return
                try:
                    chunk = _chunk(data)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    raise _error_in(data) or UpstreamError(_NOT_CHAT) from None
                if not chunk.choices and chunk.usage is None and (error := _error_in(data)):
                    raise error
                finished = finished or any(c.finish_reason for c in chunk.choices)
                yield chunk
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        finally:
            await response.aclose()
        if not finished:
            raise UpstreamError("The model server's stream ended before its answer did.")

    def _failure(self, exc: httpx.HTTPError) -> ServiceError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return UpstreamUnreachable()
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout(self.timeout)
        return UpstreamError(
            "The connection to the model server broke before its answer was complete."
        )


_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_SSE = {"Content-Type": "application/json", "Accept": "text/event-stream"}


async def _sse_data(response: httpx.Response) -> AsyncIterator[bytes]:
    """The ``data`` of each Server-Sent Event (multi-line data joined by newlines); comments,
    ``event:``, ``id:`` and ``retry:`` lines are skipped."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield "\n".join(data).encode()
                data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data).encode()


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


def _status_error(response: httpx.Response) -> ServiceError:
    status = response.status_code
    message = _message(response.content) or response.text.strip()[:1000] or response.reason_phrase
    if status == 429:
        return UpstreamRateLimited(message, response.headers.get("retry-after"))
    if 400 <= status < 500:
        return UpstreamRejected(status, message)
    return UpstreamError(f"The model server failed (HTTP {status}): {message}")
