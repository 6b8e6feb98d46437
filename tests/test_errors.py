"""Every error class of DECISIONS.md §3, provoked over raw HTTP.

Each error is checked for its status, the exact OpenAI envelope
``{"error": {"message", "type", "param", "code"}}`` (with the code, param and, where
openai-conversations.md §5 gives one, the wording), ``Content-Type: application/json``, an
``X-Request-ID`` header, no traceback, and that the failed request changed nothing.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, RunningServer, auth_headers, conversation_state

INVALID_JSON = (
    "Invalid body: failed to parse JSON value. Please check the value to ensure it is valid JSON. "
    "(Common errors include trailing commas, missing closing brackets, missing quotation marks, "
    "etc.)"
)
GOOD: dict[str, Any] = {"role": "user", "content": "fine"}
LIMIT = 1024 * 1024  # the test server's body limit (conftest)


# --- helpers --------------------------------------------------------------------------------


def assert_error(
    response: httpx.Response,
    status: int,
    code: str | None,
    param: str | None,
    *,
    type_: str = "invalid_request_error",
    message: str | None = None,
    fragments: tuple[str, ...] = (),
) -> str:
    """Assert the whole error answer; return its message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.status_code != 422
    assert "Traceback" not in response.text
    media = response.headers.get("content-type", "").split(";")[0].strip()
    assert media == "application/json", response.headers
    assert response.headers.get("x-request-id"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["type"] == type_, error
    assert error["param"] == param, error
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    for fragment in fragments:
        assert fragment in error["message"], (fragment, error["message"])
    text: str = error["message"]
    return text


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def conversation_ids(client: httpx.Client, **params: str) -> list[str]:
    """Every conversation the client's owner can list (optionally filtered)."""
    ids: list[str] = []
    after: str | None = None
    for _ in range(100):
        query = {"limit": "50", **params}
        if after:
            query["after"] = after
        response = client.get(BASE_PATH, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            return ids
        after = page["last_id"]
    raise AssertionError("too many pages")


@pytest.fixture
def conv(http: httpx.Client) -> str:
    """A conversation of the test's user with metadata and three items."""
    response = http.post(
        BASE_PATH,
        json={
            "metadata": {"topic": "errors"},
            "items": [
                {"role": "user", "content": "first", "id": "msg_first"},
                {"role": "assistant", "content": "second"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


@pytest.fixture
def account_client(server: RunningServer) -> Iterator[httpx.Client]:
    """Account A with no X-On-Behalf-Of."""
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A), timeout=30) as c:
        yield c


# --- 400: bodies ----------------------------------------------------------------------------

#: (bad item, code, param suffix after "items[2]", message fragments). The bad item is sent third.
ITEM_CASES: list[Any] = [
    pytest.param(
        {"type": "message", "content": "hi"},
        "missing_required_parameter",
        ".role",
        ("Missing required parameter: 'items[2].role'.",),
        id="message-without-role",
    ),
    pytest.param(
        {"role": "robot", "content": "hi"},
        "invalid_value",
        ".role",
        ("'robot'", "'user'", "'assistant'", "'system'", "'developer'"),
        id="bad-role",
    ),
    pytest.param(
        {"role": "user", "content": 5},
        "invalid_type",
        ".content",
        ("'items[2].content'", "a string", "an integer"),
        id="content-integer",
    ),
    pytest.param(
        {"role": "user", "content": {"text": "x"}},
        "invalid_type",
        ".content",
        ("'items[2].content'", "an object"),
        id="content-object",
    ),
    pytest.param(
        {"type": "bogus", "role": "user", "content": "x"},
        "invalid_value",
        ".type",
        ("'bogus'", "'message'", "'function_call'", "'function_call_output'"),
        id="unknown-type",
    ),
    pytest.param(
        {"type": 7, "role": "user", "content": "x"},
        "invalid_type",
        ".type",
        ("'items[2].type'",),
        id="type-not-string",
    ),
    pytest.param("hello", "invalid_type", "", ("'items[2]'", "a string"), id="item-string"),
    pytest.param(None, "invalid_type", "", ("'items[2]'", "null"), id="item-null"),
    pytest.param([GOOD], "invalid_type", "", ("'items[2]'", "an array"), id="item-array"),
    pytest.param(
        {"type": "function_call", "name": "f", "arguments": "{}"},
        "missing_required_parameter",
        ".call_id",
        ("'items[2].call_id'",),
        id="function-call-without-call-id",
    ),
    pytest.param(
        {"type": "function_call_output", "call_id": "c", "output": "o", "status": "done"},
        "invalid_value",
        ".status",
        ("'done'", "'completed'"),
        id="bad-status",
    ),
    pytest.param(
        {"role": "user", "content": [{"type": "input_text"}]},
        "missing_required_parameter",
        ".content[0].text",
        ("'items[2].content[0].text'",),
        id="part-without-text",
    ),
    pytest.param(
        {"role": "user", "content": "x", "id": ""},
        "string_below_min_length",
        ".id",
        ("'items[2].id'",),
        id="empty-id",
    ),
]

#: (metadata, code, param, exact message)
METADATA_CASES: list[Any] = [
    pytest.param(
        {f"k{i}": "v" for i in range(17)},
        "object_above_max_properties",
        "metadata",
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        "but got an object with 17 properties instead.",
        id="17-pairs",
    ),
    pytest.param(
        {"k" * 65: "v"},
        "property_name_above_max_length",
        "metadata." + "k" * 65,
        f"Invalid property name in 'metadata': '{'k' * 65}' is too long. Expected a string with "
        "maximum length 64, but got a string with length 65 instead.",
        id="key-65",
    ),
    pytest.param(
        {"k": "v" * 513},
        "string_above_max_length",
        "metadata.k",
        "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, but "
        "got a string with length 513 instead.",
        id="value-513",
    ),
    pytest.param(
        {"k": 5},
        "invalid_type",
        "metadata.k",
        "Invalid type for 'metadata.k': expected a string, but got an integer instead.",
        id="value-int",
    ),
    pytest.param(
        {"k": None},
        "invalid_type",
        "metadata.k",
        "Invalid type for 'metadata.k': expected a string, but got null instead.",
        id="value-null",
    ),
    pytest.param("x", "invalid_type", "metadata", None, id="metadata-string"),
    pytest.param(["a"], "invalid_type", "metadata", None, id="metadata-array"),
]


@pytest.mark.parametrize(
    ("body", "code", "param", "message"),
    [
        pytest.param(b'{"items": [}', "invalid_json", None, INVALID_JSON, id="malformed"),
        pytest.param(
            b'{"metadata": {"a": "b",}}', "invalid_json", None, INVALID_JSON, id="trailing-comma"
        ),
        pytest.param(b'{"a":"\xff"}', "invalid_json", None, INVALID_JSON, id="not-utf8"),
        pytest.param(b"[]", "invalid_type", None, None, id="array-body"),
        pytest.param(b'[{"items": []}]', "invalid_type", None, None, id="array-of-object"),
        pytest.param(b'"hello"', "invalid_type", None, None, id="string-body"),
        pytest.param(b"42", "invalid_type", None, None, id="number-body"),
        pytest.param(
            dumps({"foo": 1}), "unknown_parameter", "foo", "Unknown parameter: 'foo'.", id="unknown"
        ),
        pytest.param(
            dumps({"items": [], "conversation": "x"}),
            "unknown_parameter",
            "conversation",
            "Unknown parameter: 'conversation'.",
            id="unknown-beside-known",
        ),
        pytest.param(
            dumps({"items": [GOOD] * 21}),
            "array_above_max_length",
            "items",
            "Invalid 'items': array too long. Expected an array with maximum length 20, but got "
            "an array with length 21 instead.",
            id="21-items",
        ),
        pytest.param(dumps({"items": "hello"}), "invalid_type", "items", None, id="items-string"),
        pytest.param(dumps({"items": {}}), "invalid_type", "items", None, id="items-object"),
    ],
)
def test_create_conversation_bad_body(
    http: httpx.Client, body: bytes, code: str, param: str | None, message: str | None
) -> None:
    response = http.post(BASE_PATH, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, code, param, message=message)
    assert conversation_ids(http) == []


@pytest.mark.parametrize(("bad", "code", "suffix", "fragments"), ITEM_CASES)
def test_create_conversation_bad_item(
    http: httpx.Client, bad: Any, code: str, suffix: str, fragments: tuple[str, ...]
) -> None:
    response = http.post(BASE_PATH, json={"items": [GOOD, GOOD, bad]})
    assert_error(response, 400, code, f"items[2]{suffix}", fragments=fragments)
    assert conversation_ids(http) == []


@pytest.mark.parametrize(("metadata", "code", "param", "message"), METADATA_CASES)
def test_create_conversation_bad_metadata(
    http: httpx.Client, metadata: Any, code: str, param: str, message: str | None
) -> None:
    response = http.post(BASE_PATH, json={"metadata": metadata, "items": [GOOD]})
    assert_error(response, 400, code, param, message=message)
    assert conversation_ids(http) == []


def test_metadata_limits_are_inclusive(http: httpx.Client) -> None:
    metadata = {f"k{i}": "v" for i in range(15)}
    metadata["k" * 64] = "v" * 512
    response = http.post(BASE_PATH, json={"metadata": metadata})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == metadata


def test_duplicate_item_ids_in_one_request(http: httpx.Client, conv: str) -> None:
    items = [{**GOOD, "id": "msg_dup"}, GOOD, {**GOOD, "id": "msg_dup"}]
    message = assert_error(
        http.post(BASE_PATH, json={"items": items}), 400, "duplicate_value", "items[2].id"
    )
    assert "msg_dup" in message
    assert conversation_ids(http) == [conv]
    before = conversation_state(http, conv)
    response = http.post(f"{BASE_PATH}/{conv}/items", json={"items": items})
    assert_error(response, 400, "duplicate_value", "items[2].id", fragments=("msg_dup",))
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(
    ("body", "code", "param", "message"),
    [
        pytest.param(b"{not json", "invalid_json", None, INVALID_JSON, id="malformed"),
        pytest.param(b"[]", "invalid_type", None, None, id="array-body"),
        pytest.param(
            b"{}",
            "missing_required_parameter",
            "items",
            "Missing required parameter: 'items'.",
            id="no-items",
        ),
        pytest.param(
            b"",
            "missing_required_parameter",
            "items",
            "Missing required parameter: 'items'.",
            id="empty-body",
        ),
        pytest.param(
            dumps({"items": [GOOD], "foo": True}),
            "unknown_parameter",
            "foo",
            "Unknown parameter: 'foo'.",
            id="unknown",
        ),
        pytest.param(
            dumps({"items": []}),
            "array_below_min_length",
            "items",
            "Invalid 'items': array too short. Expected an array with minimum length 1, but got "
            "an array with length 0 instead.",
            id="0-items",
        ),
        pytest.param(
            dumps({"items": [GOOD] * 21}),
            "array_above_max_length",
            "items",
            "Invalid 'items': array too long. Expected an array with maximum length 20, but got "
            "an array with length 21 instead.",
            id="21-items",
        ),
        pytest.param(dumps({"items": None}), "invalid_type", "items", None, id="items-null"),
        pytest.param(dumps({"items": "x"}), "invalid_type", "items", None, id="items-string"),
    ],
)
def test_create_items_bad_body(
    http: httpx.Client, conv: str, body: bytes, code: str, param: str | None, message: str | None
) -> None:
    before = conversation_state(http, conv)
    response = http.post(
        f"{BASE_PATH}/{conv}/items", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, code, param, message=message)
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(("bad", "code", "suffix", "fragments"), ITEM_CASES)
def test_create_items_bad_item(
    http: httpx.Client, conv: str, bad: Any, code: str, suffix: str, fragments: tuple[str, ...]
) -> None:
    before = conversation_state(http, conv)
    response = http.post(f"{BASE_PATH}/{conv}/items", json={"items": [GOOD, GOOD, bad]})
    assert_error(response, 400, code, f"items[2]{suffix}", fragments=fragments)
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(
    ("body", "code", "param", "message"),
    [
        pytest.param(b"{", "invalid_json", None, INVALID_JSON, id="malformed"),
        pytest.param(b"[]", "invalid_type", None, None, id="array-body"),
        pytest.param(
            b"{}",
            "missing_required_parameter",
            "metadata",
            "Missing required parameter: 'metadata'.",
            id="no-metadata",
        ),
        pytest.param(
            dumps({"metadata": {}, "title": "x"}),
            "unknown_parameter",
            "title",
            "Unknown parameter: 'title'.",
            id="unknown",
        ),
        pytest.param(
            dumps({"metadata": {}, "items": [GOOD]}),
            "unknown_parameter",
            "items",
            "Unknown parameter: 'items'.",
            id="items-on-update",
        ),
    ],
)
def test_update_bad_body(
    http: httpx.Client, conv: str, body: bytes, code: str, param: str | None, message: str | None
) -> None:
    before = conversation_state(http, conv)
    response = http.post(
        f"{BASE_PATH}/{conv}", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, code, param, message=message)
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(("metadata", "code", "param", "message"), METADATA_CASES)
def test_update_bad_metadata(
    http: httpx.Client, conv: str, metadata: Any, code: str, param: str, message: str | None
) -> None:
    before = conversation_state(http, conv)
    response = http.post(f"{BASE_PATH}/{conv}", json={"metadata": metadata})
    assert_error(response, 400, code, param, message=message)
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(
    ("item_ids", "code", "param", "message"),
    [
        pytest.param(
            [],
            "array_below_min_length",
            "item_ids",
            "Invalid 'item_ids': array too short. Expected an array with minimum length 1, but "
            "got an array with length 0 instead.",
            id="empty",
        ),
        pytest.param(
            ["msg_first", "msg_first"],
            "duplicate_value",
            "item_ids[1]",
            None,
            id="duplicated",
        ),
        pytest.param(
            ["msg_first", *[f"msg_{i}" for i in range(100)]],
            "array_above_max_length",
            "item_ids",
            "Invalid 'item_ids': array too long. Expected an array with maximum length 100, but "
            "got an array with length 101 instead.",
            id="101-ids",
        ),
        pytest.param(["msg_first", 5], "invalid_type", "item_ids[1]", None, id="id-not-string"),
        pytest.param("msg_first", "invalid_type", "item_ids", None, id="not-an-array"),
        pytest.param(None, "invalid_type", "item_ids", None, id="null"),
    ],
)
def test_bulk_delete_bad_item_ids(
    http: httpx.Client, conv: str, item_ids: Any, code: str, param: str, message: str | None
) -> None:
    before = conversation_state(http, conv)
    response = http.request("DELETE", f"{BASE_PATH}/{conv}/items", json={"item_ids": item_ids})
    assert_error(response, 400, code, param, message=message)
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(
    ("body", "code", "param", "message"),
    [
        pytest.param(
            b"{}",
            "missing_required_parameter",
            "item_ids",
            "Missing required parameter: 'item_ids'.",
            id="missing",
        ),
        pytest.param(
            dumps({"item_ids": ["msg_first"], "force": True}),
            "unknown_parameter",
            "force",
            "Unknown parameter: 'force'.",
            id="unknown",
        ),
        pytest.param(b"{,}", "invalid_json", None, INVALID_JSON, id="malformed"),
    ],
)
def test_bulk_delete_bad_body(
    http: httpx.Client, conv: str, body: bytes, code: str, param: str | None, message: str | None
) -> None:
    before = conversation_state(http, conv)
    response = http.request(
        "DELETE",
        f"{BASE_PATH}/{conv}/items",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, code, param, message=message)
    assert conversation_state(http, conv) == before


# --- 400: query parameters ------------------------------------------------------------------

ITEM_QUERY_CASES: list[Any] = [
    pytest.param(
        {"limit": "0"},
        "integer_below_min_value",
        "limit",
        "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead.",
        id="limit-0",
    ),
    pytest.param(
        {"limit": "-3"},
        "integer_below_min_value",
        "limit",
        "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got -3 instead.",
        id="limit-negative",
    ),
    pytest.param(
        {"limit": "101"},
        "integer_above_max_value",
        "limit",
        "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 "
        "instead.",
        id="limit-101",
    ),
    pytest.param({"limit": "abc"}, "invalid_type", "limit", None, id="limit-abc"),
    pytest.param({"limit": "1.5"}, "invalid_type", "limit", None, id="limit-float"),
    pytest.param(
        {"order": "sideways"},
        "invalid_value",
        "order",
        "Invalid value: 'sideways'. Supported values are: 'asc' and 'desc'.",
        id="order-sideways",
    ),
    pytest.param(
        {"after": "msg_never_existed"}, "invalid_value", "after", None, id="after-unknown"
    ),
]


@pytest.mark.parametrize(("params", "code", "param", "message"), ITEM_QUERY_CASES)
def test_list_items_bad_query(
    http: httpx.Client,
    conv: str,
    params: dict[str, str],
    code: str,
    param: str,
    message: str | None,
) -> None:
    before = conversation_state(http, conv)
    response = http.get(f"{BASE_PATH}/{conv}/items", params=params)
    assert_error(response, 400, code, param, message=message)
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(
    ("params", "code", "param", "message"),
    [
        pytest.param(
            {"limit": "0"},
            "integer_below_min_value",
            "limit",
            "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 "
            "instead.",
            id="limit-0",
        ),
        pytest.param(
            {"limit": "51"},
            "integer_above_max_value",
            "limit",
            "Invalid 'limit': integer above maximum value. Expected a value <= 50, but got 51 "
            "instead.",
            id="limit-51",
        ),
        pytest.param({"limit": "abc"}, "invalid_type", "limit", None, id="limit-abc"),
        pytest.param(
            {"order": "sideways"},
            "invalid_value",
            "order",
            "Invalid value: 'sideways'. Supported values are: 'asc' and 'desc'.",
            id="order-sideways",
        ),
        pytest.param({"after": "conv_unknown"}, "invalid_value", "after", None, id="after"),
        pytest.param({"metadata": "not json"}, "invalid_value", "metadata", None, id="md-json"),
        pytest.param({"metadata": '{"k": 1}'}, "invalid_type", "metadata.k", None, id="md-int"),
        pytest.param(
            {"metadata": json.dumps({f"k{i}": "v" for i in range(17)})},
            "object_above_max_properties",
            "metadata",
            None,
            id="md-17",
        ),
        pytest.param(
            {"metadata[" + "k" * 65 + "]": "v"},
            "property_name_above_max_length",
            "metadata." + "k" * 65,
            None,
            id="md-key-65",
        ),
        pytest.param(
            {"search": "w" * 16_385}, "string_above_max_length", "search", None, id="search-long"
        ),
    ],
)
def test_list_conversations_bad_query(
    http: httpx.Client,
    conv: str,
    params: dict[str, str],
    code: str,
    param: str,
    message: str | None,
) -> None:
    response = http.get(BASE_PATH, params=params)
    assert_error(response, 400, code, param, message=message)
    assert conversation_ids(http) == [conv]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1_0", id="underscore"),
        pytest.param("\u0663", id="arabic-indic-3"),
        pytest.param("\uff15", id="fullwidth-5"),
        pytest.param("+5", id="plus"),
        pytest.param(" 5", id="leading-space"),
        pytest.param("5 ", id="trailing-space"),
        pytest.param("5\u00a0", id="nbsp"),
        pytest.param("0x10", id="hex"),
        pytest.param("1e1", id="exponent"),
        pytest.param("--5", id="two-signs"),
    ],
)
@pytest.mark.parametrize("listing", ["items", "conversations"])
def test_integer_parameters_are_ascii_digits_only(
    http: httpx.Client, conv: str, listing: str, value: str
) -> None:
    """Not what Python's ``int`` takes: only an optional ``-`` and ASCII digits (no sign ``+``,
    space, ``_`` or other script's digit), or the usual 400."""
    path = f"{BASE_PATH}/{conv}/items" if listing == "items" else BASE_PATH
    response = http.get(path, params={"limit": value})
    message = assert_error(response, 400, "invalid_type", "limit")
    assert message.startswith("Invalid type for 'limit': expected an integer")


@pytest.mark.parametrize("listing", ["items", "conversations"])
def test_integer_parameters_of_any_length(http: httpx.Client, conv: str, listing: str) -> None:
    """Leading zeros are digits too; a value with thousands of digits is a value above the
    maximum (or below the minimum), not a parse error."""
    path = f"{BASE_PATH}/{conv}/items" if listing == "items" else BASE_PATH
    assert len(http.get(path, params={"limit": "0001"}).json()["data"]) == 1
    huge = http.get(path, params={"limit": "9" * 5000})
    assert_error(huge, 400, "integer_above_max_value", "limit")
    tiny = http.get(path, params={"limit": "-" + "9" * 5000})
    assert_error(tiny, 400, "integer_below_min_value", "limit")


# --- 400: X-On-Behalf-Of --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("*", id="star"),
        pytest.param("u" * 151, id="151-chars"),
        pytest.param("user\tname", id="tab"),
        pytest.param("josé".encode(), id="utf8"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_on_behalf_of(
    server: RunningServer, account_client: httpx.Client, value: str | bytes
) -> None:
    marker = uuid.uuid4().hex
    raw = value if isinstance(value, bytes) else value.encode("ascii")
    headers = {b"Authorization": f"Bearer {KEY_A}".encode(), b"X-On-Behalf-Of": raw}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for response in (
            client.post(
                BASE_PATH, json={"metadata": {"marker": marker}, "items": [GOOD]}, headers=headers
            ),
            client.get(BASE_PATH, headers=headers),
        ):
            assert_error(
                response,
                400,
                "invalid_header",
                "X-On-Behalf-Of",
                fragments=("X-On-Behalf-Of",),
            )
    # Not silently created for the account itself either.
    assert conversation_ids(account_client, metadata=json.dumps({"marker": marker})) == []


@pytest.mark.parametrize(
    "value", ["u" * 150, "user with spaces", "~!@#$%^&()_+={}[]|:;'<>,.?/", "a", "**"]
)
def test_good_on_behalf_of(server: RunningServer, value: str) -> None:
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, value)) as client:
        created = client.post(BASE_PATH, json={})
        assert created.status_code == 200, created.text
        assert client.get(f"{BASE_PATH}/{created.json()['id']}").status_code == 200


# --- 401 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Basic c2stdGVzdC1hY2NvdW50LWE6", id="basic"),
        pytest.param(KEY_A, id="no-scheme"),
        pytest.param("Bearer", id="bearer-no-key"),
        pytest.param("Bearer sk-not-a-real-key", id="unknown-key"),
        pytest.param("Bearer " + KEY_A + "x", id="near-miss-key"),
        pytest.param("Bearer ké".encode(), id="non-ascii-key"),
    ],
)
def test_unauthorized(server: RunningServer, user: str, authorization: str | bytes | None) -> None:
    marker = uuid.uuid4().hex
    headers = {b"X-On-Behalf-Of": user.encode()}
    if authorization is not None:
        raw = authorization if isinstance(authorization, bytes) else authorization.encode()
        headers[b"Authorization"] = raw
    with httpx.Client(base_url=server.url, timeout=30) as client:
        responses = [
            client.post(BASE_PATH, json={"metadata": {"m": marker}}, headers=headers),
            client.get(BASE_PATH, headers=headers),
            client.get(f"{BASE_PATH}/conv_x/items", headers=headers),
            client.delete(f"{BASE_PATH}/conv_x/items/msg_x", headers=headers),
        ]
        # A path no route serves is a 404 whatever the key: tests/test_status_order.py.
    for response in responses:
        assert_error(response, 401, "invalid_api_key", None)
    with httpx.Client(base_url=server.url, headers=auth_headers(KEY_A, user)) as owner:
        assert conversation_ids(owner) == []


