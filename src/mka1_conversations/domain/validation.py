"""Turns msgspec's validation errors into OpenAI-style errors: a code, a ``param`` path, a sentence.

msgspec reports one error per decode as ``"<what> - at `$.a[0].b`"``. We read the path, look up the
offending value in the raw input and the expected type in the Struct's type info, and answer in the
OpenAI validator's wording (``Invalid type for 'items[0].content': expected a string, but got an
integer instead.``), so that every 400 names the field and what was expected.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

import msgspec
import msgspec.inspect as mi

from .errors import ErrorCode, InvalidRequest

__all__ = ["describe_value", "english_list", "from_msgspec", "join_param", "parse_path"]

_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_EXPECTED_GOT = re.compile(r"^Expected `(?P<exp>[^`]+)`, got `(?P<got>[^`]+)`$")
_LENGTH = re.compile(r"^Expected `(?P<kind>\w+)` of length (?P<op>[<>]=) (?P<n>\d+)$")
_NUMBER = re.compile(r"^Expected `(?P<kind>int|float)` (?P<op>[<>]=?) (?P<n>-?[\d.]+)$")
_ENUM = re.compile(r"^Invalid (?:enum )?value (?P<value>.+)$")
_PATTERN = re.compile(r"^Expected `str` matching regex (?P<pattern>'.*')$", re.S)

_ARTICLE = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}

_LENGTH_CODES: dict[tuple[str, bool], ErrorCode] = {
    ("array", True): "array_above_max_length",
    ("array", False): "array_below_min_length",
    ("string", True): "string_above_max_length",
    ("string", False): "string_below_min_length",
}

Path = list[str | int]


def parse_path(path: str) -> Path:
    """``".items[0].type"`` → ``["items", 0, "type"]``; ``[...]`` (a dict key) → ``"..."``."""
    out: Path = []
    for name, index in _SEGMENT.findall(path):
        if name:
            out.append(name)
        else:
            out.append(int(index) if index.isdigit() else "...")
    return out


def join_param(prefix: str, path: Sequence[str | int]) -> str:
    """``("items[3]", ["action", "type"])`` → ``"items[3].action.type"``."""
    out = prefix
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out = f"{out}.{seg}" if out else seg
    return out


def english_list(values: Sequence[object]) -> str:
    """``['a', 'b', 'c']`` → ``"'a', 'b', and 'c'"`` (OpenAI's wording of supported values)."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def describe_value(value: object) -> str:
    """The JSON type of a value, as an English noun phrase."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _phrase(types: str) -> str:
    parts = [p.strip() for p in types.split("|")]
    words = [_ARTICLE.get(p, p) for p in parts]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _lookup(raw: Any, path: Path) -> tuple[bool, Any]:
    """The value at ``path`` in the raw input, if it is there."""
    node = raw
    for seg in path:
        in_list = isinstance(seg, int) and isinstance(node, list) and 0 <= seg < len(node)
        in_dict = isinstance(seg, str) and isinstance(node, dict) and seg in node
        if in_list or in_dict:
            node = node[seg]
        else:
            return False, None
    return True, node


def _resolve_keys(raw: Any, path: Path, what: str) -> Path:
    """Replace msgspec's ``[...]`` (some value of a dict) by the key whose value is at fault.

    msgspec does not say which key of a ``dict[str, X]`` holds the bad value; we pick the first
    key whose value reaches the rest of the path and, for a type error, has the reported type.
    """
    if "..." not in path:
        return path
    got = m["got"] if (m := _EXPECTED_GOT.match(what)) else None
    out: Path = []
    node = raw
    for i, seg in enumerate(path):
        if seg == "..." and isinstance(node, dict) and node:
            rest = [s for s in path[i + 1 :] if s != "..."]
            reachable = [k for k in node if _lookup(node[k], rest)[0]]
            matching = [
                k
                for k in reachable
                if got is not None
                and describe_value(_lookup(node[k], rest)[1]) == _ARTICLE.get(got, got)
            ]
            seg = next(iter(matching or reachable or list(node)))
        out.append(seg)
        found, node = _lookup(node, [seg])
        if not found:
            return out + list(path[i + 1 :])
    return out


def _members(t: mi.Type) -> list[mi.Type]:
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        out: list[mi.Type] = []
        for member in t.types:
            out.extend(_members(member))
        return out
    return [t]


def _supported_values(root: mi.Type, path: Path) -> list[object] | None:
    """The allowed values at ``path`` when the type there is a Literal, an Enum or a tag."""
    current = [root]
    for i, seg in enumerate(path):
        nxt: list[mi.Type] = []
        last = i == len(path) - 1
        for t in current:
            for m in _members(t):
                if isinstance(seg, int) and isinstance(m, mi.ListType | mi.TupleType):
                    item = m.item_type if isinstance(m, mi.ListType) else m.item_types[0]
                    nxt.append(item)
                elif isinstance(seg, str) and isinstance(m, mi.DictType):
                    nxt.append(m.value_type)
                elif isinstance(seg, str) and isinstance(m, mi.StructType):
                    if last and m.tag_field == seg and m.tag is not None:
                        nxt.append(mi.LiteralType((m.tag,)))
                        continue
                    for f in m.fields:
                        if f.encode_name == seg:
                            nxt.append(f.type)
        current = nxt
    values: list[object] = []
    for t in current:
        for m in _members(t):
            if isinstance(m, mi.LiteralType):
                values.extend(v for v in m.values if v not in values)
            elif isinstance(m, mi.EnumType):
                values.extend(e.value for e in m.cls if e.value not in values)
    return values or None


def from_msgspec(
    exc: msgspec.ValidationError, *, raw: Any, model: Any, prefix: str = ""
) -> InvalidRequest:
    """The InvalidRequest for a failed ``msgspec.convert(raw, model)`` (or typed decode)."""
    match = _AT.match(str(exc))
    what = match["what"] if match else str(exc)
    path = _resolve_keys(raw, parse_path(match["path"] or ""), what) if match else []
    param = join_param(prefix, path)
    if what.startswith("Object missing required field `"):
        field = what.split("`")[1]
        p = join_param(param, [field])
        return InvalidRequest(
            f"Missing required parameter: '{p}'.", code="missing_required_parameter", param=p
        )
    if what.startswith("Object contains unknown field `"):
        field = what.split("`")[1]
        p = join_param(param, [field])
        return InvalidRequest(f"Unknown parameter: '{p}'.", code="unknown_parameter", param=p)

    if not param:  # the body itself, e.g. an array where an object was expected
        found, value = _lookup(raw, path)
        return InvalidRequest(
            f"Invalid type for the request body: expected {_phrase('object')}, but got "
            f"{describe_value(value)} instead.",
            code="invalid_type",
        )

    found, value = _lookup(raw, path)
    if m := _EXPECTED_GOT.match(what):
        got = describe_value(value) if found else _ARTICLE.get(m["got"], m["got"])
        return InvalidRequest(
            f"Invalid type for '{param}': expected {_phrase(m['exp'])}, but got {got} instead.",
            code="invalid_type",
            param=param,
        )
    if m := _LENGTH.match(what):
        n, too_long = m["n"], m["op"] == "<="
        size = len(value) if found and isinstance(value, list | str | dict) else None
        if m["kind"] == "object":
            got = f", but got an object with {size} properties" if size is not None else ""
            return InvalidRequest(
                f"Invalid '{param}': too many properties. Expected an object with at most {n} "
                f"properties{got} instead.",
                code="object_above_max_properties",
                param=param,
            )
        kind = "array" if m["kind"] == "array" else "string"
        article = "an" if kind == "array" else "a"
        got = f", but got {article} {kind} with length {size}" if size is not None else ""
        bound, adjective = ("maximum", "too long") if too_long else ("minimum", "too short")
        return InvalidRequest(
            f"Invalid '{param}': {kind} {adjective}. Expected {article} {kind} with {bound} "
            f"length {n}{got} instead.",
            code=_LENGTH_CODES[kind, too_long],
            param=param,
        )
    if m := _NUMBER.match(what):
        above = m["op"].startswith("<")
        got_text = f", but got {value} instead" if found else ""
        return InvalidRequest(
            f"Invalid '{param}': {'integer' if m['kind'] == 'int' else 'number'} "
            f"{'above maximum' if above else 'below minimum'} value. Expected a value "
            f"{m['op']} {m['n']}{got_text}.",
            code="integer_above_max_value" if above else "integer_below_min_value",
            param=param,
        )
    if m := _PATTERN.match(what):
        return InvalidRequest(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches "
            f"the pattern '{ast.literal_eval(m['pattern'])}'.",
            code="invalid_value",
            param=param,
        )
    if m := _ENUM.match(what):
        shown = value if found and isinstance(value, str | int | float) else m["value"].strip("'")
        supported = _supported_values(mi.type_info(model), path)
        tail = f" Supported values are: {english_list(supported)}." if supported else ""
        return InvalidRequest(
            f"Invalid value for '{param}': '{shown}'.{tail}", code="invalid_value", param=param
        )
    return InvalidRequest(f"Invalid '{param}': {what}.", code="invalid_value", param=param)
