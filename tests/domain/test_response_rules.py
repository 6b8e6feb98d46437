"""What ``POST /responses`` accepts: the bodies the official SDKs send (their default values
included) pass; every parameter or value this service cannot honour is a 400 that names it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from meetkai_mka1 import SDK, models, utils
from openai import OpenAI

from mka1_conversations.domain.errors import InvalidRequest, NotFound
from mka1_conversations.domain.response_request import (
    AllowedToolsChoice,
    CreateResponseInput,
    CustomTool,
    FunctionTool,
    JsonSchemaFormat,
    NamedToolChoice,
)
from mka1_conversations.domain.response_rules import TurnRequest, validate_create
from mka1_conversations.domain.validation import from_msgspec

from ..replay_server import Answer, ReplayServer, serve_replay

RESPONSE_ID = "resp_" + "a" * 32
FUNCTION = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def decode(raw: Any) -> CreateResponseInput:
    """The body as the HTTP face decodes it (``read_json``)."""
    try:
        return msgspec.convert(raw, CreateResponseInput)
    except msgspec.ValidationError as exc:
        raise from_msgspec(exc, raw=raw, model=CreateResponseInput) from None


def validate(**body: Any) -> TurnRequest:
    return validate_create(decode({"model": "m", **body}), response_id=RESPONSE_ID)


def refusal(**body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        validate(**body)
    return caught.value


# --- what the SDKs send -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with serve_replay() as server:
        yield server


def sent_body(replay: ReplayServer) -> Any:
    return msgspec.json.decode(replay.asked[-1].body)


def test_the_mka1_sdk_defaults_are_accepted(replay: ReplayServer) -> None:
    replay.answer(Answer(b"{}", status=400))
    sdk = SDK(
        bearer_auth="k",
        server_url=replay.url,
        retry_config=utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1, 1), False),
    )
    with pytest.raises(Exception):  # noqa: B017 - only the request matters here
        sdk.llm.responses.create(
            model="m",
            input="Hello",
            conversation="conv_1",
            text=models.TextConfiguration(format_=models.TextResponseFormat()),
            tools=[models.FunctionToolDefinition(name="f", parameters={}, strict=False)],
        )
    body = sent_body(replay)
    assert body["background"] is False and body["max_tool_calls"] == 64
    assert body["truncation"] == "auto" and body["service_tier"] == "auto"
    assert body["text"]["verbosity"] == "medium"
    turn = validate_create(decode(body), response_id=RESPONSE_ID)
    assert turn.conversation_id == "conv_1" and turn.store and not turn.stream
    assert [t.name for t in turn.tools] == ["f"]


def test_the_openai_sdk_body_is_accepted(replay: ReplayServer) -> None:
    replay.answer(Answer(b"{}", status=400))
    client = OpenAI(api_key="k", base_url=replay.url, max_retries=0)
    with pytest.raises(Exception):  # noqa: B017 - only the request matters here
        client.responses.create(
            model="m",
            input=[{"role": "user", "content": "Hello"}],
            conversation={"id": "conv_1"},
            include=["reasoning.encrypted_content"],
            tools=[{"type": "custom", "name": "sql", "format": {"type": "text"}}],
            tool_choice={"type": "custom", "name": "sql"},
            text={"format": {"type": "json_object"}},
            store=False,
            parallel_tool_calls=False,
            max_output_tokens=64,
            temperature=0.3,
            top_p=0.9,
            user="u-1",
            metadata={"k": "v"},
        )
    turn = validate_create(decode(sent_body(replay)), response_id=RESPONSE_ID)
    assert turn.conversation_id == "conv_1" and not turn.store
    assert turn.tool_choice == NamedToolChoice(type="custom", name="sql")
    assert turn.metadata == {"k": "v"}


# --- input, conversation, previous response ---------------------------------------------------


def test_string_input_is_one_user_message_of_this_response() -> None:
    turn = validate(input="Hi there")
    [item] = turn.input_items
    data = msgspec.json.decode(item.data)
    assert data["role"] == "user" and data["type"] == "message"
    assert data["content"] == [{"type": "input_text", "text": "Hi there"}]
    assert data["response_id"] == RESPONSE_ID and item.id.startswith("msg_")


def test_input_items_are_the_conversation_item_types_and_are_validated() -> None:
    turn = validate(
        input=[
            {"type": "function_call_output", "call_id": "c1", "output": "18C"},
            {"role": "developer", "content": "Answer in French."},
        ]
    )
    assert [i.type for i in turn.input_items] == ["function_call_output", "message"]
    error = refusal(input=[{"role": "user"}])
    assert error.code == "missing_required_parameter" and error.param == "input[0].content"
    assert refusal(input=[{"type": "nope"}]).param == "input[0].type"


@pytest.mark.parametrize("conversation", ["conv_1", {"id": "conv_1"}])
def test_a_conversation_is_an_id_or_an_object(conversation: Any) -> None:
    assert validate(conversation=conversation).conversation_id == "conv_1"


def test_conversation_and_previous_response_are_exclusive() -> None:
    error = refusal(conversation="conv_1", previous_response_id="resp_1")
    assert error.code == "mutually_exclusive_parameters"
    assert error.param == "previous_response_id"


def test_ids_that_cannot_exist_are_not_found() -> None:
    with pytest.raises(NotFound):
        validate(conversation="nul\x00")
    with pytest.raises(NotFound) as caught:
        validate(previous_response_id="")
    assert caught.value.param == "previous_response_id"


def test_defaults() -> None:
    turn = validate()
    assert turn.store and not turn.stream and turn.input_items == []
    assert turn.tool_choice == "auto" and not turn.tool_choice_given
    assert turn.text.verbosity == "medium" and turn.metadata == {}


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "web_search",
        "web_search_preview",
        "file_search",
        "computer_use_preview",
        "mcp",
        "code_interpreter",
        "image_generation",
        "local_shell",
        "shell",
    ],
)
def test_built_in_tools_are_refused(kind: str) -> None:
    error = refusal(tools=[FUNCTION, {"type": kind}])
    assert error.code == "unsupported_value" and error.param == "tools[1].type"
    assert kind in error.message


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"background": True}, "unsupported_value", "background"),
        ({"stream_events": True}, "unsupported_value", "stream_events"),
        ({"service_tier": "flex"}, "unsupported_value", "service_tier"),
        ({"modalities": ["text", "audio"]}, "unsupported_value", "modalities"),
        ({"include": ["message.output_text.logprobs"]}, "unsupported_value", "include"),
        ({"reasoning": {"summary": "auto"}}, "unsupported_parameter", "reasoning.summary"),
        ({"reasoning": {"mode": "pro"}}, "unsupported_value", "reasoning.mode"),
        ({"fallback_models": ["other"]}, "unsupported_parameter", "fallback_models"),
        ({"prompt": {"id": "pmpt_1"}}, "unsupported_parameter", "prompt"),
        ({"top_logprobs": 2}, "unsupported_parameter", "top_logprobs"),
        ({"webhook_url": "https://x"}, "unsupported_parameter", "webhook_url"),
        ({"audio": {"voice": "alloy"}}, "unsupported_parameter", "audio"),
        ({"extra_body": {"a": 1}}, "unsupported_parameter", "extra_body"),
        ({"context_management": [{"type": "compaction"}]}, "unsupported_parameter", None),
        ({"tools": [{**FUNCTION, "defer_loading": True}]}, "unsupported_value", None),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(
    body: dict[str, Any], code: str, param: str | None
) -> None:
    error = refusal(**body)
    assert error.status == 400 and error.code == code
    expected = param or error.param
    assert error.param == expected and expected is not None and expected in error.message


def test_default_values_of_refused_features_are_accepted() -> None:
    validate(
        background=False,
        stream_events=False,
        service_tier="default",
        modalities=["text"],
        fallback_models=[],
        truncation="disabled",
        reasoning={"effort": "high", "context": "auto"},
        stream_options={"include_usage": True, "include_obfuscation": True},
        include=["reasoning.encrypted_content", "file_search_call.results"],
        prompt=None,
        top_logprobs=None,
    )


def test_unknown_parameters_are_refused_by_name() -> None:
    error = refusal(temprature=1)
    assert error.code == "unknown_parameter" and error.param == "temprature"


def test_shapes_are_checked() -> None:
    assert refusal(temperature=3).param == "temperature"
    assert refusal(model="").param == "model"
    assert refusal(tools=[{"type": "function"}]).param == "tools[0].name"
    assert refusal(text={"format": {"type": "json_schema"}}).param == "text.format.name"
    assert refusal(metadata={"k": 1}).param == "metadata.k"


# --- tools and tool choice ----------------------------------------------------------------------


def test_function_and_custom_tools() -> None:
    turn = validate(
        tools=[FUNCTION, {"type": "custom", "name": "sql", "format": {"type": "text"}}],
        tool_choice="required",
        text={"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}},
    )
    function, custom = turn.tools
    assert isinstance(function, FunctionTool) and function.parameters == {"type": "object"}
    assert isinstance(custom, CustomTool)
    assert turn.tool_choice == "required" and turn.tool_choice_given
    assert isinstance(turn.text.format, JsonSchemaFormat)


def test_a_tool_choice_names_a_tool_that_is_there() -> None:
    assert validate(tools=[FUNCTION], tool_choice={"type": "function", "name": "get_weather"})
    error = refusal(tools=[FUNCTION], tool_choice={"type": "function", "name": "other"})
    assert error.param == "tool_choice" and "other" in error.message
    assert refusal(tool_choice="required").param == "tool_choice"
    assert refusal(tool_choice="sometimes").param == "tool_choice"
    error = refusal(tools=[FUNCTION], tool_choice={"type": "file_search"})
    assert error.code == "unsupported_value" and error.param == "tool_choice.type"


def test_allowed_tools_must_be_tools() -> None:
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "get_weather"}],
    }
    turn = validate(tools=[FUNCTION], tool_choice=choice)
    assert isinstance(turn.tool_choice, AllowedToolsChoice)
    bad = {**choice, "tools": [{"type": "function", "name": "nope"}]}
    assert refusal(tools=[FUNCTION], tool_choice=bad).param == "tool_choice.tools[0]"
