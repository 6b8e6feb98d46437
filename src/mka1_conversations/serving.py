"""How ``serve`` configures the HTTP servers so that no client can hold them, for Granian (the
default) and uvicorn alike: how many connections a worker holds, the time allowed to send a
request head (which also closes idle connections), keep-alive and graceful-shutdown bounds, and
the largest head the server reads. The app's own limits (head and URL size, body size and read
time) are enforced by the app (``http/head_limit.py``, ``http/body.py``), whichever server runs it.

The servers read heads up to twice ``MKA1_MAX_HEADER_BYTES``, so that a head over the limit
reaches the app and is answered in the error envelope. What a server still refuses itself (a
request it cannot parse, a head past its own bound): uvicorn's protocol here answers it in the
envelope too; Granian's parser (hyper) answers with a status and no body, which nothing in
Granian can change (docs/security.md lists each case).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from .domain.errors import HeadersTooLarge, InvalidRequest, ServiceError, UriTooLong
from .http.errors import error_bytes
from .http.head_limit import MAX_URL_BYTES
from .settings import Settings

__all__ = [
    "SHUTDOWN_GRACE_SECONDS",
    "ServiceH11Protocol",
    "granian_options",
    "raise_open_file_limit",
    "server_head_bytes",
    "uvicorn_options",
]

SHUTDOWN_GRACE_SECONDS = 30
"""On SIGTERM: how long in-flight requests may take to finish before the workers are stopped."""
KEEP_ALIVE_SECONDS = 5
"""uvicorn: an idle keep-alive connection is closed after this long. (Granian closes one after
the read timeout: its head timer runs from the end of the previous response.)"""
OPEN_FILES_WANTED = 65_536
"""``serve`` raises its soft open-file limit to this (or to the hard limit, if lower): every
connection is an open file."""
FILES_RESERVED = 128
"""Open files a worker keeps for other uses than connections (besides its database pool)."""


def server_head_bytes(settings: Settings) -> int:
    """The largest request head the servers read: twice the app's limit."""
    return 2 * settings.max_header_bytes


def raise_open_file_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise this process's soft limit of open files (inherited by the workers) towards
    ``wanted``, within the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # not allowed here: keep what we have
            pass
    return wanted if soft == resource.RLIM_INFINITY else soft


def granian_options(settings: Settings, open_files: int) -> dict[str, Any]:
    """HTTP/1 only: Granian's automatic HTTP/2 detection waits for a first byte with no time
    limit, so a connection that never sends one would be held forever; with HTTP/1 alone the
    head timer runs from the connection's start (and from the end of each response, which closes
    idle keep-alive connections). ``backpressure`` is how many connections a worker holds at
    once (Granian's default, 1,024 ÷ workers, let a thousand idle sockets stop all service):
    every file the worker may open except those its database and itself need, so that a worker
    never stops accepting before the operating system would. No WebSocket upgrade (on either
    server): the service has no WebSocket endpoint."""
    from granian.constants import HTTPModes
    from granian.http import HTTP1Settings

    return {
        "http": HTTPModes.http1,
        "websockets": False,
        "backpressure": max(128, open_files - settings.db_pool_size - FILES_RESERVED),
        "http1_settings": HTTP1Settings(
            header_read_timeout=int(settings.read_timeout_seconds * 1000),
            max_buffer_size=server_head_bytes(settings),
        ),
        "workers_kill_timeout": SHUTDOWN_GRACE_SECONDS,
    }


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "http": ServiceH11Protocol,
        "ws": "none",
        "h11_max_incomplete_event_size": server_head_bytes(settings),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
    }


@functools.cache
def _settings() -> Settings:
    # uvicorn builds the protocol in each worker process, from the same environment.
    return Settings.from_env()


def _unparsable(buffered: bytes, settings: Settings) -> ServiceError:
    """What a request h11 refused is answered with: past the server's head bound, 414 if the
    request line never ended, 431 otherwise; any other parse error, 400."""
    if len(buffered) > server_head_bytes(settings):
        if b"\n" not in buffered:
            return UriTooLong(min(settings.max_header_bytes, MAX_URL_BYTES))
        return HeadersTooLarge(settings.max_header_bytes)
    return InvalidRequest(
        "Invalid HTTP request: it could not be parsed (a malformed request line or header, bytes "
        "HTTP does not allow in them, or a body badly framed or ended before its length).",
        code="malformed_request",
        headers={"connection": "close"},
    )


class ServiceH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus what it lacks:

    - a connection that has not sent a complete request head within the read timeout (from
      connecting, or from the end of the previous response) is closed, so a slow-loris client
      holds nothing for long;
    - a request h11 cannot parse, or whose body the client ended early (half-closing its side),
      is answered in the error envelope (uvicorn's own answer is a text/plain 400, or nothing),
      then the connection is closed."""

    _head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(
            _settings().read_timeout_seconds, self._head_timed_out
        )

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's own type
        if self.conn.their_state is h11.SEND_BODY:
            # Half-closed in the middle of a body: h11 refuses the unfinished request
            # (send_400_response), where uvicorn would drop the connection without a word.
            self.conn.receive_data(b"")
            self.handle_events()
            return True
        return None  # uvicorn's behaviour: the transport closes

    def send_400_response(self, msg: str) -> None:
        err = _unparsable(self.conn.trailing_data[0], _settings())
        body = error_bytes(err, err.code)  # before routing: no face yet, so the error's own code
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
            (b"x-request-id", os.urandom(16).hex().encode()),
        ]
        # Unless the app has begun its answer to this request (then it can only be cut short).
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            events = (
                h11.Response(
                    status_code=err.status, headers=headers, reason=STATUS_PHRASES[err.status]
                ),
                h11.Data(data=body),
                h11.EndOfMessage(),
            )
            with contextlib.suppress(h11.LocalProtocolError):
                for event in events:
                    self.transport.write(self.conn.send(event))
        self.transport.close()
