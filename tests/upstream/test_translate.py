"""Responses ⇄ Chat Completions, whole: the request body a turn becomes, the rule for items
Chat Completions cannot express, and the output items, usage and status a completion becomes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from mka1_conversations.domain.errors import UpstreamError
from mka1_conversations.domain.items import ITEM_TYPES, prepare_items
from mka1_conversations.domain.response_request import CreateResponseInput
from mka1_conversations.domain.response_rules import TurnRequest, validate_create
from mka1_conversations.domain.responses import (
    CustomToolCallItem,
    FunctionCallItem,
    MessageItem,
    OutputText,
    ReasoningItem,
    Refusal,
)
from mka1_conversations.upstream.chat import ChatCompletion
from mka1_conversations.upstream.translate import answer_of, chat_messages, chat_request

from ..item_examples import EXAMPLES


def turn(**body: Any) -> TurnRequest:
    request = msgspec.convert({"model": "qwen3", **body}, CreateResponseInput)
    return validate_create(request, response_id="resp_1")


def items(*raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Items as stored: validated and normalised."""
    return [msgspec.json.decode(prepare_items([r])[0].data) for r in raw]


ALL_EXAMPLES = [v for e in EXAMPLES.values() for v in (e.full, e.minimal)]


def completion(message: dict[str, Any], finish: str = "stop", **extra: Any) -> ChatCompletion:
    raw = {"choices": [{"index": 0, "message": message, "finish_reason": finish}], **extra}
    return msgspec.convert(raw, ChatCompletion)


# --- to the model server ------------------------------------------------------------------------


def test_instructions_then_messages_by_role() -> None:
    context = items(
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "input_text", "text": "Use metric."}]},
        {"role": "user", "content": "Hi"},
        {
            "type": "message",
            "id": "msg_a",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
        },
    )
    assert chat_messages("You are Ada.", context) == [
        {"role": "system", "content": "You are Ada."},
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use metric."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_tool_calls_join_the_assistant_turn_and_outputs_are_tool_messages() -> None:
    context = items(
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"id": "rs_1", "type": "reasoning", "summary": [], "content": []},
        {"role": "assistant", "content": "Checking."},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"c":"P"}'},
        {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": '{"c":"R"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"},
        {"type": "function_call_output", "call_id": "c2", "output": "21C"},
        {"type": "custom_tool_call", "call_id": "c3", "name": "sql", "input": "select 1"},
        {"type": "custom_tool_call_output", "call_id": "c3", "output": "1"},
    )
    assert chat_messages(None, context) == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"c":"P"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"c":"R"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "tool", "tool_call_id": "c2", "content": "21C"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c3", "type": "custom", "custom": {"name": "sql", "input": "select 1"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c3", "content": "1"},
    ]


EXPRESSIBLE = {
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
}


@pytest.mark.parametrize("name", sorted({t.name for t in ITEM_TYPES} - EXPRESSIBLE))
def test_items_chat_completions_cannot_express_are_left_out(name: str) -> None:
    examples = [e for e in ALL_EXAMPLES if prepare_items([e])[0].type == name]
    assert examples, name
    context = items(
        {"role": "user", "content": "before"}, *examples, {"role": "user", "content": "after"}
    )
    assert chat_messages(None, context) == [
        {"role": "user", "content": "before"},
        {"role": "user", "content": "after"},
    ]


def test_every_example_item_translates() -> None:
    """Every item type of the table, as stored, goes through without an error."""
    assert chat_messages("x", items(*ALL_EXAMPLES))


def test_user_content_parts() -> None:
    context = items(
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"},
                {"type": "input_image", "file_id": "file_1"},
                {
                    "type": "input_file",
                    "file_data": "data:application/pdf;base64,AA",
                    "filename": "a.pdf",
                },
                {"type": "input_file", "file_url": "https://x/a.pdf"},
                {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
            ],
        },
        {"role": "user", "content": [{"type": "input_image", "file_id": "file_only"}]},
        {"role": "system", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]},
    )
    assert chat_messages(None, context) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"},
                },
                {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
            ],
        }
    ]


def test_several_text_parts_become_one_string() -> None:
    context = items({"role": "user", "content": ["one", {"type": "input_text", "text": "two"}]})
    assert chat_messages(None, context) == [{"role": "user", "content": "one\ntwo"}]


