"""What tests of model turns share: a turn service over the loopback model server for turns that
need no storage, and request bodies as the HTTP face decodes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn, cast

import msgspec

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.response_request import CreateResponseInput
from mka1_conversations.domain.response_store import ResponseStore
from mka1_conversations.domain.turns import TurnService
from mka1_conversations.upstream.client import ChatCompletionsModel

__all__ = ["NOW", "OWNER", "UntouchableStore", "body", "storeless_turns"]

OWNER = Owner("acct_a", "user-1")
NOW = 1_700_000_000


class UntouchableStore:
    """Turns with ``store: false`` and no context must not touch storage at all."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"store.{name} was used")


def body(**fields: Any) -> CreateResponseInput:
    """A ``store: false`` request body (unless ``fields`` say otherwise)."""
    return msgspec.convert({"model": "qwen3-8b", "store": False, **fields}, CreateResponseInput)


@asynccontextmanager
async def storeless_turns(model_server_url: str) -> AsyncIterator[TurnService]:
    """A turn service whose storage must not be used, over the model server at the URL."""
    model = ChatCompletionsModel(model_server_url, timeout=5)
    try:
        yield TurnService(cast(ResponseStore, UntouchableStore()), model, clock=lambda: NOW)
    finally:
        await model.aclose()
