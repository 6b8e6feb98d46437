"""Pure-ASGI middleware, outermost: every request is counted, timed and logged, once.

Metrics: the request counter by operation and status, the latency histogram by operation, the
in-flight gauge (``metrics.py``). Log: one line per request (``logs.RequestLog``) with the
request id, operation, method, path template and the ids in
it, status, duration and a hash of the account. Never the API key, the ``X-On-Behalf-Of`` value,
the query string (search text) or any body: docs/operations.md, tests/test_logs.py.

The operation of a request the router sent to an API endpoint is that endpoint's for the method
(``scope["endpoint"].operations``), with the route's template and path parameters: the router's
one match. Any other request (refused before routing, operational, unknown) is looked up in the
route table (``routes.OPERATIONS``), matched by path segments. A request no route serves is
operation ``unmatched`` (its path is not logged); one that ends without a response (client gone)
is counted as status 499.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.identity import Owner
from ..logs import RequestLog
from ..metrics import Metrics

__all__ = ["UNMATCHED", "ObserveMiddleware", "RouteIndex", "account_hash"]

UNMATCHED = "unmatched"
_clock = time.perf_counter


@dataclass(frozen=True, slots=True)
class Matched:
    operation: str
    template: str | None
    ids: tuple[tuple[str, str], ...] = ()


_NO_MATCH = Matched(UNMATCHED, None)


@dataclass(frozen=True, slots=True)
class _Template:
    template: str
    literals: tuple[tuple[int, str], ...]
    params: tuple[tuple[int, str], ...]
    methods: Mapping[str, str]


class RouteIndex:
    """``(method, path) → operation``, from path templates (``{name}`` = one non-empty segment)
    and fixed paths; ``prefixes`` map a path prefix to one operation for every method."""

    def __init__(
        self,
        templates: Mapping[str, Mapping[str, str]],
        fixed: Mapping[str, Mapping[str, str]],
        prefixes: Mapping[str, str],
    ) -> None:
        self._fixed = {
            path: {m: Matched(op, path) for m, op in methods.items()}
            for path, methods in fixed.items()
        }
        self._prefixes = tuple((p, Matched(op, p + "*")) for p, op in prefixes.items())
        self._by_length: dict[int, list[_Template]] = {}
        for template, methods in templates.items():
            segments = template.split("/")
            literals = tuple((i, s) for i, s in enumerate(segments) if not s.startswith("{"))
            params = tuple((i, s[1:-1]) for i, s in enumerate(segments) if s.startswith("{"))
            entry = _Template(template, literals, params, methods)
            self._by_length.setdefault(len(segments), []).append(entry)
        self.operations = sorted(
            {op for methods in templates.values() for op in methods.values()}
            | {op for methods in fixed.values() for op in methods.values()}
            | set(prefixes.values())
            | {UNMATCHED}
        )

    def match(self, method: str, path: str) -> Matched:
        if method == "HEAD":
            method = "GET"
        fixed = self._fixed.get(path)
        if fixed is not None:
            return fixed.get(method, _NO_MATCH)
        candidates = self._by_length.get(path.count("/") + 1)
        if candidates:
            segments = path.split("/")
            for entry in candidates:
                if _fits(entry, segments):
                    operation = entry.methods.get(method)
                    if operation is None:
                        return _NO_MATCH
                    ids = tuple((name, segments[i]) for i, name in entry.params)
                    return Matched(operation, entry.template, ids)
        for prefix, matched in self._prefixes:
            if path.startswith(prefix):
                return matched
        return _NO_MATCH


def _fits(entry: _Template, segments: list[str]) -> bool:
    for i, text in entry.literals:
        if segments[i] != text:
            return False
    return all(segments[i] for i, _ in entry.params)


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
        routes: RouteIndex,
        request_log: RequestLog | None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.request_log = request_log
        self.metrics = metrics
        self.operations = metrics.operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = _clock()
        status = 499

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            metrics.in_flight -= 1
            elapsed = _clock() - started
            matched = self._matched(scope)
            series = self.operations[matched.operation]
            series.latency.observe(elapsed)
            series.count(status)
            metrics.answered()
            if self.request_log is not None:
                self.request_log.write(_request_fields(scope, matched, status, elapsed))

    def _matched(self, scope: Scope) -> Matched:
        """The router's own match when it reached an API endpoint (it put the endpoint, route
        and path parameters in the scope); the route table's for everything else."""
        operations = getattr(scope.get("endpoint"), "operations", None)
        if operations is not None:
            method = scope["method"]
            operation = operations.get("GET" if method == "HEAD" else method)
            if operation is not None:
                ids = tuple(scope["path_params"].items())
                return Matched(operation, scope["route"].path, ids)
        return self.routes.match(scope["method"], scope["path"])


def _request_fields(scope: Scope, matched: Matched, status: int, elapsed: float) -> dict[str, Any]:
    owner: Owner | None = scope.get("mka1.owner")
    fields: dict[str, Any] = {
        "event": "request",
        "request_id": scope.get("mka1.request_id"),
        "operation": matched.operation,
        "method": scope["method"],
        "path": matched.template,
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        "account": account_hash(owner.account) if owner is not None else None,
    }
    fields.update(matched.ids)
    return fields
