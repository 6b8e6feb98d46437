"""The model server client against a real Chat Completions server on loopback: what it sends,
whole and streamed answers, and every failure as the domain's error with the right status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from mka1_conversations.domain.errors import (
    ServiceError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from mka1_conversations.domain.model_server import ModelAnswer
from mka1_conversations.domain.response_events import OutputEvent, OutputTextDelta
from mka1_conversations.domain.response_request import CreateResponseInput
from mka1_conversations.domain.response_rules import TurnRequest, validate_create
from mka1_conversations.domain.responses import FunctionCallItem, MessageItem
from mka1_conversations.settings import Settings
from mka1_conversations.upstream.client import ChatCompletionsModel

from ..conftest import free_port
from ..upstream_server import Call, LoopbackModelServer, Reply, chunks

HELLO = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]


def turn(**body: Any) -> TurnRequest:
    request = msgspec.convert({"model": "qwen3-8b", **body}, CreateResponseInput)
    return validate_create(request, response_id="resp_1")


@pytest.fixture
async def model(model_server: LoopbackModelServer) -> AsyncIterator[ChatCompletionsModel]:
    client = ChatCompletionsModel(model_server.url, api_key="sk-upstream", timeout=5)
    yield client
    await client.aclose()


async def collect(model: ChatCompletionsModel, request: TurnRequest) -> list[Any]:
    return [e async for e in await model.answer_streamed(request, HELLO)]


async def test_a_whole_answer(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    model_server.script(
        Reply(text="Hello!", reasoning="Greet.", calls=[Call("f", '{"a":1}', id="c7")])
    )
    answer = await model.answer(turn(instructions="Be kind.", temperature=0.1), HELLO)
    received = model_server.last
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == "Bearer sk-upstream"
    assert received.headers["content-type"] == "application/json"
    assert received.body == {
        "model": "qwen3-8b",
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Hi"},
        ],
        "temperature": 0.1,
    }
    _reasoning, message, call = answer.output
    assert isinstance(message, MessageItem) and message.content[0].text == "Hello!"  # type: ignore[union-attr]
    assert isinstance(call, FunctionCallItem) and call.call_id == "c7"
    assert answer.usage.total_tokens == 18


async def test_no_api_key_no_authorization(model_server: LoopbackModelServer) -> None:
    model_server.script(Reply(text="ok"))
    client = ChatCompletionsModel(model_server.url + "/", timeout=5)
    try:
        await client.answer(turn(), HELLO)
    finally:
        await client.aclose()
    assert "authorization" not in model_server.last.headers
    assert model_server.last.path == "/v1/chat/completions"


async def test_a_streamed_answer(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(text="Hello there", calls=[Call("f", '{"city":"Paris"}')]))
    events = await collect(model, turn())
    assert model_server.last.body["stream"] is True
    assert model_server.last.body["stream_options"] == {"include_usage": True}
    assert model_server.last.headers["accept"] == "text/event-stream"
    answer = events[-1]
    assert isinstance(answer, ModelAnswer)
    assert all(not isinstance(e, ModelAnswer) for e in events[:-1])
    assert "".join(e.delta for e in events if isinstance(e, OutputTextDelta)) == "Hello there"
    _message, call = answer.output
    assert isinstance(call, FunctionCallItem) and call.arguments == '{"city":"Paris"}'
    assert answer.usage.input_tokens == 11


async def test_events_arrive_while_the_model_is_still_answering(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    reply = Reply(text="one two three four", piece=4, chunk_delay=0.3)
    total = len(chunks(reply))
    model_server.script(reply)
    events: list[OutputEvent | ModelAnswer] = []
    async for event in await model.answer_streamed(turn(), HELLO):
        if isinstance(event, OutputTextDelta) and not any(
            isinstance(e, OutputTextDelta) for e in events
        ):
            assert model_server.chunks_sent < total  # the first delta did not wait for the rest
        events.append(event)
    assert isinstance(events[-1], ModelAnswer)


# --- failures -----------------------------------------------------------------------------------


async def test_unreachable_is_502() -> None:
    client = ChatCompletionsModel(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    try:
        with pytest.raises(UpstreamUnreachable) as caught:
            await client.answer(turn(), HELLO)
        assert caught.value.status == 502 and caught.value.code == "upstream_unreachable"
        with pytest.raises(UpstreamUnreachable):
            await client.answer_streamed(turn(), HELLO)
    finally:
        await client.aclose()


async def test_a_slow_answer_is_504(model_server: LoopbackModelServer) -> None:
    model_server.script(Reply(text="late", delay=1.5))
    client = ChatCompletionsModel(model_server.url, timeout=0.3)
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.answer(turn(), HELLO)
        assert caught.value.status == 504 and "0.3 seconds" in caught.value.message
    finally:
        await client.aclose()


async def test_a_stalled_stream_fails_with_a_timeout(model_server: LoopbackModelServer) -> None:
    model_server.script(Reply(text="abcdefgh", piece=2, chunk_delay=1.5))
    client = ChatCompletionsModel(model_server.url, timeout=0.3)
    try:
        events = await client.answer_streamed(turn(), HELLO)  # it starts: the answer is 200
        with pytest.raises(UpstreamTimeout):
            async for _ in events:
                pass
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("status", "error", "kind", "our_status", "message"),
    [
        (
            404,
            {"error": {"message": "The model `x` does not exist."}},
            UpstreamRejected,
            400,
            "The model `x` does not exist.",
        ),
        (
            400,
            {"object": "error", "message": "maximum context length is 8192"},
            UpstreamRejected,
            400,
            "maximum context length is 8192",
        ),
        (400, {"error": "model 'x' not found"}, UpstreamRejected, 400, "model 'x' not found"),
        (422, {"detail": "bad field"}, UpstreamRejected, 400, "bad field"),
        (400, b"plain words", UpstreamRejected, 400, "plain words"),
        (
            500,
            {"error": {"message": "CUDA out of memory"}},
            UpstreamError,
            502,
            "CUDA out of memory",
        ),
        (503, b"", UpstreamError, 502, "Service Unavailable"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_error_statuses(
    model: ChatCompletionsModel,
    model_server: LoopbackModelServer,
    status: int,
    error: Any,
    kind: type[ServiceError],
    our_status: int,
    message: str,
    streamed: bool,
) -> None:
    model_server.script(Reply(status=status, error=error))
    with pytest.raises(kind) as caught:
        if streamed:
            await model.answer_streamed(turn(), HELLO)
        else:
            await model.answer(turn(), HELLO)
    assert caught.value.status == our_status
    assert message in caught.value.message and f"HTTP {status}" in caught.value.message


async def test_rate_limited_passes_retry_after_on(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    model_server.script(
        Reply(status=429, error={"error": {"message": "busy"}}, headers={"Retry-After": "7"})
    )
    with pytest.raises(UpstreamRateLimited) as caught:
        await model.answer(turn(), HELLO)
    assert caught.value.status == 429 and caught.value.headers == {"Retry-After": "7"}
    assert "busy" in caught.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>oops</html>", "not a Chat Completions response"),
        (b'{"choices": []}', "without any choice"),
        (b'{"error": {"message": "overloaded"}}', "overloaded"),
        (b'{"choices": [{"message": {"content": 5}}]}', "not a Chat Completions response"),
    ],
)
async def test_a_whole_answer_that_is_not_chat_completions_is_502(
    model: ChatCompletionsModel, model_server: LoopbackModelServer, body: bytes, message: str
) -> None:
    model_server.script(Reply(raw_body=body))
    with pytest.raises(UpstreamError) as caught:
        await model.answer(turn(), HELLO)
    assert caught.value.status == 502 and message in caught.value.message


async def test_a_stream_that_is_not_chat_completions_is_502(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(raw=[b"data: not json\n\n"]))
    with pytest.raises(UpstreamError) as caught:
        await collect(model, turn())
    assert "not a Chat Completions response" in caught.value.message


async def test_a_stream_cut_off_fails(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(text="abcdefghijkl", piece=2, cut_after=3))
    with pytest.raises(UpstreamError) as caught:
        await collect(model, turn())
    assert caught.value.status == 502


async def test_a_stream_without_an_end_fails(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    first = chunks(Reply(text="abc"))[1]
    model_server.script(Reply(raw=[b"data: " + msgspec.json.encode(first) + b"\n\n"]))
    with pytest.raises(UpstreamError) as caught:
        await collect(model, turn())
    assert "ended before" in caught.value.message


async def test_an_error_inside_a_stream_fails_with_its_message(
    model: ChatCompletionsModel, model_server: LoopbackModelServer
) -> None:
    model_server.script(Reply(raw=[b': keep-alive\n\ndata: {"error": {"message": "boom"}}\n\n']))
    with pytest.raises(UpstreamError) as caught:
        await collect(model, turn())
    assert "boom" in caught.value.message


@pytest.mark.parametrize("streamed", [False, True])
async def test_one_connection_serves_turn_after_turn(
    model: ChatCompletionsModel, model_server: LoopbackModelServer, streamed: bool
) -> None:
    for _ in range(3):
        model_server.script(Reply(text="Hello there"))
        if streamed:
            await collect(model, turn())
        else:
            await model.answer(turn(), HELLO)
        await asyncio.sleep(0.05)  # a stream's connection is kept once its body has ended
    assert len({r.client_port for r in model_server.received}) == 1


async def test_the_base_urls_query_is_kept(model_server: LoopbackModelServer) -> None:
    model_server.script(Reply(text="ok"))
    client = ChatCompletionsModel(model_server.url + "/?api-version=2024-10-21", timeout=5)
    try:
        await client.answer(turn(), HELLO)
    finally:
        await client.aclose()
    assert model_server.last.path == "/v1/chat/completions"
    assert model_server.last.query == "api-version=2024-10-21"
    assert model_server.last.headers["user-agent"].startswith("mka1-conversations/")


@pytest.mark.parametrize("key", ["sk-1\r\nX-Evil: 1", "sk-\0", "sk-\u2603"])
def test_an_api_key_that_cannot_be_a_header_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="MKA1_UPSTREAM_API_KEY"):
        ChatCompletionsModel("http://127.0.0.1:9/v1", api_key=key)


def test_from_settings() -> None:
    assert ChatCompletionsModel.from_settings(Settings()) is None
    settings = Settings(upstream_url="http://127.0.0.1:9/v1", upstream_timeout_seconds=12)
    client = ChatCompletionsModel.from_settings(settings)
    assert client is not None
    assert client.url == "http://127.0.0.1:9/v1/chat/completions" and client.timeout == 12
