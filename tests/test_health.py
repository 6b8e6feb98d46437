"""Health and readiness: ``/healthz`` answers while the process runs; ``/readyz`` answers 200 only
while the database answers and has every migration, on both backends, with no API key."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from .conftest import RunningServer, postgres_database, serve_app
from .conftest import test_settings as settings_for
from .tcp_proxy import TcpProxy


def run_sql(database_url: str, sql: str) -> None:
    """One statement on the test's database, outside the server."""
    if database_url.startswith("sqlite:///"):
        db = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            db.execute(sql)
        finally:
            db.close()
        return

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def test_operational_endpoints_need_no_key(server: RunningServer) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        response = httpx.get(server.url + path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["x-request-id"]
    assert httpx.get(server.url + "/readyz").json() == {"status": "ready"}


def test_readyz_is_503_while_a_migration_is_pending(database_url: str) -> None:
    with serve_app(settings_for(database_url)) as url:
        assert httpx.get(url + "/readyz").status_code == 200
        # A newer release's migration not yet applied: what a deploy that skipped `migrate` sees.
        run_sql(database_url, "DELETE FROM schema_migrations WHERE version = 2")
        response = httpx.get(url + "/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        error = response.json()["error"]
        assert error["code"] == "database_unavailable"
        assert error["type"] == "server_error"
        assert "not migrated" in error["message"] and "0002_list_snapshots" in error["message"]
        assert httpx.get(url + "/healthz").status_code == 200  # the process itself is fine
        run_sql(database_url, "INSERT INTO schema_migrations VALUES (2, 'list_snapshots', 0)")
        assert httpx.get(url + "/readyz").status_code == 200


def test_readyz_is_503_without_the_migration_table(database_url: str) -> None:
    with serve_app(settings_for(database_url)) as url:
        run_sql(database_url, "ALTER TABLE schema_migrations RENAME TO schema_migrations_gone")
        response = httpx.get(url + "/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["message"] == "The database cannot be read."
        run_sql(database_url, "ALTER TABLE schema_migrations_gone RENAME TO schema_migrations")
        assert httpx.get(url + "/readyz").status_code == 200


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def test_readyz_is_503_while_postgres_is_gone(postgres_url: str) -> None:
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        through = f"postgresql://postgres@127.0.0.1:{proxy.port}/{postgres_url.rsplit('/', 1)[1]}"
        with serve_app(settings_for(through)) as url:
            assert httpx.get(url + "/readyz").status_code == 200
            proxy.cut()
            gone = httpx.get(url + "/readyz", timeout=30)
            assert gone.status_code == 503
            assert gone.json()["error"]["code"] == "database_unavailable"
            assert httpx.get(url + "/healthz").status_code == 200
            proxy.restore()
            deadline = time.monotonic() + 20
            while (back := httpx.get(url + "/readyz", timeout=30)).status_code != 200:
                assert back.status_code == 503
                assert time.monotonic() < deadline, "readiness did not come back"
                time.sleep(0.2)
