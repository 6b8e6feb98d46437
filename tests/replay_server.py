"""A loopback HTTP server that answers every request with the next canned answer (bytes we
encoded), so that the official SDKs parse our wire shapes through their real clients before the
routes serve them. It records the method, path and body of each request."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["Answer", "ReplayServer", "serve_replay"]


@dataclass(frozen=True)
class Answer:
    body: bytes
    media_type: str = "application/json"
    status: int = 200


@dataclass(frozen=True)
class Asked:
    method: str
    path: str
    body: bytes


class ReplayServer:
    def __init__(self) -> None:
        self.url = ""
        self.asked: list[Asked] = []
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        methods = ["GET", "POST", "DELETE"]
        self.app = Starlette(routes=[Route("/{path:path}", self._answer, methods=methods)])

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self._answers.extend(answers)

    async def _answer(self, request: Request) -> Response:
        self.asked.append(Asked(request.method, request.url.path, await request.body()))
        with self._lock:
            answer = self._answers.popleft() if self._answers else None
        if answer is None:
            return Response(b'{"error": {"message": "nothing to replay"}}', status_code=500)
        return Response(answer.body, answer.status, media_type=answer.media_type)


@contextmanager
def serve_replay() -> Iterator[ReplayServer]:
    from .conftest import serve_asgi

    server = ReplayServer()
    with serve_asgi(server.app) as base:
        server.url = base
        yield server
