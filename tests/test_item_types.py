"""All 24 MKA1 item types: validation, normalisation, both SDKs, errors, search, OpenAPI, docs.

The examples live in ``item_examples.py`` (a full and a minimal one per type). What comes back is
checked against the documented normalisation (docs/item-types.md): ``id`` assigned with the type's
prefix when absent, ``response_id`` null, a missing ``status`` is ``"completed"`` on types with an
optional ``status``, input-message string content becomes ``input_text`` parts; all else as sent.

The typed SDK names come from ``meetkai_mka1``: the documented ``mka1`` module is an alias of it
that ships no ``py.typed``.
"""

from __future__ import annotations

import importlib.util
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meetkai_mka1 import SDK, utils
from openai import APIResponseValidationError, OpenAI

from mka1_conversations.domain.items import (
    ITEM_ID_PATTERN,
    ITEM_TYPES,
    SUPPORTED_TYPE_NAMES,
    ItemType,
    item_type_of,
    prepare_items,
    search_text,
)

from .conftest import BASE_PATH, KEY_A, RunningServer, auth_headers
from .item_examples import COMPUTER_ACTIONS, EXAMPLES, OPENAI_UNPARSEABLE, WEB_SEARCH_ACTIONS

Json = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
BY_TITLE: dict[str, ItemType] = {t.title: t for t in ITEM_TYPES}
VARIANTS = ("full", "minimal")
CASES = [pytest.param(title, v, id=f"{title}-{v}") for title in BY_TITLE for v in VARIANTS]

# The MKA1 SDK's response unions are untagged (pydantic "smart" unions): both message variants
# parse into its inline input-message model, which has every field an output message has but
# `phase`. That is the SDK's choice; the JSON the server sends is the output message.
MKA1_PARSES_AS_INPUT_MESSAGE = {"Output message"}

# Removing one of these makes the item a valid *input* message (spec §5.1: an output message
# needs `type`, `id` and `status`; without one of them it is an input message).
BECOMES_INPUT_MESSAGE = {("Output message", f) for f in ("id", "status", "type")}


# --- the documented normalisation -----------------------------------------------------------


def normalised(item: Json, spec: ItemType, item_id: str) -> Json:
    """What the server must return for ``item`` (docs/item-types.md), given its final id."""
    out = {k: v for k, v in item.items() if k != "response_id"}
    out.update(id=item_id, type=spec.name, response_id=None)
    if spec.has_status and out.get("status") is None:
        out["status"] = "completed"
    if spec.name == "message":
        content = out["content"]
        parts = [content] if isinstance(content, str) else content
        out["content"] = [
            {"type": "input_text", "text": p} if isinstance(p, str) else p for p in parts
        ]
    return out


def check_id(item: Json, spec: ItemType, returned: str) -> None:
    given_id = item.get("id")
    if isinstance(given_id, str):
        assert returned == given_id
    else:
        assert re.fullmatch(rf"{spec.prefix}_[0-9a-f]{{32}}", returned), returned


def example(title: str, variant: str) -> Json:
    return EXAMPLES[title].variant(variant)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[SDK]:
    retries = utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1.0, 1), False)
    with SDK(bearer_auth=KEY_A, server_url=server.url, retry_config=retries) as client:
        yield client


@pytest.fixture
def openai_client(server: RunningServer, user: str) -> Iterator[OpenAI]:
    with OpenAI(
        base_url=server.url + "/api/v1/llm",
        api_key=KEY_A,
        max_retries=0,
        _strict_response_validation=True,
        default_headers={"X-On-Behalf-Of": user},
    ) as client:
        yield client


@pytest.fixture(scope="module")
def shared(server: RunningServer) -> Iterator[tuple[httpx.Client, str]]:
    """One client and conversation for the many 400 cases (a failed request changes nothing)."""
    user = f"items-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user), timeout=30) as c:
        created = c.post(BASE_PATH, json={})
        assert created.status_code == 200, created.text
        yield c, created.json()["id"]


