"""Limits a hostile or broken client meets on the real ``serve`` (Granian and uvicorn): a 100 MB
body is refused with 413 after at most the limit is read, a slow-loris head or body is cut off
after the read timeout (408, and the connection closed) while other clients are served, and an
oversized head is refused."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, auth_headers, migrated_database
from .processes import cli_env, serving

BODY_LIMIT = 1024 * 1024
READ_TIMEOUT = 2
HEAD_LIMIT = 16 * 1024
PATH = BASE_PATH + "/conv_0123456789abcdef0123456789abcdef/items"


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = cli_env(
        migrated_database(tmp_path_factory.mktemp(request.param)),
        MKA1_API_KEYS=f"{KEY_A}=acct_a",
        MKA1_MAX_BODY_BYTES=str(BODY_LIMIT),
        MKA1_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
        MKA1_MAX_HEADER_BYTES=str(HEAD_LIMIT),
    )
    with serving("--server", request.param, env=env) as (url, _lines):
        yield url


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _head(method: str, extra: str = "") -> bytes:
    return (
        f"{method} {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY_A}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def _send_until_answered(sock: socket.socket, chunk: bytes, total: int) -> tuple[int, bytes]:
    """Send up to ``total`` bytes in chunks, stopping as soon as the server answers; return how
    many bytes were sent and the answer's first bytes."""
    sent = 0
    answer = b""
    while sent < total:
        readable, writable, _ = select.select([sock], [sock], [], 30)
        if readable:
            break
        if writable:
            try:
                sent += sock.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (ConnectionResetError, TimeoutError):
        pass
    return sent, answer


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_100_mb_body_gets_413_without_being_read(served: str, framing: str) -> None:
    total = 100 * 1024 * 1024
    piece = b"x" * 65536
    if framing == "chunked":
        head = _head("POST", "Transfer-Encoding: chunked\r\n")
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    else:
        head = _head("POST", f"Content-Length: {total}\r\n")
        chunk = piece
    with _connect(served) as sock:
        sock.sendall(head)
        sent, answer = _send_until_answered(sock, chunk, total)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Refused at the limit: what was sent is the limit plus what the kernels' socket buffers
    # took meanwhile, far from the 100 MB (and with Content-Length, refused from the header).
    assert sent < 40 * 1024 * 1024, sent
    assert httpx.get(served + BASE_PATH, headers=auth_headers()).status_code == 200


def _closed_by_server(sock: socket.socket, *, trickle: bool, within: float) -> float | None:
    """Seconds until the server closed the connection (after any answer it sent), trickling one
    more header byte every half second if asked; None if it was still open after ``within``."""
    started = time.monotonic()
    sock.settimeout(0.5)
    while time.monotonic() - started < within:
        try:
            if trickle:
                sock.sendall(b"X")  # one more byte of a header line that never ends
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    return None


def test_a_slow_loris_head_is_cut_off_while_others_are_served(served: str) -> None:
    lorises = [_connect(served) for _ in range(50)]
    try:
        for sock in lorises:
            sock.sendall(b"GET " + BASE_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # Other clients are served meanwhile: the lorises hold no worker.
        assert httpx.get(served + BASE_PATH, headers=auth_headers(), timeout=10).status_code == 200
        trickled = _closed_by_server(lorises[0], trickle=True, within=60)
        assert trickled is not None, "a client trickling its head was never cut off"
        for sock in lorises[1:]:  # the silent ones are cut off too
            assert _closed_by_server(sock, trickle=False, within=60) is not None
    finally:
        for sock in lorises:
            sock.close()


def test_a_slow_body_gets_408(served: str) -> None:
    with _connect(served) as sock:
        sock.sendall(_head("POST", "Content-Length: 1000\r\n") + b'{"items": [')
        sock.settimeout(30)
        answer = b""
        try:
            while b"request_timeout" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":"request_timeout"' in answer


def test_a_408_closes_the_connection(served: str) -> None:
    """Many bodies that stop arriving at once: each gets its 408, then the server closes the
    connection (the rest of the body would never be read), under every server."""
    sockets = [_connect(served) for _ in range(20)]
    try:
        for sock in sockets:
            sock.sendall(_head("POST", "Content-Length: 1000\r\n") + b'{"items": [')
        for sock in sockets:
            sock.settimeout(READ_TIMEOUT + 20)
            answer = b""
            try:
                while data := sock.recv(65536):
                    answer += data
            except TimeoutError:
                raise AssertionError(f"still open after the answer: {answer[:60]!r}") from None
            except ConnectionResetError:
                pass
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    finally:
        for sock in sockets:
            sock.close()


def test_an_oversized_head_is_refused_and_a_normal_one_served(served: str) -> None:
    big = {"X-Filler": "y" * (HEAD_LIMIT * 2)}
    try:
        response = httpx.get(served + BASE_PATH, headers={**auth_headers(), **big}, timeout=30)
        assert response.status_code in (400, 431), response.status_code
    except httpx.RemoteProtocolError:
        pass  # closed without an answer: refused too
    normal = {"X-Filler": "y" * (HEAD_LIMIT // 4)}
    response = httpx.get(served + BASE_PATH, headers={**auth_headers(), **normal}, timeout=30)
    assert response.status_code == 200


def test_a_large_body_under_the_limit_is_accepted(served: str) -> None:
    """The head limit does not limit bodies: 20 items of 40 KB (800 KB, under the 1 MiB)."""
    items = [{"role": "user", "content": "z" * 40_000} for _ in range(20)]
    response = httpx.post(served + BASE_PATH, json={"items": items}, headers=auth_headers())
    assert response.status_code == 200, response.text[:300]


def test_a_client_item_id_is_at_most_256_characters(http: httpx.Client) -> None:
    conversation = http.post(BASE_PATH, json={}).json()["id"]
    items = f"{BASE_PATH}/{conversation}/items"
    longest = {"items": [{"role": "user", "content": "a", "id": "m" * 256}]}
    assert http.post(items, json=longest).status_code == 200
    too_long = {"items": [{"role": "user", "content": "a", "id": "m" * 257}]}
    response = http.post(items, json=too_long)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "items[0].id"
    assert http.get(f"{items}/{'m' * 257}").status_code == 404
