"""The outermost pure-ASGI layer: what every HTTP response gets, whatever happened inside.

- ``X-Request-ID`` on every response: the client's value when it is 1–200 visible ASCII
  characters, a new random one otherwise.
- A request target (path and query) over ``max_header_bytes`` or 65,534 bytes, whichever is
  less, is answered 414, and a request head (request line and headers) over ``max_header_bytes``
  431, before anything reads it further. The servers read heads up to twice that
  (``serving.py``), so that these answers, in the envelope, are the ones clients meet.
- Every error raised inside is answered here, in the error envelope: a ServiceError with its
  status, the router's 404 and 405 (it raises them, as ``scope["app"]`` is set) as
  ``unknown_url`` and ``method_not_allowed`` with ``Allow``, anything else as a 500, logged.
  Nothing escapes to the server, which would drop the keep-alive connection (the client's next
  request on it would fail). After the response has started nothing more can be sent: an
  unexpected exception is logged, and the response is left as it is.
"""

from __future__ import annotations

import logging
import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import HeadersTooLarge, ServiceError, UriTooLong
from .errors import send_error, service_error

__all__ = ["EdgeMiddleware"]

logger = logging.getLogger("mka1_conversations")

_HEADER = b"x-request-id"
#: Granian's HTTP parser (hyper) refuses a longer request target itself (414, without a body).
MAX_URL_BYTES = 65_534


def _usable(value: bytes) -> bool:
    return 1 <= len(value) <= 200 and all(0x21 <= b <= 0x7E for b in value)


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_header_bytes: int | None = None) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_url_bytes = (
            None if max_header_bytes is None else min(max_header_bytes, MAX_URL_BYTES)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        query = len(scope["query_string"])
        url = len(scope.get("raw_path") or b"") + (query + 1 if query else 0)
        size = url + 16
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
            if name == _HEADER and not request_id:
                request_id = value
        if not _usable(request_id):
            request_id = os.urandom(16).hex().encode()
        scope["mka1.request_id"] = request_id.decode()
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), (_HEADER, request_id)]
            await send(message)

        if self.max_url_bytes is not None and url > self.max_url_bytes:
            await send_error(send_with_id, UriTooLong(self.max_url_bytes))
            return
        if self.max_header_bytes is not None and size > self.max_header_bytes:
            await send_error(send_with_id, HeadersTooLarge(self.max_header_bytes))
            return

        scope["app"] = self.app  # the router raises its 404 and 405 (answered below)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            err = service_error(exc, scope)
            if err is None:
                logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                err = ServiceError()
            try:
                if not started:
                    await send_error(send_with_id, err)
            finally:
                # ``err`` may be the exception itself, whose traceback holds this frame: a cycle
                # that would keep the request (and under Granian its body reader, so the
                # connection) alive until the garbage collector runs. A 408 must close now.
                del err
