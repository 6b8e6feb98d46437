"""CPU per request of the whole ASGI app in one process: the middleware chain, the router, the
handler and the storage, without a server or a socket (docs/performance.md, "The HTTP face").

    python bench/face_cpu.py [--n 20000] [--rounds 5] [--log] [--v1] [--case get-item]

It builds ``create_app(settings)`` on a fresh SQLite file with one conversation and one item,
runs the lifespan, then calls the app ``n`` times per case with a prepared scope (copied per
request, with the lifespan state, as Granian and uvicorn do), a ``receive`` that returns the
body and a ``send`` that keeps nothing. The figure is ``time.process_time()`` around the loop,
the best of ``rounds``. To compare two trees, run it with ``PYTHONPATH=<other tree>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mka1_conversations.app import create_app, migrate_database
from mka1_conversations.settings import Settings

KEY = "sk-face-cpu"
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"python-httpx/0.28"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"authorization", f"Bearer {KEY}".encode()),
    (b"x-on-behalf-of", b"user-1"),
]
Message = dict[str, Any]


def request_scope(method: str, path: str, query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": HEADERS,
    }


class Harness:
    """The app with its lifespan running, and one request at a time through it."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.body = b""
        self.status = 0
        self.answer = b""
        self._lifespan: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = asyncio.Event()

        async def receive() -> Message:
            return await self._lifespan.get()

        async def send(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                print(message.get("message"), file=sys.stderr)
            started.set()

        async def lifespan() -> None:
            scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
            await self.app(scope, receive, send)

        self._task = asyncio.create_task(lifespan())
        await self._lifespan.put({"type": "lifespan.startup"})
        await started.wait()

    async def stop(self) -> None:
        await self._lifespan.put({"type": "lifespan.shutdown"})
        if self._task is not None:
            await self._task

    async def _receive(self) -> Message:
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]

    async def _keep(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.body":
            self.answer = message["body"]

    async def call(self, scope: dict[str, Any]) -> None:
        await self.app({**scope, "state": self.state.copy()}, self._receive, self._send)

    async def json(self, scope: dict[str, Any], body: object = None) -> Any:
        self.body = b"" if body is None else json.dumps(body).encode()
        await self.app({**scope, "state": self.state.copy()}, self._receive, self._keep)
        self.body = b""
        return json.loads(self.answer)


async def main(n: int, rounds: int, log: bool, v1: bool, only: str | None = None) -> None:
    if log:  # as configure_logging leaves it at the default level
        logging.getLogger("mka1_conversations.request").setLevel(logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="face-cpu-"))
    settings = Settings(database_url=f"sqlite:///{folder / 'face.db'}", api_keys={KEY: "acct"})
    await migrate_database(settings)
    harness = Harness(create_app(settings))
    await harness.start()
    base = "/api/v1/llm/conversations"
    created = await harness.json(
        request_scope("POST", base), {"items": [{"role": "user", "content": "hello"}]}
    )
    conv = created["id"]
    item = (await harness.json(request_scope("GET", f"{base}/{conv}/items")))["data"][0]["id"]
    cases = {
        "get-item": request_scope("GET", f"{base}/{conv}/items/{item}"),
        "list-items": request_scope("GET", f"{base}/{conv}/items", b"limit=20&order=desc"),
        "401 no key": {**request_scope("GET", f"{base}/{conv}"), "headers": HEADERS[:5]},
        "healthz": request_scope("GET", "/healthz"),
        "unknown path": request_scope("GET", "/api/v1/llm/nowhere/at/all"),
    }
    if v1:  # each beside its /api/v1/llm twin, so that drift over the run hits both alike
        cases = {
            "get-item": cases["get-item"],
            "v1 get-item": request_scope("GET", f"/v1/conversations/{conv}/items/{item}"),
            "list-items": cases["list-items"],
            "v1 list-items": request_scope(
                "GET", f"/v1/conversations/{conv}/items", b"limit=20&order=desc"
            ),
        }
    if only is not None:
        cases = {only: cases[only]}
    for name, scope in cases.items():
        for _ in range(200):  # warm: caches, the key ring, the statement cache
            await harness.call(scope)
        best = float("inf")
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(n):
                await harness.call(scope)
            best = min(best, time.process_time() - start)
        print(
            f"{name:14s} status={harness.status}  {best / n * 1e6:7.2f} µs/request "
            f"(best of {rounds} x {n})"
        )
    await harness.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20_000, help="calls per round and case")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--log", action="store_true", help="with the request log line on")
    parser.add_argument(
        "--v1", action="store_true", help="the hot reads on both faces, /api/v1/llm and /v1"
    )
    parser.add_argument("--case", help="only this case (for instruction counts under callgrind)")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds, args.log, args.v1, args.case))
