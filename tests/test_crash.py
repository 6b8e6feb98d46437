"""Crash safety on the real ``serve`` process: SIGKILL at random moments under concurrent appends
loses no acknowledged item, stores no batch in part and keeps the order; SIGTERM lets in-flight
requests finish.

The appending clients give every item an id of their own (client, batch, position), so after the
kills the stored conversation can be checked against what each client was told: every item of an
acknowledged (200) batch is there exactly once, every batch (acknowledged or cut off by the kill)
is all there, contiguous and in order, or not there at all, and each client's acknowledged
batches are in the order it sent them. Bounded: a few kills, each at most 1.2 s after the
restarted server's first acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, auth_headers, free_port, migrated_database
from .processes import CLI, cli_env

CLIENTS = 6
KILLS = 3


@contextmanager
def server_process(env: dict[str, str], port: int, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``serve`` on ``port``, answering /healthz, in a process group of its own (Granian's
    master and its worker): the test decides how it ends; whatever is left is killed."""
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"serve exited with {process.returncode}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start within 30 s"
            time.sleep(0.05)
        yield process
    finally:
        kill_group(process)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server and its workers at once: a crash of the whole service."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the workers are gone too (they held the port)
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("server processes survived SIGKILL")


@dataclass
class Batch:
    ids: list[str]
    acknowledged: bool = False


@dataclass
class Client:
    number: int
    batches: list[Batch] = field(default_factory=list)


def _append_until(stop: threading.Event, url: str, conversation: str, client: Client) -> None:
    rng = random.Random(client.number)
    with httpx.Client(base_url=url, headers=auth_headers(KEY_A, "crash"), timeout=10) as http:
        while not stop.is_set():
            n = len(client.batches)
            batch = Batch([f"c{client.number}-b{n}-i{k}" for k in range(rng.randint(1, 5))])
            client.batches.append(batch)
            try:
                response = http.post(
                    f"{BASE_PATH}/{conversation}/items",
                    json={"items": [{"role": "user", "content": i, "id": i} for i in batch.ids]},
                )
            except httpx.ConnectError:  # the server is down: never sent, so not a batch
                client.batches.pop()
                time.sleep(0.05)
                continue
            except httpx.TransportError:  # the server died under this request: outcome unknown
                continue
            assert response.status_code in (200, 503), response.text
            batch.acknowledged = response.status_code == 200


def _acknowledged(clients: list[Client]) -> int:
    return sum(b.acknowledged for c in clients for b in list(c.batches))


def _stored_ids(url: str, conversation: str, user: str = "crash") -> list[str]:
    ids: list[str] = []
    after: str | None = None
    with httpx.Client(base_url=url, headers=auth_headers(KEY_A, user), timeout=30) as http:
        for _ in range(10_000):
            params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
            page = http.get(f"{BASE_PATH}/{conversation}/items", params=params).json()
            ids += [item["id"] for item in page["data"]]
            if not page["has_more"]:
                return ids
            after = page["last_id"]
    raise AssertionError("too many pages")


def _sequence_numbers(database_url: str, conversation: str) -> list[int]:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url[len("sqlite:///") :]) as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT seq FROM items WHERE conversation_id = ? ORDER BY seq", (conversation,)
                )
            ]

    async def fetch() -> list[int]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT seq FROM items WHERE conversation_id = $1 ORDER BY seq", conversation
            )
            return [r[0] for r in rows]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _integrity(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url[len("sqlite:///") :]) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_sigkill_under_concurrent_appends_loses_no_acknowledged_item(database_url: str) -> None:
    env = cli_env(database_url, MKA1_API_KEYS=f"{KEY_A}=acct_a")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rng = random.Random()
    clients = [Client(n) for n in range(CLIENTS)]
    stop = threading.Event()
    threads: list[threading.Thread] = []
    kills = 0
    try:
        for round_ in range(KILLS + 1):
            with server_process(env, port) as process:
                if round_ == 0:
                    created = httpx.post(
                        url + BASE_PATH, json={}, headers=auth_headers(KEY_A, "crash")
                    )
                    conversation = created.json()["id"]
                    threads = [
                        threading.Thread(
                            target=_append_until, args=(stop, url, conversation, c), daemon=True
                        )
                        for c in clients
                    ]
                    for thread in threads:
                        thread.start()
                # Wait until this server has acknowledged appends, then kill it at a random
                # moment while they go on.
                before = _acknowledged(clients)
                deadline = time.monotonic() + 30
                while _acknowledged(clients) <= before:
                    assert time.monotonic() < deadline, "no append acknowledged within 30 s"
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.1, 1.2))
                if round_ == KILLS:
                    break
                kill_group(process)
                kills += 1
                _integrity(database_url)
            # (the context manager reaps it; the next round restarts on the same port)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        with server_process(env, port):
            stored = _stored_ids(url, conversation)
    finally:
        stop.set()
    assert kills == KILLS
    _integrity(database_url)

    assert len(stored) == len(set(stored)), "an item is stored twice"
    position = {item_id: n for n, item_id in enumerate(stored)}
    known = {i for c in clients for b in c.batches for i in b.ids}
    assert set(stored) <= known
    cut_off = 0
    for client in clients:
        last = -1
        for batch in client.batches:
            present = [i in position for i in batch.ids]
            if batch.acknowledged:
                assert all(present), f"acknowledged batch lost: {batch.ids}"
            if not all(present):
                assert not any(present), f"batch partly stored: {batch.ids}"
                cut_off += 1
                continue
            places = [position[i] for i in batch.ids]
            assert places == list(range(places[0], places[0] + len(places))), "batch split"
            assert places[0] > last, f"client {client.number}'s batches out of order"
            last = places[-1]
    assert _sequence_numbers(database_url, conversation) == list(range(1, len(stored) + 1))
    assert cut_off < len([b for c in clients for b in c.batches])  # most batches got through
    print(f"{len(stored)} items stored; {cut_off} batches in flight lost to {kills} kills")


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path, server: str) -> None:
    database_url = f"sqlite:///{migrated_database(tmp_path)}"
    env = cli_env(database_url, MKA1_API_KEYS=f"{KEY_A}=acct_a")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server_process(env, port, "--server", server) as process:
        created = httpx.post(url + BASE_PATH, json={}, headers=auth_headers(KEY_A, "term"))
        conversation = created.json()["id"]
        body = (
            b'{"items": [{"role": "user", "content": "sent across the SIGTERM", '
            b'"id": "in-flight"}]}'
        )
        head = (
            f"POST {BASE_PATH}/{conversation}/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {KEY_A}\r\nX-On-Behalf-Of: term\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head + body[:20])  # the request is in flight: its body half sent
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)  # to the server (Granian's master)
            time.sleep(0.5)
            sock.sendall(body[20:])
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        # Then it exits by itself, workers too (uvicorn re-raises the SIGTERM once done).
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/healthz", timeout=5)
    with server_process(env, port, "--server", server):
        stored = _stored_ids(url, conversation, "term")
    assert stored == ["in-flight"]
