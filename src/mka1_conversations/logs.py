"""How the service logs: one configuration (level, json|text, standard error) for our own
loggers and the HTTP server's, the formatter that turns records into JSON lines or text, and
the request log.

Request lines (``http/observe.py``) do not go through ``logging``, which costs more than serving
a get-item (docs/performance.md, "The HTTP face"): ``RequestLog`` writes the same line (the same
fields, the same two formats) straight to standard error, the lines of one turn of the event
loop in one ``write``. A process killed outright loses at most the lines of the turn it was in.
It is on when the process's logging lets INFO through on ``mka1_conversations.request``
(``configure_logging`` at the default level), and off otherwise, as in tests that build the app
without configuring logging. Every other record (start-up, errors) is written with ``logger``
and ``message`` (and ``exc`` for a traceback).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import logging.config
import os
import time
from typing import Any

import msgspec

from .settings import LogFormat, LogLevel, Settings

__all__ = ["REQUEST_LOGGER", "Formatter", "RequestLog", "configure_logging", "logging_config"]

#: The logger of the one-line-per-request log.
REQUEST_LOGGER = "mka1_conversations.request"

_encode = msgspec.json.Encoder().encode


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-12-01T10:52:34.123Z``."""
    seconds = int(created)
    return f"{_second(seconds)}.{int((created - seconds) * 1000):03d}Z"


class Formatter(logging.Formatter):
    """``json``: one JSON object per line. ``text``: ``ts LEVEL message key=value ...``."""

    def __init__(self, style: LogFormat = "json") -> None:
        super().__init__()
        self.json = style == "json"

    def format(self, record: logging.LogRecord) -> str:
        if self.json:
            out: dict[str, Any] = {
                "ts": _timestamp(record.created),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            if record.exc_info:
                out["exc"] = self.formatException(record.exc_info)
            return _encode(out).decode()
        line = f"{_timestamp(record.created)} {record.levelname:<7} {record.name}: "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RequestLog:
    """One line per request on standard error, as ``Formatter`` would write an INFO record with
    these ``fields``. The lines of one turn of the event loop go out together once it is over,
    in as few system calls as fit them whole (at most ``PIPE_BUF`` bytes each, so that the
    lines of several worker processes sharing one pipe never interleave mid-line)."""

    def __init__(self, style: LogFormat, fd: int = 2) -> None:
        self._json = style == "json"
        self._fd = fd
        self._pending: list[bytes] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # where a flush is scheduled

    @classmethod
    def for_process(cls, style: LogFormat) -> RequestLog | None:
        """The request log if this process's logging wants request lines, else None."""
        if logging.getLogger(REQUEST_LOGGER).isEnabledFor(logging.INFO):
            return cls(style)
        return None

    def write(self, fields: dict[str, Any]) -> None:
        ts = _timestamp(time.time())
        if self._json:
            line = _encode({"ts": ts, "level": "INFO", **fields}) + b"\n"
        else:
            line = f"{ts} INFO    {_request_text(fields)}\n".encode()
        self._pending.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop here: at once
            self.flush()
            return
        if self._flush_on is not loop:  # none scheduled (or on a loop that has gone since)
            self._flush_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_on = None
        pending, self._pending = self._pending, []
        chunk: list[bytes] = []
        size = 0
        for line in pending:
            if chunk and size + len(line) > _ATOMIC_WRITE:
                self._write_out(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write_out(b"".join(chunk))

    def _write_out(self, data: bytes) -> None:
        try:  # noqa: SIM105 (no context manager on the hot path)
            os.write(self._fd, data)
        except OSError:  # standard error is gone or full: a request never fails for its log
            pass


_ATOMIC_WRITE = 4096
"""POSIX ``PIPE_BUF`` on Linux: a write to a pipe up to this size is never split."""


def _request_text(f: dict[str, Any]) -> str:
    account = f.get("account") or "-"
    return (
        f"{f['status']} {f['method']} {f['path']} {f['duration_ms']:.1f}ms "
        f"op={f['operation']} account={account} request_id={f['request_id']}"
    )


def logging_config(level: LogLevel, style: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for this process: everything to standard error in one
    format, the servers' own access logs off (our request line replaces them)."""
    handler = {"()": f"{__name__}.Formatter", "style": style}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"mka1": handler},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "mka1",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # Granian's and uvicorn's loggers, folded into ours; their access logs silenced.
            "_granian": {"handlers": [], "propagate": True, "level": level.upper()},
            "granian.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "uvicorn": {"handlers": [], "propagate": True, "level": level.upper()},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level.upper()},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }


def configure_logging(settings: Settings) -> dict[str, Any]:
    """Apply :func:`logging_config` for ``settings`` to this process; returns it (for the
    server, which applies it again in each worker)."""
    config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(config)
    # No line shows thread or process names: do not look them up for every record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return config
