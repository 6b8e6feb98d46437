"""API keys as an operator meets them: ``keys create | list | revoke`` on both backends, a revoked
key refused by every running server process within ``MKA1_KEY_CACHE_SECONDS``, and last use
recorded off the request path. The key ring's own rules: tests/http/test_keyring.py."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from mka1_conversations.domain.keys import hash_key

from .conftest import BASE_PATH, fresh_database, migrated_database
from .processes import cli_env, run_cli, serving

KEY_ID = re.compile(r"^[0-9a-f]{12}$")


def _create(env: dict[str, str], account: str, name: str) -> str:
    created = run_cli("keys", "create", "--account", account, "--name", name, env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def _listed(env: dict[str, str]) -> list[list[str]]:
    listed = run_cli("keys", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "ACCOUNT", "NAME", "CREATED", "LAST", "USED", "REVOKED"]
    return [row.split() for row in rows]


def _get(url: str, key: str) -> int:
    # A new connection each time: with several workers, requests spread over the processes.
    with httpx.Client(timeout=30) as client:
        response = client.get(url + BASE_PATH, headers={"Authorization": f"Bearer {key}"})
    return response.status_code


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_keys_list_shows_ids_accounts_and_times_never_keys(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        env = cli_env(url)
        first = _create(env, "team-a", "ci")
        second = _create(env, "team-b", "")
        rows = sorted(_listed(env), key=lambda r: r[1])  # oldest first; same second: any order
        assert [(r[1], r[2]) for r in rows] == [("team-a", "ci"), ("team-b", "-")]
        assert [r[0] for r in rows] == [hash_key(first)[:12], hash_key(second)[:12]]
        for row in rows:
            assert KEY_ID.match(row[0])
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[3])
            assert row[4:] == ["-", "-"]  # never used, not revoked
        listing = run_cli("keys", "list", env=env)
        assert first not in listing.stdout + listing.stderr
        assert second not in listing.stdout + listing.stderr

        revoked = run_cli("keys", "revoke", rows[0][0], env=env)
        assert revoked.returncode == 0, revoked.stderr
        after = sorted(_listed(env), key=lambda r: r[1])
        assert re.fullmatch(r"\d{4}-.*Z", after[0][5]) and after[1][5] == "-"
        again = run_cli("keys", "revoke", rows[0][0], env=env)
        assert again.returncode == 1 and "nothing was revoked" in again.stderr


def test_keys_revoke_refuses_what_is_not_a_key_id(tmp_path: Path) -> None:
    env = cli_env(migrated_database(tmp_path))
    key = _create(env, "team-a", "ci")
    for wrong in (key, "abc", "zzzzzzzzzzzz", "0" * 12):
        result = run_cli("keys", "revoke", wrong, env=env)
        assert result.returncode == 1, wrong
        assert "nothing was revoked" in result.stderr or "hex digits" in result.stderr
        assert key not in result.stderr
    assert _listed(env)[0][5] == "-"


@pytest.mark.parametrize(
    ("backend", "workers"), [("sqlite", "1"), ("postgres", "2")], ids=["sqlite", "postgres-2"]
)
def test_a_revoked_key_is_refused_by_every_process_within_the_cache_bound(
    backend: str, workers: str, tmp_path: Path
) -> None:
    cache_seconds = 1.0
    with fresh_database(backend, tmp_path) as url:
        env = cli_env(url, MKA1_KEY_CACHE_SECONDS=str(cache_seconds))
        key = _create(env, "team-a", "doomed")
        keeper = _create(env, "team-a", "kept")
        with serving("--workers", workers, env=env) as (base, _lines):
            # Warm every process's cache with the key.
            assert [_get(base, key) for _ in range(12)] == [200] * 12
            key_id = next(r[0] for r in _listed(env) if r[2] == "doomed")
            assert run_cli("keys", "revoke", key_id, env=env).returncode == 0
            time.sleep(cache_seconds + 0.5)  # the documented bound, plus slack
            assert [_get(base, key) for _ in range(12)] == [401] * 12
            assert [_get(base, keeper) for _ in range(4)] == [200] * 4


def test_last_use_is_recorded_and_survives_shutdown(tmp_path: Path) -> None:
    env = cli_env(migrated_database(tmp_path))
    key = _create(env, "team-a", "ci")
    _create(env, "team-a", "idle")
    before = int(time.time())
    with serving(env=env) as (base, _lines):
        assert _get(base, key) == 200
        assert _get(base, key) == 200
    # Written by the background recorder, at the latest when the server shut down.
    used, idle = sorted(_listed(env), key=lambda r: r[2])
    assert used[2] == "ci" and used[4] != "-"
    assert time.strptime(used[4], "%Y-%m-%dT%H:%M:%SZ") >= time.gmtime(before - 1)
    assert idle[4] == "-"