def post_items(client: httpx.Client, conv: str, items: list[Any]) -> httpx.Response:
    return client.post(f"{BASE_PATH}/{conv}/items", json={"items": items})


# --- the table ------------------------------------------------------------------------------


def test_the_table_has_the_24_types_in_the_docs_order() -> None:
    assert [t.title for t in ITEM_TYPES] == list(EXAMPLES)
    assert len(ITEM_TYPES) == 24
    assert len(SUPPORTED_TYPE_NAMES) == 23  # both messages are `message`
    prefixes = [t.prefix for t in ITEM_TYPES if t.name != "message"]
    assert len(set(prefixes)) == len(prefixes) and "msg" not in prefixes
    for spec in ITEM_TYPES:
        assert re.fullmatch(r"[a-z]+", spec.prefix)
        assert spec.has_status == ("status" in spec.fields), spec.title
        assert spec.name == "message" or "type" in spec.fields


@pytest.mark.parametrize(("title", "variant"), CASES)
def test_examples_are_valid_and_classified_as_their_type(title: str, variant: str) -> None:
    item = example(title, variant)
    assert item_type_of(item, "items[0]") is BY_TITLE[title]
    [prepared] = prepare_items([item])
    assert prepared.type == BY_TITLE[title].name


@pytest.mark.parametrize("title", list(BY_TITLE))
def test_search_paths_find_text_in_the_full_example(title: str) -> None:
    spec = BY_TITLE[title]
    [prepared] = prepare_items([example(title, "full")])
    data = msgspec.json.decode(prepared.data)
    assert prepared.search_text == search_text(data, spec)
    for path in spec.search_paths:  # every path reaches a string in the full example
        single = ItemType(spec.name, spec.title, spec.prefix, spec.model, False, (path,))
        assert search_text(data, single), path
    assert bool(prepared.search_text) == bool(spec.search_paths)


# --- round trips through the two SDKs -------------------------------------------------------


@pytest.mark.parametrize(("title", "variant"), CASES)
def test_mka1_sdk_round_trip(sdk: SDK, user: str, title: str, variant: str) -> None:
    spec, item, ex = BY_TITLE[title], example(title, variant), EXAMPLES[title]
    conv = sdk.llm.conversations.create(x_on_behalf_of=user)
    items: list[Any] = [item]
    created = sdk.llm.conversations.create_items(
        conversation_id=conv.id, items=items, x_on_behalf_of=user
    )
    [first] = created.data
    check_id(item, spec, first.id)
    got = sdk.llm.conversations.get_item(
        conversation_id=conv.id, item_id=first.id, x_on_behalf_of=user
    )
    listed = sdk.llm.conversations.list_items(conversation_id=conv.id, x_on_behalf_of=user)
    assert [i.id for i in listed.data] == [first.id]
    expected = normalised(item, spec, first.id)
    model = "InputMessageItem" if title in MKA1_PARSES_AS_INPUT_MESSAGE else ex.mka1_model
    for parsed in (first, got, listed.data[0]):
        assert type(parsed).__name__.endswith(model), type(parsed).__name__
        dumped = parsed.model_dump(mode="json", by_alias=True)
        known = {k: v for k, v in expected.items() if k in dumped}
        assert dumped == known
        assert set(expected) - set(dumped) <= {"phase"}  # the input-message model has no phase


@pytest.mark.parametrize(("title", "variant"), CASES)
def test_openai_sdk_round_trip(openai_client: OpenAI, title: str, variant: str) -> None:
    if (title, variant) in OPENAI_UNPARSEABLE:
        pytest.skip(OPENAI_UNPARSEABLE[title, variant])
    spec, item, ex = BY_TITLE[title], example(title, variant), EXAMPLES[title]
    conv = openai_client.conversations.create()
    items: list[Any] = [item]
    created = openai_client.conversations.items.create(conv.id, items=items)
    [first] = created.data
    assert first.id is not None
    check_id(item, spec, first.id)
    got = openai_client.conversations.items.retrieve(first.id, conversation_id=conv.id)
    listed = list(openai_client.conversations.items.list(conv.id))
    expected = normalised(item, spec, first.id)
    for parsed in (first, got, *listed):
        assert type(parsed).__name__ == ex.openai_model
        assert parsed.model_dump(mode="json", exclude_unset=True, by_alias=True) == expected


