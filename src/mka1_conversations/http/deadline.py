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

_BODILESS = frozenset({"GET", "HEAD"})
"""Methods whose handlers never read a body: their ``receive`` is not wrapped."""


class DeadlineMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = requests.Request(deadline=time.monotonic() + self.seconds)
        if scope["method"] not in _BODILESS:
            receive = _untimed(receive, request)
        token = requests.enter(request)
        try:
            await self.app(scope, receive, send)
        finally:
            requests.leave(token)


def _untimed(receive: Receive, request: requests.Request) -> Receive:
    """``receive`` that moves the request's deadline on by the time it waited for the body."""

    async def receive_untimed() -> Message:
        started = time.monotonic()
        try:
            return await receive()
        finally:
            request.extend(time.monotonic() - started)

    return receive_untimed
