"""Request bodies: JSON only (no Content-Type is JSON), refused (413) as soon as they are known to
be over the limit, (408) when they do not arrive in time, an empty body read as ``{}``, and
decoding errors named as OpenAI names them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import pytest
from starlette.requests import Request
from starlette.types import Message

from mka1_conversations.domain.errors import (
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from mka1_conversations.http.body import (
    MAX_JSON_DEPTH,
    _too_deep,
    check_media_type,
    read_body,
    read_json,
)


class Body(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    count: int = 0


def request(
    chunks: Sequence[bytes], headers: dict[str, str] | None = None, *, stall: float = 0.0
) -> tuple[Request, list[int]]:
    """A Request whose body arrives in ``chunks`` (waiting ``stall`` seconds before each); also
    how many chunks were read."""
    read: list[int] = [0]
    remaining = list(chunks)

    async def receive() -> Message:
        if stall:
            await asyncio.sleep(stall)
        chunk = remaining.pop(0) if remaining else b""
        read[0] += 1
        return {"type": "http.request", "body": chunk, "more_body": bool(remaining)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope, receive), read


async def test_a_body_is_decoded_into_its_struct() -> None:
    got = await read_json(request([b'{"name": "a",', b' "count": 2}'])[0], Body, 1024, 5)
    assert got == Body("a", 2)


async def test_an_empty_body_is_an_empty_object() -> None:
    assert await read_json(request([b""])[0], dict[str, int], 1024, 5) == {}
    assert await read_json(request([b"  \n"])[0], dict[str, int], 1024, 5) == {}
    with pytest.raises(InvalidRequest) as missing:  # {} then validated as usual
        await read_json(request([b""])[0], Body, 1024, 5)
    assert missing.value.code == "missing_required_parameter"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/merge+json", ""],
)
def test_json_media_types_are_accepted(content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    check_media_type(request([], headers)[0])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_media_types_are_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        check_media_type(request([], {"content-type": content_type})[0])
    assert refused.value.status == 415
    assert content_type.split(";")[0] in refused.value.message


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    req, read = request([b"x" * 10], {"content-length": "2048"})
    with pytest.raises(PayloadTooLarge) as refused:
        await read_body(req, 1024, 5)
    assert read == [0]
    assert "1024 bytes" in refused.value.message


async def test_a_streamed_body_is_refused_at_the_chunk_that_passes_the_limit() -> None:
    req, read = request([b"x" * 600, b"x" * 600, b"x" * 600, b"x" * 600])
    with pytest.raises(PayloadTooLarge):
        await read_body(req, 1024, 5)
    assert read == [2]  # the rest is never read


async def test_a_body_exactly_at_the_limit_is_read() -> None:
    assert await read_body(request([b"x" * 512, b"x" * 512])[0], 1024, 5) == b"x" * 1024


async def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    req, _ = request([b"{", b"}"], stall=0.2)
    with pytest.raises(RequestTimeout) as late:
        await read_body(req, 1024, 0.05)
    assert late.value.status == 408
    assert late.value.headers == {"connection": "close"}


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"name": "a",}', b"\xff\xfe", b"[" * 10_000 + b"]" * 10_000, b"nul"],
    ids=["unclosed", "trailing-comma", "not-utf8", "too-deep", "bad-literal"],
)
async def test_what_is_not_json_is_invalid_json(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as bad:
        await read_json(request([body])[0], Body, 1_000_000, 5)
    assert bad.value.code == "invalid_json"
    assert bad.value.param is None


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b'{"name": 1}', "invalid_type", "name"),
        (b'{"count": 1}', "missing_required_parameter", "name"),
        (b'{"name": "a", "extra": 1}', "unknown_parameter", "extra"),
        (b"[]", "invalid_type", None),
    ],
)
async def test_json_that_does_not_fit_names_the_field(
    body: bytes, code: str, param: str | None
) -> None:
    with pytest.raises(InvalidRequest) as bad:
        await read_json(request([body])[0], Body, 1024, 5)
    assert (bad.value.code, bad.value.param) == (code, param)


# The nesting bound of request bodies: brackets outside strings, counted in one pass.


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        (_nested(MAX_JSON_DEPTH), False),
        (_nested(MAX_JSON_DEPTH + 1), True),
        (b'{"a": ' + _nested(MAX_JSON_DEPTH - 1) + b"}", False),
        (b'{"a": ' + _nested(MAX_JSON_DEPTH) + b"}", True),
        (b"[" + b",".join([_nested(MAX_JSON_DEPTH - 1)] * 50) + b"]", False),  # wide, not deep
        (b'["' + b"[" * 1000 + b'"]', False),  # brackets in a string are text
        (b'["\\"[[[", ' + _nested(MAX_JSON_DEPTH - 1) + b"]", False),  # an escaped quote
        (b'["\\\\", ' + _nested(MAX_JSON_DEPTH) + b"]", True),  # an escaped backslash
        (b'{"k": "}}}}", "v": [{}, {}, {"x": []}]}', False),
    ],
)
def test_depth_counts_brackets_outside_strings(body: bytes, deep: bool) -> None:
    assert _too_deep(body) is deep
