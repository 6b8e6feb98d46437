"""The model server's HTTP/1.1 client against servers on loopback: real uvicorn where a normal
server does, and a scripted raw socket server for what only a raw one can do (answers that end
with their connection, interim answers, broken bytes, a keep-alive connection the server closed,
a body bigger than the read buffer)."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mka1_conversations.upstream import http11
from mka1_conversations.upstream.http11 import (
    ConnectFailed,
    ConnectionBroken,
    Pool,
    ReadTimeout,
)

from ..conftest import free_port

Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on loopback that runs ``handler`` per connection and counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(self, reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(accepted, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        request = await read_request(reader)
        self.requests.append(request)
        return request


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request: its head and its Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


async def raw_server(handler: Handler) -> RawServer:
    return await RawServer(handler).__aenter__()


def pool_for(url: str, timeout: float = 5.0) -> Pool:
    return Pool(url, timeout=timeout, connect_timeout=2.0)


async def post(pool: Pool, body: bytes = b"{}") -> tuple[int, dict[str, str], bytes]:
    answer = await pool.request("POST", "/v1/chat/completions", b"X-Test: 1\r\n", body)
    return answer.status, answer.headers, await answer.read()


def serve_answers(
    *answers: bytes, close_after: bool = False, close_at_end: bool = False
) -> Handler:
    """A handler that answers each request on a connection with the next of ``answers`` (and
    closes the connection after the first, or after the last)."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for answer in answers:
            await server.read_request(reader)
            writer.write(answer)
            await writer.drain()
            if close_after:
                return
        if not close_at_end:
            await reader.read()  # keep the connection until the client closes it

    return handler