@pytest.mark.parametrize(
    ("title", "variant"),
    [pytest.param(t, v, id=f"{t}-{v}") for t, v in OPENAI_UNPARSEABLE],
)
def test_openai_sdk_rejects_the_mka1_only_shapes(
    openai_client: OpenAI, title: str, variant: str
) -> None:
    """Pins the reasons above: if a future OpenAI SDK accepts one, move it to the round trip."""
    conv = openai_client.conversations.create()
    with pytest.raises(APIResponseValidationError):
        items: list[Any] = [example(title, variant)]
        openai_client.conversations.items.create(conv.id, items=items)


def test_all_computer_and_web_search_actions_through_both_sdks(
    sdk: SDK, openai_client: OpenAI, user: str
) -> None:
    items: list[Any] = [
        {
            "type": "computer_call",
            "call_id": f"call_{i}",
            "id": f"cu_{i}",
            "status": "completed",
            "action": action,
            "pending_safety_checks": [],
        }
        for i, action in enumerate(COMPUTER_ACTIONS.values())
    ] + [
        {"type": "web_search_call", "id": f"ws_{i}", "status": "completed", "action": action}
        for i, action in enumerate(WEB_SEARCH_ACTIONS.values())
    ]
    conv = sdk.llm.conversations.create(x_on_behalf_of=user)
    created = sdk.llm.conversations.create_items(
        conversation_id=conv.id, items=items, x_on_behalf_of=user
    )
    listed = sdk.llm.conversations.list_items(conversation_id=conv.id, x_on_behalf_of=user)
    models = [*COMPUTER_ACTIONS, *WEB_SEARCH_ACTIONS]
    for page in (created.data, listed.data):
        actions = [getattr(i, "action", None) for i in page]
        assert [type(a).__name__ for a in actions] == models
        for parsed, item in zip(page, items, strict=True):
            assert parsed.model_dump(mode="json", by_alias=True) == normalised(
                item,
                BY_TITLE["Computer call" if "call_id" in item else "Web search call"],
                item["id"],
            )
    # OpenAI knows the nine computer actions, `search` and `open_page` (its `find` is
    # `find_in_page`).
    openai_items = [i for i in items if i["action"]["type"] != "find"]
    oconv = openai_client.conversations.create()
    ocreated = openai_client.conversations.items.create(oconv.id, items=openai_items)
    parsed_types = [getattr(i, "action").type for i in ocreated.data]  # noqa: B009
    assert parsed_types == [i["action"]["type"] for i in openai_items]


# --- unknown fields -------------------------------------------------------------------------


@pytest.mark.parametrize("title", list(BY_TITLE))
def test_unknown_fields_survive_at_every_depth(http: httpx.Client, title: str) -> None:
    spec = BY_TITLE[title]
    item: Json = msgspec.json.decode(msgspec.json.encode(example(title, "full")))
    for node in list(_objects(item)):
        node["x_future"] = {"nested": [1, "two", None]}
    conv = http.post(BASE_PATH, json={"items": [item]})
    assert conv.status_code == 200, conv.text
    [stored] = http.get(f"{BASE_PATH}/{conv.json()['id']}/items").json()["data"]
    assert stored == normalised(item, spec, stored["id"])


# Objects that are maps with typed values, not records: an extra key there must be valid too.
_MAPS = {"attributes", "env"}


