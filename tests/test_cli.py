"""The command line as a user meets it: migrate, serve (Granian and uvicorn), the development key,
``keys create``, serve setting up a new SQLite file (and ``serve --migrate``), and the refusals
(a database behind its migrations, several workers on SQLite)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from mka1_conversations.store.migrate import apply_sqlite, describe, load_migrations

from .conftest import BASE_PATH, free_port, postgres_database
from .processes import CLI, cli_env, run_cli, serving


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "nested" / "dir" / "db.sqlite")
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    second = run_cli("migrate", env=env)
    assert second.returncode == 0
    assert "up to date" in second.stdout


def _sqlite_behind(path: Path, through: int = 2) -> None:
    """An existing SQLite database with only the first ``through`` migrations."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        apply_sqlite(db, through=through)
    finally:
        db.close()


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    # A file that does not exist is set up by serve (below); one that is behind is refused.
    _sqlite_behind(tmp_path / "db.sqlite")
    result = run_cli("serve", env=cli_env(tmp_path / "db.sqlite"))
    assert result.returncode == 1
    assert "mka1-conversations migrate" in result.stderr


def test_serve_sets_up_a_new_sqlite_file_and_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "db.sqlite"
    env = cli_env(path, MKA1_API_KEYS="sk-new=acct", MKA1_LOG_FORMAT="json")
    with serving(env=env) as (url, lines):
        assert httpx.get(url + "/readyz").status_code == 200
        headers = {"Authorization": "Bearer sk-new"}
        created = httpx.post(url + BASE_PATH, json={"metadata": {"a": "b"}}, headers=headers)
        assert created.status_code == 200, created.text
    said = [json.loads(line) for line in lines if "created the database" in line]
    assert len(said) == 1, lines
    assert said[0]["message"] == (
        f"created the database {path} and applied its {len(load_migrations('sqlite'))} "
        f"migrations (through {describe(load_migrations('sqlite')[-1:])})"
    )
    with serving(env=env) as (url, lines):  # the second start finds it: nothing to say
        listed = httpx.get(url + BASE_PATH, headers=headers).json()["data"]
        assert [c["metadata"] for c in listed] == [{"a": "b"}]
    assert not [line for line in lines if "created the database" in line]
    assert "up to date" in run_cli("migrate", env=env).stdout


def test_serve_migrate_brings_a_database_up_to_date(tmp_path: Path) -> None:
    _sqlite_behind(tmp_path / "db.sqlite")
    env = cli_env(tmp_path / "db.sqlite", MKA1_API_KEYS="sk-1=acct", MKA1_LOG_FORMAT="text")
    pending = load_migrations("sqlite")[2:]
    with serving("--migrate", env=env) as (url, lines):
        assert httpx.get(url + "/readyz").status_code == 200
    applied = [line for line in lines if "applied" in line]
    assert (
        len(applied) == 1
        and f"applied {len(pending)} migrations: {describe(pending)}" in (applied[0])
    )
    with serving("--migrate", env=env) as (url, lines):
        assert httpx.get(url + "/readyz").status_code == 200
    assert len([line for line in lines if "the database is up to date" in line]) == 1


def test_serve_on_postgres_needs_migrate_or_serve_migrate() -> None:
    with postgres_database(through=1) as database:
        env = cli_env(database, MKA1_API_KEYS="sk-1=acct")
        refused = run_cli("serve", env=env)
        assert refused.returncode == 1
        assert "mka1-conversations migrate" in refused.stderr
        with serving("--migrate", "--workers", "2", env=env) as (url, _lines):
            assert httpx.get(url + "/readyz").status_code == 200


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "db.sqlite")
    run_cli("migrate", env=env)
    result = run_cli("serve", "--workers", "2", env=env)
    assert result.returncode == 1
    assert "PostgreSQL" in result.stderr


def test_bad_settings_are_named(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "db.sqlite", MKA1_IDENTITY_MODE="sideways")
    result = run_cli("migrate", env=env)
    assert result.returncode == 1
    assert "MKA1_IDENTITY_MODE" in result.stderr


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_serve_with_no_configuration_creates_a_usable_dev_key(tmp_path: Path, server: str) -> None:
    env = cli_env(tmp_path / "db.sqlite")
    assert run_cli("migrate", env=env).returncode == 0
    with serving("--server", server, env=env) as (url, lines):
        text = "".join(lines)
        match = re.search(r"^\s+(mk-\S+)\s*$", text, re.M)
        assert match, text
        key = match[1]
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(url + BASE_PATH, json={"metadata": {"a": "b"}}, headers=headers)
        assert created.status_code == 200, created.text
        assert (
            httpx.get(url + BASE_PATH, headers={"Authorization": "Bearer nope"}).status_code == 401
        )
    # Printed once: the next start reuses the stored key and does not show it again.
    with serving("--server", server, env=env) as (url, lines):
        assert key not in "".join(lines)
        listed = httpx.get(url + BASE_PATH, headers=headers)
        assert [c["metadata"] for c in listed.json()["data"]] == [{"a": "b"}]


def test_keys_create_prints_a_working_key_once(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "db.sqlite", MKA1_API_KEYS="sk-env=envacct")
    assert run_cli("migrate", env=env).returncode == 0
    created = run_cli("keys", "create", "--account", "team-a", "--name", "ci", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("mk-") and len(key) > 40
    assert key not in (tmp_path / "db.sqlite").read_bytes().decode("latin-1")
    bad = run_cli("keys", "create", "--account", "a:b", env=env)
    assert bad.returncode == 1
    with serving(env=env) as (url, lines):
        assert key not in "".join(lines)
        for bearer in (key, "sk-env"):
            response = httpx.get(url + BASE_PATH, headers={"Authorization": f"Bearer {bearer}"})
            assert response.status_code == 200, response.text


def test_make_run_serves_on_the_embedded_store(tmp_path: Path) -> None:
    """The README's first command: set-up is done by `make install` (already, for the suite)."""
    root = Path(__file__).resolve().parent.parent
    port = free_port()
    env = cli_env(tmp_path / "data" / "mka1.db")
    process = subprocess.Popen(
        ["make", "-s", "run", f"PORT={port}"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "make run exited"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "make run did not serve within 120 s"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
        assert (tmp_path / "data" / "mka1.db").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_several_processes_can_migrate_postgres_at_once() -> None:
    with postgres_database() as url:
        asyncio.run(_drop_schema(url))
        env = cli_env(url)
        runners = [
            subprocess.Popen([*CLI, "migrate"], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        outputs = [r.communicate(timeout=60)[0] for r in runners]
        assert [r.returncode for r in runners] == [0, 0, 0, 0]
        assert sum("applied 0001_initial" in out for out in outputs) == 1
        assert run_cli("migrate", env=env).stdout.strip() == "database is up to date"


async def _drop_schema(url: str) -> None:
    """Undo the fixture's migration, so that the runners start from an empty database."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