# --- 404 ------------------------------------------------------------------------------------


def test_unknown_conversation(http: httpx.Client) -> None:
    missing = "conv_" + uuid.uuid4().hex
    expected = f"Conversation with id '{missing}' not found."
    for response in (
        http.get(f"{BASE_PATH}/{missing}"),
        http.post(f"{BASE_PATH}/{missing}", json={"metadata": {"a": "b"}}),
        http.delete(f"{BASE_PATH}/{missing}"),
        http.post(f"{BASE_PATH}/{missing}/items", json={"items": [GOOD]}),
        http.get(f"{BASE_PATH}/{missing}/items"),
        http.get(f"{BASE_PATH}/{missing}/items/msg_x"),
        http.delete(f"{BASE_PATH}/{missing}/items/msg_x"),
        http.request("DELETE", f"{BASE_PATH}/{missing}/items", json={"item_ids": ["msg_x"]}),
    ):
        assert_error(response, 404, "not_found", None, message=expected)
    assert conversation_ids(http) == []


def test_unknown_item(http: httpx.Client, conv: str) -> None:
    before = conversation_state(http, conv)
    expected = "Item with id 'msg_nope' not found in conversation."
    assert_error(
        http.get(f"{BASE_PATH}/{conv}/items/msg_nope"), 404, "not_found", None, message=expected
    )
    assert_error(
        http.delete(f"{BASE_PATH}/{conv}/items/msg_nope"), 404, "not_found", None, message=expected
    )
    assert conversation_state(http, conv) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/llm/nowhere",
        "/api/v1/llm/conversation",
        BASE_PATH + "/",
        BASE_PATH + "/conv_x/items/msg_x/extra",
        BASE_PATH + "/conv_x/messages",
        "/",
    ],
)
def test_unknown_url(http: httpx.Client, path: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = http.request(method, path, json={})
        message = assert_error(response, 404, "unknown_url", None)
        assert method in message
    assert conversation_ids(http) == []


# --- 405 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "allowed"),
    [
        ("PUT", "", {"GET", "POST", "DELETE"}),
        ("PATCH", "", {"GET", "POST", "DELETE"}),
        ("PUT", "/items", {"GET", "POST", "DELETE"}),
        ("POST", "/items/msg_first", {"GET", "DELETE"}),
        ("PATCH", "/items/msg_first", {"GET", "DELETE"}),
        ("PATCH", "<base>", {"GET", "POST"}),
        ("DELETE", "<base>", {"GET", "POST"}),
    ],
)
def test_method_not_allowed(
    http: httpx.Client, conv: str, method: str, suffix: str, allowed: set[str]
) -> None:
    before = conversation_state(http, conv)
    path = BASE_PATH if suffix == "<base>" else f"{BASE_PATH}/{conv}{suffix}"
    response = http.request(method, path, json={"metadata": {"changed": "yes"}})
    assert_error(response, 405, "method_not_allowed", None, fragments=(method,))
    # RFC 9110 §15.5.6: a 405 MUST list the methods the resource supports.
    listed = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
    assert allowed <= listed, (path, response.headers.get("allow"))
    assert conversation_state(http, conv) == before
    assert conversation_ids(http) == [conv]


