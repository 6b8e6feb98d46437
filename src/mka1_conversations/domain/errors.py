"""The errors every layer raises, each with its HTTP status and a machine-readable code.

The HTTP face renders them as the OpenAI envelope ``{"error": {message, type, param, code}}``;
nothing else leaves the service on failure. The hierarchy::

    ServiceError                      (500, server_error)      never carries internals
     ├── InvalidRequest               (400, invalid_request_error)  bad input: code + param
     │    └── UpstreamRejected        (400)  the model server refused the turn (4xx): its message
     ├── Unauthorized                 (401)  missing or unknown API key
     ├── NotFound                     (404)  unknown, foreign or deleted: never an existence oracle
     ├── MethodNotAllowed             (405)
     ├── RequestTimeout               (408)  the body did not arrive within the read timeout
     ├── Conflict                     (409)  duplicate item id, or an Idempotency-Key reused;
     │                                       sent with x-should-retry: false
     ├── PayloadTooLarge              (413)
     ├── UriTooLong                   (414)  the request target is over the URL limit
     ├── UnsupportedMediaType         (415)
     ├── HeadersTooLarge              (431)  the request head is over MKA1_MAX_HEADER_BYTES
     ├── RateLimited                  (429, requests)  over the key's rate; carries Retry-After
     ├── UpstreamRateLimited          (429, requests)  the model server is rate limiting us
     ├── UpstreamError                (502)  the model server failed (5xx) or answered garbage
     │    ├── UpstreamUnreachable     (502)  no connection to the model server
     │    └── UpstreamTimeout         (504)  the model server did not answer in time
     ├── ServiceUnavailable           (503)  the database is unreachable; carries Retry-After
     │    ├── StorageFull             (503)  the database's disk is full (or cannot be written)
     │    └── DatabaseTimeout         (503)  the database did not answer within the deadline
     └── UpstreamNotConfigured        (503)  no model server configured (MKA1_UPSTREAM_URL)
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from typing import ClassVar, Literal

__all__ = [
    "Conflict",
    "DatabaseTimeout",
    "ErrorCode",
    "ErrorType",
    "HeadersTooLarge",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RequestTimeout",
    "ServiceError",
    "ServiceUnavailable",
    "StorageFull",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamNotConfigured",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "UriTooLong",
]

ErrorType = Literal[
    "invalid_request_error",
    "permission_error",
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
    "unsupported_parameter",
    "unsupported_value",
    "conversation_locked",
    "mutually_exclusive_parameters",
    "upstream_rejected",
    "malformed_request",
    # 401 / 404 / 405 / 409 / 413 / 415 / 5xx
    "invalid_api_key",
    "insufficient_role",
    "not_found",
    "unknown_url",
    "method_not_allowed",
    "duplicate_item_id",
    "idempotency_key_reused",
    "request_too_large",
    "uri_too_long",
    "unsupported_media_type",
    "request_header_fields_too_large",
    "rate_limit_exceeded",
    "request_timeout",
    "internal_error",
    "database_unavailable",
    "storage_full",
    "database_timeout",
    "upstream_error",
    "upstream_unreachable",
    "upstream_timeout",
    "upstream_not_configured",
]


_UPSTREAM_MESSAGE_CHARS = 1000
"""How much of a model server's error message is passed on."""


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

    @classmethod
    def unsupported_parameter(cls, param: str, why: str) -> InvalidRequest:
        """A parameter this service cannot honour (OpenAI's wording)."""
        return cls(
            f"Unsupported parameter: '{param}' is not supported by this server: {why}",
            code="unsupported_parameter",
            param=param,
        )

    @classmethod
    def unsupported_value(cls, param: str, value: object, why: str) -> InvalidRequest:
        """A value of a parameter this service cannot honour (OpenAI's wording)."""
        shown = f"'{_shown(value)}'" if isinstance(value, str) else repr(value)
        return cls(
            f"Unsupported value: '{param}' does not support {shown} on this server: {why}",
            code="unsupported_value",
            param=param,
        )

    @classmethod
    def conversation_locked(cls) -> InvalidRequest:
        """Another turn holds the conversation (OpenAI's code and wording)."""
        return cls(
            "Another process is currently operating on this conversation. Please retry in a "
            "few seconds.",
            code="conversation_locked",
            param="conversation",
        )


class UpstreamRejected(InvalidRequest):
    """The model server answered 4xx (an unknown model, a context that is too long, ...): the
    request cannot succeed as sent. The message carries the model server's own."""

    def __init__(self, upstream_status: int, upstream_message: str) -> None:
        super().__init__(
            f"The model server rejected the request (HTTP {upstream_status}): "
            f"{upstream_message[:_UPSTREAM_MESSAGE_CHARS]}",
            code="upstream_rejected",
        )
        self.upstream_status = upstream_status


