"""Renders every failure as the OpenAI error envelope ``{"error": {message, type, param, code}}``.

The hierarchy itself lives in ``domain.errors`` (the storage raises it too); this module turns
it into responses: for handler exceptions (Starlette exception handlers) and for the pure-ASGI
middleware, which answers before any route runs. A 500 never carries internals.
"""

from __future__ import annotations

import logging

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

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
    "exception_handlers",
]

logger = logging.getLogger("mka1_conversations")


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
    headers = [(b"content-type", b"application/json")]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": error_bytes(err)})


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(
            NotFound(f"Invalid URL ({request.method} {request.url.path}).", code="unknown_url")
        )
    if exc.status_code == 405:
        err = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.")
        response = error_response(err)
        if exc.headers and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    return error_response(ServiceError(str(exc.detail)))


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ServiceError())


exception_handlers = {
    ServiceError: _service_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
