"""The head limits, checked for every request by ``admission.py`` before anything reads it
further: a request target (path and query) over ``max_header_bytes`` or 65,534 bytes, whichever
is less, is refused with 414 (``UriTooLong``), and a request head (request line and headers)
over ``max_header_bytes`` with 431 (``HeadersTooLarge``), both answered in the envelope by the
error middleware.

The HTTP servers read heads up to twice that (``serving.py``), so that these answers, in the
envelope, are the ones clients meet; a head that arrives whole in one read may also pass a
server's incremental check: this is the bound every server shares.
"""

from __future__ import annotations

from starlette.types import Scope

from ..domain.errors import HeadersTooLarge, UriTooLong

__all__ = ["MAX_URL_BYTES", "HeadLimit"]

MAX_URL_BYTES = 65_534
"""Granian's HTTP parser (hyper) refuses a longer request target itself (414, without a body)."""


class HeadLimit:
    def __init__(self, *, max_header_bytes: int) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_url_bytes = min(max_header_bytes, MAX_URL_BYTES)

    def check(self, scope: Scope) -> None:
        """Raise ``UriTooLong`` or ``HeadersTooLarge`` for an HTTP request over the limits."""
        query = len(scope["query_string"])
        url = len(scope.get("raw_path") or b"") + (query + 1 if query else 0)
        if url > self.max_url_bytes:
            raise UriTooLong(self.max_url_bytes)
        # The request line and "name: value\r\n" per header, roughly as sent.
        size = url + 16
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
        if size > self.max_header_bytes:
            raise HeadersTooLarge(self.max_header_bytes)
