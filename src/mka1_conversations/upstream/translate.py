"""Responses ⇄ Chat Completions, whole: a turn becomes one ``POST /chat/completions`` body, and
a completion becomes the turn's output items, usage and stop reason.

To the model server: ``instructions`` is the first system message; messages keep their role
(``developer`` becomes ``system``, which every chat template knows); ``function_call`` and
``custom_tool_call`` items become ``tool_calls`` of an assistant message (joined to the
assistant message just before them, as one Chat Completions turn); their outputs become ``tool``
messages. An item reaches the model server only if Chat Completions has a message for it:
everything else — reasoning, hosted-tool calls and their outputs, item references, compactions,
output audio — is left out, and so are content parts it cannot carry (an image or file known
only by ``file_id`` or ``file_url``; anything but text in a system or assistant message).
The table is in ``docs/responses.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain.errors import UpstreamError
from ..domain.ids import new_id
from ..domain.model_server import ModelAnswer
from ..domain.response_request import (
    AllowedToolsChoice,
    CustomTool,
    FunctionTool,
    Grammar,
    JsonObjectFormat,
    JsonSchemaFormat,
    NamedToolChoice,
    Tool,
)
from ..domain.response_rules import TurnRequest
from ..domain.responses import (
    CustomToolCallItem,
    FunctionCallItem,
    IncompleteReason,
    InputTokensDetails,
    MessageItem,
    OutputItem,
    OutputText,
    OutputTokensDetails,
    ReasoningItem,
    ReasoningText,
    Refusal,
    Usage,
    new_item_id,
)
from .chat import ChatCompletion, ChatUsage, ToolCall, arguments_text

__all__ = ["answer_of", "chat_messages", "chat_request", "incomplete_reason", "usage_of"]

_INCOMPLETE: dict[str, IncompleteReason] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}
_TEXT_PARTS = ("input_text", "output_text")
_FORWARDED = (
    "temperature",
    "top_p",
    "user",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "top_k",
    "min_p",
    "repetition_penalty",
    "chat_template_kwargs",
    "prompt_cache_key",
    "safety_identifier",
)
"""Parameters sent under the same name when the client set them."""


# --- to the model server --------------------------------------------------------------------


def chat_request(
    turn: TurnRequest, items: Sequence[dict[str, Any]], *, stream: bool
) -> dict[str, Any]:
    """The Chat Completions body for ``turn`` over ``items`` (its context, then its input)."""
    body = turn.body
    request: dict[str, Any] = {
        "model": body.model,
        "messages": chat_messages(body.instructions, items),
    }
    tools, choice = _tools_and_choice(turn)
    if tools:
        request["tools"] = tools
        if choice is not None:
            request["tool_choice"] = choice
        if body.parallel_tool_calls is not None:
            request["parallel_tool_calls"] = body.parallel_tool_calls
    for name in _FORWARDED:
        value = getattr(body, name)
        if value is not None:
            request[name] = value
    if body.max_output_tokens is not None:
        request["max_tokens"] = body.max_output_tokens
    if turn.reasoning.effort is not None:
        request["reasoning_effort"] = turn.reasoning.effort
    if body.text is not None and body.text.verbosity not in (None, "medium"):
        request["verbosity"] = body.text.verbosity
    response_format = _response_format(turn)
    if response_format is not None:
        request["response_format"] = response_format
    if stream:
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    return request


def chat_messages(instructions: str | None, items: Sequence[dict[str, Any]]) -> list[Any]:
    """The ``messages`` of a turn: the instructions, then every item Chat Completions can
    express, in order."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item.get("type")
        if kind == "message":
            message = _message(item)
            if message is not None:
                messages.append(message)
        elif kind in ("function_call", "custom_tool_call"):
            call = _tool_call(item)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}
            )
    return messages


def _message(item: dict[str, Any]) -> dict[str, Any] | None:
    role = item["role"]
    content = item["content"]
    parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
    if role == "user":
        chat_parts = [p for p in (_user_part(part) for part in parts) if p is not None]
    else:  # system, developer and assistant messages carry text only
        chat_parts = [{"type": "text", "text": t} for t in map(_part_text, parts) if t is not None]
    if not chat_parts:
        return None
    chat_role = "system" if role == "developer" else role
    if all(p["type"] == "text" for p in chat_parts):
        return {"role": chat_role, "content": "\n".join(p["text"] for p in chat_parts)}
    return {"role": chat_role, "content": chat_parts}


def _part_text(part: Any) -> str | None:
    if isinstance(part, str):
        return part
    if part.get("type") in _TEXT_PARTS:
        text: str = part["text"]
        return text
    if part.get("type") == "refusal":
        refusal: str = part["refusal"]
        return refusal
    return None


def _user_part(part: Any) -> dict[str, Any] | None:
    text = _part_text(part)
    if text is not None:
        return {"type": "text", "text": text}
    kind = part.get("type")
    if kind == "input_image" and part.get("image_url"):
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("auto", "low", "high"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and (part.get("file_data") or part.get("file_id")):
        file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k)}
        return {"type": "file", "file": file}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part["input_audio"]}
    return None


