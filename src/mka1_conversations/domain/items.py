"""Conversation items: one msgspec Struct per MKA1 item type and ONE table that drives everything.

The table (``ITEM_TYPES``) gives each type its id prefix, its model (required fields, JSON types
and enums), whether it carries a ``status``, and which fields hold searchable text.
``prepare_items`` validates each raw JSON object against its type's Struct, then stores the raw
object itself, normalised (unknown fields survive); how a type is recognised and what
normalising does are written in docs/item-types.md, which ``scripts/item_types_doc.py`` renders
from this table, and docs/api.md ("Objects").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from .errors import InvalidRequest
from .ids import new_id
from .search import search_document
from .validation import describe_value, english_list, from_msgspec

__all__ = [
    "ITEM_TYPES",
    "ITEM_TYPES_BY_NAME",
    "ItemType",
    "NewItem",
    "prepare_items",
]

Status = Literal["in_progress", "completed", "incomplete"]
ITEM_ID_PATTERN = r"^(?!\.\.?$)[^\x00-\x1f\x7f/]+$"
"""Client ids must be usable as a URL path segment and as a database key: no control characters,
no ``/``, not ``.`` or ``..`` (all of which made items unreachable, or a 500 on PostgreSQL)."""
ItemId = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=ITEM_ID_PATTERN)]


class _Model(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of item and part models: unknown fields are allowed (and kept by the caller)."""


# --- message content parts ------------------------------------------------------------------


class _Part(_Model, tag_field="type"):
    pass


class InputText(_Part, tag="input_text"):
    text: str


class InputImage(_Part, tag="input_image"):
    detail: Literal["high", "low", "auto", "original"] | None = None
    file_id: str | None = None
    image_url: str | None = None


class InputFile(_Part, tag="input_file"):
    file_data: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    filename: str | None = None


class AudioData(_Model):
    data: str
    format: Literal["mp3", "wav"]


class InputAudio(_Part, tag="input_audio"):
    input_audio: AudioData


class _Annotation(_Model, tag_field="type"):
    pass


class FileCitation(_Annotation, tag="file_citation"):
    file_id: str
    filename: str
    index: int


class UrlCitation(_Annotation, tag="url_citation"):
    start_index: int
    end_index: int
    title: str
    url: str


class ContainerFileCitation(_Annotation, tag="container_file_citation"):
    container_id: str
    file_id: str
    filename: str
    start_index: int
    end_index: int


class FilePath(_Annotation, tag="file_path"):
    file_id: str
    index: int


Annotation = FileCitation | UrlCitation | ContainerFileCitation | FilePath


class TopLogProb(_Model):
    token: str
    logprob: float
    bytes: list[float]


class LogProb(_Model):
    token: str
    logprob: float
    bytes: list[float]
    top_logprobs: list[TopLogProb]


class OutputText(_Part, tag="output_text"):
    text: str
    annotations: list[Annotation] | None = None
    logprobs: list[LogProb] | None = None


class Refusal(_Part, tag="refusal"):
    refusal: str


InputContentPart = str | InputText | InputImage | InputFile | InputAudio | OutputText | Refusal
OutputContentPart = OutputText | Refusal


# --- items ----------------------------------------------------------------------------------
#
# Fields and which are required follow the MKA1 SDK's request models (docs/item-types.md);
# ``type`` is required on every nested discriminated object (the SDK's TypedDicts require it),
# optional only on input messages and item references.


class InputMessage(_Model):
    """A message with role and content (user, assistant, system or developer turns)."""

    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[InputContentPart]
    type: Literal["message"] | None = None
    status: Status | None = None
    id: ItemId | None = None


class OutputMessage(_Model):
    """An assistant message containing generated text or refusal content."""

    id: ItemId
    content: list[OutputContentPart]
    status: Status
    type: Literal["message"]
    role: Literal["assistant"]
    phase: Literal["commentary", "final_answer"] | None = None


class OutputAudio(_Model):
    """Audio synthesised from the model's text response via TTS (MKA1 extension)."""

    data: str
    transcript: str
    id: ItemId
    status: Status
    type: Literal["output_audio"]


class FileSearchResult(_Model):
    attributes: dict[str, str | bool | float] | None = None
    file_id: str | None = None
    filename: str | None = None
    score: float | None = None
    text: str | None = None


