"""What makes a write recognisable when it is sent again (store/receipts.py keeps the
promises), read from each request by ``admission.py``.

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

from starlette.types import Scope

from ..domain.errors import InvalidRequest

__all__ = ["WRITES", "idempotency_key", "request_line"]

_HEADER = b"idempotency-key"
WRITES = frozenset({"POST", "DELETE"})
"""The methods that write: they get a fingerprint and may carry a key."""
_MAX_KEY = 255


def request_line(scope: Scope) -> bytes:
    """What the fingerprint starts with: method, path and query (the body follows)."""
    path = scope.get("raw_path") or scope["path"].encode()
    return b"%s %s?%s\n" % (scope["method"].encode(), path, scope["query_string"])


def idempotency_key(scope: Scope) -> str | None:
    """The request's ``Idempotency-Key``; a malformed one, or two, is a 400."""
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
