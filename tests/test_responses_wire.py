"""Both official SDKs consume what a turn produces, through their real HTTP clients: a turn runs
against the loopback model server, its Response (JSON) or its event stream (SSE bytes from
``http.sse``) is replayed by a loopback server, and the OpenAI SDK (strict validation, raw
stream and its ``responses.stream`` helper) and the MKA1 SDK (``sdk.llm.responses``) parse it.

Completed, incomplete and failed turns, with reasoning, text, function and custom tool calls;
and an OpenAI Agents SDK run, whose request our rules accept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner
from meetkai_mka1 import SDK, models, utils
from openai import AsyncOpenAI, OpenAI
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseReasoningItem,
    ResponseTextDeltaEvent,
)

from mka1_conversations.domain.response_events import StreamEvent, event_type
from mka1_conversations.domain.response_request import CreateResponseInput
from mka1_conversations.domain.response_rules import validate_create
from mka1_conversations.domain.turns import TurnService
from mka1_conversations.http.sse import sse_stream

from .replay_server import Answer, ReplayServer, serve_replay
from .turn_support import OWNER, body, storeless_turns
from .upstream_server import Call, LoopbackModelServer, Reply

TOOLS: list[Any] = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
    {"type": "custom", "name": "run_sql"},
]
SCENARIOS = {
    "completed": Reply(
        reasoning="The user wants the weather.",
        text="Let me check.",
        calls=[
            Call("get_weather", '{"city": "Paris"}', id="call_w"),
            Call("run_sql", "select 1", custom=True),
        ],
    ),
    "incomplete": Reply(text="Once upon a time", finish_reason="length"),
    "failed": Reply(text="abcdefghijkl", piece=2, cut_after=3),
}
LAST_EVENT = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with serve_replay() as server:
        yield server


@pytest.fixture
async def turns(model_server: LoopbackModelServer) -> AsyncIterator[TurnService]:
    async with storeless_turns(model_server.url) as service:
        yield service


def openai_client(replay: ReplayServer) -> OpenAI:
    return OpenAI(
        api_key="k", base_url=replay.url + "/v1", max_retries=0, _strict_response_validation=True
    )


def mka1_client(replay: ReplayServer) -> SDK:
    no_retries = utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1, 1), False)
    return SDK(bearer_auth="k", server_url=replay.url, retry_config=no_retries)


async def streamed(
    turns: TurnService, model_server: LoopbackModelServer, scenario: str
) -> tuple[list[StreamEvent], bytes]:
    """The events of a streamed turn and the SSE bytes they encode to."""
    model_server.script(SCENARIOS[scenario])
    events: list[StreamEvent] = []

    async def recorded() -> AsyncIterator[StreamEvent]:
        async for event in await turns.create_stream(
            OWNER, body(stream=True, input="Weather in Paris?", tools=TOOLS)
        ):
            events.append(event)
            yield event

    data = b"".join([chunk async for chunk in sse_stream(recorded())])
    assert event_type(events[-1]) == LAST_EVENT[scenario]
    return events, data


def sse(data: bytes) -> Answer:
    return Answer(data, media_type="text/event-stream")


# --- streams --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_the_openai_sdk_parses_every_event_strictly(
    turns: TurnService, model_server: LoopbackModelServer, replay: ReplayServer, scenario: str
) -> None:
    events, data = await streamed(turns, model_server, scenario)
    assert b"[DONE]" not in data  # the MKA1 SDK's stream parser fails on it
    assert data.count(b"\nevent: ") + 1 == data.count(b"data: ") == len(events)
    replay.answer(sse(data))
    parsed = list(openai_client(replay).responses.create(model="m", input="x", stream=True))
    assert [e.type for e in parsed] == [event_type(e) for e in events]
    assert [e.sequence_number for e in parsed] == list(range(len(events)))
    if scenario == "completed":
        final = parsed[-1]
        assert isinstance(final, ResponseCompletedEvent)
        kinds = [type(item) for item in final.response.output]
        assert kinds[:3] == [ResponseReasoningItem, ResponseOutputMessage, ResponseFunctionToolCall]
        assert final.response.output_text == "Let me check."


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_the_openai_stream_helper_follows_the_stream(
    turns: TurnService, model_server: LoopbackModelServer, replay: ReplayServer, scenario: str
) -> None:
    events, data = await streamed(turns, model_server, scenario)
    replay.answer(sse(data))
    client = openai_client(replay)
    with client.responses.stream(model="m", input="x", tools=TOOLS) as stream:
        seen = list(stream)
        assert [e.type for e in seen] == [event_type(e) for e in events]
        deltas = [e for e in seen if isinstance(e, ResponseTextDeltaEvent)]
        if deltas:
            assert deltas[-1].snapshot == "".join(d.delta for d in deltas)
        if scenario == "completed":
            final = stream.get_final_response()
            assert final.output_text == "Let me check."
            call = final.output[2]
            assert call.type == "function_call" and call.call_id == "call_w"
            assert call.arguments == '{"city": "Paris"}'


async def test_the_async_openai_stream_helper_follows_the_stream(
    turns: TurnService, model_server: LoopbackModelServer, replay: ReplayServer
) -> None:
    _, data = await streamed(turns, model_server, "completed")
    replay.answer(sse(data))
    client = AsyncOpenAI(
        api_key="k", base_url=replay.url + "/v1", max_retries=0, _strict_response_validation=True
    )
    async with client.responses.stream(model="m", input="x") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.status == "completed" and len(final.output) == 4
    await client.close()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_the_mka1_sdk_parses_every_event_as_a_known_event(
    turns: TurnService, model_server: LoopbackModelServer, replay: ReplayServer, scenario: str
) -> None:
    events, data = await streamed(turns, model_server, scenario)
    replay.answer(sse(data))
    stream = mka1_client(replay).llm.responses.create(model="m", input="x", stream=True)
    parsed = list(stream)
    assert len(parsed) == len(events)
    for ours, theirs in zip(events, parsed, strict=True):
        assert isinstance(theirs, models.CreateResponseResponseBody)
        assert not getattr(theirs.data, "is_unknown", False), theirs
        assert theirs.event == theirs.data.type == event_type(ours)
    last = parsed[-1].data
    assert isinstance(
        last,
        models.ResponseCompletedEvent | models.ResponseIncompleteEvent | models.ResponseFailedEvent,
    )
    assert last.response.status == scenario


async def test_the_async_mka1_sdk_parses_the_stream(
    turns: TurnService, model_server: LoopbackModelServer, replay: ReplayServer
) -> None:
    events, data = await streamed(turns, model_server, "completed")
    replay.answer(sse(data))
    stream = await mka1_client(replay).llm.responses.create_async(model="m", input="x", stream=True)
    parsed = [event async for event in stream]
    assert [e.data.type for e in parsed] == [event_type(e) for e in events]
    assert not any(getattr(e.data, "is_unknown", False) for e in parsed)


# --- whole responses ------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["completed", "incomplete"])
async def test_a_whole_response_parses_in_both_sdks(
    turns: TurnService, model_server: LoopbackModelServer, replay: ReplayServer, scenario: str
) -> None:
    model_server.script(SCENARIOS[scenario])
    response = await turns.create(OWNER, body(input="Weather in Paris?", tools=TOOLS))
    data = msgspec.json.encode(response)
    replay.answer(Answer(data), Answer(data), Answer(data), Answer(data))
    client = openai_client(replay)
    created = client.responses.create(model="m", input="x")
    retrieved = client.responses.retrieve(response.id)
    assert created.id == retrieved.id == response.id and created.status == scenario
    assert len(created.output) == len(response.output)
    sdk = mka1_client(replay)
    made = sdk.llm.responses.create(model="m", input="x")
    got = sdk.llm.responses.get(response_id=response.id)
    assert isinstance(made, models.ResponseObject) and isinstance(got, models.ResponseObject)
    assert made.status == got.status == scenario
    assert [type(i).__name__ for i in made.output] == [type(i).__name__ for i in got.output]


async def test_the_agents_sdk_sends_what_we_accept_and_runs_on_our_response(
    turns: TurnService, model_server: LoopbackModelServer, replay: ReplayServer
) -> None:
    model_server.script(Reply(text="Paris."))
    response = await turns.create(OWNER, body(input="Capital of France?"))
    replay.answer(Answer(msgspec.json.encode(response)))
    client = AsyncOpenAI(
        api_key="k", base_url=replay.url + "/v1", max_retries=0, _strict_response_validation=True
    )
    agent = Agent(
        name="geo",
        instructions="Answer in one word.",
        model=OpenAIResponsesModel(model="qwen3-8b", openai_client=client),
    )
    result = await Runner.run(
        agent,
        "Capital of France?",
        conversation_id="conv_1",
        run_config=RunConfig(tracing_disabled=True),
    )
    await client.close()
    assert result.final_output == "Paris."
    sent = msgspec.convert(msgspec.json.decode(replay.asked[-1].body), CreateResponseInput)
    accepted = validate_create(sent, response_id="resp_x")
    assert accepted.conversation_id == "conv_1" and sent.instructions == "Answer in one word."
