"""Pure-ASGI middleware: ``Authorization: Bearer <key>`` → account, ``X-On-Behalf-Of`` → Owner.

The Owner is put in ``scope["mka1.owner"]`` for the routes, which pass it to every Store call.
Keys are looked up by their SHA-256, never stored: the ``MKA1_API_KEYS`` ones by comparing the
digest with every configured digest in constant time, the database's by an indexed lookup of
the digest (cached for ``MKA1_KEY_CACHE_SECONDS``: the bound on how long a revoked key keeps
working in a running process). A database key's use is remembered in memory at most once a
minute and written by a background task (``KeyRing.flush``), never on the request path. With a
``limiter``, each key's requests then take a token from its bucket (429 when empty). Paths in
``public`` (health, OpenAPI, docs) need no key. Either header sent twice is refused (400), never
resolved to one of its values: a proxy that reads the other must not disagree about the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from ..domain.errors import InvalidRequest, RateLimited, ServiceError, Unauthorized
from ..domain.identity import ON_BEHALF_OF_HEADER, Owner, parse_on_behalf_of
from .errors import send_error
from .ratelimit import TokenBuckets

__all__ = ["LAST_USED_RESOLUTION_SECONDS", "AuthMiddleware", "KeyRing", "hash_key"]

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided."
_CACHE_ENTRIES = 10_000
LAST_USED_RESOLUTION_SECONDS = 60
"""A key's ``last_used_at`` is recorded at most once per this many seconds per process."""


def _repeated(header: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{header}' header: sent more than once. Send it once.",
        code="invalid_header",
        param=header,
    )


def hash_key(key: str) -> str:
    """How keys are stored and compared: SHA-256 hex of the key's UTF-8 bytes."""
    return hashlib.sha256(key.encode()).hexdigest()


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
        self._env = [(hash_key(k).encode(), account) for k, account in env_keys.items()]
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
        for candidate, account in self._env:
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


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        keyring: Callable[[], KeyRing],
        public: Callable[[str], bool],
        limiter: TokenBuckets | None = None,
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.public = public
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            scope["mka1.owner"] = await self._owner(scope)
        except ServiceError as err:
            await send_error(send, err)
            return
        await self.app(scope, receive, send)

    async def _owner(self, scope: Scope) -> Owner:
        authorization: bytes | None = None
        on_behalf_of: bytes | None = None
        on_behalf_of_repeated = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    raise _repeated("Authorization")
                authorization = value
            elif name == b"x-on-behalf-of":
                on_behalf_of_repeated = on_behalf_of is not None
                on_behalf_of = value
        scheme, _, token = (authorization or b"").partition(b" ")
        token = token.strip()
        if authorization is None or scheme.lower() != b"bearer" or not token:
            raise Unauthorized(_MISSING_KEY)
        try:
            key = token.decode("ascii")
        except UnicodeDecodeError:
            raise Unauthorized(_BAD_KEY) from None
        digest = hash_key(key)
        account = await self.keyring().account_for_digest(digest)
        if account is None:
            raise Unauthorized(_BAD_KEY)
        if self.limiter is not None:
            wait = self.limiter.take(digest)
            if wait > 0:
                raise RateLimited(wait)
        if on_behalf_of_repeated:  # like its other faults, told only to a caller with a key
            raise _repeated(ON_BEHALF_OF_HEADER)
        if on_behalf_of is None:
            return Owner(account)
        try:
            end_user = on_behalf_of.decode("ascii")
        except UnicodeDecodeError:
            end_user = "\x00"  # not printable ASCII: rejected with the header's own message
        return Owner(account, parse_on_behalf_of(end_user))
