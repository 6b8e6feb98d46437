"""A minimal multi-user chat backend that keeps every chat in the MKA1 Conversations service,
through the official MKA1 SDK (``meetkai-mka1``).

The backend holds ONE API key for all its users and scopes every call to the user it serves
with ``X-On-Behalf-Of``: a user's chats are invisible to every other user, with no ownership
checks in the backend itself. Here the user comes from an ``X-User`` header, standing in for your
own login; the bot is a stand-in for a model call (it would get the history as its input).

    make example                        # one command: starts the service too, serves on :8080
    MKA1_URL=http://127.0.0.1:8000 MKA1_KEY=mk-... python examples/chat_backend.py

Its API (JSON):

    POST   /chats                     {"title"?}      → {"id", "title"}
    GET    /chats                                     → [{"id", "title"}]   newest first
    POST   /chats/{id}/messages       {"text"}        → {"reply"}
    GET    /chats/{id}/messages                       → [{"role", "text"}]  oldest first
    DELETE /chats/{id}                                → {"deleted": true}
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from meetkai_mka1 import SDK  # the distribution's typed module; `import mka1` is the same SDK
from meetkai_mka1.conversations import Conversations
from meetkai_mka1.errors import SDKDefaultError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["create_app", "main", "reply"]


def reply(history: list[dict[str, str]]) -> str:
    """The bot: a stand-in for a model that is given the whole chat so far."""
    turns = sum(1 for m in history if m["role"] == "user")
    return f"You said: {history[-1]['text']!r} (message {turns} of this chat)"


def _text(item: Any) -> str:
    data: dict[str, Any] = item.model_dump(mode="json", by_alias=True)
    return "".join(part.get("text", "") for part in data.get("content") or [])


class _NoUser(Exception):
    pass


def _user(request: Request) -> str:
    user = request.headers.get("x-user", "").strip()
    if not user:
        raise _NoUser
    return user


def create_app(url: str, key: str) -> Starlette:
    """The backend's ASGI app: one SDK client for all users, open while the app runs."""
    clients: list[SDK] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with SDK(bearer_auth=key, server_url=url) as sdk:
            clients.append(sdk)
            yield

    def chats() -> Conversations:
        conversations: Conversations = clients[0].llm.conversations
        return conversations

    async def history(user: str, chat_id: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        after: str | None = None
        while True:  # every page, oldest first
            page = await chats().list_items_async(
                conversation_id=chat_id, after=after, limit=100, x_on_behalf_of=user
            )
            for item in page.data:
                data = item.model_dump(mode="json", by_alias=True)
                out.append({"role": data.get("role", "assistant"), "text": _text(item)})
            if not page.has_more:
                return out
            after = page.last_id

    async def new_chat(request: Request) -> JSONResponse:
        body = await request.json() if await request.body() else {}
        title = str(body.get("title") or "New chat")[:512]
        conv = await chats().create_async(metadata={"title": title}, x_on_behalf_of=_user(request))
        return JSONResponse({"id": conv.id, "title": title})

    async def list_chats(request: Request) -> JSONResponse:
        page = await chats().list_async(order="desc", limit=50, x_on_behalf_of=_user(request))
        return JSONResponse(
            [{"id": c.id, "title": (c.metadata or {}).get("title")} for c in page.data]
        )

    async def send(request: Request) -> JSONResponse:
        user, chat_id = _user(request), request.path_params["chat_id"]
        text = str((await request.json()).get("text", "")).strip()
        if not text:
            return JSONResponse({"error": "text is required"}, status_code=400)
        user_message: Any = {"type": "message", "role": "user", "content": text}
        await chats().create_items_async(
            conversation_id=chat_id, items=[user_message], x_on_behalf_of=user
        )
        answer = reply(await history(user, chat_id))
        assistant: Any = {
            "type": "message",
            "role": "assistant",
            "id": "msg_" + secrets.token_hex(16),
            "status": "completed",
            "content": [{"type": "output_text", "text": answer, "annotations": []}],
        }
        await chats().create_items_async(
            conversation_id=chat_id, items=[assistant], x_on_behalf_of=user
        )
        return JSONResponse({"reply": answer})

    async def messages(request: Request) -> JSONResponse:
        return JSONResponse(await history(_user(request), request.path_params["chat_id"]))

    async def delete_chat(request: Request) -> JSONResponse:
        chat_id = request.path_params["chat_id"]
        await chats().delete_async(conversation_id=chat_id, x_on_behalf_of=_user(request))
        return JSONResponse({"deleted": True})

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SDKDefaultError)
        if exc.status_code == 404:  # another user's chat, or none: the service says 404
            return JSONResponse({"error": "no such chat"}, status_code=404)
        return JSONResponse({"error": "the conversation service failed"}, status_code=502)

    async def no_user(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "log in first (X-User header)"}, status_code=401)

    return Starlette(
        routes=[
            Route("/chats", new_chat, methods=["POST"]),
            Route("/chats", list_chats, methods=["GET"]),
            Route("/chats/{chat_id}/messages", send, methods=["POST"]),
            Route("/chats/{chat_id}/messages", messages, methods=["GET"]),
            Route("/chats/{chat_id}", delete_chat, methods=["DELETE"]),
        ],
        exception_handlers={SDKDefaultError: not_found, _NoUser: no_user},
        lifespan=lifespan,
    )


@contextlib.contextmanager
def _service() -> Iterator[tuple[str, str]]:
    """Start the conversations service on SQLite in a temporary folder; yield its URL and key."""
    key = "mk-example-" + secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "MKA1_DATABASE_URL": f"sqlite:///{folder}/mka1.db",
            "MKA1_API_KEYS": f"{key}=example",
            "MKA1_LOG_FORMAT": "text",
            "MKA1_LOG_LEVEL": "warning",
        }
        cli = [sys.executable, "-m", "mka1_conversations"]
        subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
        port = os.environ.get("MKA1_SERVICE_PORT", "8001")
        service = subprocess.Popen([*cli, "serve", "--port", port], env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):  # up to 30 s
                try:
                    with urllib.request.urlopen(url + "/readyz", timeout=1):  # noqa: S310
                        break
                except OSError:
                    if service.poll() is not None:
                        raise SystemExit("the conversations service did not start") from None
                    time.sleep(0.1)
            yield url, key
        finally:
            service.terminate()
            service.wait(timeout=15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A multi-user chat backend on MKA1 Conversations.")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    # uvicorn re-raises SIGTERM after its graceful shutdown: exit through the `with` below, so
    # that the service this started stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.ExitStack() as stack:
        url, key = os.environ.get("MKA1_URL", ""), os.environ.get("MKA1_KEY", "")
        if not url:
            url, key = stack.enter_context(_service())
            print(f"conversations service started at {url}", file=sys.stderr)
        elif not key:
            raise SystemExit("MKA1_URL is set: set MKA1_KEY to its API key too")

        print(
            f"chat backend on http://127.0.0.1:{args.port}, try:\n"
            f"  curl -s -X POST localhost:{args.port}/chats -H 'X-User: alice'",
            file=sys.stderr,
        )
        backend = create_app(url, key)
        uvicorn.run(backend, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
