"""Per-key rate limiting: one token bucket per API key, in the server process's memory.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each request
takes one. A request that finds the bucket empty is refused with 429 and the seconds until a
token is back (``Retry-After``, and ``retry-after-ms`` for the SDKs that read it). The check is
pure arithmetic on a dict entry: no I/O, no lock, nothing on the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBuckets"]

_MAX_BUCKETS = 100_000


class TokenBuckets:
    """``take(key)`` → 0.0 when the request may go on, else the seconds to wait."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, as of)

    def take(self, key: str) -> float:
        now = self._clock()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= _MAX_BUCKETS:
            # Keys are authenticated ones, so this takes that many live keys; forget full buckets.
            full = self.burst / self.rate
            self._buckets = {k: (t, at) for k, (t, at) in self._buckets.items() if now - at < full}
        self._buckets[key] = (tokens, now)
