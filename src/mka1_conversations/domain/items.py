"""Conversation items: one msgspec Struct per MKA1 item type and ONE table that drives everything.

The table (``ITEM_TYPES``) gives each type its id prefix, its model (required fields, JSON types
and enums), whether it carries a ``status``, and which fields hold searchable text. Validation
converts the raw JSON object into the type's Struct (so msgspec checks it), but what is stored is
the raw object itself, normalised: unknown fields inside an item survive (forward compatibility).

Normalisation (DECISIONS.md §2): ``id`` assigned when absent, ``response_id`` null, a missing
``status`` becomes ``"completed"`` on types that have one, and input-message string content (also
bare strings inside a content array) becomes ``input_text`` parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from .errors import InvalidRequest
from .ids import new_id
from .validation import describe_value, english_list, from_msgspec

__all__ = [
    "ITEM_TYPES",
    "ITEM_TYPES_BY_NAME",
    "ItemType",
    "NewItem",
    "prepare_items",
]

Status = Literal["in_progress", "completed", "incomplete"]
ItemId = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


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
    bytes: list[int]


class LogProb(_Model):
    token: str
    logprob: float
    bytes: list[int]
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


class FunctionCall(_Model):
    """A call to a function tool, with its JSON-string arguments."""

    arguments: str
    call_id: str
    name: str
    type: Literal["function_call"]
    id: ItemId | None = None
    status: Status | None = None


class FunctionCallOutput(_Model):
    """The output returned for a function tool call."""

    call_id: str
    output: str
    type: Literal["function_call_output"]
    id: ItemId | None = None
    status: Status | None = None


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
    """Whether a missing ``status`` is filled in with ``"completed"``."""
    search_paths: tuple[str, ...]
    """Where searchable text lives: ``field`` or ``field[].sub`` paths."""

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.encode_name for f in msgspec.structs.fields(self.model) if f.required)


_MESSAGE_TEXT = ("content[].text", "content[].refusal")

INPUT_MESSAGE = ItemType("message", "Input message", "msg", InputMessage, True, _MESSAGE_TEXT)
OUTPUT_MESSAGE = ItemType("message", "Output message", "msg", OutputMessage, True, _MESSAGE_TEXT)

ITEM_TYPES: tuple[ItemType, ...] = (
    INPUT_MESSAGE,
    OUTPUT_MESSAGE,
    ItemType("function_call", "Function call", "fc", FunctionCall, True, ("name", "arguments")),
    ItemType(
        "function_call_output", "Function call output", "fco", FunctionCallOutput, True, ("output",)
    ),
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
    """Which row of the table validates ``raw`` (DECISIONS.md §2, spec §5.1 discrimination)."""
    name = raw.get("type")
    if name is None:
        if "role" in raw:
            name = "message"
        elif "id" in raw and "item_reference" in ITEM_TYPES_BY_NAME:
            name = "item_reference"
        else:
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


def _normalise(raw: dict[str, Any], spec: ItemType, item_id: str) -> dict[str, Any]:
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
    out["response_id"] = None
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
    """The item's searchable text: its search paths' strings, one per line."""
    return "\n".join(t for p in spec.search_paths for t in _texts(data, p.split(".")))


def prepare_items(
    raw_items: Sequence[Any], *, param: str = "items", make_id: Callable[[str], str] = new_id
) -> list[NewItem]:
    """Validate and normalise a request's items; the first bad one raises InvalidRequest."""
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
        data = _normalise(raw, spec, item_id)
        prepared.append(NewItem(item_id, spec.name, _encode(data), search_text(data, spec)))
    return prepared
