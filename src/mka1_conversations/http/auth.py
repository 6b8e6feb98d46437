"""Per-route ASGI middleware of the API routes: ``Authorization: Bearer <key>`` → account,
``X-On-Behalf-Of`` → the caller (an Owner), put in ``scope["mka1.owner"]`` for the handlers,
which pass it to every Store call.

It runs after routing, on the API routes only (operational routes and the docs need no key), so
an unknown path or a method its path does not allow is answered (404, 405) before any key is
looked at. The key is resolved by the running app's key ring (``keyring.py``); with a
``limiter``, each key's requests then take a token from its bucket (429 when empty). Either
header sent twice is refused (400), never resolved to one of its values: a proxy that reads the
other must not disagree about who the caller is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from ..domain.errors import InvalidRequest, RateLimited, Unauthorized
from ..domain.identity import ON_BEHALF_OF_HEADER, Owner, parse_on_behalf_of
from ..domain.keys import api_key_id, hash_key
from .errors import unknown_url
from .ratelimit import TokenBuckets
from .services import services

__all__ = ["CALLER", "AuthMiddleware", "unknown_path"]

CALLER = "mka1.owner"
"""The scope key of the caller (an Owner), once authenticated."""

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided."


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: TokenBuckets | None = None) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A refusal (401, 429, 400) is raised: the error middleware answers it, in the face's words.
        scope[CALLER] = await self._caller(scope)
        await self.app(scope, receive, send)

    async def _caller(self, scope: Scope) -> Owner:
        authorization, on_behalf_of, on_behalf_of_repeated = _credentials(scope["headers"])
        account, digest = await _account(scope, authorization)
        if self.limiter is not None:
            wait = self.limiter.take(digest)
            if wait > 0:
                raise RateLimited(wait)
        if on_behalf_of_repeated:
            raise _repeated(ON_BEHALF_OF_HEADER)
        key_id = api_key_id(digest)
        if on_behalf_of is None:
            return Owner(account, key_id=key_id)
        try:
            end_user = on_behalf_of.decode("ascii")
        except UnicodeDecodeError:
            end_user = "\x00"  # not printable ASCII: rejected with the header's own message
        return Owner(account, parse_on_behalf_of(end_user), key_id=key_id)


async def unknown_path(scope: Scope, receive: Receive, send: Send) -> None:
    """The router's default app, for a path no route serves: 404 ``unknown_url`` whatever the
    key (routing comes first), though a valid key still names its account in the request's log
    line, as on every other request that carried one."""
    if scope["type"] != "http":
        await WebSocketClose()(scope, receive, send)
        return
    with contextlib.suppress(Unauthorized, InvalidRequest):
        authorization, _, _ = _credentials(scope["headers"])
        account, _ = await _account(scope, authorization)
        scope[CALLER] = Owner(account)
    raise unknown_url(scope)


def _repeated(header: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{header}' header: sent more than once. Send it once.",
        code="invalid_header",
        param=header,
    )


def _credentials(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[bytes | None, bytes | None, bool]:
    """The ``Authorization`` and ``X-On-Behalf-Of`` headers (None when absent), and whether the
    latter came more than once (refused once the key is known); a repeated ``Authorization`` is
    refused at once."""
    authorization: bytes | None = None
    on_behalf_of: bytes | None = None
    on_behalf_of_repeated = False
    for name, value in headers:
        if name == b"authorization":
            if authorization is not None:
                raise _repeated("Authorization")
            authorization = value
        elif name == b"x-on-behalf-of":
            on_behalf_of_repeated = on_behalf_of is not None
            on_behalf_of = value
    return authorization, on_behalf_of, on_behalf_of_repeated


async def _account(scope: Scope, authorization: bytes | None) -> tuple[str, str]:
    """The account of the Bearer key and the key's digest; Unauthorized without a known key."""
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
    return account, digest
