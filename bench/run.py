"""The benchmark harness: ``make bench`` (full, a few minutes) or ``make bench BENCH_QUICK=1``.

1. A fresh SQLite file in a temporary folder, migrated with ``mka1-conversations migrate``, then
   loaded directly (``dataset.py``: the project's ``prepare_items`` and the Store's SQL).
2. Two servers on loopback, both on Granian with the same settings, each on its own copy of the
   file: ours (``mka1-conversations serve``) and the floor (``floor_app.py``, raw ASGI).
3. Every scenario, at concurrency 16, against both: a warm-up, then a measured run with wrk
   (``lua/requests.lua``) or the fallback generator (``loadgen.py``), in its own process. The
   server's CPU time (utime + stime of its process tree, from /proc) around the measured run,
   divided by the completed requests, is the figure least disturbed by a noisy machine.
4. Growth: the same operations on small vs large conversations and owners.
5. Search-scale (the search/filter issue's scenario): one owner with 10,000 conversations and
   200,000 items, listed with a common and a rare metadata filter and a common-ish and a rare
   two-word search, at concurrency 16 against both servers and at concurrency 1 against ours;
   with the query plans of the statements the Store issues (``plans.py``).
6. A py-spy profile of the append path (full mode, when py-spy can be had).
7. PostgreSQL (``pg.py``): a database of its own (``mka1_bench_<pid>``, dropped at the end even
   on failure) loaded with the same rows; our server on it, pinned like the SQLite run, runs the
   core scenarios and search-scale. PostgreSQL's own CPU (its processes, from /proc) is counted
   per request too. No floor: the floor is a SQLite app. Quick mode skips PostgreSQL, and says
   so, when the server cannot be reached; a full run requires it (or ``--no-postgres``).
8. Responses (``responses.py``, issue 17): server CPU per model turn (plain and streamed) on a
   20-item conversation against a model server that answers at once, as a ratio to list-20 +
   append-2 in the same run, and the latency a turn adds at c=16.
9. One report on stdout (Markdown), the same data as JSON in ``bench/results/latest.json``.

With two or more cores the servers are pinned to CPU 0 and the load generator to CPU 1
(``taskset``), so that they do not steal from each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dataset
import loadgen
import pg
import plans
import profile_summary
import responses as responses_bench
from dataset import CHANNELS, FULL, QUICK, Dataset, Sizes

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.store import ConversationQuery

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
BASE = "/api/v1/llm/conversations"
#: The same operations on the OpenAI face (issue 16: it must cost what /api/v1/llm costs).
V1_BASE = "/v1/conversations"
KEY = "benchkey"
CONCURRENCY = 16

_WORDS = (
    "Could you check the status of my order from last Tuesday? The tracking page has not "
    "changed in three days and I need the parcel before the weekend."
)
APPEND_1 = {"items": [{"type": "message", "role": "user", "content": _WORDS}]}
APPEND_2 = {
    "items": [
        {"type": "message", "role": "user", "content": _WORDS},
        {
            "type": "message",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "Your parcel left the depot this morning and should arrive tomorrow.",
                    "annotations": [],
                }
            ],
        },
    ]
}


def _batch_20() -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for n in range(5):
        items += [
            {"type": "message", "role": "user", "content": f"{_WORDS} ({n})"},
            {
                "type": "function_call",
                "call_id": f"call_{n}",
                "name": "track_order",
                "arguments": json.dumps({"order_id": f"A-{n:04d}", "verbose": True}),
            },
            {
                "type": "function_call_output",
                "call_id": f"call_{n}",
                "output": json.dumps({"status": "in_transit", "eta": "tomorrow"}),
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "It arrives tomorrow.", "annotations": []}
                ],
            },
        ]
    return {"items": items}


APPEND_20 = _batch_20()
CREATE = {"metadata": {"channel": "support", "tier": "pro"}}


def _body(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _line(method: str, path: str, end_user: str, body: dict[str, Any] | None = None) -> str:
    return "\t".join((method, path, end_user, _body(body) if body is not None else ""))


# --- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    lines: list[str]


@dataclass(frozen=True, slots=True)
class Growth:
    name: str
    what: str
    small_size: int
    large_size: int
    small: Scenario
    large: Scenario


def _items_path(conversation_id: str, base: str = BASE) -> str:
    return f"{base}/{conversation_id}/items"


LIST_20 = "?limit=20&order=desc"


def scenarios(data: Dataset) -> list[Scenario]:
    rng = random.Random(11)
    picks = rng.sample(data.reader_item_ids, min(4_000, len(data.reader_item_ids)))
    s = data.search_owner
    return [
        Scenario(
            "create",
            "create a conversation (2 metadata pairs)",
            [_line("POST", BASE, "u-create", CREATE)],
        ),
        Scenario(
            "append-1",
            "append 1 item",
            [_line("POST", _items_path(c), "u-writer", APPEND_1) for c in data.writer],
        ),
        Scenario(
            "append-20",
            "append a 20-item batch",
            [_line("POST", _items_path(c), "u-writer", APPEND_20) for c in data.writer],
        ),
        Scenario(
            "list-20",
            f"list 20 items (desc) of a {data.sizes.reader_items:,}-item conversation",
            [_line("GET", _items_path(c) + LIST_20, "u-reader") for c in data.reader],
        ),
        Scenario(
            "get-item",
            "get one item",
            [_line("GET", f"{_items_path(c)}/{i}", "u-reader") for c, i in picks],
        ),
        Scenario(
            "list-20-v1",
            "list-20 on the OpenAI face (/v1)",
            [_line("GET", _items_path(c, V1_BASE) + LIST_20, "u-reader") for c in data.reader],
        ),
        Scenario(
            "get-item-v1",
            "get-item on the OpenAI face (/v1)",
            [_line("GET", f"{_items_path(c, V1_BASE)}/{i}", "u-reader") for c, i in picks],
        ),
        Scenario(
            "chat-turn",
            "append 2, then list the last 20 (figures per request)",
            [
                line
                for c in data.writer
                for line in (
                    _line("POST", _items_path(c), "u-writer", APPEND_2),
                    _line("GET", _items_path(c) + LIST_20, "u-writer"),
                )
            ],
        ),
        Scenario(
            "list-conversations",
            f"list 20 conversations of an owner with {data.sizes.search_conversations:,}",
            [_line("GET", BASE + LIST_20, s)],
        ),
        Scenario(
            "list-conversations-metadata",
            "… with a metadata filter (1 pair, 1 in 8 match)",
            [_line("GET", f"{BASE}{LIST_20}&metadata%5Bchannel%5D={ch}", s) for ch in CHANNELS],
        ),
        Scenario(
            "list-conversations-search",
            "… with a two-word search",
            [_line("GET", f"{BASE}{LIST_20}&search={a}+{b}", s) for a, b in data.search_words],
        ),
    ]


SCALE_PREFIX = "search-scale-"


def scale_scenarios(data: Dataset) -> list[Scenario]:
    """The search-scale queries (``dataset.ScaleQuery``), 20 per page, newest first."""
    return [
        Scenario(
            SCALE_PREFIX + q.name,
            q.title,
            [_line("GET", f"{BASE}{LIST_20}&{q.query_string()}", data.scale_owner)],
        )
        for q in data.scale_queries
    ]


def scale_query(data: Dataset, name: str) -> ConversationQuery:
    """The store-level query of a search-scale scenario (what the HTTP layer would build)."""
    q = next(q for q in data.scale_queries if SCALE_PREFIX + q.name == name)
    return ConversationQuery(limit=20, order="desc", metadata=q.metadata, search=q.search)


#: The scenarios PostgreSQL runs, besides search-scale.
POSTGRES_CORE = (
    "append-1",
    "list-20",
    "get-item",
    "chat-turn",
    "list-conversations",
    "list-conversations-metadata",
    "list-conversations-search",
)


def growth(data: Dataset) -> list[Growth]:
    z = data.sizes
    return [
        Growth(
            "append-1",
            "append 1 item to a conversation of N items",
            z.growth_small_items,
            z.growth_large_items,
            Scenario(
                "append-1@small",
                "",
                [
                    _line("POST", _items_path(c), "u-growth", APPEND_1)
                    for c in data.growth_small_pool
                ],
            ),
            Scenario(
                "append-1@large",
                "",
                [_line("POST", _items_path(data.growth_large), "u-growth", APPEND_1)],
            ),
        ),
        Growth(
            "list-20",
            "list 20 items (desc) of a conversation of N items",
            z.growth_small_items,
            z.growth_large_items,
            Scenario(
                "list-20@small",
                "",
                [_line("GET", _items_path(data.growth_small) + LIST_20, "u-growth")],
            ),
            Scenario(
                "list-20@large",
                "",
                [_line("GET", _items_path(data.growth_large) + LIST_20, "u-growth")],
            ),
        ),
        Growth(
            "list-conversations",
            "list 20 conversations (desc) of an owner with N conversations",
            z.owner_small,
            z.owner_large,
            Scenario(
                "list-conversations@small", "", [_line("GET", BASE + LIST_20, data.owner_small)]
            ),
            Scenario(
                "list-conversations@large", "", [_line("GET", BASE + LIST_20, data.owner_large)]
            ),
        ),
    ]


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinning() -> tuple[list[str], list[str]]:
    """(server prefix, load generator prefix): taskset onto CPU 0 and CPU 1 when possible."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return [], []
    return ["taskset", "-c", str(cpus[0])], ["taskset", "-c", str(cpus[1])]