class FileSearchCall(_Model):
    """A semantic file search tool call: query terms, status and optional results."""

    id: ItemId
    queries: list[str]
    status: Literal["in_progress", "searching", "completed", "incomplete", "failed"]
    type: Literal["file_search_call"]
    results: list[FileSearchResult] | None = None


class _ComputerAction(_Model, tag_field="type"):
    pass


class ClickAction(_ComputerAction, tag="click"):
    button: Literal["left", "right", "wheel", "back", "forward"]
    x: int
    y: int


class DoubleClickAction(_ComputerAction, tag="double_click"):
    x: int
    y: int


class DragPoint(_Model):
    x: int
    y: int


class DragAction(_ComputerAction, tag="drag"):
    path: list[DragPoint]


class KeyPressAction(_ComputerAction, tag="keypress"):
    keys: list[str]


class MoveAction(_ComputerAction, tag="move"):
    x: int
    y: int


class ScreenshotAction(_ComputerAction, tag="screenshot"):
    pass


class ScrollAction(_ComputerAction, tag="scroll"):
    scroll_x: int
    scroll_y: int
    x: int
    y: int


class TypeAction(_ComputerAction, tag="type"):
    text: str


class WaitAction(_ComputerAction, tag="wait"):
    pass


ComputerAction = (
    ClickAction
    | DoubleClickAction
    | DragAction
    | KeyPressAction
    | MoveAction
    | ScreenshotAction
    | ScrollAction
    | TypeAction
    | WaitAction
)


class PendingSafetyCheck(_Model):
    id: str
    code: str
    message: str


class ComputerCall(_Model):
    """A computer-use tool call step: the UI action and its safety-check state."""

    id: ItemId
    call_id: str
    action: ComputerAction
    pending_safety_checks: list[PendingSafetyCheck]
    status: Status
    type: Literal["computer_call"]


class ComputerScreenshot(_Model):
    type: Literal["computer_screenshot"]
    file_id: str | None = None
    image_url: str | None = None


class AcknowledgedSafetyCheck(_Model):
    id: str
    code: str | None = None
    message: str | None = None


class ComputerCallOutput(_Model):
    """The output of a computer-use tool call, typically a screenshot."""

    call_id: str
    output: ComputerScreenshot
    type: Literal["computer_call_output"]
    acknowledged_safety_checks: list[AcknowledgedSafetyCheck] | None = None
    id: ItemId | None = None
    status: Status | None = None


class _WebSearchAction(_Model, tag_field="type"):
    pass


class SearchSource(_Model):
    type: Literal["url"]
    url: str


class SearchAction(_WebSearchAction, tag="search"):
    query: str
    sources: list[SearchSource] | None = None


class OpenPageAction(_WebSearchAction, tag="open_page"):
    url: str


class FindAction(_WebSearchAction, tag="find"):
    pattern: str
    url: str


class WebSearchCall(_Model):
    """A web search tool call: the executed action and its status (a free string)."""

    id: ItemId
    action: SearchAction | OpenPageAction | FindAction
    status: str
    type: Literal["web_search_call"]


class FunctionCall(_Model):
    """A call to a function tool, with its JSON-string arguments."""

    arguments: str
    call_id: str
    name: str
    type: Literal["function_call"]
    id: ItemId | None = None
    status: Status | None = None


class FunctionCallOutput(_Model):
    """The output returned for a function tool call (a string)."""

    call_id: str
    output: str
    type: Literal["function_call_output"]
    id: ItemId | None = None
    status: Status | None = None


class SummaryText(_Model):
    type: Literal["summary_text"]
    text: str


class ReasoningText(_Model):
    type: Literal["reasoning_text"]
    text: str


class Reasoning(_Model):
    """Model reasoning: summary text and optional detailed reasoning content."""

    id: ItemId
    summary: list[SummaryText]
    type: Literal["reasoning"]
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None
    status: Status | None = None


class ImageGenerationCall(_Model):
    """An image generation tool call: status (a free string) and result."""

    id: ItemId
    status: str
    result: str
    type: Literal["image_generation_call"]
    background: str | None = None
    output_format: str | None = None
    quality: str | None = None
    size: str | None = None
    revised_prompt: str | None = None


