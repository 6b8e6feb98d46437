"""Helpers to run the real command line in subprocesses: ``migrate``, ``serve`` and friends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from .conftest import free_port

CLI = [sys.executable, "-m", "mka1_conversations"]


def cli_env(database: Path | str, **extra: str) -> dict[str, str]:
    """The environment for the CLI: a SQLite file (a Path) or any database URL (a str)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKA1_")}
    env["MKA1_DATABASE_URL"] = database if isinstance(database, str) else f"sqlite:///{database}"
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@contextmanager
def serving(
    *args: str,
    env: dict[str, str],
    command: Sequence[str] = CLI,
    cwd: Path | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> Iterator[tuple[str, list[str]]]:
    """Start ``serve`` on a free port (with ``command``, the CLI of this interpreter by default);
    yield its URL and its stderr lines so far (live list). ``preexec_fn`` runs in the child
    before it starts (limits, signal dispositions)."""
    port = free_port()
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    lines: list[str] = []
    assert process.stderr is not None
    stderr = process.stderr
    reader = threading.Thread(target=lambda: lines.extend(stderr), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}: {''.join(lines)}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not answer /healthz within 30 s")
            time.sleep(0.1)
        yield url, lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)  # the last lines, up to the pipe's end, are in ``lines``
