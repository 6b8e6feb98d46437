"""Turns across real server processes (``serve``), on SQLite and PostgreSQL: a server killed
(SIGKILL) in the middle of a streamed turn leaves no partial turn in the conversation and its
lease frees the conversation once it runs out; on PostgreSQL, two server processes on one
database refuse a second concurrent turn on a conversation (``conversation_locked``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import BACKENDS, KEY_A, auth_headers, free_port, fresh_database
from .test_crash import kill_group, server_process
from .test_responses import CONVERSATIONS, RESPONSES, conversation_items, new_conversation
from .upstream_server import LoopbackModelServer, Reply

LEASE = 6
"""Seconds; renewed every 2 s, so a killed turn's lease runs out 4-6 s after the kill."""


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _env(database_url: str, model_server: LoopbackModelServer) -> dict[str, str]:
    from .processes import cli_env

    return cli_env(
        database_url,
        MKA1_API_KEYS=f"{KEY_A}=acct_a",
        MKA1_UPSTREAM_URL=model_server.url,
        MKA1_TURN_LEASE_SECONDS=str(LEASE),
    )


def test_a_turn_killed_mid_stream_leaves_nothing_and_its_lease_runs_out(
    database: str, model_server: LoopbackModelServer
) -> None:
    env = _env(database, model_server)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    headers = auth_headers(KEY_A, "killed")
    with server_process(env, port) as process, httpx.Client(base_url=url, headers=headers) as api:
        conversation_id = new_conversation(api, "hello")
        before = conversation_items(api, conversation_id)
        model_server.script(Reply(text="x" * 200, piece=1, chunk_delay=0.05))
        body = {"model": "m", "input": "long", "conversation": conversation_id, "stream": True}
        with api.stream("POST", RESPONSES, json=body, timeout=30) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines():
                if line == "event: response.output_text.delta":
                    killed_at = time.monotonic()
                    kill_group(process)
                    break
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server_process(env, port), httpx.Client(base_url=url, headers=headers) as api:
        assert conversation_items(api, conversation_id) == before  # no partial turn
        model_server.reset()
        model_server.script(Reply(text="fine"))
        turn = {"model": "m", "input": "again", "conversation": conversation_id}
        refused = 0
        while time.monotonic() - killed_at < LEASE - 2.5:
            locked = api.post(RESPONSES, json=turn)
            assert locked.status_code == 400, locked.text
            assert locked.json()["error"]["code"] == "conversation_locked"
            refused += 1
            time.sleep(0.2)
        assert refused  # the crashed turn's lease held the conversation for a while
        time.sleep(LEASE + 1 - (time.monotonic() - killed_at))  # the lease has run out
        freed = api.post(RESPONSES, json=turn)
        assert freed.status_code == 200, freed.text
        assert [i["content"][0]["text"] for i in conversation_items(api, conversation_id)] == [
            "hello",
            "again",
            "fine",
        ]


def test_two_processes_share_the_lease(tmp_path: Path, model_server: LoopbackModelServer) -> None:
    with fresh_database("postgres", tmp_path) as database_url:
        env = _env(database_url, model_server)
        ports = [free_port(), free_port()]
        headers = auth_headers(KEY_A, "two")
        with (
            server_process(env, ports[0]),
            server_process(env, ports[1]),
            httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", headers=headers) as one,
            httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}", headers=headers) as two,
        ):
            conversation_id = one.post(CONVERSATIONS, json={}).json()["id"]
            model_server.script(Reply(text="slow", delay=1.5))
            results: list[httpx.Response] = []
            turn = {"model": "m", "input": "a", "conversation": conversation_id}
            first = threading.Thread(
                target=lambda: results.append(one.post(RESPONSES, json=turn, timeout=30))
            )
            first.start()
            deadline = time.monotonic() + 10
            while not model_server.received and time.monotonic() < deadline:
                time.sleep(0.01)
            second = two.post(RESPONSES, json={**turn, "input": "b"})
            first.join()
            assert second.status_code == 400, second.text
            assert second.json()["error"]["code"] == "conversation_locked"
            assert results[0].status_code == 200, results[0].text
            assert len(model_server.received) == 1
            assert len(conversation_items(two, conversation_id)) == 2


