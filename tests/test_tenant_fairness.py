"""One tenant's writes do not stall another's reads (issue 18, finding 4).

The attacker of the adversarial run: in a conversation of thousands of items, a loop of "append
5 items sharing a new word, then bulk-delete them". Each delete used to read every live item's
text to prove the new word gone, on SQLite inline on the event loop: another account's list
went from 3 to 778 ms at p50. Here a second tenant lists its items before and during the attack,
on the real server (a separate process, one worker), and its p99 under attack must stay within
a few milliseconds of its own baseline. The bound asserted is generous (a shared, noisy machine:
timings are not what tests assert elsewhere); the figures are printed for the record.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from pathlib import Path

import asyncpg
import httpx
import msgspec
import pytest

from .conftest import BASE_PATH, KEY_A, KEY_B, auth_headers, fresh_database
from .processes import cli_env, run_cli, serving

ATTACKER_ITEMS = 8_000
"""Items in the attacker's conversation, about 1.2 KB of text each."""
SAMPLES = 150
"""Victim requests per phase."""
ALLOWED_EXTRA_MS = 25.0
"""How much the victim's p99 may grow under attack (the old delete added ~50 ms here)."""


def _text(n: int) -> str:
    return " ".join(f"w{(n * 7 + k * 13) % 997}x{k % 5}" for k in range(180))


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def _victim(http: httpx.Client, conversation_id: str) -> list[float]:
    latencies = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = http.get(f"{BASE_PATH}/{conversation_id}/items", params={"limit": 20})
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        time.sleep(0.005)
    return latencies


def _dump(path: Path) -> str:
    """The attacker's conversation as an export file (loaded with ``import``: quicker than 400
    requests)."""
    owner, conversation_id = "attacker:", "conv_" + "a" * 32
    lines = [
        msgspec.json.encode(
            {
                "record": "conversation",
                "owner": owner,
                "id": conversation_id,
                "created_at": 1_700_000_000,
                "updated_at": 1_700_000_000_000_000,
                "deleted_at": None,
                "metadata": {},
                "next_seq": ATTACKER_ITEMS,
            }
        )
    ]
    for seq in range(1, ATTACKER_ITEMS + 1):
        text = _text(seq)
        item = {
            "id": f"msg_{seq}",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": text}],
        }
        lines.append(
            msgspec.json.encode(
                {
                    "record": "item",
                    "owner": owner,
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "id": f"msg_{seq}",
                    "type": "message",
                    "created_at": 1_700_000_000,
                    "deleted_at": None,
                    "data": item,
                    "search_text": text,
                }
            )
        )
    path.write_bytes(b"\n".join(lines) + b"\n")
    return conversation_id


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_delete_loop_does_not_stall_another_tenant(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as database_url:
        env = cli_env(database_url, MKA1_API_KEYS=f"{KEY_A}=attacker,{KEY_B}=victim")
        big = _dump(tmp_path / "attacker.jsonl")
        loaded = run_cli("import", "--input", str(tmp_path / "attacker.jsonl"), env=env)
        assert loaded.returncode == 0, loaded.stderr
        if backend == "postgres":  # what autovacuum does after a load (this server runs without)
            assert run_psql(database_url, "ANALYZE")
        with (
            serving("--workers", "1", env=env) as (url, _),
            httpx.Client(base_url=url, headers=auth_headers(KEY_A), timeout=60) as attacker,
            httpx.Client(base_url=url, headers=auth_headers(KEY_B), timeout=60) as victim,
        ):
            run_attack(attacker, victim, big, backend)


def run_psql(url: str, sql: str) -> bool:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())
    return True


def run_attack(attacker: httpx.Client, victim: httpx.Client, big: str, backend: str) -> None:
    mine = victim.post(
        BASE_PATH, json={"items": [{"role": "user", "content": f"v {n}"} for n in range(20)]}
    ).json()["id"]
    _victim(victim, mine)  # warm up
    time.sleep(1.0)
    baseline = _victim(victim, mine)

    stop = threading.Event()
    deletes: list[float] = []
    errors: list[str] = []

    def attack() -> None:
        n = 0
        while not stop.is_set():
            word = f"fresh{n}word"
            items = [{"role": "user", "content": f"{word} {k}"} for k in range(5)]
            added = attacker.post(f"{BASE_PATH}/{big}/items", json={"items": items})
            ids = [i["id"] for i in added.json()["data"]]
            started = time.perf_counter()
            gone = attacker.request("DELETE", f"{BASE_PATH}/{big}/items", json={"item_ids": ids})
            deletes.append((time.perf_counter() - started) * 1000)
            if gone.status_code != 200:
                errors.append(gone.text)
            n += 1

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        attacked = _victim(victim, mine)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors[:3]
    assert listed_none(victim, "fresh0word")
    print(
        f"\n{backend}: victim list-20 p50/p99 {statistics.median(baseline):.1f}/"
        f"{_p99(baseline):.1f} ms alone, {statistics.median(attacked):.1f}/"
        f"{_p99(attacked):.1f} ms under attack; {len(deletes)} deletes, p50 "
        f"{statistics.median(deletes):.1f} ms"
    )
    assert len(deletes) >= 10
    assert _p99(attacked) <= _p99(baseline) + ALLOWED_EXTRA_MS


def listed_none(http: httpx.Client, search: str) -> bool:
    found: list[object] = http.get(BASE_PATH, params={"search": search}).json()["data"]
    return found == []
