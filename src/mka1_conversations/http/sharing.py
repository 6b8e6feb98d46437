"""MKA1's authorization operations for conversations (``grant``, ``revoke``, ``check`` under
``/api/v1/authorization/llm``) and the conversation usage (``/api/v1/llm/usage/conversations``):
parse, call the service or the usage store, answer. MKA1-only: the OpenAI face (``/v1``) has no
such operations (docs/sharing.md, docs/api.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..domain.errors import InvalidRequest
from ..domain.identity import Owner, parse_on_behalf_of
from ..domain.sharing import GrantInput
from ..domain.usage import BUCKET_LIMITS, BUCKET_SECONDS, UsageQuery
from .auth import CALLER
from .body import read_json
from .params import parse_integer, query_params
from .services import services

__all__ = ["AUTHORIZATION_PREFIX", "USAGE_PATH", "SharingRoutes"]

AUTHORIZATION_PREFIX = "/api/v1/authorization/llm"
USAGE_PATH = "/api/v1/llm/usage/conversations"

_encode = msgspec.json.Encoder().encode

_CHECK_PARAMS = ("resourceType", "resourceId", "role")
_USAGE_PARAMS = frozenset(
    {
        "start_time",
        "end_time",
        "bucket_width",
        "limit",
        "page",
        "user_ids",
        "external_user_ids",
        "group_by",
        "all_orgs",
        "org_ids",
    }
)
_MAX_TIME = 1 << 40

Handler = Callable[[Request], Awaitable[bytes | None]]


class _Endpoint:
    """Sends a handler's bytes as JSON (200), or 204 for None."""

    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self.handler(Request(scope, receive))
        if body is None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


def _caller(request: Request) -> Owner:
    owner: Owner = request.scope[CALLER]
    return owner


def _unknown_params(query: QueryParams, known: Sequence[str] | frozenset[str]) -> None:
    for key in query:
        if key not in known:
            raise InvalidRequest(
                f"Unknown parameter: '{key[:64]}'.", code="unknown_parameter", param=key[:64]
            )


def _required(query: QueryParams, name: str) -> str:
    value = query.get(name)
    if value is None or value == "":
        raise InvalidRequest(
            f"Missing required parameter: '{name}'.",
            code="missing_required_parameter",
            param=name,
        )
    return value


def _one_of(query: QueryParams, name: str, allowed: Sequence[str], default: str | None) -> str:
    value = query.get(name)
    if value is None or value == "":
        if default is None:
            return _required(query, name)
        return default
    if value not in allowed:
        shown = ", ".join(f"'{a}'" for a in allowed)
        raise InvalidRequest(
            f"Invalid value: '{value[:40]}'. Supported values are: {shown}.",
            code="invalid_value",
            param=name,
        )
    return value


def _is_end_user(value: str) -> bool:
    try:
        parse_on_behalf_of(value)
    except InvalidRequest:
        return False
    return True


