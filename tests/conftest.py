"""Shared fixtures: a real server on a real socket over a real database, and clients for it.

``server`` starts once per session and backend (uvicorn in a thread, on 127.0.0.1 and a free
port; SQLite in a temporary file, PostgreSQL in a database created for the session and dropped
after it), so every test that uses it runs on both backends. Tests isolate themselves by owner:
each test gets its own ``X-On-Behalf-Of`` end user (``user``), so no test sees another's
conversations.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from mka1_conversations.app import create_app
from mka1_conversations.settings import Settings
from mka1_conversations.store.migrate import apply_postgres
from mka1_conversations.store.sqlite import SQLiteBackend

from .upstream_server import LoopbackModelServer, serve_model_server

KEY_A = "sk-test-account-a"
KEY_B = "sk-test-account-b"
ACCOUNT_A = "acct_a"
ACCOUNT_B = "acct_b"
BASE_PATH = "/api/v1/llm/conversations"


@dataclass(frozen=True)
class RunningServer:
    url: str
    """``http://127.0.0.1:<port>``"""
    backend: str
    """``sqlite``, ``postgres`` or ``citus``"""
    database_url: str

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
    SQLiteBackend.migrate(path)
    return path


# --- PostgreSQL: each test session creates its own databases and drops them afterwards --------

POSTGRES_ADMIN_URL = os.environ.get(
    "MKA1_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_url(database: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate_postgres(url: str, through: int | None) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await apply_postgres(conn, through=through)
    finally:
        await conn.close()


@contextmanager
def postgres_database(*, through: int | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database, migrated (up to version ``through``, when given); dropped on
    exit. Skips (fails in CI) without a server."""
    name = f"mka1_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    url = _postgres_url(name)
    try:
        asyncio.run(_migrate_postgres(url, through))
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- Citus: a coordinator with workers, given by MKA1_TEST_CITUS_URL (none: those tests skip) --

CITUS_ADMIN_URL = os.environ.get("MKA1_TEST_CITUS_URL", "")
"""A database on a Citus coordinator whose workers are registered (``pg_dist_node``); the
user must be able to create databases there and on the workers (reached as the coordinator
lists them, with the same user)."""


async def _create_citus_database(name: str) -> str:
    """A new database on the coordinator and every worker, with the ``citus`` extension in
    each and the workers registered in it: a cluster of its own, as a deployment has."""
    admin = await asyncpg.connect(CITUS_ADMIN_URL, timeout=10)
    try:
        workers = await admin.fetch(
            "SELECT nodename, nodeport FROM pg_dist_node "
            "WHERE groupid <> 0 AND noderole = 'primary' AND isactive ORDER BY nodeport"
        )
        if not workers:
            raise RuntimeError(f"the Citus coordinator at {CITUS_ADMIN_URL} has no workers")
        await admin.execute("SET citus.enable_create_database_propagation = on")
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(CITUS_ADMIN_URL)
    user = parts.username or "postgres"
    for host, port in workers:
        worker = await asyncpg.connect(f"postgresql://{user}@{host}:{port}/{name}", timeout=10)
        try:
            await worker.execute("CREATE EXTENSION IF NOT EXISTS citus")
        finally:
            await worker.close()
    url = CITUS_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        await conn.execute(
            "SELECT citus_set_coordinator_host($1, $2)", parts.hostname, parts.port or 5432
        )
        for host, port in workers:
            await conn.execute("SELECT citus_add_node($1, $2)", host, port)
        await apply_postgres(conn)  # migrate: it distributes the tables itself
    finally:
        await conn.close()
    return url


async def _drop_citus_database(name: str) -> None:
    admin = await asyncpg.connect(CITUS_ADMIN_URL, timeout=10)
    try:
        await admin.execute("SET citus.enable_create_database_propagation = on")
        for attempt in range(50):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.ObjectInUseError:
                # FORCE ends the coordinator's sessions; their connections to the workers end
                # a moment later.
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


@contextmanager
def citus_database() -> Iterator[str]:
    """A fresh database on the Citus cluster of MKA1_TEST_CITUS_URL, migrated (and so
    distributed); dropped on exit. Skips without that variable, in CI too (CI has no Citus)."""
    if not CITUS_ADMIN_URL:
        pytest.skip("MKA1_TEST_CITUS_URL is not set (a Citus coordinator with workers)")
    name = f"mka1_citus_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        url = asyncio.run(_create_citus_database(name))
    except BaseException:
        asyncio.run(_drop_citus_database(name))
        raise
    try:
        yield url
    finally:
        asyncio.run(_drop_citus_database(name))


BACKENDS = ["sqlite", "postgres"]

SERVER_BACKENDS = [*BACKENDS, "citus"]
"""The shared server's: every test that uses it runs on each (Citus only when given)."""


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database of the given backend."""
    if backend == "postgres":
        with postgres_database() as url:
            yield url
    elif backend == "citus":
        with citus_database() as url:
            yield url
    else:
        yield f"sqlite:///{migrated_database(folder)}"


@pytest.fixture(params=SERVER_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for this test, once per backend (on Citus only when given)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "api_keys": {KEY_A: ACCOUNT_A, KEY_B: ACCOUNT_B},
        "identity_mode": "hash",
        "max_body_bytes": 1024 * 1024,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def serve_app(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn in a thread; yield its base URL."""
    with serve_asgi(create_app(settings)) as url:
        yield url


@contextmanager
def serve_asgi(app: ASGIApp) -> Iterator[str]:
    """Serve any ASGI app with uvicorn in a thread, lifespan included; yield its base URL."""
    port = free_port()
    # A long keep-alive: on a loaded machine a client may idle past uvicorn's 5 s default just as
    # the server closes the connection, and the next request would fail (not the app's doing).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=120,
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


@pytest.fixture(scope="session", params=SERVER_BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The shared server, once per backend: every test that uses it runs on each (on Citus
    only with MKA1_TEST_CITUS_URL)."""
    backend: str = request.param
    with (
        fresh_database(backend, tmp_path_factory.mktemp(backend)) as url,
        serve_app(test_settings(url)) as base,
    ):
        yield RunningServer(base, backend, url)


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


def conversation_state(client: httpx.Client, conversation_id: str) -> tuple[Any, Any]:
    """The conversation and its items (up to 100), to compare before and after a request."""
    conversation = client.get(f"{BASE_PATH}/{conversation_id}")
    assert conversation.status_code == 200, conversation.text
    items = client.get(f"{BASE_PATH}/{conversation_id}/items", params={"limit": 100})
    assert items.status_code == 200, items.text
    return conversation.json(), items.json()


# --- a model server on loopback (Chat Completions), scripted per test --------------------------


@pytest.fixture(scope="session")
def loopback_model_server() -> Iterator[LoopbackModelServer]:
    with serve_model_server() as model_server:
        yield model_server


@pytest.fixture
def model_server(loopback_model_server: LoopbackModelServer) -> LoopbackModelServer:
    """The loopback model server, with no reply scripted and nothing received yet."""
    loopback_model_server.reset()
    return loopback_model_server
