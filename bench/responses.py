"""The Responses scenario (issue 17): what a model turn costs our server, apart from the model.

    python bench/responses.py [--quick] [--json out.json]

(``make bench`` runs it as its last phase.) A fresh SQLite file; a model server on loopback that
answers at once (``instant_upstream``: a raw ASGI Chat Completions app under uvicorn, in a process
of its own); our server (``mka1-conversations serve``, Granian) with it as MKA1_UPSTREAM_URL.
Every conversation starts with 20 items. Measured in the same run, at concurrency 16, each
request on a conversation of its own (so every turn reads 20 items and appends 2):

- ``baseline``: list-20 then append-2 (what a client does by hand around a model call);
- ``turn``: one non-streamed turn (``conversation``, ``store: true``);
- ``turn-streamed``: one streamed turn, read to its last event.

The cases run in five rounds, taking turns, so that the machine's drift hits them alike. The
figures: our server's CPU per operation (utime + stime of its process tree, from /proc; the
median of the rounds), each turn's as a ratio to the baseline's (the median of each round's
ratio; target <= 2x); and the latency a turn adds to the model
server's own: the turn's p50/p99 minus the p50/p99 of the same Chat Completions call made
directly to the model server at the same concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import loadgen

BENCH = Path(__file__).resolve().parent
KEY = "benchkey"
CONCURRENCY = 16
ROUNDS = 5
"""Each case runs in this many rounds, the cases taking turns; the figures are medians."""
CONVERSATIONS = "/api/v1/llm/conversations"
RESPONSES = "/api/v1/llm/responses"
HEADERS = {"Authorization": f"Bearer {KEY}", "X-On-Behalf-Of": "bench"}

_TEXT = "Could you check the status of my order from last Tuesday? The tracking page is stale."
_ANSWER = "Your parcel left the warehouse this morning and arrives on Friday."


def instant_upstream() -> Any:
    """A Chat Completions server that answers at once (whole or streamed)."""
    completion = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 400, "completion_tokens": 16, "total_tokens": 416},
        }
    ).encode()

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    words = _ANSWER.split(" ")
    streamed = b"".join(
        [
            chunk({"role": "assistant", "content": ""}),
            *(chunk({"content": w + " "}) for w in words),
            chunk({}, "stop"),
            b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,'
            b'"model":"bench","choices":[],"usage":{"prompt_tokens":400,'
            b'"completion_tokens":16,"total_tokens":416}}\n\n',
            b"data: [DONE]\n\n",
        ]
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        stream = b'"stream":true' in body or b'"stream": true' in body
        answer = streamed if stream else completion
        kind = b"text/event-stream" if stream else b"application/json"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]}
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _load(
    n: int, call: Callable[[httpx.AsyncClient, int], Awaitable[None]], url: str
) -> list[float]:
    """``n`` calls at concurrency 16; their latencies (seconds)."""
    latencies: list[float] = []
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60, limits=limits) as c:

        async def worker() -> None:
            for index in counter:
                started = time.perf_counter()
                await call(c, index)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _conversations(url: str, count: int) -> list[str]:
    items = [
        {"type": "message", "role": "user" if i % 2 == 0 else "assistant", "content": text}
        for i, text in enumerate([_TEXT, _ANSWER] * 10)
    ]
    ids: list[str] = []

    async def make(c: httpx.AsyncClient, index: int) -> None:
        created = await c.post(CONVERSATIONS, json={"items": items})
        created.raise_for_status()
        ids.append(created.json()["id"])

    await _load(count, make, url)
    return ids


def measure(quick: bool) -> dict[str, Any]:
    n = 150 if quick else 1000
    folder = Path(tempfile.mkdtemp(prefix="mka1-bench-responses-"))
    database = f"sqlite:///{folder / 'bench.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKA1_")}
    env |= {
        "MKA1_DATABASE_URL": database,
        "MKA1_API_KEYS": f"{KEY}=bench",
        "MKA1_LOG_LEVEL": "warning",
    }
    cli = [sys.executable, "-m", "mka1_conversations"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    upstream_port, our_port = _free_port(), _free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    upstream = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, uvicorn; sys.path.insert(0, sys.argv[1]); import responses; "
            "uvicorn.run(responses.instant_upstream(), host='127.0.0.1', "
            "port=int(sys.argv[2]), log_level='warning', lifespan='off')",
            str(BENCH),
            str(upstream_port),
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ours = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(our_port)],
        env=env | {"MKA1_UPSTREAM_URL": upstream_url},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{our_port}"
    try:
        _wait(upstream_url.removesuffix("/v1"), upstream)
        _wait(url + "/healthz", ours)
        time.sleep(0.3)
        pids = loadgen.process_tree(ours.pid)
        return asyncio.run(_scenarios(url, upstream_url, pids, n))
    finally:
        _stop(ours)
        _stop(upstream)


async def _scenarios(url: str, upstream_url: str, pids: list[int], n: int) -> dict[str, Any]:
    warm = 50
    conversations = await _conversations(url, 3 * (n + warm))
    pools = [conversations[i * (n + warm) : (i + 1) * (n + warm)] for i in range(3)]
    append_2 = {
        "items": [
            {"type": "message", "role": "user", "content": _TEXT},
            {"type": "message", "role": "assistant", "content": _ANSWER},
        ]
    }

    def baseline(pool: list[str]) -> Callable[[httpx.AsyncClient, int], Awaitable[None]]:
        async def call(c: httpx.AsyncClient, index: int) -> None:
            conversation = pool[index]
            listed = await c.get(f"{CONVERSATIONS}/{conversation}/items", params={"limit": 20})
            listed.raise_for_status()
            appended = await c.post(f"{CONVERSATIONS}/{conversation}/items", json=append_2)
            appended.raise_for_status()

        return call

    def turn(pool: list[str], stream: bool) -> Callable[[httpx.AsyncClient, int], Awaitable[None]]:
        async def call(c: httpx.AsyncClient, index: int) -> None:
            body = {"model": "bench", "input": _TEXT, "conversation": pool[index], "stream": stream}
            if not stream:
                answer = await c.post(RESPONSES, json=body)
                answer.raise_for_status()
                return
            async with c.stream("POST", RESPONSES, json=body) as answer:
                answer.raise_for_status()
                last = b""
                async for chunk in answer.aiter_bytes():
                    last = chunk
                if b"response.completed" not in last:
                    raise RuntimeError("the stream did not complete")

        return call

    direct_body = {
        "model": "bench",
        "messages": [{"role": "user", "content": _TEXT}] * 21,
    }

    async def direct(c: httpx.AsyncClient, index: int) -> None:
        answer = await c.post(upstream_url + "/chat/completions", json=direct_body)
        answer.raise_for_status()

    out: dict[str, Any] = {
        "requests": n,
        "rounds": ROUNDS,
        "concurrency": CONCURRENCY,
        "conversation_items": 20,
    }
    cases = {
        "baseline": baseline(pools[0]),
        "turn": turn(pools[1], False),
        "turn-streamed": turn(pools[2], True),
    }
    for call in cases.values():
        await _load(warm, _shifted(call, n), url)  # the warm-up, on conversations of its own
    per_round = n // ROUNDS
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    latencies: dict[str, list[float]] = {name: [] for name in cases}
    elapsed: dict[str, float] = dict.fromkeys(cases, 0.0)
    for round_ in range(ROUNDS):  # the cases take turns, so that drift hits them alike
        for name, call in cases.items():
            cpu0 = loadgen.cpu_seconds(pids)
            started = time.perf_counter()
            latencies[name] += await _load(per_round, _shifted(call, round_ * per_round), url)
            elapsed[name] += time.perf_counter() - started
            cpu[name].append((loadgen.cpu_seconds(pids) - cpu0) / per_round)
    for name in cases:
        out[name] = {
            "cpu_ms_per_op": 1000 * statistics.median(cpu[name]),
            "p50_ms": 1000 * statistics.median(latencies[name]),
            "p99_ms": 1000 * _percentile(latencies[name], 99),
            "ops_per_s": per_round * ROUNDS / elapsed[name],
        }
    direct_latencies = await _load(n, direct, url)
    out["upstream-direct"] = {
        "p50_ms": 1000 * statistics.median(direct_latencies),
        "p99_ms": 1000 * _percentile(direct_latencies, 99),
    }
    for name in ("turn", "turn-streamed"):
        entry = out[name]
        # Each round's ratio to the baseline of the same round; their median.
        ratios = [t / b for t, b in zip(cpu[name], cpu["baseline"], strict=True)]
        entry["cpu_ratio_to_baseline"] = statistics.median(ratios)
        entry["added_p50_ms"] = entry["p50_ms"] - out["upstream-direct"]["p50_ms"]
        entry["added_p99_ms"] = entry["p99_ms"] - out["upstream-direct"]["p99_ms"]
    return out


def _shifted(
    call: Callable[[httpx.AsyncClient, int], Awaitable[None]], by: int
) -> Callable[[httpx.AsyncClient, int], Awaitable[None]]:
    async def shifted(c: httpx.AsyncClient, index: int) -> None:
        await call(c, index + by)

    return shifted


def render(result: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Responses (issue 17): SQLite, {result['requests']} operations per case "
        f"({result['rounds']} rounds, medians) at "
        f"c={result['concurrency']}, conversations of {result['conversation_items']} items, "
        "a model server that answers at once",
        "",
        "| case | server CPU ms/op | ratio to list-20 + append-2 | p50 ms | p99 ms | "
        "added p50 ms | added p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("baseline", "turn", "turn-streamed"):
        e = result[name]
        ratio = f"{e['cpu_ratio_to_baseline']:.2f}x" if "cpu_ratio_to_baseline" in e else "1"
        added = (
            (f"{e['added_p50_ms']:.1f}", f"{e['added_p99_ms']:.1f}")
            if "added_p50_ms" in e
            else ("", "")
        )
        lines.append(
            f"| {name} | {e['cpu_ms_per_op']:.2f} | {ratio} | {e['p50_ms']:.1f} | "
            f"{e['p99_ms']:.1f} | {added[0]} | {added[1]} |"
        )
    d = result["upstream-direct"]
    lines.append(f"| model server alone | | | {d['p50_ms']:.1f} | {d['p99_ms']:.1f} | | |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.quick)
    print("\n".join(render(result)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
