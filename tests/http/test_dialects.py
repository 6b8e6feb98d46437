"""The two faces: which paths are whose, which operations each serves, and how each shows an
error (OpenAI's: every 404 with ``code: null``, and a method a path does not serve as a 404
``Invalid URL`` instead of a 405), all read from one table."""

from __future__ import annotations

import json

import pytest
from starlette.types import Message, Receive, Scope, Send

from mka1_conversations.domain.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ServiceError,
    Unauthorized,
)
from mka1_conversations.http.dialects import DIALECTS, MKA1, OPENAI
from mka1_conversations.http.errors import ErrorEnvelopeMiddleware
from mka1_conversations.http.routes import OPERATIONS, ConversationRoutes, mount


def test_each_path_belongs_to_at_most_one_face() -> None:
    assert OPENAI.mounts("/v1") and OPENAI.mounts("/v1/conversations")
    assert not OPENAI.mounts("/v10/conversations") and not OPENAI.mounts("/v1x")
    assert MKA1.mounts("/api/v1/llm/conversations") and not OPENAI.mounts("/api/v1/llm")
    assert not any(d.mounts("/healthz") for d in DIALECTS)


def test_the_openai_face_serves_the_twelve_operations_openai_has() -> None:
    everything = {op for methods in OPERATIONS.values() for op in methods.values()}
    assert {op for op in everything if MKA1.serves(op)} == everything
    openai = {op for op in everything if OPENAI.serves(op)}
    assert everything - openai == {"list_conversations", "delete_items", "list_responses"}
    assert len(openai) == 12
    routes = ConversationRoutes(OPENAI, 1024).operations
    assert routes["/v1/conversations"] == {"POST": "create_conversation"}
    assert routes["/v1/conversations/{conversation_id}/items"] == {
        "POST": "create_items",
        "GET": "list_items",
    }
    assert routes["/v1/responses"] == {"POST": "create_response"}


def test_faces_are_mounted_path_by_path() -> None:
    faces = [ConversationRoutes(d, 1024) for d in DIALECTS]
    paths = [route.path for route in mount(faces, [])]
    assert paths[:2] == [
        "/api/v1/llm/conversations/{conversation_id}/items/{item_id}",
        "/v1/conversations/{conversation_id}/items/{item_id}",
    ]
    assert len(paths) == 14 and len(set(paths)) == 14


@pytest.mark.parametrize(
    ("err", "mka1_code", "openai_code"),
    [
        (NotFound.conversation("conv_x"), "not_found", None),
        (NotFound.item("msg_x"), "not_found", None),
        (NotFound.url("GET", "/v1/nowhere"), "unknown_url", None),
        (InvalidRequest("bad", code="invalid_type", param="limit"), "invalid_type", "invalid_type"),
        (Unauthorized("no key"), "invalid_api_key", "invalid_api_key"),
        (ServiceError(), "internal_error", "internal_error"),
    ],
)
def test_codes_as_each_face_shows_them(
    err: ServiceError, mka1_code: str, openai_code: str | None
) -> None:
    assert MKA1.shown(err, "GET", "/x") == (err, mka1_code)
    assert OPENAI.shown(err, "GET", "/x") == (err, openai_code)


def test_a_method_a_path_does_not_serve() -> None:
    refused = MethodNotAllowed("Method GET is not allowed on /v1/conversations.")
    refused.headers = {"Allow": "POST"}
    assert MKA1.shown(refused, "GET", "/v1/conversations") == (refused, "method_not_allowed")
    err, code = OPENAI.shown(refused, "GET", "/v1/conversations")
    assert (err.status, code, err.message) == (404, None, "Invalid URL (GET /v1/conversations)")
    assert "Allow" not in err.headers


async def test_the_error_middleware_speaks_the_face_of_the_path() -> None:
    async def missing(scope: Scope, receive: Receive, send: Send) -> None:
        raise NotFound.conversation("conv_x")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    app = ErrorEnvelopeMiddleware(missing, dialects=DIALECTS)
    for path, code in [
        ("/v1/conversations/conv_x", None),
        ("/api/v1/llm/conversations/conv_x", "not_found"),
        ("/elsewhere", "not_found"),
    ]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)  # noqa: B023 (used within this iteration)

        await app({"type": "http", "method": "GET", "path": path}, receive, send)
        body = json.loads(sent[1]["body"])["error"]
        assert body["code"] == code, path
        assert body["message"] == "Conversation with id 'conv_x' not found."