def test_metrics_and_the_log_line_of_a_turn(
    tmp_path: Path, model_server: LoopbackModelServer
) -> None:
    """Turns by status, the model server's time and the tokens are counted; the create's log
    line names the response it made, and no line carries the turn's content."""
    from .processes import serving
    from .test_metrics import scrape, value

    secret = "contentsecret-turn-7d1"
    with fresh_database("sqlite", tmp_path) as database_url:
        env = _env(database_url, model_server) | {"MKA1_LOG_FORMAT": "json"}
        with (
            serving(env=env) as (url, lines),
            httpx.Client(base_url=url, headers=auth_headers(KEY_A, "metrics")) as api,
        ):
            model_server.script(
                Reply(text=f"answer {secret}"),
                Reply(status=500, error={"error": {"message": "down"}}),
            )
            before = scrape(url)
            made = api.post(RESPONSES, json={"model": "m", "input": f"question {secret}"})
            assert made.status_code == 200, made.text
            failed = api.post(RESPONSES, json={"model": "m", "input": "x"})
            assert failed.status_code == 502
            after = scrape(url)
            response_id = made.json()["id"]
            time.sleep(0.5)  # the log lines of both requests are out
    for status, count in (("completed", 1), ("failed", 1)):
        delta = value(after, "mka1_turns_total", status=status) - value(
            before, "mka1_turns_total", status=status
        )
        assert delta == count, status
    assert (
        value(after, "mka1_tokens_total", direction="in")
        - value(before, "mka1_tokens_total", direction="in")
        == 11
    )
    assert (
        value(after, "mka1_tokens_total", direction="out")
        - value(before, "mka1_tokens_total", direction="out")
        == 7
    )
    assert (
        value(after, "mka1_upstream_duration_seconds_count")
        - value(before, "mka1_upstream_duration_seconds_count")
        == 1
    )
    text = "".join(lines)
    assert secret not in text
    creates = [
        json.loads(line)
        for line in lines
        if '"operation":"create_response"' in line.replace(" ", "")
    ]
    assert [c.get("response_id") for c in creates if c["status"] == 200] == [response_id]


def test_a_client_gone_mid_stream_under_serve(
    tmp_path: Path, model_server: LoopbackModelServer
) -> None:
    """Under ``serve`` (Granian), as under uvicorn: the turn of a client that went away
    mid-stream fails, and nothing is appended."""
    from .processes import serving

    with fresh_database("sqlite", tmp_path) as database_url:
        env = _env(database_url, model_server)
        with (
            serving(env=env) as (url, _),
            httpx.Client(base_url=url, headers=auth_headers(KEY_A, "gone")) as api,
        ):
            conversation_id = new_conversation(api, "hello")
            before = conversation_items(api, conversation_id)
            model_server.script(Reply(text="a" * 100, piece=1, chunk_delay=0.05))
            body = {"model": "m", "input": "x", "conversation": conversation_id, "stream": True}
            with (
                httpx.Client(base_url=url, headers=auth_headers(KEY_A, "gone")) as gone,
                gone.stream("POST", RESPONSES, json=body) as answer,
            ):
                for line in answer.iter_lines():
                    if line == "event: response.output_text.delta":
                        break
            deadline = time.monotonic() + 5
            status = None
            while time.monotonic() < deadline and status != "failed":
                time.sleep(0.1)
                listed = api.get(RESPONSES, params={"limit": 1}).json()["data"]
                status = listed[0]["status"] if listed else None
            assert status == "failed"
            sent = model_server.chunks_sent
            time.sleep(0.3)
            assert model_server.chunks_sent == sent  # the model server's answer was closed
            assert conversation_items(api, conversation_id) == before
