"""The floor: the least a Python server can do for the benchmark's requests.

A raw ASGI app with no framework, no middleware, no auth and no validation beyond what msgspec
does while decoding. It parses the same bodies with msgspec, normalises items the same way
(ids, ``status``, ``response_id``, string content into ``input_text`` parts), and runs the very
same SQL as ``mka1_conversations.store.sqlite`` on the same schema and PRAGMAs, every statement
inline on the event loop. It answers the same JSON. Served by Granian exactly as
``mka1-conversations serve`` serves the real app::

    FLOOR_DATABASE=/tmp/x.db python bench/floor_app.py --port 8001

Only the routes the benchmark uses exist; anything else is a 404. Two knobs, off by default, are
for experiments only (docs/performance.md, "Tails"): ``FLOOR_PRAGMAS="synchronous = OFF;…"`` and
``FLOOR_CHECKPOINT_THREAD=<seconds>`` (checkpoints from a thread instead of on commit).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BASE = "/api/v1/llm/conversations"
#: The OpenAI face's mount: the floor serves it as the same routes (it has no dialects).
V1_BASE = "/v1/conversations"
ACCOUNT = "bench"


class CreateBody(msgspec.Struct):
    metadata: dict[str, str] | None = None
    items: list[dict[str, Any]] | None = None


class ItemsBody(msgspec.Struct):
    items: list[dict[str, Any]]


class Conversation(msgspec.Struct):
    id: str
    created_at: int
    deleted_at: int | None
    metadata: dict[str, str]
    identity: str
    object: str = "conversation"


_encode = msgspec.json.Encoder().encode
_decode_create = msgspec.json.Decoder(CreateBody).decode
_decode_items = msgspec.json.Decoder(ItemsBody).decode
_decode_metadata = msgspec.json.Decoder(dict[str, str]).decode
_WORD = re.compile(r"[^\W_]+")
_JSON = [(b"content-type", b"application/json")]
_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


def _words(text: str) -> list[str]:
    """Folded words (NFKD, no combining marks, casefolded): what the search index holds."""
    if text.isascii():  # as the service's fold: NFKD leaves ASCII as it is
        return _WORD.findall(text.casefold())
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return _WORD.findall(folded)


def _normalise(raw: dict[str, Any]) -> tuple[str, str, bytes, str]:
    """(id, type, stored JSON, search text), as prepare_items makes them, without its checks."""
    kind = raw.get("type") or "message"
    item_id = raw.get("id") or f"{_PREFIX.get(kind, 'item')}_{secrets.token_hex(16)}"
    out: dict[str, Any] = {"id": item_id, "type": kind}
    for key, value in raw.items():
        if key not in ("id", "type", "response_id"):
            out[key] = value
    if out.get("status") is None:
        out["status"] = "completed"
    texts: list[str] = []
    if kind == "message":
        content = out["content"]
        if isinstance(content, str):
            out["content"] = [{"type": "input_text", "text": content}]
        texts = [p.get("text") or p.get("refusal") or "" for p in out["content"]]
    elif kind == "function_call":
        texts = [out["name"], out["arguments"]]
    elif kind == "function_call_output":
        texts = [out["output"]]
    out["response_id"] = None
    document = " ".join(" ".join(_words(t)) for t in texts if t)
    return item_id, kind, _encode(out), document


def _list(data: list[bytes], ids: list[str], has_more: bool) -> bytes:
    return b"".join(
        (
            b'{"object":"list","data":[',
            b",".join(data),
            b'],"first_id":',
            _encode(ids[0] if ids else ""),
            b',"last_id":',
            _encode(ids[-1] if ids else ""),
            b',"has_more":',
            b"true" if has_more else b"false",
            b"}",
        )
    )


class Floor:
    def __init__(self, path: str) -> None:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA cache_size = -32768")
        for pragma in filter(None, os.environ.get("FLOOR_PRAGMAS", "").split(";")):
            db.execute(f"PRAGMA {pragma}")  # experiments only, e.g. "wal_autocheckpoint = 0"
        self.db = db
        interval = float(os.environ.get("FLOOR_CHECKPOINT_THREAD") or 0)
        if interval > 0:  # experiment: checkpoints (and their fsyncs) off the event loop
            db.execute("PRAGMA wal_autocheckpoint = 0")
            threading.Thread(target=_checkpointer, args=(path, interval), daemon=True).start()

    # --- the operations (the Store's SQL) -----------------------------------------------------

    def create(self, owner: str, body: bytes) -> bytes:
        req = _decode_create(body or b"{}")
        metadata = req.metadata or {}
        items = [_normalise(r) for r in req.items or []]
        conversation_id = f"conv_{secrets.token_hex(16)}"
        now = int(time.time())
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO conversations (id, owner_id, created_at, updated_at, metadata, "
                "next_seq) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    owner,
                    now,
                    time.time_ns() // 1000,
                    _encode(metadata),
                    len(items),
                ),
            )
            if metadata:
                db.executemany(
                    "INSERT INTO conversation_metadata (conversation_id, owner_id, key, value) "
                    "VALUES (?, ?, ?, ?)",
                    [(conversation_id, owner, k, v) for k, v in metadata.items()],
                )
            self._insert(owner, conversation_id, items, 1, now)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return _encode(Conversation(conversation_id, now, None, metadata, _identity(owner)))

    def _insert(
        self,
        owner: str,
        conversation_id: str,
        items: list[tuple[str, str, bytes, str]],
        first: int,
        now: int,
    ) -> None:
        self.db.executemany(
            "INSERT INTO items (owner_id, conversation_id, seq, id, type, created_at, data, "
            "search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (owner, conversation_id, first + n, i, t, now, d, s)
                for n, (i, t, d, s) in enumerate(items)
            ],
        )
        words: dict[str, int] = {}
        for _, _, _, text in items:
            for word in set(text.split()):
                words[word] = words.get(word, 0) + 1
        if first == 1:  # a creation counts its words (store/words.py)
            self.db.execute(
                "INSERT INTO conversation_words (conversation_id, word, owner_id, items) "
                "SELECT ?1, key, ?2, value FROM json_each(?3) WHERE true "
                "ON CONFLICT (conversation_id, word) DO UPDATE "
                "SET items = items + excluded.items",
                (conversation_id, owner, _encode(words)),
            )
        else:  # an append probes them, pending (the service folds them later: not the floor)
            self.db.execute(
                "INSERT INTO conversation_words (conversation_id, word, owner_id, items) "
                "SELECT ?1, value, ?2, 0 FROM json_each(?3) WHERE true "
                "ON CONFLICT (conversation_id, word) DO NOTHING",
                (conversation_id, owner, _encode(list(words))),
            )

    def append(self, owner: str, conversation_id: str, body: bytes) -> bytes | None:
        items = [_normalise(r) for r in _decode_items(body).items]
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "UPDATE conversations SET next_seq = next_seq + ?1, updated_at = ?2, "
                "words_pending_items = words_pending_items + ?1, "
                "words_pending_chars = words_pending_chars + ?3 "
                "WHERE id = ?4 AND owner_id = ?5 AND deleted_at IS NULL RETURNING next_seq",
                (
                    len(items),
                    time.time_ns() // 1000,
                    sum(len(s) for _, _, _, s in items),
                    conversation_id,
                    owner,
                ),
            ).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return None
            self._insert(owner, conversation_id, items, row[0] - len(items) + 1, int(time.time()))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return _list([d for _, _, d, _ in items], [i for i, _, _, _ in items], False)

    def list_items(self, owner: str, conversation_id: str, query: dict[str, str]) -> bytes | None:
        limit = int(query.get("limit", 20))
        order = query.get("order", "asc")
        db = self.db
        db.execute("BEGIN")
        try:
            exists = db.execute(
                "SELECT 1 FROM conversations WHERE id = ? AND owner_id = ? AND deleted_at IS NULL",
                (conversation_id, owner),
            ).fetchone()
            if exists is None:
                return None
            comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
            rows = db.execute(
                "SELECT id, data FROM items WHERE conversation_id = ? "
                f"AND seq {comparison} ? AND deleted_at IS NULL ORDER BY seq {direction} LIMIT ?",
                (conversation_id, 0 if order == "asc" else 1 << 62, limit + 1),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        page = rows[:limit]
        return _list(
            [r[1] if isinstance(r[1], bytes) else r[1].encode() for r in page],
            [r[0] for r in page],
            len(rows) > limit,
        )

    def get_item(self, owner: str, conversation_id: str, item_id: str) -> bytes | None:
        row = self.db.execute(
            "SELECT c.id, i.data FROM conversations c LEFT JOIN items i "
            "ON i.conversation_id = c.id AND i.id = ? AND i.deleted_at IS NULL "
            "WHERE c.id = ? AND c.owner_id = ? AND c.deleted_at IS NULL",
            (item_id, conversation_id, owner),
        ).fetchone()
        if row is None or row[1] is None:
            return None
        data = row[1]
        return data if isinstance(data, bytes) else data.encode()

    def list_conversations(self, owner: str, pairs: list[tuple[str, str]]) -> bytes:
        limit, order, search = 20, "asc", ""
        metadata: dict[str, str] = {}
        for key, value in pairs:
            if key == "limit":
                limit = int(value)
            elif key == "order":
                order = value
            elif key == "search":
                search = value
            elif key.startswith("metadata[") and key.endswith("]"):
                metadata[key[9:-1]] = value
        where = ["c.owner_id = ?", "c.deleted_at IS NULL"]
        args: list[Any] = [owner]
        for key, value in metadata.items():
            where.append(
                "EXISTS (SELECT 1 FROM conversation_metadata m WHERE m.conversation_id = c.id"
                " AND m.key = ? AND m.value = ?)"
            )
            args += (key, value)
        for word in dict.fromkeys(_words(search)):
            where.append(
                "EXISTS (SELECT 1 FROM conversation_words w WHERE w.conversation_id = c.id"
                " AND w.word = ?)"
            )
            args.append(word)
        direction = "ASC" if order == "asc" else "DESC"
        db = self.db
        db.execute("BEGIN")
        try:
            rows = db.execute(
                "SELECT c.id, created_at, deleted_at, metadata FROM conversations c "
                f"WHERE {' AND '.join(where)} "
                f"ORDER BY c.updated_at {direction}, c.id {direction} LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        identity = _identity(owner)
        page = rows[:limit]
        return _list(
            [
                _encode(Conversation(r[0], r[1], r[2], _decode_metadata(r[3]), identity))
                for r in page
            ],
            [r[0] for r in page],
            len(rows) > limit,
        )

    # --- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.db.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        if path.startswith(V1_BASE):
            path = BASE + path[len(V1_BASE) :]
        if path == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
            return
        end_user = b""
        for name, value in scope["headers"]:
            if name == b"x-on-behalf-of":
                end_user = value
        owner = f"{ACCOUNT}:{end_user.decode()}"
        body = b""
        if method == "POST":
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
        answer: bytes | None = None
        if path == BASE:
            if method == "POST":
                answer = self.create(owner, body)
            elif method == "GET":
                answer = self.list_conversations(owner, parse_qsl(scope["query_string"].decode()))
        elif path.startswith(BASE + "/"):
            parts = path[len(BASE) + 1 :].split("/")
            if len(parts) == 2 and parts[1] == "items":
                if method == "POST":
                    answer = self.append(owner, parts[0], body)
                elif method == "GET":
                    query = dict(parse_qsl(scope["query_string"].decode()))
                    answer = self.list_items(owner, parts[0], query)
            elif len(parts) == 3 and parts[1] == "items" and method == "GET":
                answer = self.get_item(owner, parts[0], parts[2])
        if answer is None:
            await _respond(send, 404, b'{"error":{"message":"not found"}}')
        else:
            await _respond(send, 200, answer)


def _checkpointer(path: str, interval: float) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 5000")
    while True:
        time.sleep(interval)
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _identity(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app() -> Floor:
    """Granian's factory: the database comes from ``FLOOR_DATABASE``."""
    return Floor(os.environ["FLOOR_DATABASE"])


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the benchmark floor app with Granian.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    from granian import Granian  # type: ignore[import-not-found,unused-ignore]
    from granian.constants import Interfaces  # type: ignore[import-not-found,unused-ignore]

    # The call mka1_conversations.cli.cmd_serve makes, less its logging options (Granian's
    # access log is off either way; the floor writes no request line).
    Granian(
        "floor_app:create_app",
        factory=True,
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=1,
    ).serve()


if __name__ == "__main__":
    main()
