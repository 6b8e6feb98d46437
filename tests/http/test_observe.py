"""What the outermost middleware makes of a request: its X-Request-ID (the client's when usable,
else a new one), its operation read from the route the router chose (HEAD counts as GET, a
method the route does not serve and no route at all are ``unmatched``), its status (499 when
nothing was answered) and its one log line."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mka1_conversations.http.observe import UNMATCHED, ObserveMiddleware, operation_names
from mka1_conversations.logs import RequestLog
from mka1_conversations.metrics import Metrics

TABLE = {
    "/things/{thing_id}": {"GET": "get_thing", "DELETE": "delete_thing"},
    "/healthz": {"GET": "healthz"},
}


@dataclass
class Route:
    path: str


def answering(status: int | None, route: str | None, **path_params: str) -> ASGIApp:
    """An app that routes like Starlette's Router (``scope["route"]``) and answers ``status``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if route is not None:
            scope["route"] = Route(route)
            scope["path_params"] = path_params
        if status is not None:
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    return app


@pytest.fixture
def log_pipe() -> Iterator[tuple[RequestLog, int]]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    try:
        yield RequestLog("json", fd=write), read
    finally:
        os.close(read)
        os.close(write)


async def call(
    app: ASGIApp, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/x", "headers": headers or []}
    await app(scope, receive, send)
    return sent


def observe(
    app: ASGIApp, request_log: RequestLog | None = None
) -> tuple[ObserveMiddleware, Metrics]:
    metrics = Metrics(operation_names(TABLE))
    return ObserveMiddleware(
        app, metrics=metrics, operations=TABLE, request_log=request_log
    ), metrics


def counted(metrics: Metrics) -> dict[tuple[str, int], float]:
    return {
        (name, status): buffer.pending
        for name, series in metrics.operations.items()
        for status, buffer in series.statuses.items()
        if buffer.pending
    }


def request_id(sent: list[Message]) -> bytes:
    found: bytes = dict(sent[0]["headers"])[b"x-request-id"]
    return found


@pytest.mark.parametrize(
    "given", [b"req-1", b"a" * 200, b"!~"], ids=["plain", "200-chars", "punctuation"]
)
async def test_a_usable_request_id_is_echoed(given: bytes) -> None:
    app, _ = observe(answering(200, "/healthz"))
    sent = await call(app, headers=[(b"x-request-id", given), (b"x-request-id", b"second")])
    assert request_id(sent) == given


@pytest.mark.parametrize(
    "given",
    [None, b"", b"a" * 201, b"has space", "é".encode()],
    ids=["absent", "empty", "201-chars", "space", "non-ascii"],
)
async def test_an_unusable_request_id_is_replaced_by_a_new_one(given: bytes | None) -> None:
    app, _ = observe(answering(200, "/healthz"))
    headers = [] if given is None else [(b"x-request-id", given)]
    first = request_id(await call(app, headers=headers))
    second = request_id(await call(app, headers=headers))
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


async def test_the_operation_comes_from_the_chosen_route() -> None:
    for method, route, status, expected in [
        ("GET", "/things/{thing_id}", 200, "get_thing"),
        ("HEAD", "/things/{thing_id}", 200, "get_thing"),
        ("DELETE", "/things/{thing_id}", 404, "delete_thing"),
        ("PUT", "/things/{thing_id}", 405, UNMATCHED),  # a partial match: method not served
        ("GET", None, 404, UNMATCHED),  # no route
        ("GET", "/not/in/the/table", 200, UNMATCHED),
    ]:
        app, metrics = observe(answering(status, route, thing_id="t1"))
        await call(app, method)
        assert counted(metrics) == {(expected, status): 1}, (method, route)
        assert metrics.in_flight == 0


async def test_a_request_that_ends_unanswered_is_499() -> None:
    app, metrics = observe(answering(None, "/healthz"))
    assert await call(app) == []
    assert counted(metrics) == {("healthz", 499): 1}


async def test_one_log_line_with_the_template_and_its_ids(
    log_pipe: tuple[RequestLog, int],
) -> None:
    request_log, read = log_pipe
    app, _ = observe(answering(200, "/things/{thing_id}", thing_id="t1"), request_log)
    await call(app, headers=[(b"x-request-id", b"req-7")])
    app, _ = observe(answering(404, None), request_log)
    await call(app, "POST")
    await asyncio.sleep(0)  # the lines of one loop turn are written when it ends
    lines: list[dict[str, Any]] = [json.loads(x) for x in os.read(read, 65536).splitlines()]
    first = {k: lines[0][k] for k in ("request_id", "operation", "path", "status")}
    assert first == {
        "request_id": "req-7",
        "operation": "get_thing",
        "path": "/things/{thing_id}",
        "status": 200,
    }
    assert lines[0]["thing_id"] == "t1"
    assert (lines[1]["operation"], lines[1]["path"], lines[1]["method"]) == (
        UNMATCHED,
        None,
        "POST",
    )
    assert len(lines) == 2
