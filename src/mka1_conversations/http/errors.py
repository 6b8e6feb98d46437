"""Every failure as the OpenAI error envelope ``{"error": {message, type, param, code}}``.

The errors themselves are ``domain.errors`` (the storage raises them too). Here they become
answers: ``service_error`` maps what a request raised (a ServiceError, or the router's 404 and
405) to the error it answers with; :class:`ErrorEnvelopeMiddleware` catches whatever the app
raised and sends that error (``send_error``); routes that answer an error themselves use
``error_response``. A 500 never carries internals: the exception is logged, not shown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..domain.errors import (
    MethodNotAllowed,
    NotFound,
    ServiceError,
)
from .dialects import Dialect

__all__ = [
    "RESPONSE_STATUS",
    "ErrorBody",
    "ErrorEnvelope",
    "ErrorEnvelopeMiddleware",
    "error_bytes",
    "error_response",
    "send_error",
    "service_error",
    "unknown_url",
]


logger = logging.getLogger("mka1_conversations")

RESPONSE_STATUS = "mka1.status"
"""Scope key: the status of the response, once its start has been sent (ObserveMiddleware's send
wrapper sets it); after that, nothing else can be answered."""


class ErrorBody(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


_encode = msgspec.json.Encoder().encode


def error_bytes(err: ServiceError, code: str | None) -> bytes:
    """The envelope of ``err``, showing ``code`` (a face may show another code than the
    error's own: dialects.py)."""
    return _encode(ErrorEnvelope(ErrorBody(err.message, err.type, err.param, code)))


def error_response(err: ServiceError) -> Response:
    """For the operational routes, which belong to no face."""
    return Response(
        error_bytes(err, err.code),
        status_code=err.status,
        media_type="application/json",
        headers=err.headers,
    )


async def send_error(send: Send, err: ServiceError, code: str | None) -> None:
    """Answer from pure-ASGI middleware."""
    body = error_bytes(err, code)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def unknown_url(scope: Scope) -> NotFound:
    """The 404 of a path no route serves."""
    return NotFound.url(scope.get("method", ""), scope.get("path", ""))


def service_error(exc: Exception, scope: Scope) -> ServiceError | None:
    """The error a request that raised ``exc`` answers with; None for an unexpected one (a 500,
    logged by the caller). The router raises its 404 and 405 as HTTPException."""
    if isinstance(exc, ServiceError):
        return exc
    if not isinstance(exc, HTTPException):
        return None
    if exc.status_code == 404:
        return unknown_url(scope)
    if exc.status_code == 405:
        method, path = scope.get("method"), scope.get("path")
        err = MethodNotAllowed(f"Method {method} is not allowed on {path}.")
        if exc.headers and "Allow" in exc.headers:
            err.headers = {**err.headers, "Allow": exc.headers["Allow"]}
        return err
    return ServiceError(str(exc.detail))


class ErrorEnvelopeMiddleware:
    """Pure-ASGI middleware: an error raised anywhere inside is answered here, in the envelope,
    in the words of the face whose path it is (``dialects.py``; a path of no face: the first).

    A ServiceError with its status; the router's 404 and 405 (it raises them, as
    ``scope["app"]`` is set) as ``unknown_url`` and ``method_not_allowed`` with ``Allow``;
    anything else as a 500, logged. Nothing escapes to the server, which would drop the
    keep-alive connection (the client's next request on it would fail). Once the response has
    started (``scope[RESPONSE_STATUS]`` is set) nothing more can be sent: an unexpected
    exception is logged, and the response is left as it is. No send wrapper of its own."""

    def __init__(self, app: ASGIApp, *, dialects: Sequence[Dialect]) -> None:
        self.app = app
        self.dialects = dialects

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # the router raises its 404 and 405 (answered below)
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            method, path = scope["method"], scope["path"]
            err = service_error(exc, scope)
            if err is None:
                logger.exception("unhandled error on %s %s", method, path)
                err = ServiceError()
            try:
                if RESPONSE_STATUS not in scope:
                    face = next((d for d in self.dialects if d.mounts(path)), self.dialects[0])
                    await send_error(send, *face.shown(err, method, path))
            finally:
                # ``err`` may be the exception itself, whose traceback holds this frame: a cycle
                # that would keep the request (and under Granian its body reader, so the
                # connection) alive until the garbage collector runs. A 408 must close now.
                del err