def _objects(node: Any) -> Iterator[Json]:
    """Every record object in ``node`` (the item, its parts, actions, results...)."""
    if isinstance(node, dict):
        yield node
        for key, value in list(node.items()):
            if key not in _MAPS:
                yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


# --- errors ---------------------------------------------------------------------------------

REQUIRED = [
    pytest.param(t.title, f, id=f"{t.title}-{f}") for t in ITEM_TYPES for f in t.required_fields
]


@pytest.mark.parametrize(("title", "field"), REQUIRED)
def test_each_required_field_is_required(
    shared: tuple[httpx.Client, str], title: str, field: str
) -> None:
    client, conv = shared
    item = {k: v for k, v in example(title, "full").items() if k != field}
    response = post_items(client, conv, [item])
    if (title, field) in BECOMES_INPUT_MESSAGE:
        assert response.status_code == 200, response.text
        [stored] = response.json()["data"]
        assert stored["type"] == "message" and stored["role"] == "assistant"
        deleted = client.delete(f"{BASE_PATH}/{conv}/items/{stored['id']}")
        assert deleted.status_code == 200
        return
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "missing_required_parameter"
    assert error["param"] == f"items[0].{field}"
    assert error["message"] == f"Missing required parameter: 'items[0].{field}'."


def test_the_param_names_the_offending_items_index(shared: tuple[httpx.Client, str]) -> None:
    client, conv = shared
    good = example("Function call", "minimal")
    bad = {k: v for k, v in example("Function call output", "minimal").items() if k != "output"}
    response = post_items(client, conv, [good, good, bad])
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "items[2].output"


def _computer_call(action: Json) -> Json:
    return {
        "type": "computer_call",
        "id": "cu_bad",
        "call_id": "c",
        "status": "completed",
        "pending_safety_checks": [],
        "action": action,
    }


_COMPUTER_ACTION_TYPES = "'click', 'double_click', 'drag', 'keypress', 'move', 'screenshot', "
_COMPUTER_ACTION_TYPES += "'scroll', 'type', and 'wait'"

