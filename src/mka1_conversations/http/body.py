"""Request bodies: the size limit (413), the read timeout (408), a body that ends early or is
badly framed (400 ``malformed_request``), the media type (415), and JSON decoding into the input
Structs with OpenAI-style errors (400 ``invalid_json``, also for JSON nested deeper than
``MAX_JSON_DEPTH``, and the validator's codes). A body is read as a stream and refused as soon as
it is known to be over the limit, so an oversized body never sits in memory."""

from __future__ import annotations

import array
import asyncio
import itertools
import re
from typing import TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from ..domain.errors import InvalidRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from ..domain.validation import from_msgspec

__all__ = ["MAX_JSON_DEPTH", "read_json"]

T = TypeVar("T")

_INVALID_JSON = (
    "Invalid body: failed to parse JSON value. Please check the value to ensure it is valid JSON. "
    "(Common errors include trailing commas, missing closing brackets, missing quotation marks, "
    "etc.)"
)


MAX_JSON_DEPTH = 128
"""Deepest nesting of arrays and objects a body may have: what is stored is answered back inside
a list, and every client's JSON parser must be able to read it (Python's stops near 1,000)."""

_INCOMPLETE = (
    "Invalid body: the request body ended before its declared length, or its chunked encoding "
    "was malformed."
)
_TOO_DEEP = f"Invalid body: JSON nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects."
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')  # possessive: linear on any escapes
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def _too_deep(body: bytes) -> bool:
    """Whether valid JSON ``body`` nests deeper than MAX_JSON_DEPTH: free for the usual body (too
    few brackets to be that deep), else one linear pass over its brackets outside strings."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    steps = _STRING.sub(b"", body).translate(None, _NOT_BRACKET).translate(_STEP)
    return max(itertools.accumulate(array.array("b", steps))) > MAX_JSON_DEPTH


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body too large: the limit is {limit} bytes.")


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit`` bytes, and (408)
    if it has not all arrived within ``seconds`` (a slow client holds no more)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(seconds) from None
    except ClientDisconnect:
        # The server saw the body end early (the client closed, or half-closed, its side) or
        # could not decode its framing (a bad chunk): the client's fault, never a 500.
        raise InvalidRequest(
            _INCOMPLETE, code="malformed_request", headers={"connection": "close"}
        ) from None
    return b"".join(chunks)


def check_media_type(request: Request) -> None:
    """JSON only; no Content-Type at all is read as JSON."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/json", "") or media.endswith("+json"):
        return
    raise UnsupportedMediaType(
        f"Unsupported Content-Type '{media}': send the body as application/json."
    )


async def read_json(request: Request, model: type[T], limit: int, seconds: float) -> T:
    """Decode and validate the body as ``model``; an empty body is ``{}``."""
    check_media_type(request)
    body = await read_body(request, limit, seconds)
    if not body.strip():
        body = b"{}"
    try:
        decoded = msgspec.json.decode(body, type=model)
    except msgspec.ValidationError as exc:
        try:  # the raw value, to name what was wrong with it
            raw = msgspec.json.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeError, RecursionError):
            raise InvalidRequest(_INVALID_JSON, code="invalid_json") from None
        raise from_msgspec(exc, raw=raw, model=model) from None
    except (msgspec.DecodeError, UnicodeError, RecursionError):  # malformed, bad UTF-8, too deep
        raise InvalidRequest(_INVALID_JSON, code="invalid_json") from None
    if _too_deep(body):
        raise InvalidRequest(_TOO_DEEP, code="invalid_json")
    return decoded
