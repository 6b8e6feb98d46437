"""The Response object and its output items, in the shape both SDKs parse.

Every key the MKA1 SDK's ``ResponseObject`` requires is always present (``null`` where empty),
``usage`` is never null (zeros until the model server reports it), ``input_tokens_details`` has
both ``cached_tokens`` and ``cache_write_tokens``, ``output_text`` parts carry ``annotations``
and message items a ``status`` (the OpenAI SDK's strict models need them), and a failed
response's ``error.code`` is one of OpenAI's codes.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .errors import ServiceError, UpstreamRateLimited, UpstreamRejected
from .ids import new_id
from .items import ITEM_TYPES_BY_NAME
from .response_request import ConversationRef, ReasoningConfig, TextConfig, Tool, ToolChoice

__all__ = [
    "RESPONSE_PREFIX",
    "CustomToolCallItem",
    "FunctionCallItem",
    "IncompleteDetails",
    "IncompleteReason",
    "MessageItem",
    "OutputItem",
    "OutputText",
    "ReasoningItem",
    "ReasoningText",
    "Refusal",
    "ResponseDeleted",
    "ResponseError",
    "ResponseObject",
    "ResponseStatus",
    "Usage",
    "decode_response",
    "error_of",
    "new_item_id",
]

RESPONSE_PREFIX = "resp"
ResponseStatus = Literal["completed", "failed", "in_progress", "incomplete"]
ItemStatus = Literal["in_progress", "completed", "incomplete"]
IncompleteReason = Literal["max_output_tokens", "content_filter"]
ResponseErrorCode = Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]


def new_item_id(item_type: str) -> str:
    """A fresh id with the prefix the item table gives ``item_type`` (``msg_…``, ``fc_…``)."""
    return new_id(ITEM_TYPES_BY_NAME[item_type].prefix)


class _Object(msgspec.Struct, kw_only=True):
    """Encoded with every field, nulls included: the SDKs' models require the keys."""


# --- content parts --------------------------------------------------------------------------


class OutputText(_Object, tag_field="type", tag="output_text"):
    text: str
    annotations: list[dict[str, Any]] = msgspec.field(default_factory=list)
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class Refusal(_Object, tag_field="type", tag="refusal"):
    refusal: str


class ReasoningText(_Object, tag_field="type", tag="reasoning_text"):
    text: str


class SummaryText(_Object, tag_field="type", tag="summary_text"):
    text: str


# --- output items ---------------------------------------------------------------------------


class MessageItem(_Object, tag_field="type", tag="message"):
    id: str
    status: ItemStatus
    role: Literal["assistant"] = "assistant"
    content: list[OutputText | Refusal] = msgspec.field(default_factory=list)


class FunctionCallItem(_Object, tag_field="type", tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: ItemStatus


class CustomToolCallItem(_Object, tag_field="type", tag="custom_tool_call"):
    """No ``status``: neither SDK's model nor the item table has one for this type."""

    id: str
    call_id: str
    name: str
    input: str


class ReasoningItem(_Object, tag_field="type", tag="reasoning"):
    """The model's reasoning text (``reasoning_content``) as ``reasoning_text`` content."""

    id: str
    status: ItemStatus
    summary: list[SummaryText] = msgspec.field(default_factory=list)
    content: list[ReasoningText] = msgspec.field(default_factory=list)


OutputItem = MessageItem | FunctionCallItem | CustomToolCallItem | ReasoningItem


# --- the response ---------------------------------------------------------------------------


class InputTokensDetails(_Object):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(_Object):
    reasoning_tokens: int = 0


class Usage(_Object):
    """Token counts as the model server reported them; zeros before it has."""

    input_tokens: int = 0
    input_tokens_details: InputTokensDetails = msgspec.field(default_factory=InputTokensDetails)
    output_tokens: int = 0
    output_tokens_details: OutputTokensDetails = msgspec.field(default_factory=OutputTokensDetails)
    total_tokens: int = 0


class ResponseError(_Object):
    code: ResponseErrorCode
    message: str


class IncompleteDetails(_Object):
    reason: IncompleteReason


def error_of(exc: ServiceError) -> ResponseError:
    """A failed response's ``error``: OpenAI's ``rate_limit_exceeded`` for a rate-limited model
    server, ``invalid_prompt`` for a request it refused, ``server_error`` for everything else."""
    if isinstance(exc, UpstreamRateLimited):
        return ResponseError(code="rate_limit_exceeded", message=exc.message)
    if isinstance(exc, UpstreamRejected):
        return ResponseError(code="invalid_prompt", message=exc.message)
    return ResponseError(code="server_error", message=exc.message)


class ResponseObject(_Object, kw_only=True):
    """OpenAI's Response. The request's parameters are echoed as this service applied them."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus
    background: bool = False
    completed_at: int | None = None
    conversation: ConversationRef | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    model: str
    output: list[OutputItem] = msgspec.field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    reasoning: ReasoningConfig = msgspec.field(default_factory=ReasoningConfig)
    safety_identifier: str | None = None
    service_tier: Literal["default"] = "default"
    store: bool = True
    temperature: float | None = None
    text: TextConfig = msgspec.field(default_factory=TextConfig)
    tool_choice: ToolChoice = "auto"
    tools: list[Tool] = msgspec.field(default_factory=list)
    top_p: float | None = None
    truncation: Literal["auto", "disabled"] = "disabled"
    usage: Usage = msgspec.field(default_factory=Usage)
    user: str | None = None


class _StoredResponse(ResponseObject, kw_only=True):
    """A stored Response read back: its ``tool_choice`` as stored (the request's union of
    untagged structs cannot be decoded)."""

    tool_choice: Any = "auto"


_decode_stored = msgspec.json.Decoder(_StoredResponse).decode


def decode_response(data: bytes) -> ResponseObject:
    """A stored Response's JSON as the object it was encoded from."""
    return _decode_stored(data)


class ResponseDeleted(_Object):
    id: str
    object: Literal["response"] = "response"
    deleted: bool = True
