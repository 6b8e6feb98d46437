"""Raw HTTP/1.1 over a socket, for requests no client library would send: any bytes out, one
answer back (status, headers, body), and whether the server then closed the connection."""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Answer", "exchange", "request_bytes"]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes
    closed: bool
    """The server closed the connection after its answer."""

    def envelope(self) -> dict[str, Any]:
        """The error envelope's ``error`` object; AssertionError if the body is not one."""
        media = self.headers.get("content-type", "").split(";")[0].strip()
        assert media == "application/json", (self.status, self.headers, self.body[:200])
        document = json.loads(self.body)
        assert isinstance(document, dict) and set(document) == {"error"}, document
        error = document["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"], error
        assert "Traceback" not in error["message"]
        assert isinstance(error, dict)
        return error


def request_bytes(
    method: str | bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    verb = method.encode() if isinstance(method, str) else method
    lines = [verb + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def exchange(
    url: str,
    data: bytes,
    *,
    half_close: bool = False,
    timeout: float = 30,
    close_wait: float = 2,
    bodiless: bool = False,
) -> Answer:
    """Send ``data`` (then half-close, if asked), read the first final answer whole (skipping
    any ``100 Continue``; without its body if ``bodiless``, as for HEAD), then wait up to
    ``close_wait`` seconds for the server to close the connection."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while sending: the answer may be waiting all the same
        received = b""
        closed = False
        deadline = time.monotonic() + timeout
        try:
            while b"\r\n\r\n" not in received or re.match(rb"HTTP/1.1 1\d\d ", received):
                if b"\r\n\r\n" in received:  # an interim answer: the final one follows
                    received = received.partition(b"\r\n\r\n")[2]
                    continue
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                received += chunk
                assert time.monotonic() < deadline, "no complete answer head"
        except ConnectionResetError:
            closed = True
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 "), f"no answer: {received[:200]!r}"
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if bodiless else int(headers.get("content-length", "0"))
        try:
            while len(body) < length and not closed:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                body += chunk
            if not closed and close_wait > 0:  # a closing server does so at once
                sock.settimeout(close_wait)
                closed = sock.recv(1) == b""
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
        return Answer(int(status_line.split()[1]), headers, body[:length], closed)
