"""The fallback load generator: a closed loop of N keep-alive HTTP/1.1 connections, in its own
process, used when ``wrk`` is not available (and always in quick mode, so CI needs no apt).

It replays a requests file (one ``METHOD<TAB>PATH<TAB>END_USER<TAB>BODY`` per line, the same file
the wrk Lua script reads) round-robin, runs a warm-up, then measures for ``--duration`` seconds or
``--max-requests`` responses, whichever comes first. Around the measured phase it reads the CPU
time of the server processes (``--pids``) from /proc (and, with ``--postgres-db``, of the
PostgreSQL processes working for that database), and prints one JSON object::

    python bench/loadgen.py --port 8000 --requests r.tsv --key K --pids 12,13 --duration 5

The client is a bare asyncio Protocol (uvloop when installed): no HTTP library, a few tens of
microseconds of CPU per request, far below what the server spends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

_TICK = os.sysconf("SC_CLK_TCK")


# --- /proc --------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may contain spaces) start at field 3 (state).
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the given processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # stat fields 14 and 15
    return ticks / _TICK


def postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds (utime + stime) of each PostgreSQL process working for ``database``: every
    process whose command name starts with "postgres" (the postmaster, the checkpointer, the
    WAL writer, …), except client backends of *other* databases, so that another user of the
    same server is not charged to the benchmark. A client backend's title is
    ``postgres: [cluster: ]user database host(port) state``.

    Under the key ``-pid``, each process's reaped children (cutime + cstime): for the postmaster,
    the whole CPU of every backend and parallel worker that has exited. Parallel workers live
    for one query, between two readings, so without this their CPU would be lost (the price: a
    backend of another database that exits during a run is counted)."""
    out: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
            if not comm.startswith("postgres"):
                continue
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        words = title.split()
        hosts = [n for n, w in enumerate(words) if w == "[local]" or (w.endswith(")") and "(" in w)]
        if hosts and hosts[0] >= 1 and words[hosts[0] - 1] != database:
            continue  # a client backend of another database
        fields = _stat_fields(int(entry))
        if fields is not None:
            out[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
            out[-int(entry)] = (int(fields[13]) + int(fields[14])) / _TICK  # stat 16, 17
    return out


def postgres_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds PostgreSQL spent between two ``postgres_cpu`` readings. A process started in
    between counts from zero; one that ended in between has moved, with all its CPU, into its
    parent's reaped-children time, so the difference of the totals is exact (up to a reaping
    delay of a few milliseconds at either end of the window)."""
    return sum(after.values()) - sum(before.values())


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return sorted(out)


# --- requests -----------------------------------------------------------------------------------


def read_requests(path: Path, host: str, key: str) -> list[bytes]:
    """The requests file as ready-to-send HTTP/1.1 requests."""
    out: list[bytes] = []
    for line in path.read_text().splitlines():
        if not line:
            continue
        method, target, end_user, body = line.split("\t", 3)
        head = [
            f"{method} {target} HTTP/1.1",
            f"Host: {host}",
            f"Authorization: Bearer {key}",
            f"X-On-Behalf-Of: {end_user}",
        ]
        if body:
            head += ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"]
        out.append(("\r\n".join(head) + "\r\n\r\n" + body).encode())
    return out


@dataclass(slots=True)
class Stats:
    latencies_ns: list[int] = field(default_factory=list)
    status_errors: int = 0
    read_errors: int = 0
    connect_errors: int = 0


class Run:
    """Shared state of one run: the request cycle, the phase, the stop conditions."""

    def __init__(self, requests: list[bytes], max_requests: int) -> None:
        self.requests = requests
        self.next = 0
        self.max_requests = max_requests
        self.measuring = False
        self.stopping = False
        self.stats = Stats()
        self.done = asyncio.get_running_loop().create_future()
        self.open = 0

    def take(self) -> bytes:
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        return request

    def finished(self, latency_ns: int, status: int) -> None:
        if not self.measuring:
            return
        self.stats.latencies_ns.append(latency_ns)
        if status > 399:
            self.stats.status_errors += 1
        if len(self.stats.latencies_ns) >= self.max_requests:
            self.stopping = True

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


class Client(asyncio.Protocol):
    """One keep-alive connection: send, wait for the whole response, send the next."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.sent_at = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.run.stopping:
            self.transport.close()
            return
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.run.take())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            size = _response_size(self.buffer)
            if size is None:
                return
            status = int(self.buffer[9:12])
            del self.buffer[:size]
            self.run.finished(time.perf_counter_ns() - self.sent_at, status)
            self._send()
            if self.run.stopping:
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or not self.run.stopping:
            self.run.stats.read_errors += 1
        self.run.closed()


