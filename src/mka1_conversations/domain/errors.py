"""The errors every layer raises, each with its HTTP status and a machine-readable code.

The HTTP face renders them as the OpenAI envelope ``{"error": {message, type, param, code}}``;
nothing else leaves the service on failure. The hierarchy::

    ServiceError                      (500, server_error)      never carries internals
     ├── InvalidRequest               (400, invalid_request_error)  bad input: code + param
     ├── Unauthorized                 (401)  missing or unknown API key
     ├── NotFound                     (404)  unknown, foreign or deleted: never an existence oracle
     ├── MethodNotAllowed             (405)
     ├── RequestTimeout               (408)  the body did not arrive within the read timeout
     ├── Conflict                     (409)  duplicate item id; sent with x-should-retry: false
     ├── PayloadTooLarge              (413)
     ├── UriTooLong                   (414)  the request target is over the URL limit
     ├── UnsupportedMediaType         (415)
     ├── HeadersTooLarge              (431)  the request head is over MKA1_MAX_HEADER_BYTES
     ├── RateLimited                  (429, requests)  over the key's rate; carries Retry-After
     └── ServiceUnavailable           (503)  the database is unreachable; carries Retry-After
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from typing import ClassVar, Literal

__all__ = [
    "Conflict",
    "ErrorCode",
    "ErrorType",
    "HeadersTooLarge",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "ServiceError",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
    "UriTooLong",
]

ErrorType = Literal[
    "invalid_request_error",
    "requests",
    "server_error",
]

#: Every code this service emits. OpenAI's own codes where they exist, ours otherwise.
ErrorCode = Literal[
    # 400: the OpenAI validator's codes
    "invalid_json",
    "invalid_type",
    "invalid_value",
    "missing_required_parameter",
    "unknown_parameter",
    "integer_below_min_value",
    "integer_above_max_value",
    "array_below_min_length",
    "array_above_max_length",
    "string_below_min_length",
    "string_above_max_length",
    "object_above_max_properties",
    "property_name_above_max_length",
    "duplicate_value",
    "invalid_header",
    "malformed_request",
    # 401 / 404 / 405 / 409 / 413 / 415 / 5xx
    "invalid_api_key",
    "not_found",
    "unknown_url",
    "method_not_allowed",
    "duplicate_item_id",
    "request_too_large",
    "uri_too_long",
    "unsupported_media_type",
    "request_header_fields_too_large",
    "rate_limit_exceeded",
    "request_timeout",
    "internal_error",
    "database_unavailable",
]


def _shown(value: str) -> str:
    """A client-sent id as it can be echoed in a message: bounded, no NUL, encodable."""
    return value[:256].encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")


class ServiceError(Exception):
    """Base of every error the service answers with. Its message is safe to show."""

    status: ClassVar[int] = 500
    type: ClassVar[ErrorType] = "server_error"
    default_code: ClassVar[ErrorCode] = "internal_error"

    def __init__(
        self,
        message: str = "The server had an error while processing your request.",
        *,
        code: ErrorCode | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: ErrorCode = code if code is not None else self.default_code
        self.param = param
        self.headers = headers or {}


class InvalidRequest(ServiceError):
    status = 400
    type = "invalid_request_error"
    default_code = "invalid_value"

    @classmethod
    def unknown_conversation_cursor(cls, after: str) -> InvalidRequest:
        return cls(f"Invalid 'after': no conversation with id '{_shown(after)}'.", param="after")

    @classmethod
    def unknown_item_cursor(cls, after: str) -> InvalidRequest:
        return cls(
            f"Invalid 'after': no item with id '{_shown(after)}' in this conversation.",
            param="after",
        )


class Unauthorized(ServiceError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFound(ServiceError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"

    @classmethod
    def conversation(cls, conversation_id: str) -> NotFound:
        return cls(f"Conversation with id '{_shown(conversation_id)}' not found.")

    @classmethod
    def item(cls, item_id: str, *, param: str | None = None) -> NotFound:
        return cls(f"Item with id '{_shown(item_id)}' not found in conversation.", param=param)


class MethodNotAllowed(ServiceError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class RequestTimeout(ServiceError):
    status = 408
    type = "invalid_request_error"
    default_code = "request_timeout"

    def __init__(self, seconds: float) -> None:
        # The connection is in an unknown state (part of a body unread): the client should not
        # reuse it, and should not blindly retry a body it could not send in time.
        super().__init__(
            f"The request body did not arrive within {seconds:g} seconds.",
            headers={"connection": "close"},
        )


class Conflict(ServiceError):
    status = 409
    type = "invalid_request_error"
    default_code = "duplicate_item_id"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        # A deterministic conflict: tell the SDKs (which retry 409 by default) not to retry.
        super().__init__(message, param=param, headers={"x-should-retry": "false"})

    @classmethod
    def duplicate_item(
        cls, conversation_id: str, ids: Sequence[str], taken: Container[str]
    ) -> Conflict:
        """The request's first item whose id is ``taken`` in the conversation."""
        index = next((n for n, i in enumerate(ids) if i in taken), 0)
        return cls(
            f"An item with id '{_shown(ids[index])}' already exists in conversation "
            f"'{_shown(conversation_id)}'. Item ids must be unique within a conversation.",
            param=f"items[{index}].id",
        )


class PayloadTooLarge(ServiceError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class UriTooLong(ServiceError):
    status = 414
    type = "invalid_request_error"
    default_code = "uri_too_long"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Request URL too long: the limit is {limit} bytes for the path and query together.",
            headers={"connection": "close"},
        )


class UnsupportedMediaType(ServiceError):
    status = 415
    type = "invalid_request_error"
    default_code = "unsupported_media_type"


class HeadersTooLarge(ServiceError):
    status = 431
    type = "invalid_request_error"
    default_code = "request_header_fields_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Request headers too large: the limit is {limit} bytes for the request line and "
            "headers together.",
            headers={"connection": "close"},
        )


class RateLimited(ServiceError):
    """OpenAI's 429: ``type: "requests"``, ``code: "rate_limit_exceeded"``."""

    status = 429
    type = "requests"
    default_code = "rate_limit_exceeded"

    def __init__(self, wait_seconds: float) -> None:
        retry_after = max(1, math.ceil(wait_seconds))
        super().__init__(
            f"Rate limit reached for this API key. Please try again in {retry_after}s.",
            headers={
                "Retry-After": str(retry_after),
                "retry-after-ms": str(max(1, math.ceil(wait_seconds * 1000))),
            },
        )


class ServiceUnavailable(ServiceError):
    status = 503
    type = "server_error"
    default_code = "database_unavailable"

    def __init__(self, message: str = "The database is unavailable; retry shortly.") -> None:
        super().__init__(message, headers={"Retry-After": "1"})