class Unauthorized(ServiceError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFound(ServiceError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"
    of_conversation: str | None = None
    """The conversation id, when it is the conversation that was not found (the one place
    sharing looks for a grant: store/conversations.py)."""

    @classmethod
    def conversation(cls, conversation_id: str) -> NotFound:
        err = cls(f"Conversation with id '{_shown(conversation_id)}' not found.")
        err.of_conversation = conversation_id
        return err

    @classmethod
    def item(cls, item_id: str, *, param: str | None = None) -> NotFound:
        return cls(f"Item with id '{_shown(item_id)}' not found in conversation.", param=param)

    @classmethod
    def response(cls, response_id: str, *, param: str | None = None) -> NotFound:
        return cls(f"Response with id '{_shown(response_id)}' not found.", param=param)

    @classmethod
    def url(cls, method: str, path: str) -> NotFound:
        """A path no route serves (OpenAI's wording)."""
        return cls(f"Invalid URL ({method} {_shown(path)})", code="unknown_url")


class PermissionDenied(ServiceError):
    """The caller can see the resource (a grant) but its role does not allow the operation
    (docs/sharing.md): 403 ``permission_error`` / ``insufficient_role``."""

    status = 403
    type = "permission_error"
    default_code = "insufficient_role"

    @classmethod
    def role(cls, resource: str, resource_id: str, needed: str, held: str) -> PermissionDenied:
        return cls(
            f"Your role on {resource} '{_shown(resource_id)}' is '{held}'; this operation "
            f"needs '{needed}'."
        )


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
    def idempotency_key_reused(cls, key: str) -> Conflict:
        """The Idempotency-Key already answered another request (method, path or body)."""
        err = cls(
            f"The Idempotency-Key '{_shown(key)}' was already used with another request "
            "(method, path or body) in the last 24 hours; use a new key for a new request.",
            param="Idempotency-Key",
        )
        err.code = "idempotency_key_reused"
        return err

    @classmethod
    def duplicate_item(
        cls,
        conversation_id: str,
        ids: Sequence[str],
        taken: Container[str],
        *,
        param: str = "items",
    ) -> Conflict:
        """The request's first item whose id is ``taken`` in the conversation (the items are
        the body's ``param``)."""
        index = next((n for n, i in enumerate(ids) if i in taken), 0)
        return cls(
            f"An item with id '{_shown(ids[index])}' already exists in conversation "
            f"'{_shown(conversation_id)}'. Item ids must be unique within a conversation.",
            param=f"{param}[{index}].id",
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
    default_code: ClassVar[ErrorCode] = "database_unavailable"

    def __init__(self, message: str = "The database is unavailable; retry shortly.") -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class StorageFull(ServiceUnavailable):
    """A write the database could not store for want of space: its disk is full, or its file
    cannot grow (a size limit, a failing disk). Nothing was written; reads go on. Retry-After
    says when trying again may be worth it; ``x-should-retry: false`` keeps the SDKs from
    retrying at once (space is rarely back within their few seconds of retries)."""

    default_code = "storage_full"

    def __init__(
        self,
        message: str = "The database's storage is full: nothing was written. Retry later.",
    ) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": "30", "x-should-retry": "false"}


class DatabaseTimeout(ServiceUnavailable):
    """The database did not answer within the request's deadline (``MKA1_REQUEST_TIMEOUT_
    SECONDS``). ``stored`` says what became of a write: False, nothing was written (the usual
    case: it was cut off before its commit was sent, and the database refuses it if it arrives
    late); None, its commit was sent and not confirmed: the answer waits until the database can
    no longer apply it, and a retry of the same request is not stored twice (store/receipts.py).
    """

    default_code = "database_timeout"

    def __init__(self, *, stored: bool | None = False) -> None:
        if stored is None:
            message = (
                "The database did not confirm the write in time: it may have been stored. "
                "Retrying this same request does not store it twice."
            )
        else:
            message = "The database did not answer in time; nothing was changed. Retry shortly."
        super().__init__(message)
        self.stored = stored


class UpstreamRateLimited(ServiceError):
    """The model server answered 429: the SDKs retry it, with its ``Retry-After`` when given."""

    status = 429
    type = "requests"
    default_code = "rate_limit_exceeded"

    def __init__(self, upstream_message: str, retry_after: str | None = None) -> None:
        super().__init__(
            "The model server is rate limiting requests: "
            f"{upstream_message[:_UPSTREAM_MESSAGE_CHARS]}",
            headers={"Retry-After": retry_after} if retry_after else None,
        )


class UpstreamError(ServiceError):
    """The model server failed: a 5xx, a broken stream, or an answer that is not Chat
    Completions. The message says which, never our internals."""

    status = 502
    type = "server_error"
    default_code: ClassVar[ErrorCode] = "upstream_error"


class UpstreamUnreachable(UpstreamError):
    default_code: ClassVar[ErrorCode] = "upstream_unreachable"

    def __init__(self) -> None:
        super().__init__("The model server could not be reached.")


class UpstreamTimeout(UpstreamError):
    status = 504
    default_code: ClassVar[ErrorCode] = "upstream_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The model server did not answer within {seconds:g} seconds.")


class UpstreamNotConfigured(ServiceError):
    """Responses need a model server; none is configured. Not transient: no Retry-After."""

    status = 503
    type = "server_error"
    default_code = "upstream_not_configured"

    def __init__(self) -> None:
        super().__init__(
            "Responses are not available: no model server is configured. Set MKA1_UPSTREAM_URL "
            "to the base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:8001/v1)."
        )
