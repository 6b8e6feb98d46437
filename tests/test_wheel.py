"""The package as a ``pip install`` user gets it, outside the Makefile: the wheel built from this
tree, installed into a fresh virtual environment (its dependencies from the package index), then
plain ``mka1-conversations serve`` in an empty directory, where the default SQLite database does
not exist yet. It sets the database up, prints a development key, answers ``/readyz`` and stores
a conversation created through the MKA1 SDK. Slow (a build and an install): it runs once, not
per backend."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from meetkai_mka1 import SDK

from .processes import serving

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str | Path) -> None:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_installed_wheel_serves_a_new_database(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-w", wheels, "-q")
    [wheel] = wheels.glob("mka1_conversations-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel)

    home = tmp_path / "app"  # an empty directory: the default database is ./data/mka1.db
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MKA1_", "PROMETHEUS_"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    with serving(env=env, command=[str(venv / "bin" / "mka1-conversations")], cwd=home) as (
        url,
        lines,
    ):
        assert httpx.get(url + "/readyz").json() == {"status": "ready"}
        text = "".join(lines)
        key = re.search(r"^\s+(mk-\S+)\s*$", text, re.M)
        assert key, text
        with SDK(bearer_auth=key[1], server_url=url) as sdk:
            created = sdk.llm.conversations.create(
                metadata={"from": "wheel"}, items=[{"role": "user", "content": "hello"}]
            )
            got = sdk.llm.conversations.get(conversation_id=created.id)
        assert got.metadata == {"from": "wheel"}
    assert (home / "data" / "mka1.db").exists()
    assert "created the database" in text