def _tool_call(item: dict[str, Any]) -> dict[str, Any]:
    if item["type"] == "custom_tool_call":
        custom = {"name": item["name"], "input": item["input"]}
        return {"id": item["call_id"], "type": "custom", "custom": custom}
    function = {"name": item["name"], "arguments": item["arguments"]}
    return {"id": item["call_id"], "type": "function", "function": function}


def _tools_and_choice(turn: TurnRequest) -> tuple[list[dict[str, Any]], Any]:
    """The tools sent (only the allowed ones under ``allowed_tools``) and the tool choice
    (only when the client made one)."""
    choice = turn.tool_choice
    tools: Sequence[Tool] = turn.tools
    if isinstance(choice, AllowedToolsChoice):
        allowed = {(t.type, t.name) for t in choice.tools}
        tools = [t for t in tools if (_kind(t), t.name) in allowed]
        return [_tool(t) for t in tools], choice.mode
    if not turn.tool_choice_given:
        return [_tool(t) for t in tools], None
    if isinstance(choice, NamedToolChoice):
        named = {"type": choice.type, choice.type: {"name": choice.name}}
        return [_tool(t) for t in tools], named
    return [_tool(t) for t in tools], choice


def _kind(tool: Tool) -> str:
    return "function" if isinstance(tool, FunctionTool) else "custom"


def _tool(tool: Tool) -> dict[str, Any]:
    if isinstance(tool, FunctionTool):
        function: dict[str, Any] = {"name": tool.name}
        for key in ("description", "parameters", "strict"):
            if getattr(tool, key) is not None:
                function[key] = getattr(tool, key)
        return {"type": "function", "function": function}
    assert isinstance(tool, CustomTool)
    custom: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        custom["description"] = tool.description
    if isinstance(tool.format, Grammar):
        grammar = {"definition": tool.format.definition, "syntax": tool.format.syntax}
        custom["format"] = {"type": "grammar", "grammar": grammar}
    elif tool.format is not None:
        custom["format"] = {"type": "text"}
    return {"type": "custom", "custom": custom}


def _response_format(turn: TurnRequest) -> dict[str, Any] | None:
    fmt = turn.text.format
    if isinstance(fmt, JsonObjectFormat):
        return {"type": "json_object"}
    if isinstance(fmt, JsonSchemaFormat):
        schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema_}
        if fmt.description is not None:
            schema["description"] = fmt.description
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        return {"type": "json_schema", "json_schema": schema}
    return None


# --- from the model server ------------------------------------------------------------------


def answer_of(completion: ChatCompletion) -> ModelAnswer:
    """A whole completion's first choice as output items: reasoning, then the message (text and
    refusal), then the tool calls."""
    if not completion.choices:
        raise UpstreamError("The model server answered without any choice.")
    choice = completion.choices[0]
    message = choice.message
    output: list[OutputItem] = []
    reasoning = message.reasoning_content or message.reasoning
    if reasoning:
        output.append(
            ReasoningItem(
                id=new_item_id("reasoning"),
                status="completed",
                content=[ReasoningText(text=reasoning)],
            )
        )
    parts: list[OutputText | Refusal] = []
    if message.content:
        parts.append(OutputText(text=message.content))
    if message.refusal:
        parts.append(Refusal(refusal=message.refusal))
    if parts:
        output.append(MessageItem(id=new_item_id("message"), status="completed", content=parts))
    output.extend(tool_call_item(call) for call in message.tool_calls or [])
    incomplete = incomplete_reason(choice.finish_reason)
    if incomplete is not None and output:
        mark_incomplete(output[-1])
    return ModelAnswer(output=output, usage=usage_of(completion.usage), incomplete=incomplete)


def tool_call_item(call: ToolCall) -> OutputItem:
    """A finished tool call; the model server's call id is the item's ``call_id``."""
    call_id = call.id or new_id("call")
    if call.is_custom:
        custom = call.custom
        return CustomToolCallItem(
            id=new_item_id("custom_tool_call"),
            call_id=call_id,
            name=(custom.name if custom else None) or "",
            input=(custom.input if custom else None) or "",
        )
    function = call.function
    return FunctionCallItem(
        id=new_item_id("function_call"),
        call_id=call_id,
        name=(function.name if function else None) or "",
        arguments=arguments_text(function.arguments if function else None),
        status="completed",
    )


def mark_incomplete(item: OutputItem) -> None:
    """The item the model server was writing when it stopped early."""
    if not isinstance(item, CustomToolCallItem):
        item.status = "incomplete"


def incomplete_reason(finish_reason: str | None) -> IncompleteReason | None:
    """Why an answer stopped early, in Responses terms (None when it simply ended)."""
    return _INCOMPLETE.get(finish_reason) if finish_reason is not None else None


def usage_of(usage: ChatUsage | None) -> Usage:
    """Chat Completions' token counts as Responses' (zeros for what was not reported)."""
    if usage is None:
        return Usage()
    prompt = usage.prompt_tokens or 0
    completion = usage.completion_tokens or 0
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None
    details = usage.completion_tokens_details
    reasoning = details.reasoning_tokens if details else None
    return Usage(
        input_tokens=prompt,
        input_tokens_details=InputTokensDetails(cached_tokens=cached or 0),
        output_tokens=completion,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=reasoning or 0),
        total_tokens=usage.total_tokens or prompt + completion,
    )
