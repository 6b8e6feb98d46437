"""Pure-ASGI middleware: a request head (path, query and headers) over ``max_header_bytes`` is
refused with 431 (``HeadersTooLarge``, answered in the envelope by the error middleware) before
anything reads it further.

The HTTP servers bound the head too (``serving.py``), but a head that arrives whole in one read
may pass their incremental check: this is the bound every server shares.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..domain.errors import HeadersTooLarge

__all__ = ["HeadLimitMiddleware"]


class HeadLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # The request line and "name: value\r\n" per header, roughly as sent.
            size = len(scope.get("raw_path") or b"") + len(scope["query_string"]) + 16
            for name, value in scope["headers"]:
                size += len(name) + len(value) + 4
            if size > self.max_header_bytes:
                raise HeadersTooLarge(self.max_header_bytes)
        await self.app(scope, receive, send)