class _CodeInterpreterOutput(_Model, tag_field="type"):
    pass


class CodeInterpreterLogs(_CodeInterpreterOutput, tag="logs"):
    logs: str


class CodeInterpreterImage(_CodeInterpreterOutput, tag="image"):
    url: str


class CodeInterpreterCall(_Model):
    """A code execution tool call: code, container, outputs and status."""

    id: ItemId
    code: str | None
    container_id: str
    outputs: list[CodeInterpreterLogs | CodeInterpreterImage] | None
    status: Literal["in_progress", "completed", "incomplete", "interpreting", "failed"]
    type: Literal["code_interpreter_call"]


class LocalShellAction(_Model):
    type: Literal["exec"]
    command: list[str]
    env: dict[str, str]
    timeout_ms: int | None = None
    user: str | None = None
    working_directory: str | None = None


class LocalShellCall(_Model):
    """A local shell execution request: the command and its status (a free string)."""

    id: ItemId
    call_id: str
    action: LocalShellAction
    status: str
    type: Literal["local_shell_call"]


class LocalShellCallOutput(_Model):
    """The captured output of a local shell tool call."""

    id: ItemId
    output: str
    type: Literal["local_shell_call_output"]
    status: Status | None = None


class ShellCallAction(_Model):
    type: Literal["exec"]
    command: str | None = None
    timeout_ms: int | None = None
    max_output_length: int | None = None


class ShellCall(_Model):
    """A hosted-container shell execution request (MKA1 shape: one command string)."""

    id: ItemId
    call_id: str
    action: ShellCallAction
    status: Status
    type: Literal["shell_call"]


class ShellOutcome(_Model):
    type: Literal["exit", "timeout"]
    exit_code: int | None


class ShellOutput(_Model):
    stdout: str
    stderr: str
    outcome: ShellOutcome


class ShellCallOutput(_Model):
    """The captured output of a hosted-container shell call (MKA1 shape: one object)."""

    id: ItemId
    call_id: str
    output: ShellOutput
    type: Literal["shell_call_output"]
    status: Status | None = None


class McpTool(_Model):
    name: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None = None
    description: str | None = None


class McpListTools(_Model):
    """The tools discovered on an MCP server."""

    id: ItemId
    server_label: str
    tools: list[McpTool]
    type: Literal["mcp_list_tools"]
    error: str | None = None


class McpApprovalRequest(_Model):
    """A request to approve or deny an MCP tool call."""

    id: ItemId
    arguments: str
    name: str
    server_label: str
    type: Literal["mcp_approval_request"]


class McpApprovalResponse(_Model):
    """The decision on a prior MCP approval request."""

    approval_request_id: str
    approve: bool
    type: Literal["mcp_approval_response"]
    id: ItemId | None = None
    reason: str | None = None


class McpCall(_Model):
    """A call of an MCP tool: arguments and optional output or error."""

    id: ItemId
    arguments: str
    name: str
    server_label: str
    type: Literal["mcp_call"]
    approval_request_id: str | None = None
    error: str | None = None
    output: str | None = None


class CustomToolCall(_Model):
    """A call of a custom tool: its name and input string."""

    call_id: str
    input: str
    name: str
    type: Literal["custom_tool_call"]
    id: ItemId | None = None


class CustomToolCallOutput(_Model):
    """The output returned for a custom tool call (a string)."""

    call_id: str
    output: str
    type: Literal["custom_tool_call_output"]
    id: ItemId | None = None


class ItemReference(_Model):
    """A pointer to another item by id."""

    id: ItemId
    type: Literal["item_reference"] | None = None


class Compaction(_Model):
    """A condensed summary of prior conversation history (MKA1 shape: plaintext content)."""

    id: ItemId
    content: str
    type: Literal["compaction"]
    encrypted_content: str | None = None
    created_by: str | None = None


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemType:
    """One row of the item table."""

    name: str
    """The ``type`` value (``message`` for both message variants)."""
    title: str
    """The name the MKA1 docs give the variant."""
    prefix: str
    """The id prefix for server-assigned ids."""
    model: type[msgspec.Struct]
    has_status: bool
    """Whether the type has a ``status`` field: a missing (or null) one becomes ``"completed"``."""
    search_paths: tuple[str, ...]
    """Where searchable text lives: ``field``, ``field.sub`` or ``field[].sub`` paths."""

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.encode_name for f in msgspec.structs.fields(self.model) if f.required)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f.encode_name for f in msgspec.structs.fields(self.model))


