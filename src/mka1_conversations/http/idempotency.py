"""Pure-ASGI middleware: what makes a write recognisable when it is sent again
(store/receipts.py keeps the promises).

- Every POST and DELETE gets a fingerprint in its ``domain.requests.Request``: SHA-256 of its
  method, path, query and body (fed as the body arrives, never held twice). With the owner it
  names the request: an SDK's retry sends the same.
- ``Idempotency-Key`` (1–255 visible ASCII characters) on a POST or DELETE makes the write
  exactly-once for that key and owner for 24 hours: the same key with the same request is
  answered with the first result and writes nothing; with another request, 409
  ``idempotency_key_reused``. A malformed key, or two of them, is a 400 ``invalid_header``. On
  other methods the header is ignored (reads change nothing).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import requests
from ..domain.errors import InvalidRequest

__all__ = ["IdempotencyMiddleware"]

_HEADER = b"idempotency-key"
_WRITES = frozenset({"POST", "DELETE"})
_MAX_KEY = 255


def _key(scope: Scope) -> str | None:
    found: list[bytes] = [value for name, value in scope["headers"] if name == _HEADER]
    if not found:
        return None
    value = found[0]
    if (
        len(found) > 1
        or not 1 <= len(value) <= _MAX_KEY
        or any(not 0x21 <= b <= 0x7E for b in value)
    ):
        raise InvalidRequest(
            "Invalid 'Idempotency-Key' header: send one, of 1-255 visible ASCII characters.",
            code="invalid_header",
            param="Idempotency-Key",
        )
    return value.decode()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        request = requests.current()
        if request is None:  # no deadline middleware outside: a request of its own
            with requests.serving(requests.Request()):
                await self(scope, receive, send)
            return
        request.idempotency_key = _key(scope)
        path = scope.get("raw_path") or scope["path"].encode()
        request.feed(b"%s %s?%s\n" % (scope["method"].encode(), path, scope["query_string"]))

        async def receive_fed() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request.feed(message.get("body", b""))
            return message

        await self.app(scope, receive_fed, send)
