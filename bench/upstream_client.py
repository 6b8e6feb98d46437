"""CPU per call to a model server, by client: httpx (``AsyncClient.post``, and its transport
called directly) and the service's own (``upstream/http11.py``), alone and 16 at once
(docs/performance.md, "Responses").

    python bench/upstream_client.py [--n 1000] [--rounds 5]

The model server is ``responses.instant_upstream`` under uvicorn in a process of its own; the
calls run on uvloop (as under Granian). Each figure is ``time.process_time()`` of this process
per call, the best of ``rounds`` rounds of ``n`` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import responses
import uvloop

from mka1_conversations.upstream.http11 import Pool

BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": responses._TEXT}] * 21}
).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
HEADER_LINES = b"Content-Type: application/json\r\nAccept: application/json\r\n"


async def measure(port: int, n: int, rounds: int) -> None:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    )
    transport = client._transport
    pool = Pool(url, timeout=60, connect_timeout=10)

    async def httpx_post() -> None:
        answer = await client.post(url, content=BODY, headers=HEADERS)
        assert answer.status_code == 200

    async def httpx_transport() -> None:
        request = client.build_request("POST", url, content=BODY, headers=HEADERS)
        answer = await transport.handle_async_request(request)
        await answer.aread()
        await answer.aclose()

    async def ours() -> None:
        answer = await pool.request("POST", "/v1/chat/completions", HEADER_LINES, BODY)
        await answer.read()
        assert answer.status == 200

    clients: dict[str, Callable[[], Awaitable[None]]] = {
        "httpx AsyncClient.post": httpx_post,
        "httpx transport, direct": httpx_transport,
        "upstream/http11.py": ours,
    }

    async def run(call: Callable[[], Awaitable[None]], count: int, concurrency: int) -> None:
        async def worker() -> None:
            for _ in range(count // concurrency):
                await call()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    for concurrency in (1, 16):
        for name, call in clients.items():
            await run(call, 300, concurrency)
            best = float("inf")
            for _ in range(rounds):
                started = time.process_time()
                await run(call, n, concurrency)
                best = min(best, time.process_time() - started)
            print(f"c={concurrency:<3} {name:26s} {best / n * 1e6:8.1f} µs CPU per call")
    await client.aclose()
    await pool.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    port = responses._free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, uvicorn; sys.path.insert(0, sys.argv[1]); import responses; "
            "uvicorn.run(responses.instant_upstream(), host='127.0.0.1', "
            "port=int(sys.argv[2]), log_level='warning', lifespan='off')",
            str(responses.BENCH),
            str(port),
        ],
        start_new_session=True,
    )
    try:
        responses._wait(f"http://127.0.0.1:{port}", server)
        uvloop.run(measure(port, args.n, args.rounds))
    finally:
        responses._stop(server)


if __name__ == "__main__":
    main()
