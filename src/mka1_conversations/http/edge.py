"""The outermost pure-ASGI layer: what every HTTP response gets, whatever happened inside.

- ``X-Request-ID`` on every response: the client's value when it is 1–200 visible ASCII
  characters, a new random one otherwise.
- Nothing escapes to the server. Starlette re-raises an unexpected exception after sending its
  500 (so that servers can log it); servers then drop the keep-alive connection and the client's
  next request on it fails. Here an exception after the response started is swallowed (the 500
  handler logged it), and one before any response is logged and answered with the 500 envelope.
"""

from __future__ import annotations

import logging
import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import ServiceError
from .errors import send_error

__all__ = ["EdgeMiddleware"]

logger = logging.getLogger("mka1_conversations")

_HEADER = b"x-request-id"


def _usable(value: bytes) -> bool:
    return 1 <= len(value) <= 200 and all(0x21 <= b <= 0x7E for b in value)


class EdgeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        for name, value in scope["headers"]:
            if name == _HEADER:
                request_id = value
                break
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

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if started:
                return
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await send_error(send_with_id, ServiceError())
