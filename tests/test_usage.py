"""Conversation usage through the official MKA1 SDK (``sdk.llm.usage.conversations``), on both
backends: after a scripted sequence of creates, appends and reads by two end users and two keys,
every bucket width and grouping answers exactly the expected counts; paging walks every bucket
once; what cannot be honoured is a 400; and a SIGKILL after acknowledged writes loses none of
their counts (docs/api.md, "Usage").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from meetkai_mka1 import SDK
from meetkai_mka1.errors import SDKDefaultError

from mka1_conversations.domain.keys import api_key_id, hash_key

from .conftest import BASE_PATH, auth_headers, free_port, fresh_database, serve_app
from .conftest import test_settings as settings_for
from .processes import cli_env
from .test_crash import kill_group, server_process
from .test_sdk_mka1 import no_retries, text_items

K1 = "sk-usage-one"
K2 = "sk-usage-two"
KB = "sk-usage-other"
ACCOUNT = "acct_usage"
OTHER = "acct_usage_b"
Width = Literal["1m", "1h", "1d"]
SECONDS = {"1m": 60, "1h": 3600, "1d": 86400}


@pytest.fixture
def base(database_url: str) -> Iterator[str]:
    settings = settings_for(database_url, api_keys={K1: ACCOUNT, K2: ACCOUNT, KB: OTHER})
    with serve_app(settings) as url:
        yield url


def make(url: str, key: str) -> SDK:
    return SDK(bearer_auth=key, server_url=url, retry_config=no_retries(), timeout_ms=30_000)


def wait_for_fresh_minute() -> None:
    """The script runs within one minute (so within one bucket of every width)."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def script(url: str, u1: str, u2: str) -> None:
    """Two end users, two keys; the expected counts are in ``EXPECTED``."""
    with make(url, K1) as s1, make(url, K2) as s2:
        c1 = s1.llm.conversations.create(x_on_behalf_of=u1, items=text_items("a", 2))
        s1.llm.conversations.create_items(
            conversation_id=c1.id, items=text_items("b", 3), x_on_behalf_of=u1
        )
        s2.llm.conversations.get(conversation_id=c1.id, x_on_behalf_of=u1)
        s2.llm.conversations.list_items(conversation_id=c1.id, x_on_behalf_of=u1)
        c2 = s2.llm.conversations.create(x_on_behalf_of=u2)
        s2.llm.conversations.create_items(
            conversation_id=c2.id, items=text_items("c", 1), x_on_behalf_of=u2
        )
        with pytest.raises(SDKDefaultError):  # a failed request is an operation too
            s2.llm.conversations.get(conversation_id=c1.id, x_on_behalf_of=u2)
        s1.llm.conversations.list()  # the account itself, no end user
        # not conversation operations: not counted
        s1.permissions.llm.check(
            resource_type="conversation", resource_id=c1.id, role="reader", x_on_behalf_of=u1
        )


def expected(u1: str, u2: str) -> dict[tuple[str | None, str], tuple[int, int, int]]:
    """(end user, key id) → (created, items added, operations)."""
    k1, k2 = api_key_id(hash_key(K1)), api_key_id(hash_key(K2))
    return {
        (u1, k1): (1, 5, 2),
        (u1, k2): (0, 0, 2),
        (u2, k2): (1, 1, 3),
        (None, k1): (0, 0, 1),
    }


def sums(
    table: dict[tuple[str | None, str], tuple[int, int, int]], by_user: bool, by_key: bool
) -> dict[tuple[str | None, str | None], tuple[int, int, int]]:
    out: dict[tuple[str | None, str | None], tuple[int, int, int]] = {}
    for (user, key), counts in table.items():
        group = (user if by_user else None, key if by_key else None)
        have = out.get(group, (0, 0, 0))
        out[group] = (have[0] + counts[0], have[1] + counts[1], have[2] + counts[2])
    return out


def results(
    sdk: SDK, start: int, width: Width, group_by: list[Any] | None = None, **kw: Any
) -> dict[int, dict[tuple[str | None, str | None], tuple[int, int, int]]]:
    """Bucket start → group → counts, over every page."""
    out: dict[int, dict[tuple[str | None, str | None], tuple[int, int, int]]] = {}
    page: str | None = None
    while True:
        answer = sdk.llm.usage.conversations(
            start_time=start, bucket_width=width, group_by=group_by, page=page, **kw
        )
        assert answer.object == "page"
        for bucket in answer.data:
            assert bucket.object == "bucket"
            assert bucket.end_time - bucket.start_time == SECONDS[width]
            assert bucket.start_time not in out  # each bucket once
            groups = {}
            for r in bucket.results:
                assert isinstance(r, dict)
                assert r["object"] == "organization.usage.conversations.result"
                counts = (r["num_conversations_created"], r["num_items_added"], r["num_operations"])
                groups[(r["user_id"], r["api_key_id"])] = counts
            out[bucket.start_time] = groups
        if not answer.has_more:
            assert answer.next_page is None
            return out
        assert answer.next_page is not None
        page = answer.next_page


def settled(sdk: SDK, start: int, total_operations: int) -> None:
    """Reads are counted in memory and added every second: wait for them."""
    deadline = time.monotonic() + 10
    while True:
        found = results(sdk, start, "1d")
        ops = sum(c[2] for groups in found.values() for c in groups.values())
        if ops >= total_operations or time.monotonic() > deadline:
            assert ops == total_operations
            return
        time.sleep(0.2)


