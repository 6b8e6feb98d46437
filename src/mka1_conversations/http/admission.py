"""Pure-ASGI middleware: what every request gets before it is routed, in one layer.

- **Its deadline**, ``MKA1_REQUEST_TIMEOUT_SECONDS`` after it arrived, not counting the time
  spent waiting for its body (bounded on its own by the read timeout, 408). The deadline goes to
  the storage in the request's ``domain.requests.Request``: a database call still running at it
  is cut off and the request answers 503 ``database_timeout`` (store/backend.py says what then
  became of a write). So a stalled database holds a request for at most the deadline, never for
  the stall.
- **For a write, what makes it recognisable** when sent again (``idempotency.py``): its
  ``Idempotency-Key`` (400 if malformed) and its fingerprint, fed with its body as it arrives.
- **Its head checked** against the limits (``head_limit.py``: 414, 431).

Refusals are raised, in that order, and answered by the error middleware outside.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import requests
from .head_limit import HeadLimit
from .idempotency import WRITES, idempotency_key, request_line

__all__ = ["AdmissionMiddleware"]

_BODILESS = frozenset({"GET", "HEAD"})
"""Methods whose handlers never read a body: their ``receive`` is not wrapped."""


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float, max_header_bytes: int) -> None:
        self.app = app
        self.seconds = seconds
        self.head_limit = HeadLimit(max_header_bytes=max_header_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = requests.Request(deadline=time.monotonic() + self.seconds)
        token = requests.enter(request)
        try:
            method = scope["method"]
            if method in WRITES:
                request.idempotency_key = idempotency_key(scope)
                request.feed(request_line(scope))
                receive = _received(receive, request, fed=True)
            elif method not in _BODILESS:
                receive = _received(receive, request, fed=False)
            self.head_limit.check(scope)
            await self.app(scope, receive, send)
        finally:
            requests.leave(token)


def _received(receive: Receive, request: requests.Request, *, fed: bool) -> Receive:
    """``receive`` that moves the request's deadline on by the time it waited for the body,
    and (``fed``) feeds the body to the request's fingerprint."""

    async def receive_body() -> Message:
        started = time.monotonic()
        try:
            message = await receive()
        finally:
            request.extend(time.monotonic() - started)
        if fed and message["type"] == "http.request":
            request.feed(message.get("body", b""))
        return message

    return receive_body
