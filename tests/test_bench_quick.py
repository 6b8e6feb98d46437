"""The benchmark harness in quick mode (what ``make bench BENCH_QUICK=1`` runs).

Only that it works: both servers start, every scenario and growth pair runs against both and
yields numbers, and nothing answers an HTTP error. No figure is judged here (timed assertions on
a shared machine would be noise); the real figures are in docs/performance.md. Quick mode always
uses the Python load generator, so this needs neither wrk nor apt.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

SCENARIOS = {
    "create",
    "append-1",
    "append-20",
    "list-20",
    "get-item",
    "chat-turn",
    "list-conversations",
    "list-conversations-metadata",
    "list-conversations-search",
}
GROWTH = {"append-1", "list-20", "list-conversations"}
FIGURES = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")


def _assert_measured(where: str, fig: dict[str, Any]) -> None:
    assert fig["requests"] > 0, f"{where}: no request completed"
    assert fig["status_errors"] == 0, f"{where}: HTTP errors {fig['errors']}"
    for key in FIGURES:
        value = fig[key]
        assert isinstance(value, int | float) and math.isfinite(value), f"{where}: {key}={value!r}"
        assert value > 0, f"{where}: {key}={value!r}"


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

    assert len(result["targets"]) == 7
    assert all(isinstance(t["value"], float) for t in result["targets"])
    # The table is printed too.
    assert "| scenario | ours req/s" in done.stdout
    assert "| growth (ours) |" in done.stdout