def test_usage_counts(base: str) -> None:
    n = uuid.uuid4().hex[:6]
    u1, u2 = f"u1-{n}", f"u2-{n}"
    wait_for_fresh_minute()
    script(base, u1, u2)
    now = int(time.time())
    table = expected(u1, u2)
    with make(base, K1) as sdk, make(base, KB) as other:
        settled(sdk, now - 86400, 8)
        for width in ("1m", "1h", "1d"):
            size = SECONDS[width]
            start = now - 3 * size  # three empty buckets before the one of the script
            bucket = now // size * size
            for group_by in (None, ["user_id"], ["api_key_id"], ["user_id", "api_key_id"]):
                by_user = bool(group_by and "user_id" in group_by)
                by_key = bool(group_by and "api_key_id" in group_by)
                found = results(sdk, start, width, group_by)
                assert sorted(found) == [start // size * size + i * size for i in range(4)]
                assert found[bucket] == sums(table, by_user, by_key), (width, group_by)
                assert all(not found[b] for b in found if b != bucket)
            # one end user (X-On-Behalf-Of) sees only its own
            mine = results(sdk, start, width, ["user_id"], x_on_behalf_of=u1)
            assert mine[bucket] == {(u1, None): (1, 5, 4)}
            # filters by end user
            only = results(sdk, start, width, None, user_ids=[u2])
            assert only[bucket] == {(None, None): (1, 1, 3)}
            only = results(sdk, start, width, ["user_id"], external_user_ids=[u1, u2])
            assert only[bucket] == {(u1, None): (1, 5, 4), (u2, None): (1, 1, 3)}
            # another account sees none of it
            theirs = results(other, start, width)
            assert all(not groups for groups in theirs.values())


def test_usage_paging_walks_every_bucket_once(base: str) -> None:
    now = int(time.time())
    with make(base, K1) as sdk:
        start = now - 100 * 60
        pages = 0
        page: str | None = None
        seen: list[int] = []
        while True:
            answer = sdk.llm.usage.conversations(
                start_time=start, end_time=now, bucket_width="1m", limit=7, page=page
            )
            pages += 1
            assert len(answer.data) <= 7
            seen += [b.start_time for b in answer.data]
            if not answer.has_more:
                break
            page = answer.next_page
        first = start // 60 * 60
        last = -(-now // 60) * 60
        assert seen == list(range(first, last, 60))
        assert pages == -(-len(seen) // 7)
        # defaults: 7 daily buckets a page
        answer = sdk.llm.usage.conversations(start_time=now - 30 * 86400)
        assert len(answer.data) == 7 and answer.has_more


def test_usage_refuses_what_it_cannot_honour(base: str) -> None:
    with httpx.Client(base_url=base, headers=auth_headers(K1), timeout=30) as http:
        path = "/api/v1/llm/usage/conversations"
        cases: list[tuple[dict[str, str | int], str]] = [
            ({}, "start_time"),
            ({"start_time": "x"}, "start_time"),
            ({"start_time": 0, "all_orgs": "true"}, "all_orgs"),
            ({"start_time": 0, "org_ids": "o1"}, "org_ids"),
            ({"start_time": 0, "group_by": "org_id"}, "group_by"),
            ({"start_time": 0, "group_by": "model"}, "group_by"),
            ({"start_time": 0, "bucket_width": "1w"}, "bucket_width"),
            ({"start_time": 0, "bucket_width": "1d", "limit": 32}, "limit"),
            ({"start_time": 0, "page": "nope"}, "page"),
            ({"start_time": 100, "end_time": 50}, "end_time"),
            ({"start_time": 0, "colour": "red"}, "colour"),
        ]
        for params, param in cases:
            r = http.get(path, params=params)
            assert r.status_code == 400, (params, r.text)
            assert r.json()["error"]["param"] == param, (params, r.text)
        assert httpx.get(base + path, params={"start_time": 0}).status_code == 401


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_loses_no_acknowledged_write_counts(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:

    with fresh_database(backend, tmp_path) as database_url:
        env = cli_env(database_url, MKA1_API_KEYS=f"{K1}={ACCOUNT}")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        created = added = 0
        start = int(time.time()) - 60
        with server_process(env, port) as process:
            with httpx.Client(base_url=url, headers=auth_headers(K1, "killed"), timeout=30) as http:
                for n in range(10):
                    r = http.post(BASE_PATH, json={"items": text_items("k", n % 3)})
                    assert r.status_code == 200
                    created += 1
                    added += n % 3
                    r = http.post(
                        f"{BASE_PATH}/{r.json()['id']}/items", json={"items": text_items("x", 2)}
                    )
                    assert r.status_code == 200
                    added += 2
            kill_group(process)  # at once: nothing flushed on the way out
        with server_process(env, port), make(url, K1) as sdk:
            answer = sdk.llm.usage.conversations(start_time=start)
            totals: list[dict[str, Any]] = [r for b in answer.data for r in b.results if r]
            assert len(totals) == 1
            assert totals[0]["num_conversations_created"] == created
            assert totals[0]["num_items_added"] == added
            assert totals[0]["num_operations"] >= 2 * created  # the writes themselves, at least
