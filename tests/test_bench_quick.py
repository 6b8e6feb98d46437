"""The benchmark harness in quick mode (what ``make bench BENCH_QUICK=1`` runs).

Only that it works: both servers start, every scenario and growth pair runs against both and
yields numbers, and nothing answers an HTTP error; the search-scale queries run at c=16 and c=1
and come with their query plans; and the PostgreSQL runs (our server on a database the harness
creates and drops) yield numbers too, or, where PostgreSQL cannot be reached, are reported as
skipped (never on CI, which always has PostgreSQL). No figure is judged here (timed assertions
on a shared machine would be noise); the real figures are in docs/performance.md. Quick mode
always uses the Python load generator, so this needs neither wrk nor apt.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent

SCENARIOS = {
    "create",
    "append-1",
    "append-20",
    "list-20",
    "get-item",
    "list-20-v1",
    "get-item-v1",
    "chat-turn",
    "list-conversations",
    "list-conversations-metadata",
    "list-conversations-search",
}
GROWTH = {"append-1", "list-20", "list-conversations"}
SEARCH_SCALE = {
    "search-scale-metadata-common",
    "search-scale-metadata-rare",
    "search-scale-search-common",
    "search-scale-search-rare",
}
POSTGRES = {
    "append-1",
    "list-20",
    "get-item",
    "chat-turn",
    "list-conversations",
    "list-conversations-metadata",
    "list-conversations-search",
} | SEARCH_SCALE
FIGURES = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")


def _assert_measured(where: str, fig: dict[str, Any], *, cpu: bool = True) -> None:
    """Numbers, and no error. A one-connection run of 0.2 s may not last one CPU clock tick, so
    its CPU figure may be zero (``cpu=False``)."""
    assert fig["requests"] > 0, f"{where}: no request completed"
    assert fig["status_errors"] == 0, f"{where}: HTTP errors {fig['errors']}"
    for key in FIGURES:
        value = fig[key]
        assert isinstance(value, int | float) and math.isfinite(value), f"{where}: {key}={value!r}"
        assert value > 0 or (key == "cpu_us_per_req" and not cpu), f"{where}: {key}={value!r}"


async def _database_exists(name: str) -> bool:
    url = os.environ.get("MKA1_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def _assert_plans(where: str, plans: dict[str, Any]) -> None:
    assert "error" not in plans, f"{where}: {plans.get('error')}"
    assert plans["store_call"]["median_ms"] > 0, where
    assert plans["statements"], f"{where}: no statement recorded"
    for statement in plans["statements"]:
        assert statement["sql"] and statement["plan"], f"{where}: {statement}"


def test_quick_mode_runs_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    result = json.loads(out.read_text())

    assert result["meta"]["quick"] is True
    assert result["meta"]["connections"] == 16
    assert {s["name"] for s in result["scenarios"]} == SCENARIOS
    for scenario in result["scenarios"]:
        for side in ("ours", "floor"):
            _assert_measured(f"{scenario['name']} ({side})", scenario[side])
        assert scenario["cpu_ratio"] > 0

    assert {g["name"] for g in result["growth"]} == GROWTH
    for entry in result["growth"]:
        assert entry["large_size"] > entry["small_size"]
        for side in ("ours", "floor"):
            for size in ("small", "large"):
                _assert_measured(f"growth {entry['name']}@{size} ({side})", entry[side][size])
            assert entry[side]["p50_ratio"] > 0 and entry[side]["cpu_ratio"] > 0

    assert {s["name"] for s in result["search_scale"]} == SEARCH_SCALE
    for scenario in result["search_scale"]:
        name = scenario["name"]
        for side in ("ours", "floor"):
            _assert_measured(f"{name} ({side})", scenario[side])
        _assert_measured(f"{name} (ours, c=1)", scenario["ours_c1"], cpu=False)
        _assert_plans(f"{name} (SQLite plans)", scenario["plans"])
        # The SQLite plans are EXPLAIN QUERY PLAN lines of the Store's own statements.
        assert any("conversations" in st["sql"] for st in scenario["plans"]["statements"])

    postgres = result["postgres"]
    if postgres["skipped"]:
        # Allowed off CI only, and it must be said.
        assert not os.environ.get("CI"), f"PostgreSQL skipped on CI: {postgres['skipped']}"
        assert "PostgreSQL scenarios SKIPPED" in done.stdout
    else:
        assert "error" not in postgres, postgres.get("error")
        assert {s["name"] for s in postgres["scenarios"]} == POSTGRES
        for scenario in postgres["scenarios"]:
            name = f"{scenario['name']} (PostgreSQL)"
            _assert_measured(name, scenario["ours"])
            if postgres["cpu_counted"]:
                value = scenario["ours"]["postgres_cpu_us_per_req"]
                assert math.isfinite(value) and value >= 0, f"{name}: {value!r}"
            if scenario["name"] in SEARCH_SCALE:
                _assert_measured(f"{name}, c=1", scenario["ours_c1"], cpu=False)
                _assert_plans(name, scenario["plans"])
        assert "| PostgreSQL | req/s" in done.stdout
        # The harness's database is gone.
        assert f"dropped PostgreSQL database {postgres['database']}" in done.stderr
        assert not asyncio.run(_database_exists(postgres["database"]))

    responses = result["responses"]
    assert "error" not in responses, responses
    for case in ("baseline", "turn", "turn-streamed"):
        assert responses[case]["cpu_ms_per_op"] > 0 and responses[case]["p99_ms"] > 0
    assert "## Responses (issue 17)" in done.stdout

    assert len(result["targets"]) == 19
    assert all(isinstance(t["value"], float) for t in result["targets"])
    # The tables are printed too.
    assert "| scenario | ours req/s" in done.stdout
    assert "| growth (ours) |" in done.stdout
    assert "| search-scale | ours req/s" in done.stdout