_MESSAGE_TEXT = ("content[].text", "content[].refusal")

INPUT_MESSAGE = ItemType("message", "Input message", "msg", InputMessage, True, _MESSAGE_TEXT)
OUTPUT_MESSAGE = ItemType("message", "Output message", "msg", OutputMessage, True, _MESSAGE_TEXT)

ITEM_TYPES: tuple[ItemType, ...] = (
    INPUT_MESSAGE,
    OUTPUT_MESSAGE,
    ItemType("output_audio", "Output audio", "oa", OutputAudio, True, ("transcript",)),
    ItemType("file_search_call", "File search call", "fs", FileSearchCall, True, ("queries[]",)),
    ItemType("computer_call", "Computer call", "cu", ComputerCall, True, ()),
    ItemType("computer_call_output", "Computer call output", "cuo", ComputerCallOutput, True, ()),
    ItemType("web_search_call", "Web search call", "ws", WebSearchCall, True, ("action.query",)),
    ItemType("function_call", "Function call", "fc", FunctionCall, True, ("name", "arguments")),
    ItemType(
        "function_call_output", "Function call output", "fco", FunctionCallOutput, True, ("output",)
    ),
    ItemType("reasoning", "Reasoning", "rs", Reasoning, True, ("summary[].text", "content[].text")),
    ItemType(
        "image_generation_call",
        "Image generation call",
        "ig",
        ImageGenerationCall,
        True,
        ("revised_prompt",),
    ),
    ItemType(
        "code_interpreter_call",
        "Code interpreter call",
        "ci",
        CodeInterpreterCall,
        True,
        ("code", "outputs[].logs"),
    ),
    ItemType(
        "local_shell_call", "Local shell call", "lsh", LocalShellCall, True, ("action.command[]",)
    ),
    ItemType(
        "local_shell_call_output",
        "Local shell call output",
        "lsho",
        LocalShellCallOutput,
        True,
        ("output",),
    ),
    ItemType("shell_call", "Shell call", "sh", ShellCall, True, ("action.command",)),
    ItemType(
        "shell_call_output",
        "Shell call output",
        "sho",
        ShellCallOutput,
        True,
        ("output.stdout", "output.stderr"),
    ),
    ItemType("mcp_list_tools", "MCP list tools", "mcpl", McpListTools, False, ()),
    ItemType(
        "mcp_approval_request",
        "MCP approval request",
        "mcpr",
        McpApprovalRequest,
        False,
        ("name", "arguments"),
    ),
    ItemType(
        "mcp_approval_response", "MCP approval response", "mcpa", McpApprovalResponse, False, ()
    ),
    ItemType(
        "mcp_call", "MCP call", "mcp", McpCall, False, ("name", "arguments", "output", "error")
    ),
    ItemType(
        "custom_tool_call", "Custom tool call", "ctc", CustomToolCall, False, ("name", "input")
    ),
    ItemType(
        "custom_tool_call_output",
        "Custom tool call output",
        "ctco",
        CustomToolCallOutput,
        False,
        ("output",),
    ),
    ItemType("item_reference", "Item reference", "ref", ItemReference, False, ()),
    ItemType("compaction", "Compaction", "cmp", Compaction, False, ("content",)),
)
"""Every item type, in the order the MKA1 docs list them."""

ITEM_TYPES_BY_NAME: dict[str, ItemType] = {}
for _t in ITEM_TYPES:
    ITEM_TYPES_BY_NAME.setdefault(_t.name, _t)
SUPPORTED_TYPE_NAMES: tuple[str, ...] = tuple(ITEM_TYPES_BY_NAME)


# --- validation and normalisation -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewItem:
    """A validated, normalised item ready to store."""

    id: str
    type: str
    data: bytes
    """The item's canonical JSON, returned verbatim on every read."""
    search_text: str


_encode = msgspec.json.Encoder().encode


def _is_output_message(raw: dict[str, Any]) -> bool:
    content = raw.get("content")
    return (
        raw.get("role") == "assistant"
        and "id" in raw
        and "status" in raw
        and isinstance(content, list)
        and bool(content)
        and all(
            isinstance(p, dict) and p.get("type") in ("output_text", "refusal") for p in content
        )
    )


