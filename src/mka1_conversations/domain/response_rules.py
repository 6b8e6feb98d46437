"""What ``POST /responses`` accepts: the rules that turn a decoded body into a ``TurnRequest``.

Anything this service cannot honour is a 400 naming the parameter, never silently dropped:
``unsupported_parameter`` for a parameter it has no way to apply (a prompt template, webhooks,
audio output, ...), ``unsupported_value`` for a value of an accepted one (a built-in tool,
``background: true``, a reasoning summary, ...). The MKA1 SDK's default values are accepted.
``docs/responses.md`` lists every parameter and what becomes of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from .conversations import validate_metadata
from .errors import InvalidRequest, NotFound
from .ids import is_possible_id
from .items import NewItem, prepare_items
from .response_request import (
    AllowedToolsChoice,
    ConversationRef,
    CreateResponseInput,
    CustomTool,
    FunctionTool,
    NamedToolChoice,
    ReasoningConfig,
    TextConfig,
    Tool,
    ToolChoice,
    ToolChoiceMode,
)
from .responses import ResponseObject
from .validation import english_list, from_msgspec

__all__ = ["TurnRequest", "validate_create"]

T = TypeVar("T")

_TOOL_TYPES: dict[str, type[FunctionTool] | type[CustomTool]] = {
    "function": FunctionTool,
    "custom": CustomTool,
}
_TOOL_CHOICE_MODES: tuple[ToolChoiceMode, ...] = ("none", "auto", "required")

_NO_BACKGROUND = "responses run while the request is open; use 'stream' for incremental output"
_REFUSED: dict[str, str] = {
    "prompt": "stored prompt templates are not available",
    "top_logprobs": "token log probabilities are not requested from the model server",
    "context_management": "server-side compaction is not available",
    "audio": "audio output is not available",
    "webhook_url": _NO_BACKGROUND,
    "webhook_secret": _NO_BACKGROUND,
    "extra_body": "arbitrary model server parameters are not passed through",
    "do_sample": "it has no Chat Completions equivalent",
    "prefill_think": "it has no Chat Completions equivalent",
    "use_cache": "it has no Chat Completions equivalent",
    "access_programs": "it has no Chat Completions equivalent",
    "background_options": _NO_BACKGROUND,
    "image": "image generation is not available",
    "moderation": "moderation is not available",
    "prompt_cache_options": "prompt caching is the model server's own",
    "prompt_cache_retention": "prompt caching is the model server's own",
}


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """A validated ``POST /responses``: what the turn reads, sends and stores."""

    id: str
    """The new response's id (its input items already carry it as ``response_id``)."""
    body: CreateResponseInput
    input_items: list[NewItem]
    conversation_id: str | None
    previous_response_id: str | None
    store: bool
    stream: bool
    tools: list[Tool]
    tool_choice: ToolChoice
    tool_choice_given: bool
    """Whether the client chose; only then is a choice sent to the model server."""
    text: TextConfig
    reasoning: ReasoningConfig
    metadata: dict[str, str]

    def in_progress(self, created_at: int) -> ResponseObject:
        """The response as it starts: the request's parameters as this service applies them."""
        body = self.body
        conversation = self.conversation_id
        return ResponseObject(
            id=self.id,
            created_at=created_at,
            status="in_progress",
            conversation=ConversationRef(id=conversation) if conversation is not None else None,
            instructions=body.instructions,
            max_output_tokens=body.max_output_tokens,
            max_tool_calls=body.max_tool_calls,
            metadata=self.metadata,
            model=body.model,
            parallel_tool_calls=body.parallel_tool_calls is not False,
            previous_response_id=self.previous_response_id,
            prompt_cache_key=body.prompt_cache_key,
            reasoning=self.reasoning,
            safety_identifier=body.safety_identifier,
            store=self.store,
            temperature=body.temperature,
            text=self.text,
            tool_choice=self.tool_choice,
            tools=self.tools,
            top_p=body.top_p,
            truncation=body.truncation or "disabled",
            user=body.user,
        )


def validate_create(body: CreateResponseInput, *, response_id: str) -> TurnRequest:
    """Check ``body`` against what this service honours; the first problem raises a 400 (or a
    404 for a conversation or previous response id that cannot exist)."""
    _refuse_unsupported(body)
    conversation_id = _conversation_id(body.conversation)
    if conversation_id is not None and body.previous_response_id is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: 'conversation' and 'previous_response_id' cannot "
            "be used together. A conversation already carries the context of its turns.",
            code="mutually_exclusive_parameters",
            param="previous_response_id",
        )
    previous = body.previous_response_id
    if previous is not None and not is_possible_id(previous):
        raise NotFound.response(previous, param="previous_response_id")
    tools = _tools(body.tools or [])
    tool_choice = _tool_choice(body.tool_choice, tools)
    text = body.text or TextConfig()
    raw_input = (
        [{"role": "user", "content": body.input}] if isinstance(body.input, str) else body.input
    )
    return TurnRequest(
        id=response_id,
        body=body,
        input_items=prepare_items(raw_input or [], param="input", response_id=response_id),
        conversation_id=conversation_id,
        previous_response_id=previous,
        store=body.store is not False,
        stream=body.stream is True,
        tools=tools,
        tool_choice=tool_choice,
        tool_choice_given=body.tool_choice is not None,
        text=TextConfig(format=text.format, verbosity=text.verbosity or "medium"),
        reasoning=body.reasoning or ReasoningConfig(),
        metadata=validate_metadata(body.metadata),
    )


