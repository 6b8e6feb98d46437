"""A small HTTP/1.1 client for one origin (the model server): a pool of keep-alive connections
over asyncio's transports, answers parsed by httptools (llhttp, the parser uvicorn uses), read
whole or chunk by chunk as they arrive (Content-Length, chunked, or up to the end of the
connection; gzip and deflate decoded).

``Pool.request`` sends one request and returns its ``Answer`` once the status and headers are
in; the body follows through ``Answer.read`` or ``Answer.chunks``. A connection goes back to
the pool when its answer has been read to the end and the server keeps it alive; otherwise it
is closed. A request that fails on a reused connection before a byte of its answer arrived
(the server closed an idle connection as the request went out) is sent again, once, on a new
one. A timeout bounds the connect and each wait for the answer's next bytes, as httpx's read
timeout does.

Exceptions::

    HTTPFailure
    ├── ConnectFailed       no connection: refused, unknown host, TLS, connect timeout
    ├── ReadTimeout         no byte of the answer for ``timeout`` seconds
    └── ConnectionBroken    the connection closed, or sent what is not HTTP, mid-answer
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["Answer", "ConnectFailed", "ConnectionBroken", "HTTPFailure", "Pool", "ReadTimeout"]

_PAUSE_AT = 1 << 20
"""Stop reading from the socket while this many bytes wait for the reader."""

_LINGER_SECONDS = 2.0
"""How long a connection whose reader has all it needs (``Answer.release``) waits for the rest
of the answer, so as to be kept, before it is closed."""


class HTTPFailure(Exception):
    """The request got no complete answer."""


class ConnectFailed(HTTPFailure):
    """No connection could be opened."""


class ReadTimeout(HTTPFailure):
    """The answer's next bytes did not come in time."""


class ConnectionBroken(HTTPFailure):
    """The connection ended, or broke the protocol, before the answer was complete."""


