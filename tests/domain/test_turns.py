"""The turn service with a real model server on loopback, for turns that need no storage
(``store: false``, no conversation, no previous response): the response whole and streamed,
the event sequence, early stops, failures before and after a stream has started, and 503
without a model server. Turns over stored conversations are tested with the stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import msgspec
import pytest

from mka1_conversations.domain.errors import (
    InvalidRequest,
    UpstreamError,
    UpstreamNotConfigured,
    UpstreamRejected,
)
from mka1_conversations.domain.response_events import (
    OutputItemDone,
    ResponseCompleted,
    ResponseCreated,
    ResponseFailed,
    ResponseIncomplete,
    ResponseInProgress,
    StreamEvent,
    event_type,
)
from mka1_conversations.domain.response_store import ResponseStore
from mka1_conversations.domain.responses import FunctionCallItem, MessageItem
from mka1_conversations.domain.stored_responses import StoredResponses
from mka1_conversations.domain.turns import TurnService, stored_output

from ..turn_support import NOW, OWNER, UntouchableStore, body, storeless_turns
from ..upstream_server import Call, LoopbackModelServer, Reply, chunks
from .test_responses import every_kind_of_output


@pytest.fixture
async def service(model_server: LoopbackModelServer) -> AsyncIterator[TurnService]:
    async with storeless_turns(model_server.url) as turns:
        yield turns


async def events_of(service: TurnService, **fields: Any) -> list[StreamEvent]:
    return [e async for e in await service.create_stream(OWNER, body(stream=True, **fields))]


async def test_a_whole_turn(service: TurnService, model_server: LoopbackModelServer) -> None:
    model_server.script(Reply(text="Bonjour !", calls=[Call("f", "{}", id="call_1")]))
    response = await service.create(
        OWNER,
        body(
            input="Say hi in French",
            instructions="Be brief.",
            metadata={"k": "v"},
            tools=[{"type": "function", "name": "f"}],
            temperature=0.4,
        ),
    )
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.created_at == NOW and response.completed_at == NOW
    message, call = response.output
    assert isinstance(message, MessageItem) and message.content[0].text == "Bonjour !"  # type: ignore[union-attr]
    assert isinstance(call, FunctionCallItem) and call.call_id == "call_1"
    assert response.usage.total_tokens == 18
    assert response.store is False and response.instructions == "Be brief."
    assert response.metadata == {"k": "v"} and response.temperature == 0.4
    assert response.tool_choice == "auto" and [t.name for t in response.tools] == ["f"]
    assert response.conversation is None and response.previous_response_id is None
    assert model_server.last.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hi in French"},
    ]


async def test_a_turn_stopped_early_is_incomplete(
    service: TurnService, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(text="Once upon", finish_reason="length"))
    response = await service.create(OWNER, body(input="Tell a story", max_output_tokens=2))
    assert response.status == "incomplete" and response.completed_at is None
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert model_server.last.body["max_tokens"] == 2


async def test_a_streamed_turn(service: TurnService, model_server: LoopbackModelServer) -> None:
    model_server.script(Reply(reasoning="Greet.", text="Hello!", calls=[Call("f", '{"a":1}')]))
    events = await events_of(service, input="Hi", tools=[{"type": "function", "name": "f"}])
    assert [e.sequence_number for e in events] == list(range(len(events)))
    created, in_progress, *items, completed = events
    assert isinstance(created, ResponseCreated) and isinstance(in_progress, ResponseInProgress)
    assert created.response.status == in_progress.response.status == "in_progress"
    assert created.response.output == [] and created.response.usage.total_tokens == 0
    assert isinstance(completed, ResponseCompleted)
    final = completed.response
    assert final.id == created.response.id and final.status == "completed"
    assert final.output == [e.item for e in items if isinstance(e, OutputItemDone)]
    assert len(final.output) == 3 and final.usage.total_tokens == 18


async def test_a_streamed_turn_stopped_early_ends_incomplete(
    service: TurnService, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(text="Once upon", finish_reason="length"))
    last = (await events_of(service, input="Tell a story"))[-1]
    assert isinstance(last, ResponseIncomplete) and last.response.status == "incomplete"


async def test_a_failure_before_the_stream_is_an_error(
    service: TurnService, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(status=404, error={"error": {"message": "no such model"}}))
    with pytest.raises(UpstreamRejected) as caught:
        await service.create_stream(OWNER, body(stream=True, input="Hi"))
    assert caught.value.status == 400 and "no such model" in caught.value.message
    model_server.script(Reply(status=500, error={"error": {"message": "down"}}))
    with pytest.raises(UpstreamError):
        await service.create(OWNER, body(input="Hi"))


async def test_a_failure_during_the_stream_is_its_last_event(
    service: TurnService, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(text="abcdefghij", piece=2, cut_after=3))
    events = await events_of(service, input="Hi")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    failed = events[-1]
    assert isinstance(failed, ResponseFailed)
    assert failed.response.status == "failed" and failed.response.error is not None
    assert failed.response.error.code == "server_error"
    assert failed.response.output == []
    assert not any(isinstance(e, ResponseCompleted) for e in events)


async def test_a_client_that_goes_away_stops_the_model_server(
    service: TurnService, model_server: LoopbackModelServer
) -> None:
    reply = Reply(text="x" * 40, piece=2, chunk_delay=0.1)
    model_server.script(reply)
    events = await service.create_stream(OWNER, body(stream=True, input="Hi"))
    seen = [await anext(events) for _ in range(4)]
    assert [event_type(e) for e in seen][:2] == ["response.created", "response.in_progress"]
    await events.aclose()  # type: ignore[attr-defined]
    sent = model_server.chunks_sent
    await asyncio.sleep(0.6)  # six more chunks' time
    assert model_server.chunks_sent <= sent + 1 < len(chunks(reply))


async def test_bad_input_is_refused_before_the_model_server_is_asked(
    service: TurnService, model_server: LoopbackModelServer
) -> None:
    with pytest.raises(InvalidRequest):
        await service.create(OWNER, body(input=[{"type": "nope"}]))
    with pytest.raises(InvalidRequest):
        await service.create_stream(OWNER, body(stream=True, background=True))
    assert model_server.received == []


async def test_without_a_model_server_every_operation_is_503() -> None:
    store = cast(ResponseStore, UntouchableStore())
    turns, stored = TurnService(store, None), StoredResponses(store, None)
    calls = [
        turns.create(OWNER, body(input="Hi")),
        turns.create_stream(OWNER, body(stream=True)),
        stored.get(OWNER, "resp_1"),
        stored.delete(OWNER, "resp_1"),
        stored.list(OWNER, after=None, limit=20, order="desc"),
        stored.list_input_items(OWNER, "resp_1", after=None, limit=20, order="asc"),
    ]
    for call in calls:
        with pytest.raises(UpstreamNotConfigured) as caught:
            await call
        assert caught.value.status == 503 and "MKA1_UPSTREAM_URL" in caught.value.message


def test_output_items_are_stored_as_the_conversation_items_they_are() -> None:
    output = every_kind_of_output()
    items = stored_output(output, "resp_7")
    assert [i.type for i in items] == [
        "reasoning",
        "message",
        "function_call",
        "custom_tool_call",
    ]
    assert [i.id for i in items] == [o.id for o in output]
    for item, original in zip(items, output, strict=True):
        data = msgspec.json.decode(item.data)
        assert data["response_id"] == "resp_7"
        assert {k: v for k, v in data.items() if k != "response_id"} == msgspec.to_builtins(
            original
        )
    assert items[1].search_text == "hello not that though"
    assert items[2].search_text == "get weather city paris"
