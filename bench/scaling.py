"""Throughput of append-1 and list-20 through ``serve --workers 2`` on a Citus cluster against
the same load on one plain PostgreSQL (docs/scaling.md).

For each target it makes a database of its own (on Citus: on the coordinator and every worker,
with the ``citus`` extension and the workers registered), migrates it with
``mka1-conversations migrate`` (which distributes the tables on Citus), starts
``serve --workers 2``, fills OWNERS owners with CONVERSATIONS conversations each, then drives
each scenario with ``bench/loadgen.py`` (a closed loop of keep-alive connections, bounded in
time) and prints one JSON object per target and scenario, then drops the database::

    python bench/scaling.py --citus postgresql://postgres@127.0.0.1:5440/postgres

Without ``--citus`` only PostgreSQL is measured. Loopback only; the cluster is given, never built.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KEY, free_port, venv_script

BASE = "/api/v1/llm/conversations"


async def _create_postgres(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def _create_citus(admin_url: str, name: str) -> str:
    admin = await asyncpg.connect(admin_url)
    try:
        workers = await admin.fetch(
            "SELECT nodename, nodeport FROM pg_dist_node "
            "WHERE groupid <> 0 AND noderole = 'primary' AND isactive ORDER BY nodeport"
        )
        await admin.execute("SET citus.enable_create_database_propagation = on")
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(admin_url)
    for host, port in workers:
        worker = await asyncpg.connect(f"postgresql://{parts.username}@{host}:{port}/{name}")
        try:
            await worker.execute("CREATE EXTENSION IF NOT EXISTS citus")
        finally:
            await worker.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        await conn.execute("SELECT citus_set_coordinator_host($1, $2)", parts.hostname, parts.port)
        for host, port in workers:
            await conn.execute("SELECT citus_add_node($1, $2)", host, port)
    finally:
        await conn.close()
    return url


async def _drop(admin_url: str, name: str, citus: bool) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        if citus:
            await conn.execute("SET citus.enable_create_database_propagation = on")
        for _ in range(50):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.ObjectInUseError:
                await asyncio.sleep(0.2)
    finally:
        await conn.close()


def _post(url: str, path: str, user: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {KEY}",
            "X-On-Behalf-Of": user,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def measure(target: str, url: str, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "MKA1_DATABASE_URL": url, "MKA1_API_KEYS": f"{KEY}=bench"}
    subprocess.run([venv_script("mka1-conversations"), "migrate"], env=env, check=True)
    port = free_port()
    log = (folder / f"{target}.log").open("wb")
    server = subprocess.Popen(
        [venv_script("mka1-conversations"), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{target}: the server did not start") from None
                time.sleep(0.2)
        appends, lists = [], []
        for owner in range(args.owners):
            user = f"owner{owner}"
            for n in range(args.conversations):
                created = _post(base, BASE, user, {"items": [_message(f"hello {n}")]})
                body = json.dumps({"items": [_message("one more item")]})
                appends.append(f"POST\t{BASE}/{created['id']}/items\t{user}\t{body}")
            lists.append(f"GET\t{BASE}?limit=20&order=desc\t{user}\t")
        results = []
        for scenario, lines in (("append-1", appends), ("list-20", lists)):
            requests = folder / f"{target}-{scenario}.tsv"
            requests.write_text("\n".join(lines) + "\n")
            out = subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).resolve().parent / "loadgen.py"),
                    "--port",
                    str(port),
                    "--requests",
                    str(requests),
                    "--key",
                    KEY,
                    "--connections",
                    str(args.connections),
                    "--duration",
                    str(args.duration),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            raw = json.loads(out.stdout)
            results.append(
                {
                    "target": target,
                    "scenario": scenario,
                    "requests_per_s": round(raw["requests"] / raw["duration_s"], 1),
                    "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
                    "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
                    "errors": raw["errors"],
                }
            )
        return results
    finally:
        os.killpg(server.pid, 2)
        server.wait(timeout=30)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--citus", default="", help="a database on a Citus coordinator")
    parser.add_argument("--owners", type=int, default=40)
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    targets = [("postgres", args.postgres, False)]
    if args.citus:
        targets.append(("citus", args.citus, True))
    with tempfile.TemporaryDirectory(prefix="mka1-scaling-") as tmp:
        for target, admin_url, citus in targets:
            name = f"mka1_scaling_{uuid.uuid4().hex[:8]}"
            create = _create_citus if citus else _create_postgres
            url = asyncio.run(create(admin_url, name))
            try:
                for result in measure(target, url, args, Path(tmp)):
                    print(json.dumps(result), flush=True)
            finally:
                asyncio.run(_drop(admin_url, name, citus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