BAD_ITEMS = [
    pytest.param(
        _computer_call({"type": "zoom", "x": 1}),
        "invalid_value",
        "items[0].action.type",
        f"Invalid value for 'items[0].action.type': 'zoom'. Supported values are: "
        f"{_COMPUTER_ACTION_TYPES}.",
        id="unknown computer action",
    ),
    pytest.param(
        _computer_call({"x": 1, "y": 2}),
        "missing_required_parameter",
        "items[0].action.type",
        "Missing required parameter: 'items[0].action.type'.",
        id="computer action without type",
    ),
    pytest.param(
        _computer_call({"type": "scroll", "x": 1, "y": 2, "scroll_x": 0}),
        "missing_required_parameter",
        "items[0].action.scroll_y",
        "Missing required parameter: 'items[0].action.scroll_y'.",
        id="scroll without scroll_y",
    ),
    pytest.param(
        _computer_call({"type": "click", "button": "middle", "x": 1, "y": 2}),
        "invalid_value",
        "items[0].action.button",
        None,
        id="bad click button",
    ),
    pytest.param(
        _computer_call({"type": "drag", "path": [{"x": 1, "y": 2}, {"x": "3", "y": 4}]}),
        "invalid_type",
        "items[0].action.path[1].x",
        "Invalid type for 'items[0].action.path[1].x': expected an integer, but got a string "
        "instead.",
        id="drag point not an integer",
    ),
    pytest.param(
        {"type": "web_search_call", "id": "w", "status": "s", "action": {"type": "find_in_page"}},
        "invalid_value",
        "items[0].action.type",
        "Invalid value for 'items[0].action.type': 'find_in_page'. Supported values are: "
        "'search', 'open_page', and 'find'.",
        id="unknown web search action",
    ),
    pytest.param(
        {"type": "web_search_call", "id": "w", "status": "s", "action": {"type": "search"}},
        "missing_required_parameter",
        "items[0].action.query",
        "Missing required parameter: 'items[0].action.query'.",
        id="search without query",
    ),
    pytest.param(
        {"type": "file_search_call", "id": "f", "status": "done", "queries": []},
        "invalid_value",
        "items[0].status",
        "Invalid value for 'items[0].status': 'done'. Supported values are: 'completed', "
        "'failed', 'in_progress', 'incomplete', and 'searching'.",
        id="file search status enum",
    ),
    pytest.param(
        {
            "type": "local_shell_call",
            "id": "l",
            "call_id": "c",
            "status": "s",
            "action": {"type": "exec", "command": ["ls"], "env": {"A": "1", "B": 2}},
        },
        "invalid_type",
        "items[0].action.env.B",
        "Invalid type for 'items[0].action.env.B': expected a string, but got an integer instead.",
        id="env value not a string",
    ),
    pytest.param(
        {
            "type": "shell_call_output",
            "id": "s",
            "call_id": "c",
            "output": {"stdout": "", "stderr": "", "outcome": {"type": "crash", "exit_code": 1}},
        },
        "invalid_value",
        "items[0].output.outcome.type",
        "Invalid value for 'items[0].output.outcome.type': 'crash'. Supported values are: "
        "'exit' and 'timeout'.",
        id="shell outcome enum",
    ),
    pytest.param(
        {
            "type": "code_interpreter_call",
            "id": "c",
            "code": None,
            "container_id": "k",
            "status": "completed",
            "outputs": [{"type": "logs", "logs": ""}, {"type": "video"}],
        },
        "invalid_value",
        "items[0].outputs[1].type",
        "Invalid value for 'items[0].outputs[1].type': 'video'. Supported values are: 'logs' "
        "and 'image'.",
        id="code interpreter output type",
    ),
    pytest.param(
        {"type": "mcp_approval_response", "approval_request_id": "r", "approve": "yes"},
        "invalid_type",
        "items[0].approve",
        "Invalid type for 'items[0].approve': expected a boolean, but got a string instead.",
        id="approve not a boolean",
    ),
    pytest.param(
        {"type": "reasoning", "id": "r", "summary": [{"text": "t"}]},
        "missing_required_parameter",
        "items[0].summary[0].type",
        "Missing required parameter: 'items[0].summary[0].type'.",
        id="summary part without type",
    ),
    pytest.param(
        {"type": "function_call_output", "call_id": "c", "output": [{"type": "input_text"}]},
        "invalid_type",
        "items[0].output",
        "Invalid type for 'items[0].output': expected a string, but got an array instead.",
        id="function output is string only",
    ),
    *(
        pytest.param(
            {"type": "function_call", "id": bad_id, "call_id": "c", "name": "n", "arguments": ""},
            "invalid_value",
            "items[0].id",
            "Invalid 'items[0].id': string does not match pattern. Expected a string that "
            f"matches the pattern '{ITEM_ID_PATTERN}'.",
            id=f"item id {bad_id!r}",
        )
        for bad_id in ("a/b", "nul\x00", "tab\t", "..")
    ),
    pytest.param(
        {"id": "x", "call_id": "c", "output": "o"},
        "missing_required_parameter",
        "items[0].type",
        "Missing required parameter: 'items[0].type'.",
        id="no type and more than an id",
    ),
    pytest.param(
        {"type": "apply_patch_call", "id": "x"},
        "invalid_value",
        "items[0].type",
        "Invalid value for 'items[0].type': 'apply_patch_call'. Supported values are: "
        + ", ".join(f"'{n}'" for n in SUPPORTED_TYPE_NAMES[:-1])
        + f", and '{SUPPORTED_TYPE_NAMES[-1]}'.",
        id="unknown item type",
    ),
]


