"""Responses ⇄ Chat Completions, streamed: the output events each chunk becomes, in OpenAI's
order, with consistent item ids, output and content indexes, and the answer at the end."""

from __future__ import annotations

from typing import Any

import msgspec

from mka1_conversations.domain.model_server import ModelAnswer
from mka1_conversations.domain.response_events import (
    ContentPartAdded,
    ContentPartDone,
    FunctionCallArgumentsDelta,
    FunctionCallArgumentsDone,
    OutputEvent,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    OutputTextDone,
    ReasoningTextDelta,
    event_type,
)
from mka1_conversations.domain.responses import (
    CustomToolCallItem,
    FunctionCallItem,
    MessageItem,
    ReasoningItem,
    ReasoningText,
)
from mka1_conversations.upstream.chat import ChatChunk
from mka1_conversations.upstream.stream import StreamTranslator, translate_stream

from ..upstream_server import Call, Reply, chunks


def run(reply: Reply) -> tuple[list[OutputEvent], ModelAnswer]:
    translator = StreamTranslator()
    events: list[OutputEvent] = []
    for raw in chunks(reply):
        events += translator.feed(msgspec.convert(raw, ChatChunk))
    last, answer = translator.finish()
    return events + last, answer


def types(events: list[OutputEvent]) -> list[str]:
    return [event_type(e) for e in events]


def test_text_streams_as_one_message() -> None:
    events, answer = run(Reply(text="Hello there!", piece=5))
    assert types(events) == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    added = events[0]
    assert isinstance(added, OutputItemAdded) and isinstance(added.item, MessageItem)
    assert added.item.status == "in_progress" and added.item.content == []
    deltas = [e.delta for e in events if isinstance(e, OutputTextDelta)]
    assert deltas == ["Hello", " ther", "e!"]
    assert all(e.item_id == added.item.id and e.output_index == 0 for e in events[1:-1])  # type: ignore[union-attr]
    done = events[-1]
    assert isinstance(done, OutputItemDone) and isinstance(done.item, MessageItem)
    assert done.item.status == "completed" and done.item.content[0].text == "Hello there!"  # type: ignore[union-attr]
    assert isinstance(events[-3], OutputTextDone) and events[-3].text == "Hello there!"
    assert answer.output == [done.item] and answer.incomplete is None
    assert answer.usage.total_tokens == 18 and answer.usage.input_tokens_details.cached_tokens == 3


def test_reasoning_then_text_then_tool_calls() -> None:
    events, answer = run(
        Reply(
            reasoning="Think.",
            text="Checking.",
            calls=[
                Call("weather", '{"city":"Paris"}', id="call_a"),
                Call("sql", "select 1", custom=True),
            ],
        )
    )
    added = [e for e in events if isinstance(e, OutputItemAdded)]
    done = [e for e in events if isinstance(e, OutputItemDone)]
    assert [e.output_index for e in added] == [0, 1, 2, 3]
    assert [e.output_index for e in done] == [0, 1, 2, 3]
    assert [type(e.item) for e in done] == [
        ReasoningItem,
        MessageItem,
        FunctionCallItem,
        CustomToolCallItem,
    ]
    # reasoning and the message are done when the next kind starts; tool calls at the end
    order = [
        ("+" if isinstance(e, OutputItemAdded) else "-") + str(e.output_index)
        for e in events
        if isinstance(e, OutputItemAdded | OutputItemDone)
    ]
    assert order == ["+0", "-0", "+1", "-1", "+2", "+3", "-2", "-3"]
    reasoning_part = next(e for e in events if isinstance(e, ContentPartAdded))
    assert isinstance(reasoning_part.part, ReasoningText)
    assert "".join(e.delta for e in events if isinstance(e, ReasoningTextDelta)) == "Think."
    call = done[2].item
    assert (
        isinstance(call, FunctionCallItem) and call.call_id == "call_a" and call.name == "weather"
    )
    assert call.arguments == '{"city":"Paris"}' and call.status == "completed"
    arguments = [e.delta for e in events if isinstance(e, FunctionCallArgumentsDelta)]
    assert "".join(arguments) == call.arguments and len(arguments) > 1
    finished = next(e for e in events if isinstance(e, FunctionCallArgumentsDone))
    assert finished.name == "weather" and finished.arguments == call.arguments
    custom = done[3].item
    assert isinstance(custom, CustomToolCallItem) and custom.input == "select 1"
    first_call = added[2].item
    assert isinstance(first_call, FunctionCallItem) and first_call.call_id == "call_a"
    assert first_call.arguments == "" and first_call.status == "in_progress"
    assert answer.output == [e.item for e in done]


