"""Paging conversations lists each exactly once, in both orders, while conversations move
(issue 15, item 4), on every backend of the shared server.

The deterministic case: an append to conversation 0 is held inside its transaction (another
connection holds a row of 0's word index that the append must write), page 1 is read meanwhile,
then the append is let go and the listing paged on. A position stamped before its commit showed
0 twice ascending and never descending; a position handed out in commit order shows it once.
The load case: one lister pages through the owner's conversations again and again while six
writers append to them, bounded in passes and time.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import ACCOUNT_A, BASE_PATH, KEY_A, RunningServer, auth_headers

CONVERSATIONS = 6


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def _create(http: httpx.Client, count: int) -> list[str]:
    ids = []
    for n in range(count):
        response = http.post(BASE_PATH, json={"items": [_message(f"conversation {n}")]})
        assert response.status_code == 200, response.text
        ids.append(response.json()["id"])
    return ids


def _page_all(http: httpx.Client, order: str, limit: int, between: Any = None) -> list[str]:
    """Every page of the listing; ``between()`` runs after the first page."""
    seen: list[str] = []
    params: dict[str, Any] = {"limit": limit, "order": order}
    while True:
        response = http.get(BASE_PATH, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [c["id"] for c in body["data"]]
        if between is not None:
            between()
            between = None
        if not body["has_more"]:
            return seen
        params["after"] = body["last_id"]


class _HeldWordRow:
    """Another connection's uncommitted row of the conversation's word index, which an append
    of that word must wait for (its INSERT … ON CONFLICT waits on the row's transaction)."""

    def __init__(self, server: RunningServer, owner: str, conversation_id: str) -> None:
        self._server = server
        self._owner = owner
        self._conversation = conversation_id
        self._loop = asyncio.new_event_loop()
        self._conn: Any = None

    def hold(self, word: str) -> None:
        async def hold() -> None:
            self._conn = await asyncpg.connect(self._server.database_url)
            await self._conn.execute("BEGIN")
            await self._conn.execute(
                "INSERT INTO conversation_words (owner_id, conversation_id, word, items) "
                "VALUES ($1, $2, $3, 0)",
                self._owner,
                self._conversation,
                word,
            )

        self._loop.run_until_complete(hold())

    def waiters(self) -> int:
        """Sessions waiting for a lock, on any node of the cluster."""
        view = "citus_stat_activity" if self._server.backend == "citus" else "pg_stat_activity"

        async def count() -> int:
            n: int = await self._conn.fetchval(
                f"SELECT count(*) FROM {view} WHERE wait_event_type = 'Lock'"
            )
            return n

        return self._loop.run_until_complete(count())

    def release(self) -> None:
        async def release() -> None:
            await self._conn.execute("ROLLBACK")
            await self._conn.close()

        self._loop.run_until_complete(release())
        self._loop.close()


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_conversation_moved_by_a_write_in_flight_is_listed_once(
    server: RunningServer, http: httpx.Client, user: str, order: str
) -> None:
    if server.backend == "sqlite":
        pytest.skip("SQLite writes inline, one at a time: no write is in flight during a read")
    ids = _create(http, CONVERSATIONS)
    held = _HeldWordRow(server, f"{ACCOUNT_A}:{user}", ids[0])
    held.hold("stallword")
    answers: list[int] = []

    def append() -> None:
        with httpx.Client(
            base_url=server.url, headers=auth_headers(KEY_A, user), timeout=30
        ) as other:
            response = other.post(
                f"{BASE_PATH}/{ids[0]}/items", json={"items": [_message("stallword")]}
            )
            answers.append(response.status_code)

    writer = threading.Thread(target=append)
    try:
        writer.start()
        deadline = time.monotonic() + 10
        while held.waiters() == 0:  # the append is inside its transaction, waiting
            assert time.monotonic() < deadline, "the append never waited for the held row"
            time.sleep(0.02)
    except BaseException:
        held.release()
        raise

    def let_go() -> None:
        held.release()
        writer.join(timeout=30)
        assert answers == [200]

    listed = _page_all(http, order, 2, between=let_go)
    assert sorted(listed) == sorted(ids), listed
    assert len(listed) == len(set(listed)) == CONVERSATIONS


WRITERS = 6
OWNED = 12
MAX_PASSES = 40
MAX_SECONDS = 12.0


def test_every_pass_lists_each_conversation_once_while_six_writers_append(
    server: RunningServer, http: httpx.Client, user: str
) -> None:
    ids = _create(http, OWNED)
    stop = threading.Event()
    failures: list[str] = []
    writes = [0] * WRITERS

    def writer(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(
            base_url=server.url, headers=auth_headers(KEY_A, user), timeout=30
        ) as client:
            while not stop.is_set():
                target = rng.choice(ids)
                response = client.post(
                    f"{BASE_PATH}/{target}/items", json={"items": [_message(f"w{number}")]}
                )
                if response.status_code != 200:
                    failures.append(f"writer {number}: {response.status_code} {response.text}")
                    return
                writes[number] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    bad: list[str] = []
    passes = 0
    started = time.monotonic()
    try:
        while passes < MAX_PASSES and time.monotonic() - started < MAX_SECONDS:
            order = "asc" if passes % 2 == 0 else "desc"
            listed = _page_all(http, order, 3)
            passes += 1
            if sorted(listed) != sorted(ids):
                bad.append(
                    f"pass {passes} ({order}): {len(listed)} listed, {len(set(listed))} distinct"
                )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures
    assert passes >= 4 and sum(writes) >= WRITERS, (passes, writes)
    assert not bad, bad
