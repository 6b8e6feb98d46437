"""Rate limiting per API key (``MKA1_RATE_LIMIT``, ``MKA1_RATE_LIMIT_BURST``; off by default): a key
over its rate gets 429 with the OpenAI envelope and ``Retry-After``, other keys are unaffected,
and both official SDKs wait as told and then succeed. The buckets' arithmetic:
tests/http/test_ratelimit.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from meetkai_mka1 import SDK
from openai import OpenAI

from .conftest import BASE_PATH, KEY_A, KEY_B, auth_headers, migrated_database, serve_app
from .conftest import test_settings as settings_for

RATE = 0.5  # a token every 2 s
BURST = 2


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = migrated_database(tmp_path_factory.mktemp("ratelimit"))
    settings = settings_for(f"sqlite:///{database}", rate_limit=RATE, rate_limit_burst=BURST)
    with serve_app(settings) as url:
        yield url


def _drain(url: str, key: str = KEY_A) -> httpx.Response:
    """Send requests until the key is refused (bounded); return the refusal."""
    with httpx.Client(base_url=url, headers=auth_headers(key), timeout=30) as client:
        for _ in range(50):
            response = client.get(BASE_PATH)
            if response.status_code == 429:
                return response
            assert response.status_code == 200, response.text
    raise AssertionError("never rate limited in 50 requests")


def test_a_key_over_its_rate_gets_429_with_the_envelope_and_retry_after(limited: str) -> None:
    refused = _drain(limited)
    assert refused.json() == {
        "error": {
            "message": refused.json()["error"]["message"],
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert "Rate limit reached" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 1 / RATE
    assert 0 < int(refused.headers["retry-after-ms"]) <= 1000 / RATE
    assert refused.headers["x-request-id"]
    # Another key has its own bucket; unauthenticated requests are 401, not 429.
    assert httpx.get(limited + BASE_PATH, headers=auth_headers(KEY_B)).status_code == 200
    assert httpx.get(limited + BASE_PATH, headers=auth_headers("sk-nope")).status_code == 401
    assert httpx.get(limited + "/healthz").status_code == 200  # public paths are not limited


def test_rate_limiting_is_off_by_default(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{migrated_database(tmp_path)}")
    assert settings.rate_limit == 0
    with serve_app(settings) as url, httpx.Client(base_url=url, headers=auth_headers()) as client:
        assert [client.get(BASE_PATH).status_code for _ in range(60)] == [200] * 60


def test_the_openai_sdk_waits_and_retries_then_succeeds(limited: str) -> None:
    statuses: list[int] = []
    http_client = httpx2.Client(
        event_hooks={"response": [lambda r: statuses.append(r.status_code)]}, timeout=30
    )
    with OpenAI(
        base_url=limited + "/api/v1/llm",
        api_key=KEY_A,
        max_retries=4,
        _strict_response_validation=True,
        http_client=http_client,
    ) as client:
        for _ in range(3):  # the SDK's first attempt must meet the empty bucket: drain first
            statuses.clear()
            _drain(limited)
            conversation = client.conversations.create(metadata={"sdk": "openai"})
            assert conversation.metadata == {"sdk": "openai"}
            if statuses[0] == 429:
                break
    assert statuses[0] == 429 and statuses[-1] == 200
    assert set(statuses[:-1]) == {429}


def test_the_mka1_sdk_waits_and_retries_then_succeeds(limited: str) -> None:
    statuses: list[int] = []
    http_client = httpx.Client(
        event_hooks={"response": [lambda r: statuses.append(r.status_code)]}, timeout=30
    )
    # The SDK's default retry policy (backoff; 429 is retryable), honouring Retry-After.
    with SDK(bearer_auth=KEY_A, server_url=limited, client=http_client) as sdk:
        for _ in range(3):
            statuses.clear()
            _drain(limited)
            conversation = sdk.llm.conversations.create(metadata={"sdk": "mka1"})
            assert conversation.metadata == {"sdk": "mka1"}
            if statuses[0] == 429:
                break
    assert statuses[0] == 429 and statuses[-1] == 200
    assert set(statuses[:-1]) == {429}
