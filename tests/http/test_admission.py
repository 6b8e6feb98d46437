"""What every request gets before routing (``http.admission``): its deadline, not counting the
wait for its body; for a write its Idempotency-Key and a fingerprint of its method, path, query
and body; its head checked; the refusals in that order; other scopes untouched."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from mka1_conversations.domain import requests
from mka1_conversations.domain.errors import HeadersTooLarge, InvalidRequest
from mka1_conversations.http.admission import AdmissionMiddleware

SECONDS = 10.0


def http(method: str, headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": "/api/v1/llm/conversations",
        "raw_path": b"/api/v1/llm/conversations",
        "query_string": b"a=1",
        "headers": headers or [(b"host", b"h")],
    }


async def admit(scope: Scope, body: bytes = b"", body_delay: float = 0.0) -> dict[str, Any]:
    """Run a request through the middleware to an app that reads the body; what it saw."""
    seen: dict[str, Any] = {}

    async def receive() -> Message:
        await asyncio.sleep(body_delay)
        return {"type": "http.request", "body": body, "more_body": False}

    async def app(scope: Scope, receive_: Receive, send: Send) -> None:
        request = requests.current()
        seen["request"] = request
        seen["wrapped"] = receive_ is not receive
        if scope["type"] == "http" and scope["method"] != "GET":
            await receive_()
        seen["remaining"] = requests.remaining()

    async def send(message: Message) -> None:
        pass

    await AdmissionMiddleware(app, seconds=SECONDS, max_header_bytes=8192)(scope, receive, send)
    seen["after"] = requests.current()
    return seen


async def test_a_write_gets_its_key_and_fingerprint() -> None:
    seen = await admit(http("POST", [(b"idempotency-key", b"k-1")]), body=b'{"x":1}')
    request = seen["request"]
    assert request.idempotency_key == "k-1"
    expected = hashlib.sha256(b'POST /api/v1/llm/conversations?a=1\n{"x":1}').hexdigest()
    assert request.fingerprint == expected
    assert seen["after"] is None  # the request is left when it ends


async def test_a_read_has_a_deadline_and_an_unwrapped_receive() -> None:
    seen = await admit(http("GET", [(b"idempotency-key", b"ignored")]))
    assert seen["request"].idempotency_key is None and not seen["wrapped"]
    assert SECONDS - 1 < seen["remaining"] <= SECONDS


async def test_the_wait_for_the_body_does_not_count() -> None:
    started = time.monotonic()
    seen = await admit(http("PUT"), body=b"{}", body_delay=0.3)
    assert time.monotonic() - started >= 0.3
    assert seen["remaining"] > SECONDS - 0.2  # the 0.3 s spent waiting were given back


async def test_a_malformed_key_is_refused_before_the_head_limit() -> None:
    huge = [(b"idempotency-key", b"two words"), (b"x-filler", b"x" * 9000)]
    with pytest.raises(InvalidRequest) as refused:
        await admit(http("POST", huge))
    assert refused.value.param == "Idempotency-Key"
    with pytest.raises(HeadersTooLarge):
        await admit(http("GET", huge))


async def test_other_scopes_pass_untouched() -> None:
    seen = await admit({"type": "lifespan"})
    assert seen["request"] is None and not seen["wrapped"]