def _refuse_unsupported(body: CreateResponseInput) -> None:
    for name, why in _REFUSED.items():
        if getattr(body, name) is not None:
            raise InvalidRequest.unsupported_parameter(name, why)
    if body.background:
        raise InvalidRequest.unsupported_value("background", True, _NO_BACKGROUND)
    if body.stream_events:
        raise InvalidRequest.unsupported_value("stream_events", True, _NO_BACKGROUND)
    if body.service_tier not in (None, "auto", "default"):
        raise InvalidRequest.unsupported_value(
            "service_tier", body.service_tier, "the model server has one tier ('default')"
        )
    if body.modalities and "audio" in body.modalities:
        raise InvalidRequest.unsupported_value("modalities", "audio", "only text is produced")
    if body.fallback_models:
        raise InvalidRequest.unsupported_parameter(
            "fallback_models", "one model server answers every turn"
        )
    if body.include and "message.output_text.logprobs" in body.include:
        raise InvalidRequest.unsupported_value(
            "include",
            "message.output_text.logprobs",
            "token log probabilities are not requested from the model server",
        )
    reasoning = body.reasoning or ReasoningConfig()
    for name in ("summary", "generate_summary"):
        if getattr(reasoning, name) is not None:
            raise InvalidRequest.unsupported_parameter(
                f"reasoning.{name}",
                "reasoning summaries are not produced; the model's reasoning text is returned "
                "as 'reasoning_text' content",
            )
    if reasoning.context not in (None, "auto"):
        raise InvalidRequest.unsupported_value(
            "reasoning.context", reasoning.context, "reasoning items are never sent back"
        )
    if reasoning.mode not in (None, "standard"):
        raise InvalidRequest.unsupported_value(
            "reasoning.mode", reasoning.mode, "only the standard mode is available"
        )


def _conversation_id(conversation: str | ConversationRef | None) -> str | None:
    if conversation is None:
        return None
    conversation_id = conversation if isinstance(conversation, str) else conversation.id
    if not is_possible_id(conversation_id):
        raise NotFound.conversation(conversation_id)
    return conversation_id


def _tools(raw_tools: list[dict[str, Any]]) -> list[Tool]:
    tools: list[Tool] = []
    for index, raw in enumerate(raw_tools):
        where = f"tools[{index}]"
        kind = raw.get("type")
        if kind is None:
            raise InvalidRequest(
                f"Missing required parameter: '{where}.type'.",
                code="missing_required_parameter",
                param=f"{where}.type",
            )
        model = _TOOL_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise InvalidRequest.unsupported_value(
                f"{where}.type",
                kind,
                "the tools supported are 'function' and 'custom' (built-in tools run on "
                "OpenAI's or MKA1's hosted platform, not on a model server)",
            )
        try:
            tool = msgspec.convert(raw, model)
        except msgspec.ValidationError as exc:
            raise from_msgspec(exc, raw=raw, model=model, prefix=where) from None
        if tool.defer_loading:
            raise InvalidRequest.unsupported_value(
                f"{where}.defer_loading", True, "tool search is not available"
            )
        tools.append(tool)
    return tools


def _tool_choice(raw: str | dict[str, Any] | None, tools: list[Tool]) -> ToolChoice:
    if raw is None:
        return "auto"
    if isinstance(raw, str):
        for mode in _TOOL_CHOICE_MODES:
            if raw == mode:
                if mode == "required" and not tools:
                    raise InvalidRequest(
                        "Invalid value for 'tool_choice': 'required' needs at least one tool "
                        "in 'tools'.",
                        param="tool_choice",
                    )
                return mode
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': '{raw}'. Supported values are: "
            f"{english_list(_TOOL_CHOICE_MODES)}.",
            param="tool_choice",
        )
    kind = raw.get("type")
    if kind in ("function", "custom"):
        choice = _convert(raw, NamedToolChoice, "tool_choice")
        _require_tool(tools, choice.type, choice.name, "tool_choice")
        return choice
    if kind == "allowed_tools":
        allowed = _convert(raw, AllowedToolsChoice, "tool_choice")
        for index, entry in enumerate(allowed.tools):
            _require_tool(tools, entry.type, entry.name, f"tool_choice.tools[{index}]")
        return allowed
    raise InvalidRequest.unsupported_value(
        "tool_choice.type",
        kind if isinstance(kind, str) else repr(kind),
        "a tool choice names a 'function' or 'custom' tool, or lists 'allowed_tools'",
    )


def _convert(raw: dict[str, Any], model: type[T], param: str) -> T:
    try:
        return msgspec.convert(raw, model)
    except msgspec.ValidationError as exc:
        raise from_msgspec(exc, raw=raw, model=model, prefix=param) from None


def _require_tool(tools: list[Tool], kind: str, name: str | None, param: str) -> None:
    """A tool choice may only name a tool that is in ``tools``."""
    for tool in tools:
        tool_kind = "function" if isinstance(tool, FunctionTool) else "custom"
        if tool_kind == kind and tool.name == name:
            return
    raise InvalidRequest(
        f"Invalid value for '{param}': no {kind} tool named '{name}' in 'tools'.",
        param=param,
    )
