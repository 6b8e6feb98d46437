"""The examples in the README and the getting-started guide run as written against a live server
(on both backends): every ``python`` block in a fresh interpreter, every ``sh`` block that calls
the API with curl in bash. They read the key from ``MKA1_KEY`` and the address from ``MKA1_URL``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import KEY_A, RunningServer

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", "docs/getting-started.md"]
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[tuple[str, str]]:
    """``(where, code)`` for each block in ``language``."""
    found = []
    for name in DOCUMENTS:
        path = ROOT / name
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for n, match in enumerate(_BLOCK.finditer(text)):
            if match[1] == language:
                found.append((f"{name}#{n}", match[2]))
    return found


PYTHON = blocks("python")
CURL = [(where, code) for where, code in blocks("sh") if code.lstrip().startswith("curl ")]


def test_the_documents_have_examples() -> None:
    assert any(where.startswith("README.md") for where, _ in PYTHON)
    assert len(PYTHON) >= 2 and CURL


def _env(server: RunningServer) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "MKA1_KEY": KEY_A, "MKA1_URL": server.url}


@pytest.mark.parametrize(("where", "code"), PYTHON, ids=[w for w, _ in PYTHON])
def test_python_example_runs(server: RunningServer, where: str, code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr}"
    assert result.stdout.strip(), f"{where} printed nothing"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(("where", "code"), CURL, ids=[w for w, _ in CURL])
def test_curl_example_runs(server: RunningServer, where: str, code: str) -> None:
    result = subprocess.run(
        ["bash", "-c", code],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr}"
    answer = json.loads(result.stdout)
    assert "error" not in answer, answer
