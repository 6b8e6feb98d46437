"""Stored responses: get, delete, list them and list a response's input items, over a
ResponseStore. Like turns, they answer 503 while no model server is configured."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import NotFound, UpstreamNotConfigured
from .identity import Owner
from .ids import is_possible_id
from .model_server import ModelServer
from .response_store import ResponsePage, ResponseStore
from .responses import ResponseDeleted
from .store import ItemPage, Order

__all__ = ["StoredResponses"]


@dataclass(slots=True)
class StoredResponses:
    """The four read and delete operations on stored responses."""

    store: ResponseStore
    model: ModelServer | None
    """None when no model server is configured: every operation answers 503."""

    async def get(self, owner: Owner, response_id: str) -> bytes:
        self._check(response_id)
        return await self.store.get_response(owner, response_id)

    async def delete(self, owner: Owner, response_id: str) -> ResponseDeleted:
        self._check(response_id)
        await self.store.delete_response(owner, response_id)
        return ResponseDeleted(id=response_id)

    async def list(
        self, owner: Owner, *, after: str | None, limit: int, order: Order
    ) -> ResponsePage:
        self._check(None)
        return await self.store.list_responses(owner, after=after, limit=limit, order=order)

    async def list_input_items(
        self, owner: Owner, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage:
        self._check(response_id)
        return await self.store.list_input_items(
            owner, response_id, after=after, limit=limit, order=order
        )

    def _check(self, response_id: str | None) -> None:
        if self.model is None:
            raise UpstreamNotConfigured()
        if response_id is not None and not is_possible_id(response_id):
            raise NotFound.response(response_id)
