"""The events of a streamed Response (Server-Sent Events), in OpenAI's shapes.

A stream is ``response.created``, ``response.in_progress``, then per output item
``response.output_item.added``, its content or argument deltas and their ``.done`` events,
``response.output_item.done``, and last one of ``response.completed``, ``response.incomplete``
or ``response.failed``. ``sequence_number`` counts the events of one stream from 0; the turn
service sets it as it sends each event. Fields both SDKs require that this service never fills
(``logprobs``) are sent empty; ``name`` on ``function_call_arguments.done`` is MKA1's.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .responses import OutputItem, OutputText, ReasoningText, Refusal, ResponseObject

__all__ = [
    "ContentPartAdded",
    "ContentPartDone",
    "CustomToolCallInputDelta",
    "CustomToolCallInputDone",
    "FunctionCallArgumentsDelta",
    "FunctionCallArgumentsDone",
    "OutputEvent",
    "OutputItemAdded",
    "OutputItemDone",
    "OutputTextDelta",
    "OutputTextDone",
    "ReasoningTextDelta",
    "ReasoningTextDone",
    "RefusalDelta",
    "RefusalDone",
    "ResponseCompleted",
    "ResponseCreated",
    "ResponseFailed",
    "ResponseInProgress",
    "ResponseIncomplete",
    "StreamEvent",
    "event_type",
]


class _Event(msgspec.Struct, kw_only=True, tag_field="type"):
    sequence_number: int = 0


# --- the response's life --------------------------------------------------------------------


class ResponseCreated(_Event, tag="response.created"):
    response: ResponseObject


class ResponseInProgress(_Event, tag="response.in_progress"):
    response: ResponseObject


class ResponseCompleted(_Event, tag="response.completed"):
    response: ResponseObject


class ResponseIncomplete(_Event, tag="response.incomplete"):
    response: ResponseObject


class ResponseFailed(_Event, tag="response.failed"):
    response: ResponseObject


# --- output items and their parts -----------------------------------------------------------


class OutputItemAdded(_Event, tag="response.output_item.added"):
    output_index: int
    item: OutputItem


class OutputItemDone(_Event, tag="response.output_item.done"):
    output_index: int
    item: OutputItem


class _PartEvent(_Event):
    item_id: str
    output_index: int
    content_index: int


class ContentPartAdded(_PartEvent, tag="response.content_part.added"):
    part: OutputText | Refusal | ReasoningText


class ContentPartDone(_PartEvent, tag="response.content_part.done"):
    part: OutputText | Refusal | ReasoningText


class OutputTextDelta(_PartEvent, tag="response.output_text.delta"):
    delta: str
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class OutputTextDone(_PartEvent, tag="response.output_text.done"):
    text: str
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class RefusalDelta(_PartEvent, tag="response.refusal.delta"):
    delta: str


class RefusalDone(_PartEvent, tag="response.refusal.done"):
    refusal: str


class ReasoningTextDelta(_PartEvent, tag="response.reasoning_text.delta"):
    delta: str


class ReasoningTextDone(_PartEvent, tag="response.reasoning_text.done"):
    text: str


class _ItemEvent(_Event):
    item_id: str
    output_index: int


class FunctionCallArgumentsDelta(_ItemEvent, tag="response.function_call_arguments.delta"):
    delta: str


class FunctionCallArgumentsDone(_ItemEvent, tag="response.function_call_arguments.done"):
    name: str
    arguments: str


class CustomToolCallInputDelta(_ItemEvent, tag="response.custom_tool_call_input.delta"):
    delta: str


class CustomToolCallInputDone(_ItemEvent, tag="response.custom_tool_call_input.done"):
    input: str


OutputEvent = (
    OutputItemAdded
    | OutputItemDone
    | ContentPartAdded
    | ContentPartDone
    | OutputTextDelta
    | OutputTextDone
    | RefusalDelta
    | RefusalDone
    | ReasoningTextDelta
    | ReasoningTextDone
    | FunctionCallArgumentsDelta
    | FunctionCallArgumentsDone
    | CustomToolCallInputDelta
    | CustomToolCallInputDone
)
"""What a model server's stream turns into; the turn service adds the response's life."""

StreamEvent = (
    ResponseCreated
    | ResponseInProgress
    | ResponseCompleted
    | ResponseIncomplete
    | ResponseFailed
    | OutputEvent
)


def event_type(event: StreamEvent) -> str:
    """The event's ``type`` (its SSE ``event:`` name)."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str)
    return tag
