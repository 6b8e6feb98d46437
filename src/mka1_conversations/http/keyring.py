"""The key ring: a Bearer key (by its SHA-256) → its account, and the record of database keys' use.

``MKA1_API_KEYS`` keys are found by comparing the digest with every configured digest in constant
time; database keys by an indexed lookup of the digest (the ``lookup`` it is given), trusted for
``cache_seconds`` (``MKA1_KEY_CACHE_SECONDS``: the bound on how long a revoked key keeps working
in a running process). A database key's use is remembered in memory at most once per
``LAST_USED_RESOLUTION_SECONDS`` and written by :meth:`KeyRing.flush`, which the app runs in the
background: never a write on the request path.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping

from ..domain.keys import hash_key

__all__ = ["LAST_USED_RESOLUTION_SECONDS", "KeyRing"]

_CACHE_ENTRIES = 10_000
LAST_USED_RESOLUTION_SECONDS = 60
"""A key's ``last_used_at`` is recorded at most once per this many seconds per process."""


class KeyRing:
    """Resolves a Bearer key (by its digest) to its account, and remembers database keys' use."""

    def __init__(
        self,
        env_keys: Mapping[str, str],
        lookup: Callable[[str], Awaitable[str | None]],
        *,
        cache_seconds: float = 5.0,
        record_use: Callable[[dict[str, int]], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._env_digests = [(hash_key(k).encode(), account) for k, account in env_keys.items()]
        self._lookup = lookup
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[str, float]] = {}
        self._record_use = record_use
        self._clock = clock
        self._wall_clock = wall_clock
        self._recorded: dict[str, int] = {}
        self._pending: dict[str, int] = {}

    def _env_account(self, digest: str) -> str | None:
        """Compare with every configured digest, in constant time, without stopping early."""
        wanted = digest.encode()
        found: str | None = None
        for candidate, account in self._env_digests:
            if hmac.compare_digest(candidate, wanted):
                found = account
        return found

    async def account(self, key: str) -> str | None:
        return await self.account_for_digest(hash_key(key))

    async def account_for_digest(self, digest: str) -> str | None:
        account = self._env_account(digest)
        if account is not None:
            return account
        now = self._clock()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            account = hit[0]
        else:
            account = await self._lookup(digest)
            if account is None:
                self._cache.pop(digest, None)
                return None
            if self._cache_seconds > 0:
                if len(self._cache) >= _CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[digest] = (account, now + self._cache_seconds)
        self._note_use(digest)
        return account

    def _note_use(self, digest: str) -> None:
        second = int(self._wall_clock())
        last = self._recorded.get(digest)
        if last is None or second - last >= LAST_USED_RESOLUTION_SECONDS:
            if len(self._recorded) >= _CACHE_ENTRIES:
                self._recorded.clear()
            self._recorded[digest] = second
            self._pending[digest] = second

    async def flush(self) -> None:
        """Write the remembered uses (one batched statement); kept for the next flush on error."""
        if not self._pending or self._record_use is None:
            return
        pending, self._pending = self._pending, {}
        try:
            await self._record_use(pending)
        except BaseException:
            for digest, second in pending.items():
                self._pending[digest] = max(second, self._pending.get(digest, 0))
            raise
