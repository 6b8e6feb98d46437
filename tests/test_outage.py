"""PostgreSQL going away: a clear refusal at start-up, 503s while it is gone, and recovery by
itself (no restart) when it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, auth_headers, postgres_database, serve_app
from .conftest import test_settings as settings_for
from .processes import cli_env, run_cli
from .tcp_proxy import TcpProxy


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def _through(proxy: TcpProxy, url: str) -> str:
    database = url.rsplit("/", 1)[1]
    return f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}"


def test_serve_refuses_to_start_without_the_database(postgres_url: str) -> None:
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        url = _through(proxy, postgres_url)
        proxy.cut()
        result = run_cli("serve", env=cli_env(url, MKA1_API_KEYS="k=a"))
    assert result.returncode == 1
    assert "cannot connect to PostgreSQL" in result.stderr


def test_lost_database_gives_503_then_recovers_by_itself(postgres_url: str) -> None:
    headers = auth_headers(KEY_A, "outage")
    with (
        TcpProxy(("127.0.0.1", 5432)) as proxy,
        serve_app(settings_for(_through(proxy, postgres_url))) as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as http,
    ):
        conversation = http.post(BASE_PATH, json={"items": [{"role": "user", "content": "a"}]})
        assert conversation.status_code == 200
        conversation_id = conversation.json()["id"]

        proxy.cut()
        for _ in range(3):  # stale pooled connections and new ones alike
            lost = http.post(
                f"{BASE_PATH}/{conversation_id}/items",
                json={"items": [{"role": "user", "content": "b"}]},
            )
            assert lost.status_code == 503, lost.text
            assert lost.headers["retry-after"] == "1"
            assert lost.json()["error"]["code"] == "database_unavailable"
            assert lost.json()["error"]["type"] == "server_error"
        assert http.get(f"{BASE_PATH}/{conversation_id}").status_code == 503

        proxy.restore()
        deadline = time.monotonic() + 20
        while (back := http.get(f"{BASE_PATH}/{conversation_id}/items")).status_code != 200:
            assert back.status_code == 503
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.2)
        assert [i["content"][0]["text"] for i in back.json()["data"]] == ["a"]
        appended = http.post(
            f"{BASE_PATH}/{conversation_id}/items",
            json={"items": [{"role": "user", "content": "c"}]},
        )
        assert appended.status_code == 200
