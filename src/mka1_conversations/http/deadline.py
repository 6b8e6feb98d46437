"""Pure-ASGI middleware: every request gets a deadline, ``MKA1_REQUEST_TIMEOUT_SECONDS`` after it
arrived, not counting the time spent waiting for its body (bounded on its own by the read
timeout, 408). The deadline goes to the storage in the request's ``domain.requests.Request``: a
database call still running at it is cut off and the request answers 503 ``database_timeout``
(store/backend.py says what then became of a write). So a stalled database holds a request for
at most the deadline, never for the stall.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import requests

__all__ = ["DeadlineMiddleware"]


class DeadlineMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = requests.Request(deadline=time.monotonic() + self.seconds)

        async def receive_untimed() -> Message:
            started = time.monotonic()
            try:
                return await receive()
            finally:
                request.extend(time.monotonic() - started)

        with requests.serving(request):
            await self.app(scope, receive_untimed, send)
