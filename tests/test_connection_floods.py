"""Floods of connections that hold a socket and ask for nothing, against the real ``serve``
(Granian and uvicorn): more than a thousand connections that never send a byte, that stopped
after one request (idle keep-alive), or that trickle an endless head (slow loris). Meanwhile a
new client is served within its usual latency, and the server closes every flooding connection
within the read timeout (docs/security.md)."""

from __future__ import annotations

import resource
import selectors
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, auth_headers, migrated_database
from .processes import cli_env, serving

FLOOD = 1_100
"""More than a Granian worker held by default (1,024): enough to stop it before the fix."""
READ_TIMEOUT = 8
SERVED_WITHIN = 2.0
"""A generous bound for a request served in a few milliseconds on an idle server."""
FLOOD_SERVED_WITHIN = 6.0
"""A generous bound for the keep-alive flood's own requests (well under a second)."""


@pytest.fixture(scope="module", autouse=True)
def enough_open_files() -> Iterator[None]:
    """The flood's sockets, here and in the server (which inherits this limit), are files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * FLOOD
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the hard open-file limit ({hard}) is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = cli_env(
        migrated_database(tmp_path_factory.mktemp(request.param)),
        MKA1_API_KEYS=f"{KEY_A}=acct_a",
        MKA1_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
    )
    with serving("--server", request.param, env=env) as (url, _lines):
        yield url


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(
        next(
            line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
        ).split(b":")[1]
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, answer
        body += chunk
    return head


def _flood(url: str, kind: str) -> list[socket.socket]:
    """``FLOOD`` connections, all open at once (built well within the read timeout)."""
    address = _address(url)
    sockets = [socket.create_connection(address, timeout=10) for _ in range(FLOOD)]
    if kind == "keep-alive":  # one request each, its answer read, then nothing
        started = time.monotonic()
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for sock in sockets:
            assert _read_answer(sock).startswith(b"HTTP/1.1 200")
        took = time.monotonic() - started
        # Each is a client served too: none waited for another's connection to time out.
        assert took < FLOOD_SERVED_WITHIN, f"{FLOOD} requests took {took:.1f} s"
    elif kind == "slow-loris":  # a head that never ends
        for sock in sockets:
            sock.sendall(b"GET " + BASE_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ")
    return sockets


def _still_open(sockets: list[socket.socket], within: float) -> int:
    """Wait until the server has closed every socket (or ``within`` has passed); return how many
    it left open."""
    with selectors.DefaultSelector() as selector:  # epoll: no limit on descriptor numbers
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        left = len(sockets)
        deadline = time.monotonic() + within
        while left and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                try:
                    data = ready.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    selector.unregister(ready)
                    left -= 1
        return left


@pytest.mark.parametrize("kind", ["silent", "keep-alive", "slow-loris"])
def test_a_thousand_idle_connections_do_not_stop_a_new_client(served: str, kind: str) -> None:
    headers = auth_headers(KEY_A, f"flood-{kind}")
    with httpx.Client(base_url=served, headers=headers, timeout=30) as client:
        assert client.post(BASE_PATH, json={}).status_code == 200  # warm
        sockets = _flood(served, kind)
        try:
            for _ in range(5):  # each on a new connection, as a new client's would be
                started = time.monotonic()
                response = httpx.get(served + BASE_PATH, headers=headers, timeout=30)
                took = time.monotonic() - started
                assert response.status_code == 200, response.text
                assert took < SERVED_WITHIN, f"a new client waited {took:.1f} s behind {kind}"
            # The flood holds nothing for long: every connection closed within the read timeout.
            still_open = _still_open(sockets, within=READ_TIMEOUT + 10)
            assert still_open == 0, f"{still_open} {kind} connections still open"
        finally:
            for sock in sockets:
                sock.close()
        assert client.get(BASE_PATH).status_code == 200
