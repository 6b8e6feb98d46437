"""``/metrics``: Prometheus text whose series move with the requests a client makes, behind its
own token when one is set, and summed over every worker of ``serve --workers N``."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import BASE_PATH, KEY_A, auth_headers, postgres_database, serve_app
from .conftest import test_settings as settings_for
from .processes import cli_env, serving

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, **headers: str) -> Series:
    response = httpx.get(url + "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    series: Series = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def test_series_move_with_requests(database_url: str) -> None:
    with (
        serve_app(settings_for(database_url)) as url,
        httpx.Client(base_url=url, headers=auth_headers(KEY_A, "metrics-user")) as http,
    ):
        before = scrape(url)
        created = http.post(BASE_PATH, json={"items": [{"role": "user", "content": "a"}] * 3})
        conversation_id = created.json()["id"]
        added = http.post(
            f"{BASE_PATH}/{conversation_id}/items",
            json={"items": [{"role": "user", "content": "b"}, {"role": "user", "content": "c"}]},
        )
        item_id = added.json()["data"][0]["id"]
        assert http.get(f"{BASE_PATH}/{conversation_id}/items/{item_id}").status_code == 200
        assert http.get(f"{BASE_PATH}/conv_unknown").status_code == 404
        assert httpx.get(url + BASE_PATH).status_code == 401
        assert http.get("/no/such/path").status_code == 404
        after = scrape(url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "mka1_http_requests_total"
    assert moved(requests, operation="create_conversation", status="200") == 1
    assert moved(requests, operation="create_items", status="200") == 1
    assert moved(requests, operation="get_item", status="200") == 1
    assert moved(requests, operation="get_conversation", status="404") == 1
    assert moved(requests, operation="list_conversations", status="401") == 1
    assert moved(requests, operation="unmatched", status="404") == 1
    assert moved(requests, operation="metrics", status="200") == 1  # the first scrape
    latency = "mka1_http_request_duration_seconds"
    assert moved(latency + "_count", operation="create_items") == 1
    assert moved(latency + "_sum", operation="create_items") > 0
    assert moved(latency + "_bucket", operation="create_items", le="+Inf") == 1
    db = "mka1_db_duration_seconds"
    assert moved(db + "_count", call="create_conversation") == 1
    assert moved(db + "_count", call="append_items") == 1
    assert moved(db + "_count", call="get_item") == 1
    assert moved(db + "_count", call="get_conversation") == 1
    assert moved(db + "_sum", call="append_items") > 0
    assert moved("mka1_items_written_total") == 5
    assert value(after, "mka1_http_requests_in_flight") == 1  # the scrape being answered


def test_metrics_token_guards_the_endpoint(database_url: str) -> None:
    token = "mt-metrics-only"
    with serve_app(settings_for(database_url, metrics_token=token)) as url:
        for headers in ({}, auth_headers(KEY_A), {"Authorization": "Bearer wrong"}):
            refused = httpx.get(url + "/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
        assert value(scrape(url, Authorization=f"Bearer {token}"), "mka1_items_written_total") == 0
        assert httpx.get(url + "/healthz").status_code == 200  # only /metrics is guarded


def test_every_worker_answers_the_sum_of_all_workers() -> None:
    with (
        postgres_database() as database,
        serving("--workers", "2", env=cli_env(database, MKA1_API_KEYS=f"{KEY_A}=acct")) as (
            url,
            _,
        ),
    ):
        headers = auth_headers(KEY_A, "workers")
        conversation_id = httpx.post(url + BASE_PATH, headers=headers, json={}).json()["id"]
        for _ in range(20):  # a new connection each time: the workers share them out
            response = httpx.get(f"{url}{BASE_PATH}/{conversation_id}", headers=headers)
            assert response.status_code == 200
        for _ in range(6):  # whichever worker answers the scrape
            series = scrape(url)
            got = value(
                series, "mka1_http_requests_total", operation="get_conversation", status="200"
            )
            assert got == 20
            assert value(series, "mka1_db_duration_seconds_count", call="get_conversation") == 20


def test_every_operation_is_counted_under_its_own_name(database_url: str) -> None:
    with (
        serve_app(settings_for(database_url)) as url,
        httpx.Client(base_url=url, headers=auth_headers(KEY_A, "ops-user")) as http,
    ):
        before = scrape(url)
        conv = http.post(BASE_PATH, json={}).json()["id"]
        items = f"{BASE_PATH}/{conv}/items"
        added = http.post(items, json={"items": [{"role": "user", "content": "x"}] * 3}).json()
        first, second, third = (i["id"] for i in added["data"])
        calls = [
            ("list_conversations", http.get(BASE_PATH)),
            ("get_conversation", http.get(f"{BASE_PATH}/{conv}")),
            ("get_conversation", http.head(f"{BASE_PATH}/{conv}")),  # HEAD is GET's operation
            ("update_conversation", http.post(f"{BASE_PATH}/{conv}", json={"metadata": None})),
            ("list_items", http.get(items)),
            ("get_item", http.get(f"{items}/{first}")),
            ("delete_item", http.delete(f"{items}/{first}")),
            ("delete_items", http.request("DELETE", items, json={"item_ids": [second, third]})),
            ("delete_conversation", http.delete(f"{BASE_PATH}/{conv}")),
            ("unmatched", http.put(f"{BASE_PATH}/{conv}")),  # 405: no operation
            ("unmatched", http.get(f"{items}/{first}/more")),
            ("healthz", http.get("/healthz")),
            ("readyz", http.get("/readyz")),
            ("openapi", http.get("/openapi.json")),
            ("docs", http.get("/docs")),
        ]
        after = scrape(url)
    expected: dict[tuple[str, str], int] = {
        ("create_conversation", "200"): 1,
        ("create_items", "200"): 1,
        ("metrics", "200"): 1,
    }
    for operation, response in calls:
        key = (operation, str(response.status_code))
        expected[key] = expected.get(key, 0) + 1
    moved = {
        (dict(labels)["operation"], dict(labels)["status"]): after[(name, labels)]
        - before.get((name, labels), 0.0)
        for name, labels in after
        if name == "mka1_http_requests_total"
    }
    assert {k: v for k, v in moved.items() if v} == expected