def _response_size(buffer: bytearray) -> int | None:
    """The length of the first complete response in ``buffer``, or None if incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    start = end + 4
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        return start + length if len(buffer) >= start + length else None
    if b"transfer-encoding: chunked" in head:
        position = start
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            chunk = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2 + chunk + 2
            if len(buffer) < position:
                return None
            if chunk == 0:
                return position
    return start


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index] / 1000


async def drive(
    host: str,
    port: int,
    requests: list[bytes],
    *,
    connections: int,
    warmup: float,
    duration: float,
    max_requests: int,
    pids: Sequence[int],
    postgres_db: str = "",
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = Run(requests, max_requests)
    for _ in range(connections):
        try:
            await loop.create_connection(lambda: Client(run), host, port)
            run.open += 1
        except OSError:
            run.stats.connect_errors += 1
    if run.open == 0:
        raise SystemExit(f"loadgen: cannot connect to {host}:{port}")
    await asyncio.sleep(warmup)
    run.measuring = True
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    pg0 = postgres_cpu(postgres_db) if postgres_db else {}
    cpu0 = cpu_seconds(pids)
    started = time.perf_counter()
    deadline = started + duration
    while not run.stopping and time.perf_counter() < deadline:  # noqa: ASYNC110 (polls 2 ends)
        await asyncio.sleep(min(0.02, max(0.0, deadline - time.perf_counter())))
    elapsed = time.perf_counter() - started
    cpu1 = cpu_seconds(pids)
    pg1 = postgres_cpu(postgres_db) if postgres_db else {}
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    count = len(run.stats.latencies_ns)
    run.measuring = False
    run.stopping = True
    try:
        await asyncio.wait_for(asyncio.shield(run.done), timeout=5)
    except TimeoutError:
        run.stats.read_errors += run.open
    lat = sorted(run.stats.latencies_ns[:count])
    own = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {
        "requests": count,
        "duration_s": elapsed,
        "latency_us": {
            "p50": _percentile(lat, 50),
            "p90": _percentile(lat, 90),
            "p99": _percentile(lat, 99),
            "max": lat[-1] / 1000 if lat else float("nan"),
            "mean": sum(lat) / len(lat) / 1000 if lat else float("nan"),
        },
        "errors": {
            "status": run.stats.status_errors,
            "connect": run.stats.connect_errors,
            "read": run.stats.read_errors,
            "timeout": 0,
        },
        "server_cpu_s": cpu1 - cpu0,
        "loadgen_cpu_s": own,
        **({"postgres_cpu_s": postgres_cpu_between(pg0, pg1)} if postgres_db else {}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--pids", default="", help="comma-separated server pids to account")
    parser.add_argument("--postgres-db", default="", help="also account PostgreSQL's CPU")
    args = parser.parse_args(argv)
    pids = [int(p) for p in args.pids.split(",") if p]
    requests = read_requests(args.requests, f"{args.host}:{args.port}", args.key)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    result = runner(
        drive(
            args.host,
            args.port,
            requests,
            connections=args.connections,
            warmup=args.warmup,
            duration=args.duration,
            max_requests=args.max_requests,
            pids=pids,
            postgres_db=args.postgres_db,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