@pytest.mark.parametrize(("item", "code", "param", "message"), BAD_ITEMS)
def test_errors_point_at_the_offending_place(
    shared: tuple[httpx.Client, str], item: Json, code: str, param: str, message: str | None
) -> None:
    client, conv = shared
    response = post_items(client, conv, [item])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (
        code,
        param,
        "invalid_request_error",
    )
    if message is not None:
        assert error["message"] == message
    else:
        assert error["message"].startswith(f"Invalid value for '{param}'")
        assert "Supported values are:" in error["message"]


# --- search ---------------------------------------------------------------------------------


def test_every_searchable_type_is_found_by_its_text(http: httpx.Client) -> None:
    found: dict[str, str] = {}
    for spec in ITEM_TYPES:
        if not spec.search_paths:
            continue
        word = "w" + uuid.uuid4().hex[:10]
        item: Json = msgspec.json.decode(msgspec.json.encode(example(spec.title, "full")))
        data = normalised(item, spec, "x")
        path = spec.search_paths[-1].split(".")
        _append_word(data, path, word)
        item = {k: v for k, v in data.items() if k not in ("response_id",)}
        created = http.post(BASE_PATH, json={"items": [item]})
        assert created.status_code == 200, created.text
        found[word] = created.json()["id"]
    for word, conv in found.items():
        listed = http.get(BASE_PATH, params={"search": word, "limit": 50}).json()
        assert [c["id"] for c in listed["data"]] == [conv], word


def _append_word(node: Any, path: list[str], word: str) -> None:
    """Append `` word`` to every string at ``path`` (the search path syntax)."""
    head, rest = path[0], path[1:]
    key = head.removesuffix("[]")
    if not isinstance(node, dict) or key not in node:
        return
    child = node[key]
    if head.endswith("[]"):
        for i, element in enumerate(child):
            if rest:
                _append_word(element, rest, word)
            elif isinstance(element, str):
                child[i] = f"{element} {word}"
    elif rest:
        _append_word(child, rest, word)
    else:
        node[key] = f"{child} {word}"


# --- property: whatever valid item goes in comes back, normalised ---------------------------

_CHARS = st.characters(codec="utf-8")  # any character but lone surrogates
_TEXT = st.text(_CHARS, max_size=12)
_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TEXT,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_TEXT, inner, max_size=2),
    max_leaves=4,
)


def _without_none(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.UnionType):
        kept = tuple(m for m in t.types if not isinstance(m, mi.NoneType))
        return kept[0] if len(kept) == 1 else mi.UnionType(kept)
    return t


def strategy(t: mi.Type) -> st.SearchStrategy[Any]:
    """Valid JSON for a msgspec type (strings, numbers and lists kept small)."""
    if isinstance(t, mi.Metadata):
        return strategy(t.type)
    if isinstance(t, mi.StrType):
        low = t.min_length or 0
        text = st.text(_CHARS, min_size=low, max_size=max(low, min(t.max_length or 12, 12)))
        if t.pattern is not None:
            pattern = re.compile(t.pattern)
            return text.filter(lambda v: pattern.search(v) is not None)
        return text
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return st.integers(-(2**53), 2**53)
    if isinstance(t, mi.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.AnyType):
        return _JSON
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.ListType):
        return st.lists(strategy(t.item_type), max_size=3)
    if isinstance(t, mi.DictType):
        return st.dictionaries(_TEXT, strategy(t.value_type), max_size=3)
    if isinstance(t, mi.UnionType):
        return st.one_of([strategy(m) for m in t.types])
    if isinstance(t, mi.StructType):
        required = {f.encode_name: strategy(f.type) for f in t.fields if f.required}
        optional = {
            f.encode_name: strategy(_without_none(f.type)) for f in t.fields if not f.required
        }
        if t.tag_field is not None:
            required[t.tag_field] = st.just(t.tag)
        optional["x_unknown"] = _JSON  # forward compatibility: unknown fields survive
        return st.fixed_dictionaries(required, optional=optional)
    raise AssertionError(f"no strategy for {t!r}")


