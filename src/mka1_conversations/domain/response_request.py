"""The body of ``POST /responses`` as msgspec Structs: every parameter of OpenAI's and the MKA1
SDK's ``responses.create``, typed so that decoding checks JSON types, ranges and enums.

Decoding only checks shapes; ``response_rules.validate_create`` decides what this service
honours (function and custom tools, the MKA1 SDK's default values, ...) and refuses the rest. The
tool, text and reasoning Structs are also how a Response echoes its parameters.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .conversations import Metadata

__all__ = [
    "AllowedToolsChoice",
    "ConversationRef",
    "CreateResponseInput",
    "CustomTool",
    "FunctionTool",
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "NamedToolChoice",
    "ReasoningConfig",
    "TextConfig",
    "TextFormat",
    "Tool",
    "ToolChoice",
    "ToolChoiceMode",
]

ToolName = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
ToolChoiceMode = Literal["none", "auto", "required"]
Verbosity = Literal["low", "medium", "high"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
Summary = Literal["auto", "concise", "detailed"]
Includable = Literal[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
]


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A request object: an unknown field is a 400 ``unknown_parameter`` naming it."""


class ConversationRef(_Body):
    """``conversation: {"id": ...}`` (a bare id string is accepted too)."""

    id: str


# --- tools ----------------------------------------------------------------------------------


class FunctionTool(_Body, tag_field="type", tag="function"):
    name: ToolName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    defer_loading: bool | None = None


class TextGrammar(_Body, tag_field="type", tag="text"):
    pass


class Grammar(_Body, tag_field="type", tag="grammar"):
    syntax: Literal["lark", "regex"]
    definition: str


class CustomTool(_Body, tag_field="type", tag="custom"):
    name: ToolName
    description: str | None = None
    format: TextGrammar | Grammar | None = None
    defer_loading: bool | None = None


Tool = FunctionTool | CustomTool


class NamedToolChoice(_Body):
    """``{"type": "function" | "custom", "name": ...}``: the model must call this tool."""

    type: Literal["function", "custom"]
    name: ToolName


class AllowedTool(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str
    name: str | None = None


class AllowedToolsChoice(_Body, tag_field="type", tag="allowed_tools"):
    """Only these of ``tools`` may be called; ``mode`` as in ``auto`` / ``required``."""

    mode: Literal["auto", "required"]
    tools: list[AllowedTool]


ToolChoice = ToolChoiceMode | NamedToolChoice | AllowedToolsChoice


# --- text format and reasoning --------------------------------------------------------------


class PlainTextFormat(_Body, tag_field="type", tag="text"):
    pass


class JsonObjectFormat(_Body, tag_field="type", tag="json_object"):
    pass


class JsonSchemaFormat(_Body, tag_field="type", tag="json_schema"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    schema_: dict[str, Any] = msgspec.field(name="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = PlainTextFormat | JsonObjectFormat | JsonSchemaFormat


class TextConfig(_Body):
    format: TextFormat = msgspec.field(default_factory=PlainTextFormat)
    verbosity: Verbosity | None = None


class ReasoningConfig(_Body):
    effort: Effort | None = None
    summary: Summary | None = None
    generate_summary: Summary | None = None
    context: Literal["auto", "current_turn", "all_turns"] | None = None
    mode: str | None = None


class StreamOptions(_Body):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


# --- the body -------------------------------------------------------------------------------

Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]
Penalty = Annotated[float, msgspec.Meta(ge=-2, le=2)]


class CreateResponseInput(_Body):
    """Body of ``POST /responses``. ``None`` everywhere means "not sent"."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    input: str | list[Any] | None = None
    instructions: str | None = None
    conversation: str | ConversationRef | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    stream: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Probability | None = None
    max_output_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    metadata: Metadata | None = None
    text: TextConfig | None = None
    user: str | None = None
    include: list[Includable] | None = None

    # Honoured as their default values (the MKA1 SDK always sends them) or as documented.
    background: bool | None = None
    max_tool_calls: Annotated[int, msgspec.Meta(ge=1)] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    stream_options: StreamOptions | None = None
    reasoning: ReasoningConfig | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    fallback_models: list[str] | None = None
    stream_events: bool | None = None

    # Passed to the model server as Chat Completions parameters of the same name.
    stop: str | list[str] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    top_k: int | None = None
    min_p: Probability | None = None
    repetition_penalty: float | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None

    # Known parameters this service cannot honour: refused unless absent or null.
    prompt: Any = None
    top_logprobs: Any = None
    context_management: Any = None
    audio: Any = None
    webhook_url: Any = None
    webhook_secret: Any = None
    extra_body: Any = None
    do_sample: Any = None
    prefill_think: Any = None
    use_cache: Any = None
    access_programs: Any = None
    background_options: Any = None
    image: Any = None
    moderation: Any = None
    prompt_cache_options: Any = None
    prompt_cache_retention: Any = None