class Answer:
    """One answer: its status, reason and headers (names lower case, repeated ones joined by
    ``", "``), then its body."""

    __slots__ = ("_connection", "headers", "reason", "status")

    def __init__(self, connection: _Connection, status: int, reason: str, headers: dict[str, str]):
        self._connection = connection
        self.status = status
        self.reason = reason
        self.headers = headers

    async def read(self) -> bytes:
        """The whole body."""
        parts = [chunk async for chunk in self.chunks()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; the connection is given back (or closed) at its end."""
        connection = self._connection
        try:
            while chunk := await connection.next_body():
                yield chunk
        finally:
            connection.finish()

    def close(self) -> None:
        """Stop reading: an unfinished answer's connection is closed."""
        self._connection.finish()

    def release(self) -> None:
        """The reader has all it needs (a stream's ``[DONE]``): the rest of the body, which
        usually follows at once (the end of a chunked body), is read and dropped, and the
        connection kept if it ends within a moment; closed otherwise."""
        self._connection.linger()


class Pool:
    """Connections to the origin of ``url`` (``http`` or ``https``), each used by one request at
    a time; up to ``keep`` idle ones are kept for reuse."""

    def __init__(
        self, url: str, *, timeout: float, connect_timeout: float, keep: int = 100
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        default_port = self.port == (443 if self._ssl else 80)
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = name if default_port else f"{name}:{self.port}"
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._keep = keep
        self._idle: deque[_Connection] = deque()
        self._closed = False

    async def request(self, method: str, target: str, headers: bytes, body: bytes) -> Answer:
        """Send ``method target`` with the header lines ``headers`` (each ending in CRLF; Host
        and Content-Length are added) and ``body``; the answer once its head is in."""
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            method.encode(),
            target.encode(),
            self.authority.encode(),
            len(body),
            headers,
        )
        message = head + body
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable():
                try:
                    return await connection.exchange(message)
                except ConnectionBroken:
                    if connection.answered:
                        raise
                break  # an idle connection the server had closed: once more, on a new one
        return await (await self._connect()).exchange(message)

    async def aclose(self) -> None:
        """Close the idle connections; busy ones close when their answers end."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _give_back(self, connection: _Connection) -> None:
        if self._closed or len(self._idle) >= self._keep:
            connection.close()
        else:
            self._idle.append(connection)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"{self.authority}: {exc or type(exc).__name__}") from exc
        return connection


class _Connection(asyncio.Protocol):
    """One connection and the answer it is reading (httptools calls the ``on_*`` methods)."""

    # The answer being read (``_reset`` sets them before each request).
    _status: int
    _reason: bytes
    _headers: list[tuple[bytes, bytes]]
    _head_done: bool
    _body: list[bytes]
    _buffered: int
    _decoder: zlib._Decompress | None
    _complete: bool
    _finished: bool
    _lingering: bool
    _keep_alive: bool
    _failure: HTTPFailure | None
    answered: bool
    """Whether any byte of the current answer arrived."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._paused = False
        self._busy = False
        self._reset()

    # --- what the pool and the answer use ------------------------------------------------------

    def reusable(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def exchange(self, message: bytes) -> Answer:
        """Send a request; wait for its answer's head."""
        assert self._transport is not None and not self._busy
        self._reset()
        self._busy = True
        self._transport.write(message)
        try:
            while not self._head_done:
                await self._wait()
        except BaseException:
            self.close()
            raise
        headers: dict[str, str] = {}
        for raw_name, raw_value in self._headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # either, by its header
        return Answer(self, self._status, self._reason.decode("latin-1"), headers)

    async def next_body(self) -> bytes:
        """The next bytes of the body; b"" at its end."""
        while not self._body:
            if self._complete:
                return self._flush()
            await self._wait()
        data = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self.close()
                raise ConnectionBroken(f"the body does not decompress: {exc}") from None
            if not data:
                return await self.next_body()
        return data

    def finish(self) -> None:
        """The reader is done with the answer: keep the connection if the answer was read to
        its end and the server keeps it alive, close it otherwise (a lingering one decides
        when its answer ends)."""
        if self._finished or self._lingering:
            return
        self._finished = True
        self._busy = False
        self._cancel_timer()
        keep = self._complete and not self._body and self._keep_alive
        if keep and self.reusable():
            self._pool._give_back(self)
            return
        self.close()

    def close(self) -> None:
        self._cancel_timer()
        self._lingering = False
        if self._transport is not None:
            self._transport.close()

    def linger(self) -> None:
        """``Answer.release``: drop the rest of the answer as it comes, keep the connection if
        the answer ends within ``_LINGER_SECONDS``."""
        if self._finished or self._complete or self._failure is not None:
            self.finish()
            return
        self._lingering = True
        self._body.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._cancel_timer()
        self._timer = self._loop.call_later(_LINGER_SECONDS, self._stop_lingering)

    def _stop_lingering(self) -> None:
        self._timer = None
        if self._lingering:
            self._finished = True
            self._busy = False
            self.close()

    # --- waiting --------------------------------------------------------------------------------

    async def _wait(self) -> None:
        if self._failure is not None:
            raise self._failure
        waiter = self._waiter = self._loop.create_future()
        self._last = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._last + self._pool.timeout, self._check_time)
        try:
            await waiter
        finally:
            self._waiter = None
        if self._failure is not None:
            raise self._failure

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_time(self) -> None:
        """The timer: fail the wait when nothing arrived for ``timeout`` seconds (a timer
        re-armed only when it fires, rather than on every read)."""
        self._timer = None
        if self._waiter is None or self._complete or self._failure is not None:
            return
        due = self._last + self._pool.timeout
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check_time)
            return
        self._fail(ReadTimeout(f"no answer within {self._pool.timeout:g} seconds"))
        self.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, failure: HTTPFailure) -> None:
        if self._failure is None and not self._complete:
            self._failure = failure
        self._wake()

    def _reset(self) -> None:
        """The state of one answer, as it is before its first byte."""
        self._status = 0
        self._reason = b""
        self._headers = []
        self._head_done = False
        self._body = []
        self._buffered = 0
        self._decoder = None
        self._complete = False
        self._finished = False
        self._lingering = False
        self._keep_alive = False
        self._failure = None
        self.answered = False

    def _flush(self) -> bytes:
        if self._decoder is None:
            return b""
        decoder, self._decoder = self._decoder, None
        return decoder.flush()

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # bytes nobody asked for: this connection can't be trusted
            self.close()
            return
        self.answered = True
        self._last = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionBroken(f"the model server's answer is not HTTP/1.1: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        # An answer without a length ends with its connection.
        if self._busy and self._head_done and not self._complete and not self._chunked_or_sized():
            self._complete = True
            self._wake()
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._cancel_timer()
        self._fail(ConnectionBroken("the model server closed the connection mid-answer"))

    # --- httptools callbacks ----------------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (103 Early Hints…): wait for the real one
            self._headers = []
            self._reason = b""
            return
        self._status = status
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._lingering:
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _PAUSE_AT and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self._head_done:
            return  # the end of an interim answer
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()  # known inside this callback only
        self._cancel_timer()
        if self._lingering:
            self._lingering = False
            self.finish()
            return
        self._wake()

    def _chunked_or_sized(self) -> bool:
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return True
        return False
