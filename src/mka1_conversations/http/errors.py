"""Renders every failure as the OpenAI error envelope ``{"error": {message, type, param, code}}``.

The hierarchy itself lives in ``domain.errors`` (the storage raises it too); this module turns
it into answers: ``service_error`` maps what a request raised (a ServiceError, or the router's
404/405) to the error it answers, which the pure-ASGI middleware sends (``send_error``), and
handlers that answer an error themselves use ``error_response``. A 500 never carries internals.
"""

from __future__ import annotations

import msgspec
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope, Send

from ..domain.errors import (
    MethodNotAllowed,
    NotFound,
    ServiceError,
)

__all__ = [
    "ErrorBody",
    "ErrorEnvelope",
    "error_bytes",
    "error_response",
    "send_error",
    "service_error",
    "unknown_url",
]


class ErrorBody(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


_encode = msgspec.json.Encoder().encode


def error_bytes(err: ServiceError) -> bytes:
    return _encode(ErrorEnvelope(ErrorBody(err.message, err.type, err.param, err.code)))


def error_response(err: ServiceError) -> Response:
    return Response(
        error_bytes(err),
        status_code=err.status,
        media_type="application/json",
        headers=err.headers,
    )


async def send_error(send: Send, err: ServiceError) -> None:
    """Answer from pure-ASGI middleware."""
    body = error_bytes(err)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def unknown_url(scope: Scope) -> NotFound:
    """The 404 of a path no route serves (OpenAI's wording)."""
    return NotFound(f"Invalid URL ({scope.get('method')} {scope.get('path')}).", code="unknown_url")


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
