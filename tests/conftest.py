"""Shared fixtures: a real server on a real socket over a fresh SQLite file, and clients for it.

``server`` starts once per session (uvicorn in a thread, on 127.0.0.1 and a free port). Tests
isolate themselves by owner: each test gets its own ``X-On-Behalf-Of`` end user (``user``), so
no test sees another's conversations.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from mka1_conversations.app import create_app
from mka1_conversations.settings import Settings
from mka1_conversations.store.migrate import apply_sqlite
from mka1_conversations.store.sqlite import SQLiteStore

KEY_A = "sk-test-account-a"
KEY_B = "sk-test-account-b"
ACCOUNT_A = "acct_a"
ACCOUNT_B = "acct_b"
BASE_PATH = "/api/v1/llm/conversations"


@dataclass(frozen=True)
class RunningServer:
    url: str
    """``http://127.0.0.1:<port>``"""
    database: Path

    @property
    def api(self) -> str:
        """The base URL of the conversations API."""
        return self.url + BASE_PATH


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def migrated_database(folder: Path) -> Path:
    path = folder / "mka1.db"
    store = SQLiteStore(path)
    apply_sqlite(store._db)
    store._db.close()
    return path


def test_settings(database: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{database}",
        "api_keys": {KEY_A: ACCOUNT_A, KEY_B: ACCOUNT_B},
        "identity_mode": "hash",
        "max_body_bytes": 1024 * 1024,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def serve_app(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn in a thread; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    database = migrated_database(tmp_path_factory.mktemp("db"))
    with serve_app(test_settings(database)) as url:
        yield RunningServer(url, database)


@pytest.fixture
def user() -> str:
    """A fresh end user (X-On-Behalf-Of) for this test."""
    return f"user-{uuid.uuid4().hex[:12]}"


def auth_headers(key: str = KEY_A, user: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if user is not None:
        headers["X-On-Behalf-Of"] = user
    return headers


@pytest.fixture
def http(server: RunningServer, user: str) -> Iterator[httpx.Client]:
    """Raw HTTP as account A acting for ``user``; paths start with ``BASE_PATH``."""
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user), timeout=30) as c:
        yield c