def venv_script(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{self.name} did not answer /healthz in {timeout:.0f}s")
        time.sleep(0.2)  # let Granian finish spawning
        self.pids = loadgen.process_tree(self.process.pid)

    def worker_pid(self) -> int:
        """The busiest process of the tree (Granian's worker, which runs the app)."""
        return max(self.pids, key=lambda pid: loadgen.cpu_seconds([pid]))

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_server(
    name: str, argv: list[str], env: dict[str, str], folder: Path, prefix: list[str]
) -> Server:
    port = free_port()
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*prefix, *argv, "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=folder,
        )
    return Server(name, port, process, log)


def http(server: Server, line: str) -> tuple[int, bytes]:
    method, path, end_user, body = line.split("\t", 3)
    request = urllib.request.Request(
        server.url + path,
        data=body.encode() if body else None,
        method=method,
        headers={"Authorization": f"Bearer {KEY}", "X-On-Behalf-Of": end_user}
        | ({"Content-Type": "application/json"} if body else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# --- load generators ----------------------------------------------------------------------------


def ensure_wrk(allow_install: bool) -> str | None:
    """wrk's path; installs Debian's package when missing and allowed (root + apt-get)."""
    found = shutil.which("wrk")
    if found or not allow_install:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (
        ["apt-get", "install", "-y", "wrk"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "wrk"],
    ):
        print(f"bench: {' '.join(attempt)}", file=sys.stderr)
        try:
            done = subprocess.run(attempt, env=env, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            return None
        if attempt[1] == "install" and done.returncode == 0:
            return shutil.which("wrk")
    return shutil.which("wrk")


@dataclass(frozen=True, slots=True)
class Load:
    kind: str  # "wrk" or "python"
    wrk: str | None
    prefix: list[str]
    warmup: float
    duration: float
    connections: int
    postgres_db: str = ""  # also count the CPU of PostgreSQL's processes for this database

    def run(self, server: Server, scenario: Scenario, folder: Path) -> dict[str, Any]:
        requests = folder / f"{scenario.name}.tsv"
        if not requests.exists():
            requests.write_text("\n".join(scenario.lines) + "\n")
        if self.kind == "wrk":
            return self._wrk(server, requests)
        return self._python(server, requests)

    def _wrk(self, server: Server, requests: Path) -> dict[str, Any]:
        assert self.wrk is not None
        binary: str = self.wrk
        threads = min(1 if self.prefix else 2, self.connections)
        max_per_thread = str(int(self.duration * 100_000))

        def wrk(seconds: float) -> tuple[str, float]:
            argv = [
                *self.prefix, binary, f"-t{threads}", f"-c{self.connections}",
                f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                "-s", str(BENCH / "lua" / "requests.lua"), server.url, "--",
                str(requests), KEY, max_per_thread,
            ]  # fmt: skip
            before = _children_cpu()
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=seconds + 60, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
            return done.stdout, _children_cpu() - before

        if self.warmup > 0:
            wrk(self.warmup)
        pg0 = loadgen.postgres_cpu(self.postgres_db) if self.postgres_db else {}
        cpu0 = loadgen.cpu_seconds(server.pids)
        out, own = wrk(self.duration)
        cpu1 = loadgen.cpu_seconds(server.pids)
        pg1 = loadgen.postgres_cpu(self.postgres_db) if self.postgres_db else {}
        line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
        result: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
        result["server_cpu_s"] = cpu1 - cpu0
        result["loadgen_cpu_s"] = own
        if self.postgres_db:
            result["postgres_cpu_s"] = loadgen.postgres_cpu_between(pg0, pg1)
        return result

    def _python(self, server: Server, requests: Path) -> dict[str, Any]:
        argv = [
            *self.prefix, sys.executable, str(BENCH / "loadgen.py"),
            "--port", str(server.port), "--requests", str(requests), "--key", KEY,
            "--connections", str(self.connections), "--warmup", str(self.warmup),
            "--duration", str(self.duration), "--max-requests", str(int(self.duration * 100_000)),
            "--pids", ",".join(map(str, server.pids)), "--postgres-db", self.postgres_db,
        ]  # fmt: skip
        timeout = self.warmup + self.duration + 60
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"loadgen failed: {done.stderr or done.stdout}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(usage.ru_utime + usage.ru_stime)


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    """The reported figures of one measured run."""
    requests = int(raw["requests"])
    duration = float(raw["duration_s"])
    errors = raw["errors"]
    db: dict[str, float] = {}
    if "postgres_cpu_s" in raw:
        server = raw["server_cpu_s"] / requests * 1e6 if requests else float("nan")
        postgres = raw["postgres_cpu_s"] / requests * 1e6 if requests else float("nan")
        db = {
            "postgres_cpu_us_per_req": postgres,
            "total_cpu_us_per_req": server + postgres,
            "postgres_cpu_util": raw["postgres_cpu_s"] / duration if duration else 0.0,
        }
    return {
        "requests": requests,
        "rps": requests / duration if duration else 0.0,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p90_ms": raw["latency_us"]["p90"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "max_ms": raw["latency_us"]["max"] / 1000,
        "cpu_us_per_req": raw["server_cpu_s"] / requests * 1e6 if requests else float("nan"),
        "server_cpu_util": raw["server_cpu_s"] / duration if duration else 0.0,
        "loadgen_cpu_util": raw["loadgen_cpu_s"] / duration if duration else 0.0,
        "errors": errors,
        "status_errors": int(errors.get("status", 0)),
        "socket_errors": sum(int(v) for k, v in errors.items() if k != "status"),
        **db,
    }


def best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the least CPU per request (the least disturbed one): the server's, plus
    PostgreSQL's when it is counted."""
    usable = [r for r in rounds if r["requests"] > 0] or rounds

    def cost(r: dict[str, Any]) -> float:
        if not r["requests"]:
            return math.inf
        return float(r.get("total_cpu_us_per_req", r["cpu_us_per_req"]))

    return min(usable, key=cost)


# --- profile ------------------------------------------------------------------------------------


def ensure_py_spy() -> str | None:
    found = shutil.which("py-spy") or shutil.which(str(Path(sys.executable).parent / "py-spy"))
    if found:
        return found
    print("bench: pip install py-spy (for the profile)", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    return shutil.which(str(Path(sys.executable).parent / "py-spy")) or shutil.which("py-spy")


def profile(
    py_spy: str, server: Server, scenario: Scenario, load: Load, folder: Path, seconds: int
) -> dict[str, Any]:
    """Sample the server's worker with py-spy while ``scenario`` runs; summarise the stacks."""
    out = folder / f"profile-{server.name}-{scenario.name}.txt"
    sampler = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(server.worker_pid()),
            "--rate",
            "250",
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)
    Load(load.kind, load.wrk, load.prefix, 0, seconds, load.connections).run(
        server, scenario, folder
    )
    try:
        _, err = sampler.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        sampler.kill()
        _, err = sampler.communicate()
    if not out.exists():
        return {"error": (err or b"").decode(errors="replace")[-500:]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(out, RESULTS / out.name)
    summary = profile_summary.summarise(out.read_text())
    summary["raw_file"] = str((RESULTS / out.name).relative_to(ROOT))
    return summary


# --- report -------------------------------------------------------------------------------------


def _ratio(value: float) -> str:
    """A ratio with two decimals, or three significant digits when it is tiny."""
    if isinstance(value, float) and math.isfinite(value) and 0 < value < 0.1:
        return f"{value:.2g}"
    return _f(value, 2)


def _f(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def render(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        f"## Benchmark {meta['date']} "
        f"({'QUICK mode: numbers are meaningless' if meta['quick'] else 'full run'})",
        "",
        f"Load generator: {meta['loadgen']}, {meta['connections']} connections, "
        f"{meta['warmup_s']:g} s warm-up + {meta['duration_s']:g} s measured per run, best of "
        f"{meta['rounds']} round(s) by server CPU/request. Pinning: {meta['pinning']}. "
        f"{meta['cpu']}, {meta['cpus']} CPUs; Python {meta['python']}, SQLite {meta['sqlite']}, "
        f"Granian {meta['granian']}; commit {meta['commit']}. "
        f"Data: {meta['data']['counts']['conversations']:,} "
        f"conversations, {meta['data']['counts']['items']:,} items "
        f"(loaded in {meta['data']['load_seconds']:.0f} s).",
        "",
        "| scenario | ours req/s | ours p50 ms | ours p99 ms | ours CPU µs/req "
        "| floor req/s | floor p50 ms | floor p99 ms | floor CPU µs/req | CPU ours/floor |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in result["scenarios"]:
        o, f = s["ours"], s["floor"]
        lines.append(
            f"| {s['name']}: {s['title']} | {_f(o['rps'], 0)} | {_f(o['p50_ms'], 2)} "
            f"| {_f(o['p99_ms'], 2)} | {_f(o['cpu_us_per_req'], 0)} | {_f(f['rps'], 0)} "
            f"| {_f(f['p50_ms'], 2)} | {_f(f['p99_ms'], 2)} | {_f(f['cpu_us_per_req'], 0)} "
            f"| **{_f(s['cpu_ratio'], 2)}×** |"
        )
    lines += [
        "",
        "| growth (ours) | N small → large | p50 ms small → large | **p50 ratio** "
        "| p99 ms small → large | CPU µs/req small → large | CPU ratio | floor CPU ratio |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for g in result["growth"]:
        o = g["ours"]
        lines.append(
            f"| {g['name']}: {g['what']} | {g['small_size']:,} → {g['large_size']:,} "
            f"| {_f(o['small']['p50_ms'], 2)} → {_f(o['large']['p50_ms'], 2)} "
            f"| **{_f(o['p50_ratio'], 2)}** "
            f"| {_f(o['small']['p99_ms'], 2)} → {_f(o['large']['p99_ms'], 2)} "
            f"| {_f(o['small']['cpu_us_per_req'], 0)} → {_f(o['large']['cpu_us_per_req'], 0)} "
            f"| {_f(o['cpu_ratio'], 2)} | {_f(g['floor']['cpu_ratio'], 2)} |"
        )
    lines += ["", "| target | measured | limit | met |", "|---|--:|--:|:-:|"]
    for t in result["targets"]:
        lines.append(
            f"| {t['target']} | {_f(t['value'], 2)} | {t['limit']:g} "
            f"| {'yes' if t['ok'] else '**no**'} |"
        )
    lines += render_search_scale(result)
    lines += render_postgres(result)
    for name, sides in (result.get("profile") or {}).items():
        for side, summary in sides.items():
            if "top_inclusive" not in summary:
                lines += ["", f"Profile of {name} ({side}): failed: {summary.get('error')}"]
                continue
            lines += [
                "",
                f"Profile of {name} ({side}, py-spy, {summary['samples']} samples), "
                "inclusive, then self time by layer:",
                "",
            ]
            lines += [
                f"    {row['percent']:5.1f}%  {row['frame']}"
                for row in summary["top_inclusive"][:12]
            ]
            lines.append("")
            lines += [f"    {row['percent']:5.1f}%  {row['layer']}" for row in summary["layers"]]
    warnings = result.get("warnings") or []
    if warnings:
        lines += ["", "Warnings:", *[f"- {w}" for w in warnings]]
    return "\n".join(lines) + "\n"


def _store_ms(plan_data: dict[str, Any] | None) -> str:
    call = (plan_data or {}).get("store_call")
    return _f(call["median_ms"], 2) if call else "–"


def render_search_scale(result: dict[str, Any]) -> list[str]:
    rows = result.get("search_scale") or []
    if not rows:
        return []
    meta = result["meta"]
    lines = [
        "",
        f"Search-scale on SQLite: one owner with {meta['data']['sizes']['scale_conversations']:,} "
        f"conversations of {meta['data']['sizes']['scale_items']} items, "
        "`?limit=20&order=desc` plus the filter. c=1: one connection, "
        f"{meta['c1_duration_s']:g} s. Store call: the Store's list_conversations alone, in "
        "process (median). A statement's time is that statement repeated on its own, its pages "
        "cached, so the statements may add up to less than the call.",
        "",
        "| search-scale | ours req/s | ours p50 ms | ours p99 ms | ours CPU µs/req "
        "| **ours p50 ms c=1** | ours p99 ms c=1 | store call ms | floor req/s | floor p50 ms "
        "| floor CPU µs/req | CPU ours/floor |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in rows:
        o, f, c = s["ours"], s["floor"], s["ours_c1"]
        lines.append(
            f"| {s['name'].removeprefix(SCALE_PREFIX)}: {s['title']} | {_f(o['rps'], 0)} "
            f"| {_f(o['p50_ms'], 2)} | {_f(o['p99_ms'], 2)} | {_f(o['cpu_us_per_req'], 0)} "
            f"| **{_f(c['p50_ms'], 2)}** | {_f(c['p99_ms'], 2)} | {_store_ms(s.get('plans'))} "
            f"| {_f(f['rps'], 0)} | {_f(f['p50_ms'], 2)} | {_f(f['cpu_us_per_req'], 0)} "
            f"| **{_ratio(s['cpu_ratio'])}×** |"
        )
    for s in rows:
        lines += render_plans(s["name"], "SQLite", s.get("plans"))
    return lines


def render_plans(name: str, backend: str, plan_data: dict[str, Any] | None) -> list[str]:
    """The statements of one query with their plans, as an indented (code) block."""
    if not plan_data:
        return []
    if "error" in plan_data:
        return ["", f"Plans of {name} ({backend}): failed: {plan_data['error']}"]
    call = plan_data["store_call"]
    lines = [
        "",
        f"Plans of {name} ({backend}): the store call takes {call['median_ms']:.2f} ms "
        f"(median of {call['calls']}, in process); {len(plan_data['statements'])} statements:",
        "",
    ]
    for n, st in enumerate(plan_data["statements"], 1):
        if "median_ms" in st:
            head = f"{st['median_ms']:.2f} ms alone, {st['rows']:,} rows"
        elif st.get("custom_plans") is not None:
            head = (
                f"timed calls ran {st['generic_plans']} generic, {st['custom_plans']} custom plans"
            )
        else:
            head = "plan cache: –"
        lines.append(f"    {n}. [{head}] {st['sql']}")
        if st["params"]:
            lines.append(f"       params: {', '.join(st['params'])}")
        lines += [f"       {row}" for row in st["plan"]]
        if st.get("generic_plan"):
            lines.append(
                "       generic plan (what a connection runs once its plan cache has switched "
                "this statement):"
            )
            lines += [f"       {row}" for row in st["generic_plan"]]
    return lines


def render_postgres(result: dict[str, Any]) -> list[str]:
    pg_result = result.get("postgres") or {}
    if pg_result.get("skipped"):
        return ["", f"PostgreSQL: SKIPPED ({pg_result['skipped']})."]
    if "error" in pg_result:
        return ["", f"PostgreSQL: FAILED ({pg_result['error']})."]
    rows = pg_result.get("scenarios") or []
    if not rows:
        return []
    info = pg_result.get("server", {})
    load = pg_result.get("load", {})
    lines = [
        "",
        f"PostgreSQL {info.get('server_version', '?')} (shared_buffers "
        f"{info.get('shared_buffers', '?')}, synchronous_commit "
        f"{info.get('synchronous_commit', '?')}, jit {info.get('jit', '?')}), database "
        f"{pg_result.get('database')}: {load.get('conversations', 0):,} conversations, "
        f"{load.get('items', 0):,} items copied in {load.get('load_seconds', 0):.0f} s "
        "(COPY, VACUUM ANALYZE). Ours with --workers 1, pinned like the SQLite run; "
        "PostgreSQL's processes are not pinned. No floor (it is a SQLite app). "
        "PostgreSQL CPU: its processes for this database, from /proc"
        + ("" if pg_result.get("cpu_counted", True) else " (NOT visible here: not counted)")
        + ".",
        "",
        "| PostgreSQL | req/s | p50 ms | p99 ms | ours CPU µs/req | PostgreSQL CPU µs/req "
        "| **total CPU µs/req** | SQLite ours CPU µs/req | total ÷ SQLite | p50 ms c=1 "
        "| store call ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in rows:
        o = s["ours"]
        c = s.get("ours_c1") or {}
        total = o.get("total_cpu_us_per_req", float("nan"))
        lines.append(
            f"| {s['name']}: {s['title']} | {_f(o['rps'], 0)} | {_f(o['p50_ms'], 2)} "
            f"| {_f(o['p99_ms'], 2)} | {_f(o['cpu_us_per_req'], 0)} "
            f"| {_f(o.get('postgres_cpu_us_per_req', float('nan')), 0)} | **{_f(total, 0)}** "
            f"| {_f(s['sqlite_ours_cpu_us_per_req'], 0)} "
            f"| {_ratio(total / s['sqlite_ours_cpu_us_per_req'])}× "
            f"| {_f(c.get('p50_ms', float('nan')), 2)} | {_store_ms(s.get('plans'))} |"
        )
    for s in rows:
        lines += render_plans(s["name"], "PostgreSQL, EXPLAIN (ANALYZE, BUFFERS)", s.get("plans"))
    return lines


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    by_name = {s["name"]: s for s in result["scenarios"]}
    grow = {g["name"]: g for g in result["growth"]}
    out: list[dict[str, Any]] = []
    for name in ("append-1", "list-20", "get-item"):
        out.append(_target(f"CPU/request ours ÷ floor, {name}", by_name[name]["cpu_ratio"], 1.5))
    # The OpenAI face costs what the MKA1 face costs (issue 16), ours only, same run.
    for name in ("list-20", "get-item"):
        out.append(
            _target(
                f"CPU/request /v1 ÷ /api/v1/llm, {name}",
                by_name[name + "-v1"]["ours"]["cpu_us_per_req"]
                / by_name[name]["ours"]["cpu_us_per_req"],
                1.1,
            )
        )
    for name in ("append-1", "list-20"):
        g = grow[name]
        out.append(
            _target(
                f"growth p50 {g['large_size']:,} ÷ {g['small_size']:,} items, {name}",
                g["ours"]["p50_ratio"],
                1.3,
            )
        )
    for name in ("append-1", "list-20"):
        out.append(
            _target(f"p99 ms at c={CONCURRENCY}, {name}", by_name[name]["ours"]["p99_ms"], 20)
        )
    # The search/filter issue: p50 under 10 ms for the metadata filter and the search, on SQLite.
    for s in result["search_scale"]:
        short = s["name"].removeprefix(SCALE_PREFIX)
        out.append(_target(f"p50 ms at c=1, search-scale {short}", s["ours_c1"]["p50_ms"], 10))
    for s in result["search_scale"]:
        short = s["name"].removeprefix(SCALE_PREFIX)
        out.append(
            _target(f"p50 ms at c={CONCURRENCY}, search-scale {short}", s["ours"]["p50_ms"], 10)
        )
    # Responses (issue 17): a turn costs at most twice list-20 + append-2, same run.
    turns = result.get("responses") or {}
    for name in ("turn", "turn-streamed"):
        if name in turns:
            out.append(
                _target(
                    f"CPU/op {name} ÷ (list-20 + append-2)", turns[name]["cpu_ratio_to_baseline"], 2
                )
            )
    return out


def _target(what: str, value: float, limit: float) -> dict[str, Any]:
    return {"target": what, "value": value, "limit": limit, "ok": bool(value <= limit)}


# --- main ---------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    git = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "commit": git.stdout.strip() or "unknown",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "granian": version("granian"),
        "starlette": version("starlette"),
        "msgspec": version("msgspec"),
        "cpu": cpu,
    }


def migrate(url: str) -> None:
    env = {**os.environ, "MKA1_DATABASE_URL": url}
    subprocess.run(
        [venv_script("mka1-conversations"), "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextlib.contextmanager
def servers(folder: Path, database: Path, prefix: list[str]) -> Iterator[tuple[Server, Server]]:
    floor_db = folder / "floor.db"
    shutil.copy(database, floor_db)
    ours = start_server(
        "ours",
        [venv_script("mka1-conversations"), "serve"],
        {"MKA1_API_KEYS": f"{KEY}=bench", "MKA1_DATABASE_URL": f"sqlite:///{database}"},
        folder,
        prefix,
    )
    floor = start_server(
        "floor",
        [sys.executable, str(BENCH / "floor_app.py")],
        {"FLOOR_DATABASE": str(floor_db), "PYTHONPATH": str(BENCH)},
        folder,
        prefix,
    )
    try:
        ours.wait_ready()
        floor.wait_ready()
        yield ours, floor
    finally:
        ours.stop()
        floor.stop()


@contextlib.contextmanager
def postgres_server(folder: Path, dsn: str, prefix: list[str]) -> Iterator[Server]:
    """Ours on PostgreSQL: one worker, pinned like the SQLite run."""
    server = start_server(
        "ours-pg",
        [venv_script("mka1-conversations"), "serve", "--workers", "1"],
        {"MKA1_API_KEYS": f"{KEY}=bench", "MKA1_DATABASE_URL": dsn},
        folder,
        prefix,
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def preflight(servers_: Sequence[Server], all_scenarios: Sequence[Scenario]) -> None:
    """Every scenario's first requests answer 2xx on both servers (a broken scenario fails here)."""
    for scenario in all_scenarios:
        for line in scenario.lines[:2]:
            for server in servers_:
                status, body = http(server, line)
                if not 200 <= status < 300:
                    raise RuntimeError(
                        f"preflight {scenario.name} on {server.name}: {status} {body[:300]!r}"
                    )


Runs = dict[tuple[str, str], list[dict[str, Any]]]


def run_plan(
    plan: Sequence[Scenario],
    servers_: Sequence[Server],
    load: Load,
    rounds: int,
    folder: Path,
    runs: Runs,
    *,
    tag: str = "",
) -> None:
    """Every scenario of ``plan`` against every server, ``rounds`` times, interleaved; each
    measured run is appended to ``runs[(scenario, server + tag)]``."""
    for round_ in range(rounds):
        for scenario in plan:
            for server in servers_:
                fig = figures(load.run(server, scenario, folder))
                runs.setdefault((scenario.name, server.name + tag), []).append(fig)
                print(
                    f"bench: round {round_ + 1}/{rounds} {scenario.name:<30} "
                    f"{server.name + tag:<10} "
                    f"{fig['rps']:8.0f} req/s  p50 {fig['p50_ms']:7.2f} ms  "
                    f"p99 {fig['p99_ms']:7.2f} ms  {fig['cpu_us_per_req']:6.0f} µs CPU/req"
                    + (
                        f" + {fig['postgres_cpu_us_per_req']:.0f} µs PostgreSQL"
                        if "postgres_cpu_us_per_req" in fig
                        else ""
                    )
                    + (
                        f"  errors {fig['errors']}"
                        if fig["status_errors"] or fig["socket_errors"]
                        else ""
                    ),
                    file=sys.stderr,
                )


def c1_load(load: Load, quick: bool) -> Load:
    """One connection: the latency of a request on an otherwise idle server."""
    duration = load.duration if quick else 3.0
    return dataclasses.replace(load, connections=1, duration=duration)


def sqlite_plans(database: Path, data: Dataset, warnings: list[str]) -> dict[str, Any]:
    """Per search-scale scenario: the SQLite Store's statements, plans and timings."""
    owner = Owner(dataset.ACCOUNT, data.scale_owner)
    out: dict[str, Any] = {}
    for scenario in scale_scenarios(data):
        try:
            out[scenario.name] = plans.sqlite_plans(
                database, owner, scale_query(data, scenario.name)
            )
        except Exception as exc:  # a report, not a crash, if src/ changed
            out[scenario.name] = {"error": f"{type(exc).__name__}: {exc}"}
            warnings.append(f"plans of {scenario.name} (SQLite) failed: {exc}")
    return out


def postgres_plans(dsn: str, data: Dataset, warnings: list[str]) -> dict[str, Any]:
    """Per search-scale scenario: the PostgreSQL Store's statements and plans, captured on one
    connection in the benchmark's order (see plans.postgres_plans)."""
    owner = Owner(dataset.ACCOUNT, data.scale_owner)
    queries = [(s.name, scale_query(data, s.name)) for s in scale_scenarios(data)]
    try:
        return asyncio.run(plans.postgres_plans(dsn, owner, queries))
    except Exception as exc:  # a report, not a crash, if src/ changed
        warnings.append(f"plans of search-scale (PostgreSQL) failed: {exc}")
        return {name: {"error": f"{type(exc).__name__}: {exc}"} for name, _ in queries}


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so that servers stop and the PostgreSQL database is dropped."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the service against a raw-ASGI floor.")
    parser.add_argument("--quick", action="store_true", help="tiny data and runs (CI smoke test)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--duration", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run")
    parser.add_argument("--rounds", type=int, help="rounds of every run (best is reported)")
    parser.add_argument("--connections", type=int, default=CONCURRENCY)
    parser.add_argument("--out", type=Path, help="JSON output (default bench/results/latest.json)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MKA1_BENCH_POSTGRES", pg.ADMIN_URL),
        help="PostgreSQL admin URL; the run creates and drops its own database there "
        f"(default $MKA1_BENCH_POSTGRES or {pg.ADMIN_URL})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)

    quick = bool(args.quick)
    sizes: Sizes = QUICK if quick else FULL
    duration = args.duration or (0.2 if quick else 4.0)
    warmup = args.warmup if args.warmup is not None else (0.05 if quick else 1.0)
    rounds = args.rounds or (1 if quick else 2)
    out = args.out or RESULTS / ("latest-quick.json" if quick else "latest.json")
    kind = "python" if (quick and args.loadgen == "auto") else args.loadgen
    wrk = None
    if kind in ("auto", "wrk"):
        wrk = ensure_wrk(allow_install=True)
        if wrk is None:
            if kind == "wrk":
                print("bench: wrk is not available", file=sys.stderr)
                return 2
            print("bench: wrk unavailable, using the Python load generator", file=sys.stderr)
        kind = "wrk" if wrk else "python"
    if kind == "wrk":
        duration, warmup = float(max(1, round(duration))), float(round(warmup))
    server_prefix, load_prefix = ([], []) if args.no_pin else pinning()
    load = Load(kind, wrk, load_prefix, warmup, duration, args.connections)
    warnings: list[str] = []
    problems: list[str] = []
    started = time.monotonic()
    versions = _versions()  # before the servers start: the code they run

    skipped: str | None = "--no-postgres was given" if args.no_postgres else None
    if skipped is None:
        why = pg.unreachable(args.postgres)
        if why is not None:
            skipped = f"PostgreSQL at {pg.where(args.postgres)} is unreachable ({why})"
            if not quick:
                print(
                    f"bench: {skipped}; a full run needs it (or pass --no-postgres)",
                    file=sys.stderr,
                )
                return 2
    if skipped is not None:
        notice = f"bench: PostgreSQL scenarios SKIPPED: {skipped}"
        print(notice)
        print(notice, file=sys.stderr)
        warnings.append(f"PostgreSQL scenarios skipped: {skipped}")

    folder = Path(tempfile.mkdtemp(prefix="mka1-bench-"))
    try:
        database = folder / "bench.db"
        migrate(f"sqlite:///{database}")
        print(f"bench: loading data into {database} …", file=sys.stderr)
        data = dataset.load(database, sizes)
        print(
            f"bench: {data.counts['conversations']:,} conversations, "
            f"{data.counts['items']:,} items in {data.load_seconds:.1f}s",
            file=sys.stderr,
        )
        main_scenarios = scenarios(data)
        scale = scale_scenarios(data)
        grow = growth(data)
        runs: Runs = {}
        prof: dict[str, Any] = {}
        postgres: dict[str, Any] = {"skipped": skipped}
        with contextlib.ExitStack() as stack:
            dsn = ""
            if skipped is None:
                # Loaded before the SQLite servers run: the same rows, before any append.
                postgres["server"] = pg.server_info(args.postgres)
                stale = pg.stale_databases(args.postgres)
                if stale:
                    warnings.append(
                        f"PostgreSQL holds benchmark databases of other runs: {', '.join(stale)}"
                    )
                dsn = stack.enter_context(pg.database(args.postgres))
                postgres["database"] = dsn.rsplit("/", 1)[1]
                migrate(dsn)
                print(f"bench: copying the data into PostgreSQL {dsn} …", file=sys.stderr)
                postgres["load"] = pg.load_from_sqlite(dsn, database)
                print(
                    f"bench: PostgreSQL loaded in {postgres['load']['load_seconds']:.1f}s "
                    "(COPY, VACUUM ANALYZE)",
                    file=sys.stderr,
                )
            sqlite_plan_data = sqlite_plans(database, data, warnings)

            with servers(folder, database, server_prefix) as (ours, floor):
                preflight(
                    (ours, floor),
                    [
                        *main_scenarios,
                        *scale,
                        *(s for g in grow for s in (g.small, g.large) if "append" not in s.name),
                    ],
                )
                plan: list[Scenario] = []
                for g in grow:  # lists before appends: appends grow the conversations
                    plan += [g.small, g.large] if "list" in g.name else []
                plan += main_scenarios
                plan += scale
                plan += [s for g in grow if "append" in g.name for s in (g.small, g.large)]
                run_plan(plan, (ours, floor), load, rounds, folder, runs)
                run_plan(scale, (ours,), c1_load(load, quick), 1, folder, runs, tag="@c1")
                if not quick and not args.no_profile:
                    py_spy = ensure_py_spy()
                    if py_spy is None:
                        warnings.append("py-spy unavailable: no profile")
                    else:
                        for name in ("append-1", "list-20"):
                            scenario = next(s for s in main_scenarios if s.name == name)
                            for server in (ours, floor):
                                prof.setdefault(name, {})[server.name] = profile(
                                    py_spy, server, scenario, load, folder, 6
                                )

            if skipped is None:
                try:
                    postgres.update(
                        postgres_phase(
                            dsn,
                            folder,
                            data,
                            main_scenarios,
                            scale,
                            load,
                            rounds,
                            quick,
                            server_prefix,
                            runs,
                            warnings,
                        )
                    )
                except Exception as exc:  # keep the SQLite results; report it
                    traceback.print_exc()
                    postgres["error"] = f"{type(exc).__name__}: {exc}"
                    problems.append(f"PostgreSQL phase failed: {postgres['error']}")

        def pick(name: str, server: str) -> dict[str, Any]:
            chosen = best(runs[(name, server)])
            return {**chosen, "rounds": runs[(name, server)]}

        result: dict[str, Any] = {
            "meta": {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "quick": quick,
                "loadgen": "wrk " + _wrk_version(wrk)
                if kind == "wrk"
                else "bench/loadgen.py (Python)",
                "connections": args.connections,
                "warmup_s": warmup,
                "duration_s": duration,
                "c1_duration_s": c1_load(load, quick).duration,
                "rounds": rounds,
                "pinning": (
                    f"server {' '.join(server_prefix)}, load generator {' '.join(load_prefix)}"
                    if server_prefix
                    else "none"
                ),
                "cpus": os.cpu_count(),
                "data": data.to_json(),
                **versions,
            },
            "scenarios": [],
            "growth": [],
            "search_scale": [],
        }
        for s in main_scenarios:
            o, f = pick(s.name, "ours"), pick(s.name, "floor")
            result["scenarios"].append(
                {
                    "name": s.name,
                    "title": s.title,
                    "ours": o,
                    "floor": f,
                    "cpu_ratio": o["cpu_us_per_req"] / f["cpu_us_per_req"],
                }
            )
        for g in grow:
            entry: dict[str, Any] = {
                "name": g.name,
                "what": g.what,
                "small_size": g.small_size,
                "large_size": g.large_size,
            }
            for side in ("ours", "floor"):
                small, large = pick(g.small.name, side), pick(g.large.name, side)
                entry[side] = {
                    "small": small,
                    "large": large,
                    "p50_ratio": large["p50_ms"] / small["p50_ms"],
                    "p99_ratio": large["p99_ms"] / small["p99_ms"],
                    "cpu_ratio": large["cpu_us_per_req"] / small["cpu_us_per_req"],
                }
            result["growth"].append(entry)
        queries = {SCALE_PREFIX + q.name: q for q in data.scale_queries}
        for s in scale:
            o, f = pick(s.name, "ours"), pick(s.name, "floor")
            result["search_scale"].append(
                {
                    "name": s.name,
                    "title": s.title,
                    "query": queries[s.name].to_json(),
                    "ours": o,
                    "floor": f,
                    "ours_c1": pick(s.name, "ours@c1"),
                    "cpu_ratio": o["cpu_us_per_req"] / f["cpu_us_per_req"],
                    "plans": sqlite_plan_data.get(s.name, {}),
                }
            )
        if "runs" in postgres:
            postgres["scenarios"] = []
            sqlite_ours = {
                e["name"]: e["ours"] for e in [*result["scenarios"], *result["search_scale"]]
            }
            for s, c1, plan_data in postgres.pop("runs"):
                row: dict[str, Any] = {
                    "name": s.name,
                    "title": s.title,
                    "ours": pick(s.name, "ours-pg"),
                    "sqlite_ours_cpu_us_per_req": sqlite_ours[s.name]["cpu_us_per_req"],
                }
                if c1:
                    row["ours_c1"] = pick(s.name, "ours-pg@c1")
                if plan_data is not None:
                    row["plans"] = plan_data
                postgres["scenarios"].append(row)
        result["postgres"] = postgres
        print("bench: Responses (issue 17) …", file=sys.stderr)
        try:
            result["responses"] = responses_bench.measure(quick)
        except Exception as exc:  # reported, and the rest of the run still counts
            result["responses"] = {"error": f"{type(exc).__name__}: {exc}"}
            warnings.append(f"Responses scenario failed: {exc}")
        result["targets"] = targets(result)
        result["profile"] = prof
        problems += check(result)
        for fig_name, fig in _all_figures(result):
            if fig["loadgen_cpu_util"] > 0.9:
                warnings.append(
                    f"{fig_name}: load generator near saturation "
                    f"({fig['loadgen_cpu_util']:.0%} CPU)"
                )
            if fig["socket_errors"]:
                warnings.append(f"{fig_name}: socket errors {fig['errors']}")
        result["warnings"] = warnings + problems
        result["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_clean(result), indent=2, allow_nan=False))
        print(render(result))
        if "error" not in result["responses"]:
            print("\n".join(responses_bench.render(result["responses"])))
        print(f"bench: {result['meta']['elapsed_s']} s; JSON in {out}", file=sys.stderr)
        return 1 if problems else 0
    finally:
        if args.keep:
            print(f"bench: kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def postgres_phase(
    dsn: str,
    folder: Path,
    data: Dataset,
    main_scenarios: Sequence[Scenario],
    scale: Sequence[Scenario],
    load: Load,
    rounds: int,
    quick: bool,
    prefix: list[str],
    runs: Runs,
    warnings: list[str],
) -> dict[str, Any]:
    """Ours on PostgreSQL: the core scenarios and search-scale at c=16, search-scale at c=1,
    then (server stopped) the plans of search-scale. Returns what goes into the report."""
    name = dsn.rsplit("/", 1)[1]
    core = [s for s in main_scenarios if s.name in POSTGRES_CORE]
    visible = bool(loadgen.postgres_cpu(name))
    if not visible:
        warnings.append(
            "PostgreSQL's processes are not visible in /proc (another host or container): "
            "its CPU per request is not counted"
        )
    pg_load = dataclasses.replace(load, postgres_db=name if visible else "")
    with postgres_server(folder, dsn, prefix) as server:
        visible = visible and bool(loadgen.postgres_cpu(name))
        preflight((server,), [*core, *scale])
        run_plan([*core, *scale], (server,), pg_load, rounds, folder, runs)
        run_plan(scale, (server,), c1_load(pg_load, quick), 1, folder, runs, tag="@c1")
    plan_data = postgres_plans(dsn, data, warnings)
    return {
        "cpu_counted": visible,
        "runs": [(s, False, None) for s in core] + [(s, True, plan_data[s.name]) for s in scale],
    }


def _all_figures(result: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for s in result["scenarios"]:
        yield f"{s['name']} (ours)", s["ours"]
        yield f"{s['name']} (floor)", s["floor"]
    for g in result["growth"]:
        for server in ("ours", "floor"):
            for size in ("small", "large"):
                yield f"growth {g['name']}@{size} ({server})", g[server][size]
    for s in result["search_scale"]:
        yield f"{s['name']} (ours)", s["ours"]
        yield f"{s['name']} (floor)", s["floor"]
        yield f"{s['name']} (ours, c=1)", s["ours_c1"]
    for s in result["postgres"].get("scenarios") or []:
        yield f"{s['name']} (ours on PostgreSQL)", s["ours"]
        if "ours_c1" in s:
            yield f"{s['name']} (ours on PostgreSQL, c=1)", s["ours_c1"]


def check(result: dict[str, Any]) -> list[str]:
    """What makes a run invalid: a scenario with no requests, HTTP errors, or no numbers."""
    problems: list[str] = []
    for name, fig in _all_figures(result):
        if fig["requests"] <= 0:
            problems.append(f"{name}: no request completed")
        if fig["status_errors"]:
            problems.append(f"{name}: {fig['status_errors']} HTTP error responses")
        for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req"):
            value = fig[key]
            if not isinstance(value, int | float) or not math.isfinite(value):
                problems.append(f"{name}: {key} is not a number ({value!r})")
    return problems


def _clean(value: Any) -> Any:
    """JSON has no NaN: a missing number is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _wrk_version(wrk: str | None) -> str:
    if wrk is None:
        return ""
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" [")[0].removeprefix("wrk ") if first else ""


if __name__ == "__main__":
    raise SystemExit(main())
