"""A TCP proxy that a test can cut (connections dropped, new ones refused) and restore, to play a
database server going away and coming back; or freeze (nothing forwarded, nothing dropped, as a
SIGSTOP'd server or a stalled network) and thaw, in both directions or only the answers."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()`` and ``restore()`` it, ``freeze()``
    and ``thaw()`` it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._requests = threading.Event()  # set: client → server bytes flow
        self._answers = threading.Event()  # set: server → client bytes flow
        self._trigger = b""
        self.thaw()

    def freeze(self, *, answers_only: bool = False) -> None:
        """Hold every byte from now on (or only the server's): connections stay open, new ones
        are accepted and connected, and nothing goes through until ``thaw()``."""
        if not answers_only:
            self._requests.clear()
        self._answers.clear()

    def thaw(self) -> None:
        """Let everything through again, what was held first."""
        self._trigger = b""
        self._requests.set()
        self._answers.set()

    def freeze_answers_after(self, marker: bytes) -> None:
        """Freeze the answers once a request holding ``marker`` (e.g. ``b"COMMIT"``) has gone
        through: the server gets it and does it, its answer is held."""
        self._trigger = marker

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cut()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Drop every connection and stop listening: new connections are refused."""
        if self._listener is not None:
            # shutdown() first: close() alone does not wake the thread blocked in accept(), and
            # the port would go on accepting one more connection.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for a, b, gate in (
                (client, upstream, self._requests),
                (upstream, client, self._answers),
            ):
                threading.Thread(target=self._pump, args=(a, b, gate), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, gate: threading.Event) -> None:
        try:
            while data := source.recv(65536):
                gate.wait()
                if gate is self._requests and self._trigger and self._trigger in data:
                    self._answers.clear()
                    self._trigger = b""
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
