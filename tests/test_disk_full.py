"""SQLite on a full disk (issue 18, finding 8): a write that cannot be stored answers a 503
``storage_full`` in the envelope (it answered 500), nothing of it is kept, reads go on, and
``/readyz`` says the storage is full.

The server runs as its own process with a file-size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored):
the WAL cannot grow past it, which SQLite reports as an I/O error on write, as a full disk
would be ``database or disk is full``; both are storage full.
"""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import httpx

from .conftest import BASE_PATH, KEY_A, auth_headers, migrated_database
from .processes import cli_env, serving

LIMIT = 2 * 1024 * 1024


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_full_disk_answers_503_storage_full_and_readyz_says_so(tmp_path: Path) -> None:
    database = migrated_database(tmp_path)
    env = cli_env(database, MKA1_API_KEYS=f"{KEY_A}=acct")
    with (
        serving("--workers", "1", env=env, preexec_fn=_limit_file_size) as (url, lines),
        httpx.Client(base_url=url, headers=auth_headers(KEY_A), timeout=30) as http,
    ):
        assert http.get("/readyz").status_code == 200
        conversation = http.post(BASE_PATH, json={}).json()["id"]
        stored = 0
        refused = None
        for n in range(200):  # 200 × 20 KB is far past the limit
            items = [{"role": "user", "content": f"{n} " + "y" * 20_000}]
            response = http.post(f"{BASE_PATH}/{conversation}/items", json={"items": items})
            if response.status_code != 200:
                refused = response
                break
            stored += 1
        assert refused is not None, "the file-size limit was never reached"
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_full" and error["type"] == "server_error"
        assert "full" in error["message"]
        assert refused.headers["retry-after"] == "30"
        assert refused.headers["x-should-retry"] == "false"
        # Nothing of the refused request was kept, and reads go on.
        page = http.get(f"{BASE_PATH}/{conversation}/items", params={"limit": 100, "order": "desc"})
        assert page.status_code == 200
        assert page.json()["data"][0]["content"][0]["text"].startswith(f"{stored - 1} ")
        assert http.get(f"{BASE_PATH}/{conversation}").status_code == 200
        # Readiness says why.
        ready = http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["error"]["code"] == "storage_full"
        # Later writes are refused the same way, never with a 500.
        again = http.post(BASE_PATH, json={"items": [{"role": "user", "content": "z" * 30_000}]})
        assert again.status_code == 503 and again.json()["error"]["code"] == "storage_full"
    assert not any("unhandled error" in line for line in lines), "".join(lines)
