"""Retention: ``purge --deleted-before AGE`` hard-deletes conversations soft-deleted longer ago than
AGE, with their items, metadata and search entries, in small transactions while the server keeps
serving; live and recently deleted conversations are untouched."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from .conftest import BASE_PATH, KEY_A, auth_headers, migrated_database, serve_app
from .conftest import test_settings as settings_for
from .processes import cli_env, run_cli

DAY = 86_400


def _sql(database_url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the test's database (SQLite ``?`` or PostgreSQL ``$n`` style)."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url[len("sqlite:///") :]) as db:
            return db.execute(statement.replace("$1", "?"), args).fetchall()

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(r) for r in await conn.fetch(statement, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def _conversation(client: httpx.Client, marker: str, items: int) -> str:
    response = client.post(
        BASE_PATH,
        json={
            "metadata": {"marker": marker},
            "items": [{"role": "user", "content": f"{marker} {n}"} for n in range(items)],
        },
    )
    assert response.status_code == 200, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def _counts(database_url: str, conversation_id: str) -> tuple[int, int, int, int]:
    """The conversation's rows, its items, its list moves and its indexed search words."""
    conversations = _sql(
        database_url, "SELECT count(*) FROM conversations WHERE id = $1", conversation_id
    )
    items = _sql(
        database_url, "SELECT count(*) FROM items WHERE conversation_id = $1", conversation_id
    )
    moves = _sql(
        database_url,
        "SELECT count(*) FROM conversation_moves WHERE conversation_id = $1",
        conversation_id,
    )
    words = _sql(
        database_url,
        "SELECT count(*) FROM conversation_words WHERE conversation_id = $1",
        conversation_id,
    )
    return conversations[0][0], items[0][0], moves[0][0], words[0][0]


def test_purge_hard_deletes_only_conversations_deleted_before_the_age(
    database_url: str, tmp_path: Path
) -> None:
    marker = "zp" + uuid.uuid4().hex[:10]
    with (
        serve_app(settings_for(database_url)) as url,
        httpx.Client(base_url=url, headers=auth_headers(KEY_A, "purger"), timeout=30) as client,
    ):
        old = [_conversation(client, marker, n) for n in (0, 1, 5, 7)]
        recent = _conversation(client, marker, 2)
        live = _conversation(client, marker, 3)
        assert client.get(BASE_PATH, params={"limit": 1}).status_code == 200  # a snapshot
        client.post(f"{BASE_PATH}/{old[3]}", json={"metadata": {"moved": "yes"}})  # a move
        for conversation_id in (*old, recent):
            assert client.delete(f"{BASE_PATH}/{conversation_id}").status_code == 200
        for conversation_id in old:  # deleted 31 days ago
            _sql(
                database_url,
                f"UPDATE conversations SET deleted_at = deleted_at - {31 * DAY} WHERE id = $1",
                conversation_id,
            )

        env = cli_env(database_url)
        # Batches of 2 items: several transactions, while the server keeps serving.
        purged = run_cli("purge", "--deleted-before", "30d", "--batch-size", "2", env=env)
        assert purged.returncode == 0, purged.stderr
        assert "purged 4 conversation(s)" in purged.stdout and "with 13 item(s)" in purged.stdout

        for conversation_id in old:
            assert _counts(database_url, conversation_id) == (0, 0, 0, 0)
        assert _counts(database_url, recent)[:2] == (1, 2)  # soft-deleted 0 days ago: kept
        assert client.get(f"{BASE_PATH}/{recent}").status_code == 404  # and still deleted
        items = client.get(f"{BASE_PATH}/{live}/items")
        assert items.status_code == 200 and len(items.json()["data"]) == 3
        found = client.get(BASE_PATH, params={"search": marker})
        assert [c["id"] for c in found.json()["data"]] == [live]
        assert client.post(BASE_PATH, json={}).status_code == 200  # still serving
        # The search index: the marker is a word of the recent conversation (2 items) and of
        # the live one (3), and of no purged one.
        indexed = _sql(
            database_url,
            "SELECT items FROM conversation_words WHERE word = $1 ORDER BY items",
            marker,
        )
        assert indexed == [(2,), (3,)]

        again = run_cli("purge", "--deleted-before", "30d", env=env)
        assert again.returncode == 0 and "purged 0 conversation(s)" in again.stdout
        everything = run_cli("purge", "--deleted-before", "0s", env=env)
        assert everything.returncode == 0, everything.stderr
        # Deleted "0 seconds ago" is only purged once that second is over: at most the recent one.
        assert _counts(database_url, live)[:2] == (1, 3)


def test_purge_refuses_a_bad_age(tmp_path: Path) -> None:
    env = cli_env(migrated_database(tmp_path))
    for age in ("30", "thirty days", "-1d", "1w"):
        result = run_cli("purge", "--deleted-before", age, env=env)
        assert result.returncode != 0, age  # 1 from the command, 2 from argparse for "-1d"
        assert "--deleted-before" in result.stderr


def test_serving_goes_on_while_purge_runs(database_url: str) -> None:
    """Writes and reads from another client all succeed while purge deletes in small batches."""
    with (
        serve_app(settings_for(database_url)) as url,
        httpx.Client(base_url=url, headers=auth_headers(KEY_A, "busy"), timeout=30) as client,
    ):
        old = [_conversation(client, "gone", 20) for _ in range(6)]
        for conversation_id in old:
            assert client.delete(f"{BASE_PATH}/{conversation_id}").status_code == 200
            _sql(
                database_url,
                f"UPDATE conversations SET deleted_at = deleted_at - {2 * DAY} WHERE id = $1",
                conversation_id,
            )
        live = _conversation(client, "kept", 1)
        statuses: list[int] = []
        stop = threading.Event()

        def serve_meanwhile() -> None:
            with httpx.Client(base_url=url, headers=auth_headers(KEY_A, "busy"), timeout=30) as c:
                while not stop.is_set() and len(statuses) < 2_000:
                    item = {"items": [{"role": "user", "content": "still here"}]}
                    statuses.append(c.post(f"{BASE_PATH}/{live}/items", json=item).status_code)
                    statuses.append(c.get(f"{BASE_PATH}/{live}/items").status_code)

        worker = threading.Thread(target=serve_meanwhile)
        worker.start()
        try:
            purged = run_cli(
                "purge", "--deleted-before", "1d", "--batch-size", "7", env=cli_env(database_url)
            )
        finally:
            stop.set()
            worker.join(timeout=60)
        assert purged.returncode == 0, purged.stderr
        assert "purged 6 conversation(s)" in purged.stdout and "with 120 item(s)" in purged.stdout
        assert statuses and set(statuses) == {200}
        count = len(client.get(f"{BASE_PATH}/{live}/items", params={"limit": 100}).json()["data"])
        assert count == min(100, 1 + len(statuses) // 2)
