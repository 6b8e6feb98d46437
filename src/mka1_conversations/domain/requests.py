"""What the HTTP face tells the storage about the request being served, without either wing
knowing the other: its deadline, and what makes a retry of it recognisable (its fingerprint,
and the client's ``Idempotency-Key``). One ``Request`` per request, in a context variable that
the HTTP face sets (``http/admission.py``) and the storage reads
(``store/backend.py`` obeys the deadline, ``store/receipts.py`` the key). Outside a request (the
command line) there is none: no deadline, no key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

__all__ = ["Request", "current", "enter", "leave", "remaining", "serving"]

_clock = time.monotonic


@dataclass(slots=True)
class Request:
    """The request being served. ``deadline``: ``time.monotonic()`` by which it must be
    answered (None: no bound); the HTTP face moves it later by the time spent waiting for the
    client's body, which has its own bound. The fingerprint's hash is made by the first
    ``feed`` (reads are never fed: they cost nothing for it)."""

    deadline: float | None = None
    idempotency_key: str | None = None
    _digest: hashlib._Hash | None = None

    def with_deadline(self, deadline: float) -> Request:
        """The same request (its key and fingerprint) under another deadline: a model turn's
        storage calls each have one of their own."""
        return Request(deadline, self.idempotency_key, self._digest)

    def extend(self, seconds: float) -> None:
        if self.deadline is not None:
            self.deadline += seconds

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative once passed); None without one."""
        return None if self.deadline is None else self.deadline - _clock()

    def feed(self, data: bytes) -> None:
        """Add to the request's fingerprint (its method, path and body, as they arrive)."""
        if self._digest is None:
            self._digest = hashlib.sha256()
        self._digest.update(data)

    @property
    def fingerprint(self) -> str:
        """SHA-256 hex of what was fed: two requests with the same one are the same request
        (the storage adds the owner)."""
        return (self._digest or hashlib.sha256()).hexdigest()


_current: ContextVar[Request | None] = ContextVar("mka1_request", default=None)


def current() -> Request | None:
    return _current.get()


def remaining() -> float | None:
    """Seconds left to the current request's deadline, if it has one."""
    request = _current.get()
    return None if request is None else request.remaining()


def enter(request: Request) -> Token[Request | None]:
    """Make ``request`` the current one until ``leave(token)`` (``serving`` as two calls, for
    the middleware that wraps every request)."""
    return _current.set(request)


def leave(token: Token[Request | None]) -> None:
    _current.reset(token)


@contextmanager
def serving(request: Request) -> Iterator[Request]:
    """``request`` is the current one inside the block (the task serving it, and what it
    awaits)."""
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)