def parse_usage_query(caller: Owner, query: QueryParams, now: int) -> UsageQuery:
    """``GET /api/v1/llm/usage/conversations``'s parameters (domain/usage.py says what they
    mean); 400 for what cannot be honoured (``all_orgs``, ``org_ids``, grouping by org)."""
    _unknown_params(query, _USAGE_PARAMS)
    for name in ("all_orgs", "org_ids"):
        if name in query:
            raise InvalidRequest.unsupported_parameter(
                name, "usage is reported for the caller's own account only."
            )
    _required(query, "start_time")
    start_time = parse_integer(query, "start_time", minimum=0, maximum=_MAX_TIME, default=0)
    end_time = parse_integer(
        query,
        "end_time",
        minimum=start_time + 1,
        maximum=_MAX_TIME,
        default=max(now, start_time + 1),
    )
    width_name = _one_of(query, "bucket_width", ("1m", "1h", "1d"), "1d")
    width = BUCKET_SECONDS[width_name]
    default_limit, max_limit = BUCKET_LIMITS[width_name]
    limit = parse_integer(query, "limit", minimum=1, maximum=max_limit, default=default_limit)
    first = start_time // width * width
    end = -(-end_time // width) * width
    page = query.get("page")
    if page:
        if (
            not (page.isascii() and page.isdigit())
            or int(page) % width
            or not (first <= int(page) < end)
        ):
            raise InvalidRequest(
                "Invalid 'page': pass the 'next_page' of the previous page, with the same "
                "start_time, end_time and bucket_width.",
                code="invalid_value",
                param="page",
            )
        first = int(page)
    group_by = query.getlist("group_by")
    for value in group_by:
        if value == "org_id":
            raise InvalidRequest.unsupported_value(
                "group_by", value, "usage is reported for the caller's own account only."
            )
        if value not in ("user_id", "api_key_id"):
            raise InvalidRequest(
                f"Invalid value: '{value[:40]}'. Supported values are: 'user_id' and 'api_key_id'.",
                code="invalid_value",
                param="group_by",
            )
    named = [*query.getlist("user_ids"), *query.getlist("external_user_ids")]
    users = {u for u in named if _is_end_user(u)}  # others cannot match anyone
    owner_keys: tuple[str, ...] | None
    if named and not users:
        owner_keys = ()
    elif caller.end_user:  # an end user sees only its own usage
        owner_keys = (caller.key,) if not users or caller.end_user in users else ()
    elif users:
        owner_keys = tuple(sorted(f"{caller.account}:{u}" for u in users))
    else:
        owner_keys = None
    return UsageQuery(
        account=caller.account,
        owner_keys=owner_keys,
        start=first,
        end=end,
        width=width,
        limit=limit,
        by_user="user_id" in group_by,
        by_key="api_key_id" in group_by,
    )


@dataclass(frozen=True, slots=True)
class SharingRoutes:
    """The four operations, bound to the body limits."""

    max_body_bytes: int
    read_timeout_seconds: float = 30.0

    OPERATIONS = {
        f"{AUTHORIZATION_PREFIX}/grant": {"POST": "grant"},
        f"{AUTHORIZATION_PREFIX}/revoke": {"POST": "revoke"},
        f"{AUTHORIZATION_PREFIX}/check": {"GET": "check"},
        USAGE_PATH: {"GET": "usage_conversations"},
    }

    def routes(self, middleware: Sequence[Middleware] = ()) -> list[Route]:
        return [
            Route(
                path,
                _Endpoint(getattr(self, op)),
                methods=list(ops),
                middleware=middleware,
            )
            for path, ops in self.OPERATIONS.items()
            for op in ops.values()
        ]

    async def _grant_body(self, request: Request) -> GrantInput:
        return await read_json(request, GrantInput, self.max_body_bytes, self.read_timeout_seconds)

    async def grant(self, request: Request) -> None:
        body = await self._grant_body(request)
        await services(request.scope).conversations.grant(_caller(request), body)

    async def revoke(self, request: Request) -> None:
        body = await self._grant_body(request)
        await services(request.scope).conversations.revoke(_caller(request), body)

    async def check(self, request: Request) -> bytes:
        query = query_params(request.scope["query_string"])
        _unknown_params(query, _CHECK_PARAMS)
        resource_type = _one_of(
            query,
            "resourceType",
            ("completion", "file", "vector_store", "conversation", "response", "skill"),
            None,
        )
        resource_id = _required(query, "resourceId")
        role = _one_of(query, "role", ("owner", "writer", "reader"), None)
        allowed = await services(request.scope).conversations.check(
            _caller(request), resource_type, resource_id, role
        )
        return b'{"allowed":true}' if allowed else b'{"allowed":false}'

    async def usage_conversations(self, request: Request) -> bytes:
        query = parse_usage_query(
            _caller(request), query_params(request.scope["query_string"]), int(time.time())
        )
        usage = services(request.scope).usage
        return _encode(await usage.page(query))
