"""Pure-ASGI middleware: every response carries ``X-Request-ID``, echoed when the client sent a
usable one (1–200 visible ASCII characters), generated otherwise."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestIdMiddleware"]

_HEADER = b"x-request-id"


def _usable(value: bytes) -> bool:
    return 1 <= len(value) <= 200 and all(0x21 <= b <= 0x7E for b in value)


class RequestIdMiddleware:
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
            request_id = uuid.uuid4().hex.encode()
        scope["mka1.request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_HEADER, request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)
