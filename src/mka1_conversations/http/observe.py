"""Pure-ASGI middleware, outermost: every request is identified, counted, timed and logged, once.

Identified: ``X-Request-ID`` on every response, the client's value when it is 1–200 visible
ASCII characters, a new random one otherwise. Its send wrapper (the one of the whole chain) adds
it and notes the status sent in ``scope[RESPONSE_STATUS]``, which the error middleware reads.

Metrics: the request counter by operation and status, the latency histogram by operation, the
in-flight gauge (``metrics.py``). Log: one line per request (``logs.RequestLog``) with the
request id, operation, method, path template and the ids in it, status, duration and a hash of
the account. Never the API key, the ``X-On-Behalf-Of`` value, the query string (search text) or
any body: docs/operations.md, tests/test_logs.py.

The operation is read from the route the router chose (``scope["route"]``, set for a full match
and for a path whose method is not allowed) in one table, path template → method → operation,
built once from every route group. A request no route serves, or with a method its route does
not allow, is operation ``unmatched`` (its path is not logged); one that ends without a
response (client gone) is counted as status 499.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.identity import Owner
from ..logs import RequestLog
from ..metrics import Metrics, OperationSeries
from .auth import CALLER
from .errors import RESPONSE_STATUS
from .responses import RESPONSE_ID

__all__ = ["UNMATCHED", "ObserveMiddleware", "account_hash", "operation_names"]

UNMATCHED = "unmatched"
_clock = time.perf_counter
_REQUEST_ID = b"x-request-id"


def _usable_request_id(request_id: bytes) -> bool:
    """A client's X-Request-ID is echoed when it is 1–200 visible ASCII characters."""
    return 1 <= len(request_id) <= 200 and all(0x21 <= b <= 0x7E for b in request_id)


@dataclass(frozen=True, slots=True)
class _Operation:
    """What metrics and the log say of a request to one (route, method)."""

    name: str
    template: str | None
    series: OperationSeries
    with_ids: bool  # the template has path parameters: log their values


def operation_names(table: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every operation of the table, and ``unmatched``: the series to make."""
    return sorted({op for methods in table.values() for op in methods.values()} | {UNMATCHED})


_hashes: dict[str, str] = {}


def account_hash(account: str) -> str:
    """How logs name an account: the first 12 hex digits of its SHA-256."""
    digest = _hashes.get(account)
    if digest is None:
        if len(_hashes) > 10_000:
            _hashes.clear()
        digest = _hashes[account] = hashlib.sha256(account.encode()).hexdigest()[:12]
    return digest


class ObserveMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        operations: Mapping[str, Mapping[str, str]],
        request_log: RequestLog | None,
    ) -> None:
        """``operations``: path template → method → operation, for every route of the router
        (HEAD is counted as GET)."""
        self.app = app
        self.request_log = request_log
        self.metrics = metrics
        series = metrics.operations
        self._unmatched = _Operation(UNMATCHED, None, series[UNMATCHED], with_ids=False)
        self._by_template: dict[str, dict[str, _Operation]] = {}
        for template, methods in operations.items():
            entries = {
                method: _Operation(op, template, series[op], with_ids="{" in template)
                for method, op in methods.items()
            }
            if "GET" in entries:
                entries.setdefault("HEAD", entries["GET"])
            self._by_template[template] = entries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = _clock()
        request_id = b""
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                request_id = value
                break
        if not _usable_request_id(request_id):
            request_id = os.urandom(16).hex().encode()

        async def send_noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope[RESPONSE_STATUS] = message["status"]
                message["headers"] = [*message.get("headers", ()), (_REQUEST_ID, request_id)]
            await send(message)

        metrics = self.metrics
        metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_noted)
        finally:
            metrics.in_flight -= 1
            elapsed = _clock() - started
            status = scope.get(RESPONSE_STATUS, 499)
            operation = self._operation(scope)
            operation.series.latency.observe(elapsed)
            operation.series.count(status)
            metrics.answered()
            if self.request_log is not None:
                fields = _request_fields(scope, operation, status, elapsed)
                fields["request_id"] = request_id.decode()
                self.request_log.write(fields)

    def _operation(self, scope: Scope) -> _Operation:
        route = scope.get("route")
        if route is not None:
            methods = self._by_template.get(route.path)
            if methods is not None:
                return methods.get(scope["method"], self._unmatched)
        return self._unmatched


def _request_fields(
    scope: Scope, operation: _Operation, status: int, elapsed: float
) -> dict[str, Any]:
    owner: Owner | None = scope.get(CALLER)
    fields: dict[str, Any] = {
        "event": "request",
        "request_id": None,
        "operation": operation.name,
        "method": scope["method"],
        "path": operation.template,
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        "account": account_hash(owner.account) if owner is not None else None,
    }
    if operation.with_ids:
        fields.update(scope["path_params"])
    response_id = scope.get(RESPONSE_ID)
    if response_id is not None:  # the response a create made (never its content)
        fields["response_id"] = response_id
    return fields
