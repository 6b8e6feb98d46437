"""Responses on stored conversations, end to end: the real server (SQLite and PostgreSQL) in
front of the loopback model server, driven by the MKA1 SDK, the OpenAI SDK (strict) and the
OpenAI Agents SDK, plain and streamed.

What a user relies on: a turn's context is the conversation's items in order; after the turn the
conversation holds its input then its output, each with the turn's ``response_id``; chains by
``previous_response_id``; ``store: false`` writes nothing; two turns at once on one conversation
are refused (``conversation_locked``); every failure appends nothing and leaves a ``failed``
stored response; without a model server every operation answers 503 naming the setting.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner
from meetkai_mka1 import SDK, models, utils
from openai import AsyncOpenAI, BadRequestError, OpenAI

from .conftest import (
    KEY_A,
    KEY_B,
    SERVER_BACKENDS,
    RunningServer,
    auth_headers,
    free_port,
    fresh_database,
    serve_app,
)
from .conftest import (
    test_settings as settings_for,
)
from .upstream_server import Call, LoopbackModelServer, Reply

RESPONSES = "/api/v1/llm/responses"
CONVERSATIONS = "/api/v1/llm/conversations"


@pytest.fixture(scope="module", params=SERVER_BACKENDS)
def turn_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    loopback_model_server: LoopbackModelServer,
) -> Iterator[RunningServer]:
    """The server with the loopback model server as its upstream, once per backend (on Citus
    only when given)."""
    backend: str = request.param
    with (
        fresh_database(backend, tmp_path_factory.mktemp(backend)) as url,
        serve_app(
            settings_for(
                url,
                upstream_url=loopback_model_server.url,
                upstream_timeout_seconds=2.0,
                turn_lease_seconds=3,
            )
        ) as base,
    ):
        yield RunningServer(base, backend, url)


@pytest.fixture
def api(turn_server: RunningServer, user: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=turn_server.url, headers=auth_headers(KEY_A, user), timeout=30) as c:
        yield c


def mka1(server: RunningServer) -> SDK:
    no_retries = utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1, 1), False)
    return SDK(bearer_auth=KEY_A, server_url=server.url, retry_config=no_retries)


def openai(server: RunningServer, user: str) -> OpenAI:
    return OpenAI(
        api_key=KEY_A,
        base_url=server.url + "/v1",
        default_headers={"X-On-Behalf-Of": user},
        max_retries=0,
        _strict_response_validation=True,
    )


def new_conversation(api: httpx.Client, *texts: str) -> str:
    items = [{"type": "message", "role": "user", "content": t} for t in texts]
    created = api.post(CONVERSATIONS, json={"items": items})
    assert created.status_code == 200, created.text
    conversation_id: str = created.json()["id"]
    return conversation_id


def conversation_items(api: httpx.Client, conversation_id: str) -> list[dict[str, Any]]:
    page = api.get(f"{CONVERSATIONS}/{conversation_id}/items", params={"limit": 100})
    assert page.status_code == 200, page.text
    data: list[dict[str, Any]] = page.json()["data"]
    return data


def text_of(item: dict[str, Any]) -> str:
    content = item["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def sent_messages(model_server: LoopbackModelServer, index: int = -1) -> list[tuple[str, str]]:
    """(role, text) of what the model server was sent."""
    out = []
    for message in model_server.received[index].body["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content)
        out.append((message["role"], content or ""))
    return out


def assert_three_turns(
    api: httpx.Client, model_server: LoopbackModelServer, conversation_id: str, ids: list[str]
) -> None:
    assert sent_messages(model_server) == [
        ("user", "Hi, I am Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is 2+2?"),
        ("assistant", "4."),
        ("user", "And my name?"),
    ]
    items = conversation_items(api, conversation_id)
    assert [(i["type"], i["role"], text_of(i)) for i in items] == [
        ("message", "user", "Hi, I am Ada."),
        ("message", "assistant", "Hello Ada."),
        ("message", "user", "What is 2+2?"),
        ("message", "assistant", "4."),
        ("message", "user", "And my name?"),
        ("message", "assistant", "Ada."),
    ]
    assert [i["response_id"] for i in items] == [ids[0], ids[0], ids[1], ids[1], ids[2], ids[2]]


TURNS = ["Hi, I am Ada.", "What is 2+2?", "And my name?"]
ANSWERS = ["Hello Ada.", "4.", "Ada."]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_three_turns_with_the_mka1_sdk(
    turn_server: RunningServer,
    api: httpx.Client,
    model_server: LoopbackModelServer,
    user: str,
    stream: bool,
) -> None:
    conversation_id = new_conversation(api)
    sdk = mka1(turn_server)
    model_server.script(*(Reply(text=a) for a in ANSWERS))
    ids = []
    for text in TURNS:
        if stream:
            events = list(
                sdk.llm.responses.create(
                    model="qwen3-8b",
                    input=text,
                    conversation=conversation_id,
                    stream=True,
                    x_on_behalf_of=user,
                )
            )
            assert not any(getattr(e.data, "is_unknown", False) for e in events)
            last = events[-1].data
            assert isinstance(last, models.ResponseCompletedEvent)
            ids.append(last.response.id)
        else:
            response = sdk.llm.responses.create(
                model="qwen3-8b", input=text, conversation=conversation_id, x_on_behalf_of=user
            )
            assert isinstance(response, models.ResponseObject)
            assert response.status == "completed"
            ids.append(response.id)
        assert model_server.last.body.get("stream", False) is stream
    assert_three_turns(api, model_server, conversation_id, ids)
    got = sdk.llm.responses.get(response_id=ids[2], x_on_behalf_of=user)
    assert isinstance(got, models.ResponseObject) and got.id == ids[2]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_three_turns_with_the_openai_sdk(
    turn_server: RunningServer,
    api: httpx.Client,
    model_server: LoopbackModelServer,
    user: str,
    stream: bool,
) -> None:
    client = openai(turn_server, user)
    conversation = client.conversations.create()
    model_server.script(*(Reply(text=a) for a in ANSWERS))
    ids = []
    for text in TURNS:
        if stream:
            with client.responses.stream(
                model="qwen3-8b", input=text, conversation=conversation.id
            ) as events:
                for _ in events:
                    pass
                final = events.get_final_response()
            assert final.status == "completed"
            ids.append(final.id)
        else:
            response = client.responses.create(
                model="qwen3-8b", input=text, conversation=conversation.id
            )
            assert response.output_text == ANSWERS[len(ids)]
            ids.append(response.id)
    assert_three_turns(api, model_server, conversation.id, ids)
    assert client.responses.retrieve(ids[0]).output_text == ANSWERS[0]
    inputs = client.responses.input_items.list(ids[1])
    assert [text_of(i.model_dump()) for i in inputs.data] == ["What is 2+2?"]
    # Deleting a conversation keeps its responses, as on OpenAI.
    client.conversations.delete(conversation.id)
    assert client.responses.retrieve(ids[2]).id == ids[2]
    client.responses.delete(ids[2])
    assert api.get(f"{RESPONSES}/{ids[2]}").status_code == 404


def test_a_tool_round_trip(
    turn_server: RunningServer, api: httpx.Client, model_server: LoopbackModelServer, user: str
) -> None:
    client = openai(turn_server, user)
    conversation_id = new_conversation(api)
    tools: Any = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    model_server.script(
        Reply(calls=[Call("get_weather", '{"city": "Paris"}', id="call_w")]),
        Reply(text="Sunny in Paris."),
    )
    first = client.responses.create(
        model="m", input="Weather in Paris?", conversation=conversation_id, tools=tools
    )
    call = first.output[-1]
    assert call.type == "function_call" and call.call_id == "call_w"
    second = client.responses.create(
        model="m",
        conversation=conversation_id,
        tools=tools,
        input=[{"type": "function_call_output", "call_id": "call_w", "output": "sunny"}],
    )
    assert second.output_text == "Sunny in Paris."
    messages = model_server.last.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == "call_w"
    assert messages[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert messages[2]["tool_call_id"] == "call_w" and messages[2]["content"] == "sunny"
    types = [i["type"] for i in conversation_items(api, conversation_id)]
    assert types == ["message", "function_call", "function_call_output", "message"]


async def test_the_agents_sdk_runs_on_a_stored_conversation(
    turn_server: RunningServer, api: httpx.Client, model_server: LoopbackModelServer, user: str
) -> None:
    conversation_id = new_conversation(api)
    client = AsyncOpenAI(
        api_key=KEY_A,
        base_url=turn_server.url + "/v1",
        default_headers={"X-On-Behalf-Of": user},
        max_retries=0,
        _strict_response_validation=True,
    )
    agent = Agent(
        name="memory",
        instructions="Be brief.",
        model=OpenAIResponsesModel(model="qwen3-8b", openai_client=client),
    )
    model_server.script(Reply(text="Noted, Ada."), Reply(text="You are Ada."))
    config = RunConfig(tracing_disabled=True)
    first = await Runner.run(
        agent, "My name is Ada.", conversation_id=conversation_id, run_config=config
    )
    assert first.final_output == "Noted, Ada."
    second = await Runner.run(
        agent, "What is my name?", conversation_id=conversation_id, run_config=config
    )
    await client.close()
    assert second.final_output == "You are Ada."
    assert sent_messages(model_server) == [
        ("system", "Be brief."),
        ("user", "My name is Ada."),
        ("assistant", "Noted, Ada."),
        ("user", "What is my name?"),
    ]
    assert len(conversation_items(api, conversation_id)) == 4


def test_previous_response_id_chains_and_store_false(
    turn_server: RunningServer, api: httpx.Client, model_server: LoopbackModelServer, user: str
) -> None:
    client = openai(turn_server, user)
    model_server.script(Reply(text="one"), Reply(text="two"), Reply(text="three"))
    first = client.responses.create(model="m", input="a")
    second = client.responses.create(model="m", input="b", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    third = client.responses.create(
        model="m", input="c", previous_response_id=second.id, store=False
    )
    assert sent_messages(model_server) == [
        ("user", "a"),
        ("assistant", "one"),
        ("user", "b"),
        ("assistant", "two"),
        ("user", "c"),
    ]
    assert api.get(f"{RESPONSES}/{third.id}").status_code == 404  # store: false
    listed = api.get(RESPONSES).json()
    assert [r["id"] for r in listed["data"]] == [second.id, first.id]
    with pytest.raises(BadRequestError):
        client.responses.create(
            model="m", input="x", previous_response_id=first.id, conversation="conv_x"
        )


def test_store_false_on_a_conversation_reads_it_and_writes_nothing(
    api: httpx.Client, model_server: LoopbackModelServer
) -> None:
    conversation_id = new_conversation(api, "remember 7")
    before = conversation_items(api, conversation_id)
    model_server.script(Reply(text="7"))
    answer = api.post(
        RESPONSES,
        json={
            "model": "m",
            "input": "which number?",
            "conversation": conversation_id,
            "store": False,
        },
    )
    assert answer.status_code == 200, answer.text
    assert sent_messages(model_server) == [("user", "remember 7"), ("user", "which number?")]
    assert conversation_items(api, conversation_id) == before
    assert api.get(f"{RESPONSES}/{answer.json()['id']}").status_code == 404


def test_two_turns_at_once_on_one_conversation(
    api: httpx.Client, model_server: LoopbackModelServer
) -> None:
    conversation_id = new_conversation(api)
    model_server.script(Reply(text="slow", delay=1.0), Reply(text="never"))
    results: list[httpx.Response] = []

    def first() -> None:
        results.append(
            api.post(RESPONSES, json={"model": "m", "input": "a", "conversation": conversation_id})
        )

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 5
    while not model_server.received and time.monotonic() < deadline:
        time.sleep(0.01)
    second = api.post(
        RESPONSES, json={"model": "m", "input": "b", "conversation": {"id": conversation_id}}
    )
    thread.join()
    assert second.status_code == 400, second.text
    assert second.json()["error"]["code"] == "conversation_locked"
    assert second.json()["error"]["param"] == "conversation"
    assert results[0].status_code == 200, results[0].text
    assert len(model_server.received) == 1
    assert [text_of(i) for i in conversation_items(api, conversation_id)] == ["a", "slow"]
    # The lease was given back: the next turn runs.
    model_server.reset()
    model_server.script(Reply(text="next"))
    again = api.post(RESPONSES, json={"model": "m", "input": "c", "conversation": conversation_id})
    assert again.status_code == 200, again.text


FAILURES = {
    "rejected": (Reply(status=400, error={"error": {"message": "unknown model qwen9"}}), 400),
    "server error": (Reply(status=500, error={"error": {"message": "boom"}}), 502),
    "timeout": (Reply(text="late", delay=3.0), 504),
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_every_failure_appends_nothing_and_stores_a_failed_response(
    api: httpx.Client, model_server: LoopbackModelServer, failure: str, stream: bool
) -> None:
    conversation_id = new_conversation(api, "hello")
    before = conversation_items(api, conversation_id)
    reply, status = FAILURES[failure]
    model_server.script(reply)
    answer = api.post(
        RESPONSES,
        json={"model": "m", "input": "x", "conversation": conversation_id, "stream": stream},
    )
    assert answer.status_code == status, answer.text
    if failure == "rejected":
        assert "unknown model qwen9" in answer.json()["error"]["message"]
    assert conversation_items(api, conversation_id) == before
    latest = api.get(RESPONSES, params={"limit": 1}).json()["data"][0]
    assert latest["status"] == "failed" and latest["error"]["code"]
    # The lease was given back.
    model_server.script(Reply(text="fine"))
    again = api.post(RESPONSES, json={"model": "m", "input": "y", "conversation": conversation_id})
    assert again.status_code == 200, again.text


def test_a_stream_cut_by_the_model_server_fails_and_appends_nothing(
    api: httpx.Client, model_server: LoopbackModelServer
) -> None:
    conversation_id = new_conversation(api, "hello")
    before = conversation_items(api, conversation_id)
    model_server.script(Reply(text="abcdefghijkl", piece=2, cut_after=3))
    with api.stream(
        "POST",
        RESPONSES,
        json={"model": "m", "input": "x", "conversation": conversation_id, "stream": True},
    ) as answer:
        assert answer.status_code == 200
        body = answer.read()
    assert body.rstrip().splitlines()[-2] == b"event: response.failed"
    assert conversation_items(api, conversation_id) == before


def test_a_client_gone_mid_stream_appends_nothing(
    turn_server: RunningServer, api: httpx.Client, model_server: LoopbackModelServer, user: str
) -> None:
    conversation_id = new_conversation(api, "hello")
    before = conversation_items(api, conversation_id)
    model_server.script(Reply(text="a" * 40, piece=1, chunk_delay=0.05))
    body = {"model": "m", "input": "x", "conversation": conversation_id, "stream": True}
    with (
        httpx.Client(base_url=turn_server.url, headers=auth_headers(KEY_A, user)) as gone,
        gone.stream("POST", RESPONSES, json=body) as answer,
    ):
        for line in answer.iter_lines():
            if line == "event: response.output_text.delta":
                break  # and close the connection
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        latest = api.get(RESPONSES, params={"limit": 1}).json()["data"]
        if latest and latest[0]["status"] == "failed":
            break
        time.sleep(0.05)
    assert latest[0]["status"] == "failed"
    assert conversation_items(api, conversation_id) == before
    model_server.script(Reply(text="fine"))
    again = api.post(RESPONSES, json={"model": "m", "input": "y", "conversation": conversation_id})
    assert again.status_code == 200, again.text


def test_responses_are_their_owners_only(
    turn_server: RunningServer, api: httpx.Client, model_server: LoopbackModelServer, user: str
) -> None:
    conversation_id = new_conversation(api)
    model_server.script(Reply(text="mine"))
    mine = api.post(RESPONSES, json={"model": "m", "input": "x", "conversation": conversation_id})
    response_id = mine.json()["id"]
    with httpx.Client(base_url=turn_server.url, headers=auth_headers(KEY_B, user)) as other:
        for method, path in [
            ("GET", f"{RESPONSES}/{response_id}"),
            ("DELETE", f"{RESPONSES}/{response_id}"),
            ("GET", f"{RESPONSES}/{response_id}/input_items"),
        ]:
            assert other.request(method, path).status_code == 404
        assert other.get(RESPONSES).json()["data"] == []
        turn = other.post(
            RESPONSES, json={"model": "m", "input": "x", "conversation": conversation_id}
        )
        assert turn.status_code == 404
        chained = other.post(
            RESPONSES, json={"model": "m", "input": "x", "previous_response_id": response_id}
        )
        assert chained.status_code == 404


def test_list_responses_is_mka1_only(api: httpx.Client) -> None:
    assert api.get("/v1/responses").status_code == 404
    assert api.get(RESPONSES).status_code == 200


def test_without_a_model_server_every_operation_is_503(tmp_path: Path) -> None:
    with (
        fresh_database("sqlite", tmp_path) as url,
        serve_app(settings_for(url)) as base,
        httpx.Client(base_url=base, headers=auth_headers(KEY_A, "u")) as client,
    ):
        for method, path in [
            ("POST", RESPONSES),
            ("GET", RESPONSES),
            ("GET", f"{RESPONSES}/resp_1"),
            ("DELETE", f"{RESPONSES}/resp_1"),
            ("GET", f"{RESPONSES}/resp_1/input_items"),
            ("POST", "/v1/responses"),
        ]:
            answer = client.request(method, path, json={"model": "m", "input": "x"})
            assert answer.status_code == 503, (method, path, answer.text)
            assert "MKA1_UPSTREAM_URL" in answer.json()["error"]["message"]


def test_an_unreachable_model_server_is_502(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    with (
        fresh_database("sqlite", tmp_path) as url,
        serve_app(settings_for(url, upstream_url=closed)) as base,
        httpx.Client(base_url=base, headers=auth_headers(KEY_A, "u")) as client,
    ):
        conversation_id = new_conversation(client, "hello")
        answer = client.post(
            RESPONSES, json={"model": "m", "input": "x", "conversation": conversation_id}
        )
        assert answer.status_code == 502, answer.text
        assert len(conversation_items(client, conversation_id)) == 1
        assert client.get(RESPONSES).json()["data"][0]["status"] == "failed"


# --- Idempotency-Key --------------------------------------------------------------------------


def sse_events(body: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_an_idempotency_key_answers_a_sent_again_turn_with_its_first_response(
    api: httpx.Client, model_server: LoopbackModelServer, stream: bool
) -> None:
    conversation_id = new_conversation(api, "hello")
    body = {"model": "m", "input": "x", "conversation": conversation_id, "stream": stream}
    key = {"Idempotency-Key": f"turn-{time.time_ns()}"}
    model_server.script(Reply(text="once"))

    def create() -> dict[str, Any]:
        answer = api.post(RESPONSES, json=body, headers=key)
        assert answer.status_code == 200, answer.text
        if not stream:
            response: dict[str, Any] = answer.json()
            return response
        events = sse_events(answer.content)
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "response.completed"
        last: dict[str, Any] = events[-1]["response"]
        return last

    first = create()
    asked = len(model_server.received)
    again = create()  # e.g. an SDK's retry after a lost answer
    assert again == first and again["output"][0]["content"][0]["text"] == "once"
    assert len(model_server.received) == asked  # the model server was not asked again
    items = conversation_items(api, conversation_id)
    assert [text_of(i) for i in items] == ["hello", "x", "once"]  # appended once
    other = api.post(RESPONSES, json={**body, "input": "y"}, headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_failed_turn_keeps_no_receipt_and_runs_again(
    api: httpx.Client, model_server: LoopbackModelServer
) -> None:
    conversation_id = new_conversation(api, "hello")
    body = {"model": "m", "input": "x", "conversation": conversation_id}
    key = {"Idempotency-Key": f"turn-{time.time_ns()}"}
    model_server.script(Reply(status=500, error={"error": {"message": "busy"}}), Reply(text="ok"))
    assert api.post(RESPONSES, json=body, headers=key).status_code == 502
    answer = api.post(RESPONSES, json=body, headers=key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed"
    assert [text_of(i) for i in conversation_items(api, conversation_id)] == ["hello", "x", "ok"]


def test_the_same_keyed_turn_sent_twice_at_once_is_stored_once(
    api: httpx.Client, model_server: LoopbackModelServer
) -> None:
    body = {"model": "m", "input": "at once"}
    key = {"Idempotency-Key": f"turn-{time.time_ns()}"}
    model_server.script(Reply(text="one", delay=0.3), Reply(text="two", delay=0.3))
    before = {r["id"] for r in api.get(RESPONSES, params={"limit": 100}).json()["data"]}
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(api.post(RESPONSES, json=body, headers=key))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    after = {r["id"] for r in api.get(RESPONSES, params={"limit": 100}).json()["data"]}
    assert after - before == {answers[0].json()["id"]}


def test_the_openai_sdk_sends_a_keyed_turn_twice_and_gets_one_response(
    turn_server: RunningServer, api: httpx.Client, model_server: LoopbackModelServer, user: str
) -> None:
    conversation_id = new_conversation(api, "hello")
    client = openai(turn_server, user)
    model_server.script(Reply(text="once"))
    key = {"Idempotency-Key": f"turn-{time.time_ns()}"}
    first = client.responses.create(
        model="m", input="x", conversation=conversation_id, extra_headers=key
    )
    again = client.responses.create(
        model="m", input="x", conversation=conversation_id, extra_headers=key
    )
    assert again.id == first.id and again.output_text == "once"
    assert len(conversation_items(api, conversation_id)) == 3


def test_a_turn_whose_save_is_refused_counts_once_as_failed(
    turn_server: RunningServer, api: httpx.Client, model_server: LoopbackModelServer
) -> None:
    """An input item id appended directly while the model answers: the save is refused (409),
    nothing of the turn is appended, and the turn is counted failed, not also completed."""
    from .test_metrics import scrape, value

    conversation_id = new_conversation(api, "hello")
    item_id = f"msg_taken{time.time_ns()}"
    taken = {"type": "message", "role": "user", "content": "mine", "id": item_id}
    model_server.script(Reply(text="late", delay=0.5))
    before = scrape(turn_server.url)
    answers: list[httpx.Response] = []
    body = {"model": "m", "input": [taken], "conversation": conversation_id}
    thread = threading.Thread(target=lambda: answers.append(api.post(RESPONSES, json=body)))
    thread.start()
    deadline = time.monotonic() + 10
    while not model_server.received and time.monotonic() < deadline:
        time.sleep(0.01)
    direct = api.post(f"{CONVERSATIONS}/{conversation_id}/items", json={"items": [taken]})
    assert direct.status_code == 200, direct.text
    thread.join()
    assert answers[0].status_code == 409, answers[0].text
    assert [i["id"] for i in conversation_items(api, conversation_id)][-1] == item_id
    after = scrape(turn_server.url)
    for status, count in (("completed", 0), ("failed", 1)):
        delta = value(after, "mka1_turns_total", status=status) - value(
            before, "mka1_turns_total", status=status
        )
        assert delta == count, status