# --- 409 ------------------------------------------------------------------------------------


def test_duplicate_item_id_in_conversation(http: httpx.Client, conv: str) -> None:
    before = conversation_state(http, conv)
    response = http.post(
        f"{BASE_PATH}/{conv}/items",
        json={"items": [{**GOOD, "id": "msg_new"}, {**GOOD, "id": "msg_first"}, GOOD]},
    )
    message = assert_error(response, 409, "duplicate_item_id", "items[1].id")
    assert "msg_first" in message
    assert response.headers.get("x-should-retry") == "false"
    assert conversation_state(http, conv) == before  # msg_new was not stored either
    assert http.get(f"{BASE_PATH}/{conv}/items/msg_new").status_code == 404


def test_duplicate_of_server_assigned_id(http: httpx.Client, conv: str) -> None:
    _, items = conversation_state(http, conv)
    taken = items["data"][1]["id"]
    response = http.post(f"{BASE_PATH}/{conv}/items", json={"items": [{**GOOD, "id": taken}]})
    assert_error(response, 409, "duplicate_item_id", "items[0].id", fragments=(taken,))
    assert response.headers.get("x-should-retry") == "false"


# --- 413 ------------------------------------------------------------------------------------


def _big_items(total: int) -> list[dict[str, Any]]:
    per_item = total // 20
    return [{"role": "user", "content": "x" * per_item} for _ in range(20)]


