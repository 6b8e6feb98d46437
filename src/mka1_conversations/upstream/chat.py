"""What a Chat Completions server answers, as msgspec Structs: the completion and its streamed
chunks. Lenient where servers differ: every field may be missing or null, unknown fields are
ignored, reasoning comes as ``reasoning_content`` (vLLM's parsers, DeepSeek) or ``reasoning``
(newer vLLM, Ollama), and tool-call arguments may come as an object instead of a string."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ChatChunk",
    "ChatCompletion",
    "ChatUsage",
    "ChoiceDelta",
    "ChunkChoice",
    "ToolCall",
    "arguments_text",
]


class _Wire(msgspec.Struct, kw_only=True):
    pass


class FunctionPart(_Wire):
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


class CustomPart(_Wire):
    name: str | None = None
    input: str | None = None


class ToolCall(_Wire):
    """A tool call of a message, or a fragment of one in a chunk (matched by ``index``)."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionPart | None = None
    custom: CustomPart | None = None

    @property
    def is_custom(self) -> bool:
        return self.type == "custom" or self.custom is not None


class Message(_Wire):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(_Wire):
    index: int = 0
    message: Message = msgspec.field(default_factory=Message)
    finish_reason: str | None = None


class PromptDetails(_Wire):
    cached_tokens: int | None = None


class CompletionDetails(_Wire):
    reasoning_tokens: int | None = None


class ChatUsage(_Wire):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None


class ChatCompletion(_Wire):
    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: ChatUsage | None = None


class ChoiceDelta(_Wire):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None


class ChunkChoice(_Wire):
    index: int = 0
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    finish_reason: str | None = None


class ChatChunk(_Wire):
    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    usage: ChatUsage | None = None


def arguments_text(arguments: str | dict[str, Any] | None) -> str:
    """Tool-call arguments as the JSON string Responses carries."""
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return arguments
    return msgspec.json.encode(arguments).decode()