def test_tool_call_items_close_when_the_answer_ends() -> None:
    events, _ = run(Reply(calls=[Call("a", '{"x":1}'), Call("b", '{"y":2}')]))
    kinds = types(events)
    assert kinds.count("response.output_item.added") == 2
    # both calls stream, then both are done, in output order
    assert kinds[-4:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]


def test_length_leaves_the_last_item_incomplete() -> None:
    events, answer = run(Reply(reasoning="Hmm.", text="Once upon a", finish_reason="length"))
    assert answer.incomplete == "max_output_tokens"
    reasoning, message = answer.output
    assert reasoning.status == "completed"  # type: ignore[union-attr]
    assert isinstance(message, MessageItem) and message.status == "incomplete"
    last_done = events[-1]
    assert isinstance(last_done, OutputItemDone) and last_done.item.status == "incomplete"  # type: ignore[union-attr]


def test_reasoning_may_come_as_reasoning() -> None:
    _, answer = run(Reply(reasoning="Hmm.", reasoning_field="reasoning", text="4"))
    assert isinstance(answer.output[0], ReasoningItem)


def test_events_are_snapshots() -> None:
    """An event's item is what was true when it was sent, not what the item became."""
    events, _ = run(Reply(text="abcdefgh", piece=2))
    added = events[0]
    assert isinstance(added, OutputItemAdded) and added.item.content == []  # type: ignore[union-attr]
    part = events[1]
    assert isinstance(part, ContentPartAdded) and part.part.text == ""  # type: ignore[union-attr]
    done_part = next(e for e in events if isinstance(e, ContentPartDone))
    assert done_part.part.text == "abcdefgh"  # type: ignore[union-attr]


def test_an_empty_answer_has_no_output() -> None:
    events, answer = run(Reply(text=None))
    assert events == [] and answer.output == []


async def test_translate_stream_yields_events_as_chunks_arrive() -> None:
    raw = chunks(Reply(text="Hi!", piece=1))
    seen: list[Any] = []

    async def source() -> Any:
        for chunk in raw:
            seen.append(chunk)
            yield msgspec.convert(chunk, ChatChunk)

    async for event in translate_stream(source()):
        if isinstance(event, OutputTextDelta):
            # the delta of the n-th text chunk is out before the next chunk was read
            assert seen[-1]["choices"][0]["delta"]["content"] == event.delta
        if isinstance(event, ModelAnswer):
            assert len(seen) == len(raw)


def feed_raw(
    *deltas: dict[str, Any], finish: str = "stop"
) -> tuple[list[OutputEvent], ModelAnswer]:
    translator = StreamTranslator()
    events: list[OutputEvent] = []
    for delta in deltas:
        events += translator.feed(msgspec.convert({"choices": [{"delta": delta}]}, ChatChunk))
    events += translator.feed(
        msgspec.convert({"choices": [{"delta": {}, "finish_reason": finish}]}, ChatChunk)
    )
    last, answer = translator.finish()
    return events + last, answer


def test_text_after_tool_calls_is_a_new_message() -> None:
    events, answer = feed_raw(
        {"content": "First."},
        {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]},
        {"content": "Then."},
    )
    kinds = [type(item) for item in answer.output]
    assert kinds == [MessageItem, FunctionCallItem, MessageItem]
    assert [e.output_index for e in events if isinstance(e, OutputItemDone)] == [0, 1, 2]


def test_a_tool_call_whose_name_comes_late_and_without_an_id() -> None:
    events, answer = feed_raw(
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
        {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "1}"}}]},
        finish="tool_calls",
    )
    [call] = answer.output
    assert isinstance(call, FunctionCallItem) and call.name == "f" and call.arguments == '{"a":1}'
    added = events[0]
    assert isinstance(added, OutputItemAdded) and isinstance(added.item, FunctionCallItem)
    assert added.item.call_id == call.call_id and call.call_id.startswith("call_")


def test_other_choices_are_ignored() -> None:
    translator = StreamTranslator()
    chunk = {
        "choices": [
            {"index": 1, "delta": {"content": "other"}},
            {"index": 0, "delta": {"content": "mine"}},
        ]
    }
    translator.feed(msgspec.convert(chunk, ChatChunk))
    _, answer = translator.finish()
    [message] = answer.output
    assert isinstance(message, MessageItem) and message.content[0].text == "mine"  # type: ignore[union-attr]
