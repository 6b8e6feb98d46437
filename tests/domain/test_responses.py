"""The Response object as encoded parses in both SDKs' models: OpenAI's ``Response`` through the
strict validation its clients use with ``_strict_response_validation=True``, and the MKA1 SDK's
``ResponseObject`` without falling back to its "unknown" variants, for every status a response
can have and every kind of output item a turn produces."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from meetkai_mka1 import models
from meetkai_mka1.utils.serializers import unmarshal
from openai._models import validate_type
from openai.types.responses import (
    Response,
    ResponseCustomToolCall,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
)

from mka1_conversations.domain.errors import (
    ServiceError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from mka1_conversations.domain.response_request import (
    ConversationRef,
    CustomTool,
    FunctionTool,
    JsonSchemaFormat,
    NamedToolChoice,
    ReasoningConfig,
    TextConfig,
)
from mka1_conversations.domain.responses import (
    CustomToolCallItem,
    FunctionCallItem,
    IncompleteDetails,
    InputTokensDetails,
    MessageItem,
    OutputItem,
    OutputText,
    ReasoningItem,
    ReasoningText,
    Refusal,
    ResponseDeleted,
    ResponseObject,
    Usage,
    error_of,
    new_item_id,
)


def every_kind_of_output() -> list[OutputItem]:
    return [
        ReasoningItem(
            id=new_item_id("reasoning"),
            status="completed",
            content=[ReasoningText(text="The user greets; greet back.")],
        ),
        MessageItem(
            id=new_item_id("message"),
            status="completed",
            content=[OutputText(text="Hello!"), Refusal(refusal="Not that, though.")],
        ),
        FunctionCallItem(
            id=new_item_id("function_call"),
            call_id="call_1",
            name="get_weather",
            arguments='{"city": "Paris"}',
            status="completed",
        ),
        CustomToolCallItem(
            id=new_item_id("custom_tool_call"), call_id="call_2", name="run_sql", input="select 1"
        ),
    ]


def response(status: str, **fields: Any) -> ResponseObject:
    base = ResponseObject(
        id="resp_" + "0" * 32,
        created_at=1_700_000_000,
        status="in_progress",
        model="qwen3-8b",
        conversation=ConversationRef(id="conv_" + "1" * 32),
        instructions="Be brief.",
        metadata={"topic": "weather"},
        tools=[
            FunctionTool(name="get_weather", parameters={"type": "object"}, strict=True),
            CustomTool(name="run_sql", description="Runs SQL."),
        ],
        tool_choice=NamedToolChoice(type="function", name="get_weather"),
        text=TextConfig(
            format=JsonSchemaFormat(name="answer", schema_={"type": "object"}), verbosity="medium"
        ),
        reasoning=ReasoningConfig(effort="low"),
        temperature=0.2,
    )
    return msgspec.structs.replace(base, status=status, **fields)


USAGE = Usage(
    input_tokens=20,
    input_tokens_details=InputTokensDetails(cached_tokens=4),
    output_tokens=9,
    total_tokens=29,
)
RESPONSES = {
    "in_progress": response("in_progress"),
    "completed": response(
        "completed", output=every_kind_of_output(), usage=USAGE, completed_at=1_700_000_005
    ),
    "incomplete": response(
        "incomplete",
        output=every_kind_of_output()[:2],
        usage=USAGE,
        incomplete_details=IncompleteDetails(reason="max_output_tokens"),
    ),
    "failed": response("failed", error=error_of(UpstreamTimeout(30))),
    "bare": ResponseObject(id="resp_x", created_at=1, status="completed", model="m"),
}


def wire(obj: msgspec.Struct) -> Any:
    return msgspec.json.decode(msgspec.json.encode(obj))


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_a_response_parses_strictly_in_the_openai_sdk(name: str) -> None:
    parsed = validate_type(type_=Response, value=wire(RESPONSES[name]))
    assert parsed.status == RESPONSES[name].status
    assert parsed.usage is not None
    assert parsed.usage.input_tokens_details.cache_write_tokens == 0
    if name == "completed":
        kinds = [type(item) for item in parsed.output]
        assert kinds == [
            ResponseReasoningItem,
            ResponseOutputMessage,
            ResponseFunctionToolCall,
            ResponseCustomToolCall,
        ]
        message = parsed.output[1]
        assert isinstance(message, ResponseOutputMessage)
        assert isinstance(message.content[0], ResponseOutputText)
        assert message.content[0].annotations == []
        assert parsed.output_text == "Hello!"


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_a_response_parses_in_the_mka1_sdk_without_unknown_variants(name: str) -> None:
    data = wire(RESPONSES[name])
    parsed = unmarshal(data, models.ResponseObject)  # strict: no "unknown" fallback
    assert parsed.status == RESPONSES[name].status
    assert (
        parsed.usage.input_tokens_details.cached_tokens
        == data["usage"]["input_tokens_details"]["cached_tokens"]
    )
    if name == "completed":
        reasoning, message, function_call, custom_call = parsed.output
        assert isinstance(reasoning, models.Reasoning)
        assert isinstance(function_call, models.FunctionToolCall)
        assert isinstance(custom_call, models.CustomToolCall)
        # The SDK's item union is not discriminated: an assistant message parses as its
        # InputMessage model (declared first), losslessly, with OutputText and Refusal parts.
        assert isinstance(message, models.InputMessage | models.OutputMessage)
        assert message.role == "assistant" and message.status == "completed"
        assert message.id == data["output"][1]["id"]
        assert isinstance(message.content, list)
        assert [type(p) for p in message.content] == [models.OutputText, models.Refusal]


def test_required_keys_are_present_even_when_empty() -> None:
    data = wire(RESPONSES["bare"])
    for key in (
        "completed_at",
        "error",
        "incomplete_details",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "previous_response_id",
        "user",
        "background",
        "text",
        "tool_choice",
        "truncation",
        "store",
    ):
        assert key in data, key
    assert data["usage"] == {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 0,
    }
    assert data["text"] == {"format": {"type": "text"}}
    assert data["metadata"] == {} and data["output"] == [] and data["tools"] == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UpstreamRateLimited("slow down"), "rate_limit_exceeded"),
        (UpstreamRejected(400, "context too long"), "invalid_prompt"),
        (UpstreamTimeout(5), "server_error"),
        (ServiceError(), "server_error"),
    ],
)
def test_a_failed_response_carries_an_openai_error_code(error: ServiceError, code: str) -> None:
    failed = response("failed", error=error_of(error))
    parsed = validate_type(type_=Response, value=wire(failed))
    assert parsed.error is not None and parsed.error.code == code
    assert parsed.error.message == error.message


def test_a_deleted_response_parses_in_both_sdks() -> None:
    data = wire(ResponseDeleted(id="resp_1"))
    assert data == {"id": "resp_1", "object": "response", "deleted": True}
    assert unmarshal(data, models.DeleteResponseObject).deleted is True
