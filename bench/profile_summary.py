"""Summarise py-spy's ``--format raw`` output (collapsed stacks: ``frame;frame;… count``).

Without ``--native``, time spent in C (SQLite, msgspec, hashlib) is charged to the Python line
that called it, so a store function's *self* time is mostly SQLite's own work.

    python bench/profile_summary.py bench/results/profile-ours-append-1.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# (substring of the file path, layer name), first match wins.
LAYERS: tuple[tuple[str, str], ...] = (
    ("mka1_conversations/store/", "ours: store (SQL; SQLite's C time lands here)"),
    ("mka1_conversations/domain/items", "ours: item validation + normalisation"),
    ("mka1_conversations/domain/", "ours: domain (service, ids, identity)"),
    ("mka1_conversations/http/", "ours: http (routes, body, auth, request id)"),
    ("mka1_conversations/", "ours: app wiring"),
    ("floor_app", "floor app (its SQL and JSON)"),
    ("starlette/", "Starlette (routing, Request, Response)"),
    ("msgspec", "msgspec"),
    ("asyncio/", "asyncio"),
    ("uvloop", "uvloop"),
    ("granian/", "Granian (Python side)"),
    ("sqlite3/", "sqlite3 module"),
    ("secrets", "stdlib: secrets / ids"),
    ("uuid", "stdlib: uuid (request ids)"),
    ("hashlib", "stdlib: hashlib"),
    ("json/", "stdlib: json"),
)


# Frames every sample shares (process start-up, Granian's worker loop): not worth listing.
_SCAFFOLDING = ("multiprocessing/", "granian/server/", "mka1_conversations/cli.py", "runpy")


def layer_of(path: str) -> str:
    for needle, name in LAYERS:
        if needle in path:
            return name
    return "other (stdlib, …)"


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3", "/bench/"):
        at = path.find(marker)
        if at >= 0:
            rest = path[at + len(marker) :]
            return rest.split("/", 1)[1] if marker == "/lib/python3" and "/" in rest else rest
    return path


def parse(text: str) -> list[tuple[list[tuple[str, str, str]], int]]:
    """[(frames root→leaf as (function, file, line), samples)]"""
    stacks: list[tuple[list[tuple[str, str, str]], int]] = []
    for row in text.splitlines():
        row = row.strip()
        if not row or " " not in row:
            continue
        stack, _, count = row.rpartition(" ")
        if not count.isdigit():
            continue
        frames: list[tuple[str, str, str]] = []
        for part in stack.split(";"):
            match = _FRAME.match(part.strip())
            if (
                match
                and match.group("file")
                and ("/" in match.group("file") or ".py" in match.group("file"))
            ):
                frames.append(
                    (match.group("func"), _short(match.group("file")), match.group("line") or "")
                )
        if frames:
            stacks.append((frames, int(count)))
    return stacks


def summarise(text: str, top: int = 25) -> dict[str, Any]:
    stacks = parse(text)
    total = sum(n for _, n in stacks)
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    self_lines: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    for frames, n in stacks:
        names = {
            f"{func} ({path})"
            for func, path, _ in frames
            if func != "<module>" and not any(x in path for x in _SCAFFOLDING)
        }
        for name in names:
            inclusive[name] += n
        func, path, line = frames[-1]
        self_time[f"{func} ({path})"] += n
        self_lines[f"{func} ({path}:{line})"] += n
        layers[layer_of(path)] += n

    def rows(counter: Counter[str], key: str) -> list[dict[str, Any]]:
        return [
            {key: name, "samples": n, "percent": 100 * n / total if total else 0.0}
            for name, n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "top_inclusive": rows(inclusive, "frame"),
        "top_self": rows(self_time, "frame"),
        "top_self_lines": rows(self_lines, "frame"),
        "layers": rows(layers, "layer"),
    }


def main() -> int:
    summary = summarise(Path(sys.argv[1]).read_text())
    print(f"{summary['samples']} samples")
    for title, key in (
        ("inclusive", "top_inclusive"),
        ("self", "top_self"),
        ("self, by line", "top_self_lines"),
    ):
        print(f"\n{title}:")
        for row in summary[key]:
            print(f"  {row['percent']:5.1f}%  {row['frame']}")
    print("\nself, by layer:")
    for row in summary["layers"]:
        print(f"  {row['percent']:5.1f}%  {row['layer']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