def item_type_of(raw: dict[str, Any], param: str) -> ItemType:
    """Which row of the table validates ``raw`` (docs/item-types.md, "Telling the types
    apart")."""
    name = raw.get("type")
    if name is None:
        # No type: an object with a role is an input message, one with only an id (and
        # perhaps a null type) an item reference; anything else lacks its type.
        if "role" in raw:
            return INPUT_MESSAGE
        if "id" in raw and raw.keys() <= {"id", "type"}:
            return ITEM_TYPES_BY_NAME["item_reference"]
        raise InvalidRequest(
            f"Missing required parameter: '{param}.type'.",
            code="missing_required_parameter",
            param=f"{param}.type",
        )
    if not isinstance(name, str):
        raise InvalidRequest(
            f"Invalid type for '{param}.type': expected a string, but got "
            f"{describe_value(name)} instead.",
            code="invalid_type",
            param=f"{param}.type",
        )
    if name == "message":
        return OUTPUT_MESSAGE if _is_output_message(raw) else INPUT_MESSAGE
    try:
        return ITEM_TYPES_BY_NAME[name]
    except KeyError:
        raise InvalidRequest(
            f"Invalid value for '{param}.type': '{name}'. Supported values are: "
            f"{english_list(SUPPORTED_TYPE_NAMES)}.",
            code="invalid_value",
            param=f"{param}.type",
        ) from None


def _normalise(
    raw: dict[str, Any], spec: ItemType, item_id: str, response_id: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": item_id, "type": spec.name}
    for key, value in raw.items():
        if key not in ("id", "type", "response_id"):
            out[key] = value
    if spec.has_status and out.get("status") is None:
        out["status"] = "completed"
    if spec.model is InputMessage:
        content = out["content"]
        if isinstance(content, str):
            out["content"] = [{"type": "input_text", "text": content}]
        else:
            out["content"] = [
                {"type": "input_text", "text": p} if isinstance(p, str) else p for p in content
            ]
    out["response_id"] = response_id
    return out


def _texts(node: Any, path: Sequence[str]) -> list[str]:
    if not path:
        return [node] if isinstance(node, str) else []
    head, rest = path[0], path[1:]
    many = head.endswith("[]")
    key = head[:-2] if many else head
    if not isinstance(node, dict) or key not in node:
        return []
    child = node[key]
    if many:
        if not isinstance(child, list):
            return []
        return [t for element in child for t in _texts(element, rest)]
    return _texts(child, rest)


def search_text(data: dict[str, Any], spec: ItemType) -> str:
    """The item's search document: the folded words of the strings at its search paths."""
    return search_document([t for p in spec.search_paths for t in _texts(data, p.split("."))])


def prepare_items(
    raw_items: Sequence[Any],
    *,
    param: str = "items",
    make_id: Callable[[str], str] = new_id,
    response_id: str | None = None,
) -> list[NewItem]:
    """Validate and normalise a request's items; the first bad one raises InvalidRequest.

    ``response_id`` is the model turn that wrote the items (null for items written directly)."""
    prepared: list[NewItem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_items):
        where = f"{param}[{index}]"
        if not isinstance(raw, dict):
            raise InvalidRequest(
                f"Invalid type for '{where}': expected an object, but got "
                f"{describe_value(raw)} instead.",
                code="invalid_type",
                param=where,
            )
        spec = item_type_of(raw, where)
        try:
            msgspec.convert(raw, spec.model)
        except msgspec.ValidationError as exc:
            raise from_msgspec(exc, raw=raw, model=spec.model, prefix=where) from None
        given = raw.get("id")
        item_id = given if isinstance(given, str) else make_id(spec.prefix)
        if item_id in seen:
            raise InvalidRequest(
                f"Duplicate item id '{item_id}' in '{param}': at index {seen[item_id]} and "
                f"{index}. Item ids must be unique within a request.",
                code="duplicate_value",
                param=f"{where}.id",
            )
        seen[item_id] = index
        data = _normalise(raw, spec, item_id, response_id)
        prepared.append(NewItem(item_id, spec.name, _encode(data), search_text(data, spec)))
    return prepared