def test_request_parameters() -> None:
    body = chat_request(
        turn(
            instructions="Be brief.",
            tools=[
                {
                    "type": "function",
                    "name": "f",
                    "description": "F.",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
                {
                    "type": "custom",
                    "name": "g",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
                },
            ],
            tool_choice={"type": "function", "name": "f"},
            parallel_tool_calls=False,
            temperature=0.5,
            top_p=0.9,
            max_output_tokens=100,
            user="u1",
            metadata={"not": "sent"},
            text={
                "format": {
                    "type": "json_schema",
                    "name": "out",
                    "schema": {"type": "object"},
                    "strict": True,
                },
                "verbosity": "low",
            },
            reasoning={"effort": "high"},
            stop=["END"],
            top_k=40,
            chat_template_kwargs={"enable_thinking": False},
        ),
        items({"role": "user", "content": "hi"}),
        stream=True,
    )
    assert body == {
        "model": "qwen3",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "F.",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
            },
            {
                "type": "custom",
                "custom": {
                    "name": "g",
                    "format": {
                        "type": "grammar",
                        "grammar": {"definition": "start: x", "syntax": "lark"},
                    },
                },
            },
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "u1",
        "stop": ["END"],
        "top_k": 40,
        "chat_template_kwargs": {"enable_thinking": False},
        "max_tokens": 100,
        "reasoning_effort": "high",
        "verbosity": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
        },
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_only_what_was_asked_for_is_sent() -> None:
    """The MKA1 SDK's defaults and an unset tool choice send nothing extra; tool settings go
    only with tools."""
    body = chat_request(
        turn(
            parallel_tool_calls=True,
            tool_choice="auto",
            store=True,
            truncation="auto",
            text={"format": {"type": "text"}, "verbosity": "medium"},
            include=["reasoning.encrypted_content"],
        ),
        [],
        stream=False,
    )
    assert body == {"model": "qwen3", "messages": []}
    with_tools = chat_request(turn(tools=[{"type": "function", "name": "f"}]), [], stream=False)
    assert with_tools["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert "tool_choice" not in with_tools and "parallel_tool_calls" not in with_tools


def test_allowed_tools_send_only_those_tools() -> None:
    body = chat_request(
        turn(
            tools=[{"type": "function", "name": "a"}, {"type": "function", "name": "b"}],
            tool_choice={
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "b"}],
            },
        ),
        [],
        stream=False,
    )
    assert body["tools"] == [{"type": "function", "function": {"name": "b"}}]
    assert body["tool_choice"] == "required"


def test_json_object_format() -> None:
    body = chat_request(turn(text={"format": {"type": "json_object"}}), [], stream=False)
    assert body["response_format"] == {"type": "json_object"}


# --- from the model server ----------------------------------------------------------------------


def test_an_answer_becomes_reasoning_message_and_tool_calls() -> None:
    answer = answer_of(
        completion(
            {
                "role": "assistant",
                "content": "Let me check.",
                "reasoning_content": "Need the weather tool.",
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"c":"P"}'},
                    },
                    {
                        "id": "call_10",
                        "type": "custom",
                        "custom": {"name": "sql", "input": "select 1"},
                    },
                ],
            },
            "tool_calls",
            usage={
                "prompt_tokens": 30,
                "completion_tokens": 12,
                "total_tokens": 42,
                "prompt_tokens_details": {"cached_tokens": 8},
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
        )
    )
    reasoning, message, call, custom = answer.output
    assert isinstance(reasoning, ReasoningItem) and reasoning.id.startswith("rs_")
    assert reasoning.content[0].text == "Need the weather tool."
    assert isinstance(message, MessageItem) and message.id.startswith("msg_")
    assert message.content == [OutputText(text="Let me check.")] and message.status == "completed"
    assert (
        isinstance(call, FunctionCallItem)
        and call.call_id == "call_9"
        and call.id.startswith("fc_")
    )
    assert call.name == "weather" and call.arguments == '{"c":"P"}'
    assert isinstance(custom, CustomToolCallItem) and custom.call_id == "call_10"
    assert custom.input == "select 1" and custom.id.startswith("ctc_")
    assert answer.incomplete is None
    usage = answer.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (30, 12, 42)
    assert usage.input_tokens_details.cached_tokens == 8
    assert usage.output_tokens_details.reasoning_tokens == 5


def test_reasoning_may_come_as_reasoning() -> None:
    answer = answer_of(completion({"content": "4", "reasoning": "2+2"}))
    assert isinstance(answer.output[0], ReasoningItem)


def test_length_makes_an_incomplete_answer() -> None:
    answer = answer_of(completion({"content": "Once upon a"}, "length"))
    assert answer.incomplete == "max_output_tokens"
    [message] = answer.output
    assert isinstance(message, MessageItem) and message.status == "incomplete"
    assert answer_of(completion({"content": "x"}, "content_filter")).incomplete == "content_filter"


def test_refusals_and_empty_answers() -> None:
    [message] = answer_of(completion({"content": None, "refusal": "I can't."})).output
    assert isinstance(message, MessageItem) and message.content == [Refusal(refusal="I can't.")]
    assert answer_of(completion({"content": ""})).output == []


def test_arguments_sent_as_an_object_are_a_json_string() -> None:
    raw = {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]}
    [call] = answer_of(completion(raw)).output
    assert isinstance(call, FunctionCallItem) and call.arguments == '{"a":1}'


def test_a_missing_call_id_is_made_up_and_usage_may_be_missing() -> None:
    answer = answer_of(completion({"tool_calls": [{"function": {"name": "f"}}]}))
    [call] = answer.output
    assert isinstance(call, FunctionCallItem) and call.call_id.startswith("call_")
    assert call.arguments == "" and answer.usage.total_tokens == 0


def test_an_answer_without_choices_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        answer_of(ChatCompletion())