def _item(spec: ItemType) -> st.SearchStrategy[tuple[ItemType, Json]]:
    def fix(item: Json) -> tuple[ItemType, Json]:
        if "type" not in item:  # only `id` (or `role`) may stand without a type
            item.pop("x_unknown", None)
        return spec, item

    return strategy(mi.type_info(spec.model)).map(fix)


def _unique_ids(items: list[tuple[ItemType, Json]]) -> list[tuple[ItemType, Json]]:
    seen: set[str] = set()
    out = []
    for spec, item in items:
        given_id = item.get("id")
        if isinstance(given_id, str):
            if given_id in seen:
                continue
            seen.add(given_id)
        out.append((spec, item))
    return out


ITEM_LISTS = st.lists(st.one_of([_item(t) for t in ITEM_TYPES]), min_size=1, max_size=4).map(
    _unique_ids
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=ITEM_LISTS)
def test_property_valid_items_round_trip(
    shared: tuple[httpx.Client, str], items: list[tuple[ItemType, Json]]
) -> None:
    client, _ = shared
    created = client.post(BASE_PATH, json={"items": [item for _, item in items]})
    assert created.status_code == 200, created.text
    conv = created.json()["id"]
    data = client.get(f"{BASE_PATH}/{conv}/items", params={"limit": 100}).json()["data"]
    assert len(data) == len(items)
    for (spec, item), stored in zip(items, data, strict=True):
        check_id(item, spec, stored["id"])
        assert stored == normalised(item, spec, stored["id"])
    for stored in data:  # every id works as a URL path segment
        got = client.get(f"{BASE_PATH}/{conv}/items/{quote(stored['id'], safe='')}")
        assert got.json() == stored


# --- OpenAPI and docs -----------------------------------------------------------------------


def test_openapi_shows_the_24_types_in_decidable_unions(server: RunningServer) -> None:
    """One variant per ``type``: the two message models are one variant, ``Message`` (either
    shape), so that no item fits two (tests/test_openapi.py checks every example)."""
    document = httpx.get(server.url + "/openapi.json").json()
    schemas = document["components"]["schemas"]
    names = [t.model.__name__ for t in ITEM_TYPES]
    variants = ["Message" if n in ("InputMessage", "OutputMessage") else n for n in names]
    variants = list(dict.fromkeys(variants))
    request_refs = [v["$ref"] for v in schemas["InputItem"]["oneOf"]]
    response_refs = [v["$ref"] for v in schemas["Item"]["oneOf"]]
    assert request_refs == [f"#/components/schemas/{n}" for n in variants]
    assert response_refs == [f"#/components/schemas/{n}WithId" for n in variants]
    assert len(set(request_refs)) == len(set(response_refs)) == 23
    assert schemas["Message"]["anyOf"] == [
        {"$ref": "#/components/schemas/InputMessage"},
        {"$ref": "#/components/schemas/OutputMessage"},
    ]
    assert set(schemas["Item"]["discriminator"]["mapping"]) == {t.name for t in ITEM_TYPES}
    for ref in request_refs + response_refs:
        assert ref.rsplit("/", 1)[1] in schemas
    for spec in ITEM_TYPES:
        schema = schemas[spec.model.__name__]
        assert sorted(schema.get("required", [])) == sorted(spec.required_fields), spec.title
    computer = schemas["ComputerCall"]["properties"]["action"]
    assert len(computer["anyOf"] if "anyOf" in computer else computer["oneOf"]) == 9


def _load_doc_script() -> ModuleType:
    path = ROOT / "scripts" / "item_types_doc.py"
    spec = importlib.util.spec_from_file_location("item_types_doc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_item_types_is_generated_from_the_table() -> None:
    render = _load_doc_script().render
    committed = (ROOT / "docs" / "item-types.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/item-types.md is stale: run scripts/item_types_doc.py"
    for spec in ITEM_TYPES:
        assert f"| {spec.title} | `{spec.name}` | `{spec.prefix}_` |" in committed
