"""The command line every page generator in scripts/ shares: write the page, or with ``--check``
fail (exit 1) if the committed page differs from what the generator renders now.

Imported by the generators from their ``main`` only: scripts/ is on ``sys.path`` when one of
them runs as a script, not when a test loads it by path to call its ``render``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["write_or_check"]


def write_or_check(
    page: Path,
    render: Callable[[], str],
    script: str,
    argv: Sequence[str] | None,
    summary: str | None = None,
) -> int:
    """``script``'s exit status: the page written (its folder made), or checked. ``summary``:
    the script's docstring, whose first line is its ``--help`` description."""
    parser = argparse.ArgumentParser(description=summary.splitlines()[0] if summary else None)
    parser.add_argument("--check", action="store_true", help="fail if the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = page.read_text(encoding="utf-8") if page.exists() else ""
        if current != text:
            print(f"{page} is stale: run python scripts/{script}", file=sys.stderr)
            return 1
        return 0
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")
    print(f"wrote {page}")
    return 0