def endless_answer(closed: asyncio.Event) -> Handler:
    """A handler that starts a chunked answer, never ends it, and sets ``closed`` when the
    client closes the connection."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await reader.read()  # until the client closes
        closed.set()

    return handler


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


async def test_the_request_as_sent_and_a_kept_connection() -> None:
    server = await raw_server(serve_answers(OK, OK, OK))
    pool = pool_for(server.url)
    try:
        for _ in range(3):
            status, headers, body = await post(pool, b'{"a":1}')
            assert (status, body) == (200, b'{"ok":true}')
            assert headers["content-type"] == "application/json"
        assert server.connections == 1  # one connection, kept alive, for all three
        first = server.requests[0]
        assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{server.url.split(':')[2].split('/')[0]}\r\n".encode() in first
        assert b"Content-Length: 7\r\n" in first and b"X-Test: 1\r\n" in first
        assert first.endswith(b'\r\n\r\n{"a":1}')
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_chunked_and_to_the_end_of_the_connection_and_repeated_headers() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    to_the_end = b"HTTP/1.1 200 OK\r\n\r\nall of it"
    server = await raw_server(serve_answers(chunked, to_the_end, close_at_end=True))
    pool = pool_for(server.url)
    try:
        status, headers, body = await post(pool)
        assert (status, body, headers["x-a"]) == (200, b"abcde", "1, 2")
        status, _, body = await post(pool)  # same connection; the server then closes it
        assert (status, body) == (200, b"all of it")
        assert not pool._idle  # an answer that ended with its connection leaves nothing to keep
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_an_interim_answer_is_skipped_and_the_reason_kept() -> None:
    answer = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    )
    server = await raw_server(serve_answers(answer))
    pool = pool_for(server.url)
    try:
        reply = await pool.request("POST", "/v1/chat/completions", b"", b"{}")
        assert (reply.status, reply.reason, await reply.read()) == (503, "Service Unavailable", b"")
        assert "link" not in reply.headers
    finally:
        await pool.aclose()
        await server.__aexit__()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_is_decoded(encoding: str) -> None:
    data = b'{"text": "' + b"word " * 2000 + b'"}'
    packed = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n"
        % (encoding.encode(), len(packed))
    ) + packed
    server = await raw_server(serve_answers(answer))
    pool = pool_for(server.url)
    try:
        assert (await post(pool))[2] == data
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_a_big_body_arrives_whole_chunk_by_chunk() -> None:
    data = bytes(range(256)) * 20_000  # 5 MB: more than the client buffers before pausing
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data
    server = await raw_server(serve_answers(answer))
    pool = pool_for(server.url)
    try:
        reply = await pool.request("POST", "/v1/chat/completions", b"", b"{}")
        received = bytearray()
        async for chunk in reply.chunks():
            received += chunk
            await asyncio.sleep(0)  # a slow reader: the socket is paused and resumed
        assert bytes(received) == data
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_a_kept_connection_the_server_closed_is_replaced_once() -> None:
    server = await raw_server(serve_answers(OK, close_after=True))
    pool = pool_for(server.url)
    try:
        assert (await post(pool))[0] == 200
        await asyncio.sleep(0.1)  # the server has closed it by now; the client may not know yet
        assert (await post(pool))[0] == 200
        assert server.connections == 2
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_a_connection_closed_mid_answer_is_broken() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
    server = await raw_server(serve_answers(cut, close_after=True))
    pool = pool_for(server.url)
    try:
        with pytest.raises(ConnectionBroken):
            await post(pool)
        assert server.connections == 1  # an answer had begun: not sent again
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_bytes_that_are_not_http_are_broken() -> None:
    server = await raw_server(serve_answers(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))
    pool = pool_for(server.url)
    try:
        with pytest.raises(ConnectionBroken, match=r"not HTTP/1\.1"):
            await post(pool)
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_no_answer_in_time_is_a_read_timeout_and_the_connection_is_not_kept() -> None:
    async def silent(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()

    server = await raw_server(silent)
    pool = pool_for(server.url, timeout=0.3)
    try:
        with pytest.raises(ReadTimeout):
            await post(pool)
        assert not pool._idle
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_the_timeout_bounds_each_wait_not_the_whole_answer() -> None:
    async def trickle(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(6):  # 1.2 s in all, each piece well within the 0.5 s timeout
            await asyncio.sleep(0.2)
            writer.write(b"1\r\nx\r\n")
        writer.write(b"0\r\n\r\n")
        await reader.read()

    server = await raw_server(trickle)
    pool = pool_for(server.url, timeout=0.5)
    try:
        assert (await post(pool))[2] == b"xxxxxx"
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_refused_and_unknown_hosts_fail_to_connect() -> None:
    pool = pool_for(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ConnectFailed):
        await post(pool)
    pool = pool_for("http://no-such-host.invalid/v1")
    with pytest.raises(ConnectFailed):
        await post(pool)


async def test_a_released_answer_keeps_its_connection_once_its_body_ends() -> None:
    async def stream(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for _ in range(2):
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"e\r\ndata: [DONE]\n\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)  # the end of the body comes after the reader stopped
            writer.write(b"0\r\n\r\n")
        await reader.read()

    server = await raw_server(stream)
    pool = pool_for(server.url)
    try:
        for _ in range(2):
            reply = await pool.request("POST", "/v1/chat/completions", b"", b"{}")
            async for chunk in reply.chunks():
                assert chunk == b"data: [DONE]\n\n"
                break
            reply.release()
            await asyncio.sleep(0.3)
            assert len(pool._idle) == 1
        assert server.connections == 1
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_a_released_answer_that_does_not_end_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http11, "_LINGER_SECONDS", 0.2)
    closed = asyncio.Event()
    server = await raw_server(endless_answer(closed))
    pool = pool_for(server.url)
    try:
        reply = await pool.request("POST", "/v1/chat/completions", b"", b"{}")
        async for _ in reply.chunks():
            break
        reply.release()
        await asyncio.wait_for(closed.wait(), 2)
        assert not pool._idle
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_a_closed_unfinished_answer_closes_its_connection() -> None:
    closed = asyncio.Event()
    server = await raw_server(endless_answer(closed))
    pool = pool_for(server.url)
    try:
        reply = await pool.request("POST", "/v1/chat/completions", b"", b"{}")
        reply.close()  # a client that went away: the model server should stop at once
        await asyncio.wait_for(closed.wait(), 2)
    finally:
        await pool.aclose()
        await server.__aexit__()


async def test_a_cancelled_request_closes_its_connection() -> None:
    closed = asyncio.Event()

    async def slow(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        await reader.read()
        closed.set()

    server = await raw_server(slow)
    pool = pool_for(server.url)
    try:
        task = asyncio.ensure_future(post(pool))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 2)
        assert not pool._idle
    finally:
        await pool.aclose()
        await server.__aexit__()


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Pool("ftp://example.com/v1", timeout=1, connect_timeout=1)
    assert Pool("http://[::1]:8001/v1", timeout=1, connect_timeout=1).authority == "[::1]:8001"
    assert Pool("https://api.openai.com/v1", timeout=1, connect_timeout=1).authority == (
        "api.openai.com"
    )


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return tmp_path


@pytest.fixture
async def tls_server(certificate: Path) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    yield f"https://127.0.0.1:{port}/v1"
    server.close()


async def test_https_with_a_trusted_certificate(
    tls_server: str, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate / "cert.pem"))  # read by OpenSSL
    pool = pool_for(tls_server)
    try:
        assert (await post(pool))[2] == b'{"ok":true}'
    finally:
        await pool.aclose()


async def test_https_with_an_untrusted_certificate_fails_to_connect(tls_server: str) -> None:
    pool = pool_for(tls_server)
    with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
        await post(pool)
