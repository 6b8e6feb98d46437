"""Pure-ASGI middleware: ``Authorization: Bearer <key>`` → account, ``X-On-Behalf-Of`` → Owner.

The Owner is put in ``scope["mka1.owner"]`` for the routes, which pass it to every Store call.
Keys are looked up by their SHA-256, never stored: the ``MKA1_API_KEYS`` ones by comparing the
digest with every configured digest in constant time, the database's by an indexed lookup of
the digest (cached for ``MKA1_KEY_CACHE_SECONDS``: the bound on how long a revoked key keeps
working in a running process). A database key's use is remembered in memory at most once a
minute and written by a background task (``KeyRing.flush``), never on the request path. With a
``limiter``, each key's requests then take a token from its bucket (429 when empty). Paths in
``public`` (health, OpenAPI, docs) need no key.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from ..domain.errors import RateLimited, ServiceError, Unauthorized
from ..domain.identity import Owner, parse_on_behalf_of
from ..domain.keys import hash_key
from .errors import send_error
from .ratelimit import TokenBuckets
from .services import services

__all__ = ["AuthMiddleware"]

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided."


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        public: Callable[[str], bool],
        limiter: TokenBuckets | None = None,
    ) -> None:
        self.app = app
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
        digest = hash_key(key)
        account = await services(scope).keyring.account_for_digest(digest)
        if account is None:
            raise Unauthorized(_BAD_KEY)
        if self.limiter is not None:
            wait = self.limiter.take(digest)
            if wait > 0:
                raise RateLimited(wait)
        if on_behalf_of is None:
            return Owner(account)
        try:
            end_user = on_behalf_of.decode("ascii")
        except UnicodeDecodeError:
            end_user = "\x00"  # not printable ASCII: rejected with the header's own message
        return Owner(account, parse_on_behalf_of(end_user))