def test_body_over_limit(http: httpx.Client, conv: str) -> None:
    before = conversation_state(http, conv)
    items = _big_items(int(LIMIT * 1.1))
    for response in (
        http.post(BASE_PATH, json={"items": items}),
        http.post(f"{BASE_PATH}/{conv}/items", json={"items": items}),
    ):
        assert_error(response, 413, "request_too_large", None)
    assert conversation_ids(http) == [conv]
    assert conversation_state(http, conv) == before


def test_streamed_body_over_limit(http: httpx.Client) -> None:
    """No Content-Length (chunked): the limit is enforced while reading."""
    payload = json.dumps({"items": _big_items(int(LIMIT * 1.1))}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    response = http.post(BASE_PATH, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "request_too_large", None)
    assert conversation_ids(http) == []


def _raw_request(
    server: RunningServer, head: bytes, body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Send a request over a bare socket; read one response (Content-Length or chunked)."""
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        raw_head, rest = data.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {
            k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])
        }
        if "content-length" in headers:
            while len(rest) < int(headers["content-length"]):
                chunk = sock.recv(65536)
                assert chunk
                rest += chunk
            return status, headers, rest[: int(headers["content-length"])]
        assert headers.get("transfer-encoding") == "chunked", headers
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
        body_out, cursor = b"", rest
        while True:
            size_line, cursor = cursor.split(b"\r\n", 1)
            size = int(size_line, 16)
            if size == 0:
                return status, headers, body_out
            body_out += cursor[:size]
            cursor = cursor[size + 2 :]


def test_declared_oversize_body_is_refused_without_reading_it(
    server: RunningServer, http: httpx.Client, user: str
) -> None:
    head = (
        f"POST {BASE_PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {KEY_A}\r\n"
        f"X-On-Behalf-Of: {user}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {2 * LIMIT}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    started = time.monotonic()
    status, headers, body = _raw_request(server, head, b'{"items": [')  # the rest never comes
    assert time.monotonic() - started < 4
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert headers.get("x-request-id")
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert conversation_ids(http) == []


def test_body_just_under_limit_is_accepted(http: httpx.Client) -> None:
    response = http.post(BASE_PATH, json={"items": _big_items(int(LIMIT * 0.95))})
    assert response.status_code == 200, response.text[:300]


# --- 415 and Content-Type -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_non_json_media_type(http: httpx.Client, conv: str, content_type: str) -> None:
    before = conversation_state(http, conv)
    requests: list[tuple[str, str, bytes]] = [
        ("POST", BASE_PATH, dumps({"items": [GOOD]})),
        ("POST", f"{BASE_PATH}/{conv}", dumps({"metadata": {"changed": "yes"}})),
        ("POST", f"{BASE_PATH}/{conv}/items", dumps({"items": [GOOD]})),
        ("DELETE", f"{BASE_PATH}/{conv}/items", dumps({"item_ids": ["msg_first"]})),
    ]
    for method, path, body in requests:
        response = http.request(method, path, content=body, headers={"Content-Type": content_type})
        assert_error(
            response, 415, "unsupported_media_type", None, fragments=(content_type.split(";")[0],)
        )
    assert conversation_state(http, conv) == before
    assert conversation_ids(http) == [conv]


def test_no_content_type_is_read_as_json(http: httpx.Client) -> None:
    response = http.post(BASE_PATH, content=dumps({"metadata": {"k": "v"}, "items": [GOOD]}))
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"k": "v"}
    conversation_id = response.json()["id"]
    added = http.post(f"{BASE_PATH}/{conversation_id}/items", content=dumps({"items": [GOOD]}))
    assert added.status_code == 200, added.text
    assert len(conversation_state(http, conversation_id)[1]["data"]) == 2


def test_json_with_charset_is_accepted(http: httpx.Client) -> None:
    response = http.post(
        BASE_PATH,
        content=dumps({"metadata": {"k": "v"}}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


def test_empty_body_creates_an_empty_conversation(http: httpx.Client) -> None:
    response = http.post(BASE_PATH)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {}


# --- X-Request-ID ---------------------------------------------------------------------------


def test_request_id_echoed(server: RunningServer, http: httpx.Client) -> None:
    sent = "req-" + uuid.uuid4().hex
    responses = [
        http.post(BASE_PATH, json={}, headers={"X-Request-ID": sent}),
        http.get(f"{BASE_PATH}/conv_missing", headers={"X-Request-ID": sent}),
        http.post(BASE_PATH, content=b"{", headers={"X-Request-ID": sent}),
        httpx.get(server.api, headers={"X-Request-ID": sent}),  # 401 from the auth layer
        httpx.get(server.url + "/healthz", headers={"X-Request-ID": sent}),
    ]
    for response in responses:
        assert response.headers.get("x-request-id") == sent, response


def test_request_id_generated(server: RunningServer, http: httpx.Client) -> None:
    responses = [
        http.post(BASE_PATH, json={}),
        http.post(BASE_PATH, json={}),
        http.get(f"{BASE_PATH}/conv_missing"),
        httpx.get(server.api),
        http.request("PUT", BASE_PATH),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids), ids
    assert len(set(ids)) == len(ids), ids


# --- never a 422, a 500 or a traceback ------------------------------------------------------

ODD_BODIES: list[bytes] = [
    b"",
    b" ",
    b"null",
    b"true",
    b"1",
    b'"s"',
    b"{}",
    b"[]",
    b"[[]]",
    b"\x00",
    b"\xff\xfe{}",
    b'{"a": NaN}',
    b'{"items": null}',
    b'{"items": [null]}',
    b'{"items": [[]]}',
    b'{"items": [{}]}',
    b'{"items": [{"role": null, "content": "x"}]}',
    b'{"items": [{"role": "user", "content": [1]}]}',
    b'{"items": [{"role": "user", "content": [{"type": "nope"}]}]}',
    b'{"items": [{"role": "user", "content": [{"type": 1}]}]}',
    b'{"items": [{"role": "user", "content": [{}]}]}',
    b'{"items": [{"role": "user", "content": "x", "n": 1e999}]}',
    b'{"items": [{"role": "user", "content": "x", "n": 123456789012345678901234567890}]}',
    b'{"items": [{"role": "user", "content": "x", "id": 5}]}',
    b'{"items": [{"role": "user", "content": "x", "id": null}]}',
    b'{"items": [{"type": "message", "role": "assistant", "id": "m", "status": "completed", '
    b'"content": [{"type": "output_text", "text": 5}]}]}',
    b'{"items": [{"type": "function_call"}]}',
    b'{"items": [{"type": null}]}',
    b'{"items": [{"id": "x"}]}',
    b'{"items": [{"content": "no role"}]}',
    b'{"metadata": null}',
    b'{"metadata": {"": ""}}',
    b'{"metadata": {"k": {"nested": "x"}}}',
    b'{"metadata": null, "items": null}',
    b'{"item_ids": null}',
    b'{"item_ids": [""]}',
    b'{"item_ids": [null]}',
    b'{"include": ["x"], "items": [{"role": "user", "content": "x"}]}',
    b'{"items": [{"role": "user", "content": "' + b"\\ud800" + b'"}]}',
    b'{"items": [{"role": "user", "content": "x"}]' + b" " * 1000 + b"}",
    b'{"a": 1, "a": 2}',
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=[f"body{i}" for i in range(len(ODD_BODIES))])
def test_odd_bodies_never_422_or_500(http: httpx.Client, conv: str, body: bytes) -> None:
    for method, path in (
        ("POST", BASE_PATH),
        ("POST", f"{BASE_PATH}/{conv}"),
        ("POST", f"{BASE_PATH}/{conv}/items"),
        ("DELETE", f"{BASE_PATH}/{conv}/items"),
    ):
        response = http.request(method, path, content=body)
        assert response.status_code in (200, 400, 404, 409), (method, path, response.text)
        assert "Traceback" not in response.text
        if response.status_code != 200:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("depth", [2_000, 50_000])
@pytest.mark.parametrize(
    "template",
    [
        pytest.param('{"items": [{"role": "user", "content": "x", "extra": %s}]}', id="in-item"),
        pytest.param('{"foo": %s}', id="unknown-field"),
        pytest.param('{"metadata": {"k": %s}}', id="in-metadata"),
    ],
)
def test_deeply_nested_json_is_a_400(http: httpx.Client, template: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    response = http.post(BASE_PATH, content=(template % nested).encode())
    assert response.status_code == 400, response.text
    assert_error(response, 400, response.json()["error"]["code"], response.json()["error"]["param"])
    assert conversation_ids(http) == []


MAX_DEPTH = 128  # http/body.py


def _parse_deep_in_the_stack(text: str, frames: int) -> Any:
    """``json.loads`` as a client whose own call stack is ``frames`` deep (a test runner, a web
    framework) would run it: Python's parser shares the interpreter's recursion limit."""
    if frames:
        return _parse_deep_in_the_stack(text, frames - 1)
    return json.loads(text)


@pytest.mark.parametrize("where", ["item", "item-list"])
def test_json_nesting_is_bounded_so_every_answer_parses(http: httpx.Client, where: str) -> None:
    """A body may nest up to 128 levels of arrays and objects (an item's own fields up to 125,
    inside ``{"items": [...]}``); deeper is refused (400 ``invalid_json``) rather than stored
    and answered back nested deeper than a client's JSON parser may read."""
    item = '{"type": "function_call_output", "call_id": "c", "output": "o", "extra": %s}'
    body = '{"items": [%s]}'
    fits = body % (item % ("[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3)))
    created = http.post(BASE_PATH, content=fits.encode())
    assert created.status_code == 200, created.text
    conversation = created.json()["id"]
    listed = http.get(f"{BASE_PATH}/{conversation}/items")
    if where == "item":
        listed = http.get(f"{BASE_PATH}/{conversation}/items/{listed.json()['data'][0]['id']}")
    assert listed.status_code == 200
    _parse_deep_in_the_stack(listed.text, 800)
    # Any deeper, even by one level and however it is spread, is refused and stores nothing.
    for deeper in (
        body % (item % ("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2))),
        body % (item % ("[" * 900 + "]" * 900)),
        # Brackets inside strings do not count, many shallow ones do not help.
        body % (item % ('["a]", {"b": "}}}"}, ' + "{}, " * 200 + "[" * 126 + "]" * 126 + "]")),
    ):
        response = http.post(BASE_PATH, content=deeper.encode())
        assert_error(response, 400, "invalid_json", None, fragments=("nested deeper than 128",))
    assert conversation_ids(http) == [conversation]


def test_error_messages_name_no_internals(http: httpx.Client) -> None:
    """Messages never leak SQL, file paths or Python names."""
    responses = [
        http.post(BASE_PATH, content=b'{"items": [{"role": "user", "content": [1]}]}'),
        http.get(f"{BASE_PATH}/conv_'; DROP TABLE conversations; --"),
        http.get(BASE_PATH, params={"after": "conv_' OR 1=1 --"}),
        http.get(BASE_PATH, params={"search": "\"'();*"}),
    ]
    for response in responses:
        assert response.status_code in (200, 400, 404), response.text
        for leak in ("sqlite", "SELECT", "msgspec", ".py", "Traceback", "Struct"):
            assert leak not in response.text, (leak, response.text)
    assert re.search(r"conv_", responses[1].text)


def test_connection_survives_bad_bodies(http: httpx.Client) -> None:
    """After any bad body the keep-alive connection still serves the next request (a 500 that
    makes the server drop the connection silently breaks the client's next call)."""
    for body in (b'{"a": NaN}', b'{"items": [{"role": "user", "content": "x", "n": 1e999}]}'):
        first = http.post(BASE_PATH, content=body)
        second = http.get(BASE_PATH)  # same connection
        assert second.status_code == 200, second.text
        assert first.status_code == 400, first.text


def test_nul_characters_never_500(http: httpx.Client, conv: str) -> None:
    """U+0000 anywhere (ids, cursors, metadata, filters, item text) is a client matter: 200, 400
    or 404, the same on every backend, and never a 500."""
    nul = "a\u0000b"
    requests: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET", f"{BASE_PATH}/conv_%00", {}, None),
        ("GET", f"{BASE_PATH}/{conv}/items/msg_%00", {}, None),
        ("GET", BASE_PATH, {"after": "conv_\u0000"}, None),
        ("GET", f"{BASE_PATH}/{conv}/items", {"after": "msg_\u0000"}, None),
        ("GET", BASE_PATH, {"k": nul}, None),
        ("GET", BASE_PATH, {"metadata": json.dumps({"k": nul})}, None),
        ("GET", BASE_PATH, {"search": nul}, None),
        ("POST", BASE_PATH, {}, {"metadata": {"k": nul}}),
        ("POST", BASE_PATH, {}, {"metadata": {nul: "v"}}),
        ("POST", BASE_PATH, {}, {"items": [{"role": "user", "content": nul}]}),
        ("POST", f"{BASE_PATH}/{conv}", {}, {"metadata": {"k": nul}}),
        ("POST", f"{BASE_PATH}/{conv}/items", {}, {"items": [{**GOOD, "id": "msg_\u0000"}]}),
        ("DELETE", f"{BASE_PATH}/{conv}/items", {}, {"item_ids": ["msg_\u0000"]}),
    ]
    failures = []
    for method, path, params, body in requests:
        with httpx.Client(base_url=str(http.base_url), headers=http.headers) as client:
            response = client.request(method, path, params=params, json=body)
        if response.status_code not in (200, 400, 404):
            failures.append((method, path, params, body, response.status_code))
    assert failures == []
