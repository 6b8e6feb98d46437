"""Pure-ASGI middleware: ``Authorization: Bearer <key>`` → account, ``X-On-Behalf-Of`` → Owner.

The Owner is put in ``scope["mka1.owner"]`` for the routes, which pass it to every Store call.
Keys are looked up by their SHA-256 (so a key is never compared byte by byte, and never stored):
first the ``MKA1_API_KEYS`` ones, then the database's (cached briefly). Paths in ``public`` (health,
OpenAPI, docs) need no key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from ..domain.errors import ServiceError, Unauthorized
from ..domain.identity import Owner, parse_on_behalf_of
from .errors import send_error

__all__ = ["AuthMiddleware", "KeyRing", "hash_key"]

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided."
_CACHE_SECONDS = 30.0


def hash_key(key: str) -> str:
    """How keys are stored and compared: SHA-256 hex of the key's UTF-8 bytes."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Resolves a Bearer key to its account."""

    def __init__(
        self,
        env_keys: Mapping[str, str],
        lookup: Callable[[str], Awaitable[str | None]],
    ) -> None:
        self._env = {hash_key(k): account for k, account in env_keys.items()}
        self._lookup = lookup
        self._cache: dict[str, tuple[str, float]] = {}

    async def account(self, key: str) -> str | None:
        digest = hash_key(key)
        account = self._env.get(digest)
        if account is not None:
            return account
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        account = await self._lookup(digest)
        if account is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (account, now + _CACHE_SECONDS)
        return account


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        keyring: Callable[[], KeyRing],
        public: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.public = public

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
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"x-on-behalf-of":
                on_behalf_of = value
        scheme, _, token = (authorization or b"").partition(b" ")
        token = token.strip()
        if authorization is None or scheme.lower() != b"bearer" or not token:
            raise Unauthorized(_MISSING_KEY)
        try:
            key = token.decode("ascii")
        except UnicodeDecodeError:
            raise Unauthorized(_BAD_KEY) from None
        account = await self.keyring().account(key)
        if account is None:
            raise Unauthorized(_BAD_KEY)
        if on_behalf_of is None:
            return Owner(account)
        try:
            end_user = on_behalf_of.decode("ascii")
        except UnicodeDecodeError:
            end_user = "\x00"  # not printable ASCII: rejected with the header's own message
        return Owner(account, parse_on_behalf_of(end_user))
