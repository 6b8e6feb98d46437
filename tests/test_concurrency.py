"""Concurrent appends to one conversation never lose, duplicate, split or reorder an item.

Sixteen clients append batches of 1–20 items to ONE conversation, each waiting for its answer
before sending its next batch. On PostgreSQL the appends go through two server processes (Granian
workers) sharing the database; on SQLite through one process. Afterwards the conversation must
hold every acknowledged item exactly once, each batch contiguous and in request order, and each
client's batches in the order it sent them.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, auth_headers, fresh_database
from .processes import cli_env, serving

CLIENTS = 16
BATCHES_PER_CLIENT = 12


def _append_concurrently(url: str, conversation_id: str) -> dict[int, list[list[str]]]:
    """Run the clients; return, per client, the id lists of its acknowledged batches in order."""
    acknowledged: dict[int, list[list[str]]] = {c: [] for c in range(CLIENTS)}
    failures: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(base_url=url, headers=auth_headers(KEY_A, "race"), timeout=30) as http:
            start.wait()
            for batch in range(BATCHES_PER_CLIENT):
                ids = [f"c{number}-b{batch}-i{i}" for i in range(rng.randint(1, 20))]
                items = [
                    {"id": item_id, "type": "message", "role": "user", "content": item_id}
                    for item_id in ids
                ]
                response = http.post(f"{BASE_PATH}/{conversation_id}/items", json={"items": items})
                if response.status_code != 200:
                    failures.append(f"client {number}: {response.status_code} {response.text}")
                    return
                assert [d["id"] for d in response.json()["data"]] == ids
                acknowledged[number].append(ids)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return acknowledged


def _all_item_ids(url: str, conversation_id: str) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    with httpx.Client(base_url=url, headers=auth_headers(KEY_A, "race"), timeout=30) as http:
        while True:
            params: dict[str, str | int] = {"limit": 100, "order": "asc"}
            if after:
                params["after"] = after
            page = http.get(f"{BASE_PATH}/{conversation_id}/items", params=params).json()
            ids += [d["id"] for d in page["data"]]
            if not page["has_more"]:
                return ids
            after = page["last_id"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "citus"])
def test_concurrent_appends_keep_one_total_order(backend: str, tmp_path: Path) -> None:
    workers = "1" if backend == "sqlite" else "2"
    with (
        fresh_database(backend, tmp_path) as database_url,
        serving("--workers", workers, env=cli_env(database_url, MKA1_API_KEYS=f"{KEY_A}=acct")) as (
            url,
            _,
        ),
    ):
        created = httpx.post(url + BASE_PATH, json={}, headers=auth_headers(KEY_A, "race"))
        conversation_id = created.json()["id"]
        acknowledged = _append_concurrently(url, conversation_id)
        stored = _all_item_ids(url, conversation_id)

    expected = [i for batches in acknowledged.values() for batch in batches for i in batch]
    assert len(stored) == len(set(stored)), "an item is stored twice"
    assert sorted(stored) == sorted(expected), "an acknowledged item is missing (or extra)"
    position = {item_id: n for n, item_id in enumerate(stored)}
    for batches in acknowledged.values():
        previous_end = -1
        for batch in batches:
            first = position[batch[0]]
            assert [position[i] for i in batch] == list(range(first, first + len(batch))), (
                "a batch is split or reordered"
            )
            assert first > previous_end, "a client's batches are out of order"
            previous_end = first + len(batch) - 1
