"""Error mapping and the envelope: what a request raised becomes which answer (a ServiceError as
it is, the router's 404 and 405 in OpenAI's words with ``Allow``, anything else a logged 500
that says nothing of it), sent once, and never after the response has started. How each face
shows them: tests/http/test_dialects.py."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mka1_conversations.domain.errors import (
    Conflict,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServiceError,
)
from mka1_conversations.http.dialects import DIALECTS
from mka1_conversations.http.errors import (
    RESPONSE_STATUS,
    ErrorEnvelopeMiddleware,
    error_bytes,
    send_error,
    service_error,
)

SCOPE: Scope = {"type": "http", "method": "PATCH", "path": "/api/v1/llm/conversations"}


def test_a_service_error_is_answered_as_raised() -> None:
    err = Conflict("taken", param="items[1].id")
    assert service_error(err, SCOPE) is err


def test_the_routers_404_is_unknown_url_in_openais_words() -> None:
    err = service_error(HTTPException(404), SCOPE)
    assert isinstance(err, NotFound)
    assert err.code == "unknown_url"
    assert err.message == "Invalid URL (PATCH /api/v1/llm/conversations)"


def test_the_routers_405_lists_the_allowed_methods() -> None:
    err = service_error(HTTPException(405, headers={"Allow": "GET, POST"}), SCOPE)
    assert isinstance(err, MethodNotAllowed)
    assert err.code == "method_not_allowed"
    assert err.headers["Allow"] == "GET, POST"
    assert "PATCH" in err.message


def test_another_http_exception_keeps_its_detail_as_a_500() -> None:
    err = service_error(HTTPException(400, detail="bad range"), SCOPE)
    assert err is not None and (err.status, err.message) == (500, "bad range")


def test_an_unexpected_exception_has_no_mapping() -> None:
    assert service_error(ValueError("internal detail"), SCOPE) is None


def test_the_envelope_has_exactly_openais_four_fields() -> None:
    body = json.loads(error_bytes(NotFound.conversation("conv_x"), "not_found"))
    assert body == {
        "error": {
            "message": "Conversation with id 'conv_x' not found.",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }


class Sent:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def body(self) -> object:
        return json.loads(self.messages[1]["body"])


async def test_send_error_sends_json_with_its_length_and_headers() -> None:
    sent = Sent()
    await send_error(sent, RateLimited(1.5), "rate_limit_exceeded")
    assert sent.status == 429
    headers = sent.headers
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(sent.messages[1]["body"])
    assert headers[b"retry-after"] == b"2"  # header names in lower case, as ASGI wants
    assert sent.body == json.loads(error_bytes(RateLimited(1.5), "rate_limit_exceeded"))


def answering(app: ASGIApp) -> ErrorEnvelopeMiddleware:
    return ErrorEnvelopeMiddleware(app, dialects=DIALECTS)


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _raising(exc: Exception, *, start_first: bool = False) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if start_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            scope[RESPONSE_STATUS] = 200  # what ObserveMiddleware's send wrapper notes
        raise exc

    return app


async def test_the_middleware_answers_what_the_app_raised() -> None:
    sent = Sent()
    await answering(_raising(NotFound.item("msg_x")))(dict(SCOPE), _receive, sent)
    assert sent.status == 404
    assert sent.body == json.loads(error_bytes(NotFound.item("msg_x"), "not_found"))


async def test_an_unexpected_exception_is_a_500_that_shows_nothing_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = Sent()
    with caplog.at_level(logging.ERROR, logger="mka1_conversations"):
        app = answering(_raising(KeyError("secret-internal")))
        await app(dict(SCOPE), _receive, sent)
    assert sent.status == 500
    assert sent.body == json.loads(error_bytes(ServiceError(), "internal_error"))
    assert "secret-internal" not in str(sent.body)
    assert "secret-internal" in caplog.text  # the traceback is in the log


async def test_nothing_is_sent_after_the_response_has_started(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = Sent()
    app = _raising(RuntimeError("mid-body"), start_first=True)
    with caplog.at_level(logging.ERROR, logger="mka1_conversations"):
        await answering(app)(dict(SCOPE), _receive, sent)
    assert [m["type"] for m in sent.messages] == ["http.response.start"]
    assert "mid-body" in caplog.text


async def test_the_router_is_told_to_raise_its_404_and_405() -> None:
    seen: list[object] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope.get("app"))

    middleware = answering(inner)
    await middleware(dict(SCOPE), _receive, Sent())
    assert seen == [inner]  # Starlette's Router raises when scope["app"] is set
