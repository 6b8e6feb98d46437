"""How ``serve`` configures the HTTP servers so that no client can hold them: the largest request
head, the time allowed to send it, keep-alive and graceful-shutdown bounds, for Granian (the
default) and uvicorn alike. The body's own limits (size, read time) are enforced by the app
(``http/body.py``), whichever server runs it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings

__all__ = ["SHUTDOWN_GRACE_SECONDS", "HeadTimeoutH11Protocol", "granian_options", "uvicorn_options"]

SHUTDOWN_GRACE_SECONDS = 30
"""On SIGTERM: how long in-flight requests may take to finish before the workers are stopped."""
KEEP_ALIVE_SECONDS = 5
"""An idle keep-alive connection is closed after this long."""


def granian_options(settings: Settings) -> dict[str, Any]:
    from granian.http import HTTP1Settings

    return {
        "http1_settings": HTTP1Settings(
            header_read_timeout=int(settings.read_timeout_seconds * 1000),
            max_buffer_size=settings.max_header_bytes,
        ),
        "workers_kill_timeout": SHUTDOWN_GRACE_SECONDS,
    }


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "http": HeadTimeoutH11Protocol,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
    }


@functools.cache
def _head_timeout() -> float:
    # uvicorn builds the protocol in each worker process, from the same environment.
    return Settings.from_env().read_timeout_seconds


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus what it lacks: a connection that has not sent a complete
    request head within the read timeout (from connecting, or from the end of the previous
    response) is closed, so a slow-loris client holds nothing for long."""

    _head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(_head_timeout(), self._head_timed_out)

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
