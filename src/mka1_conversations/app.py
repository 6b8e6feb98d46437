"""The app: ``create_app(settings)`` wires the Store, the service, the routes and the middleware.

Request path: EdgeMiddleware (request id, last resort) → Starlette (errors → envelope) →
AuthMiddleware (Owner) → router → ConversationRoutes → ConversationService → Store (one
transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .domain.service import ConversationService
from .http.auth import AuthMiddleware, KeyRing
from .http.edge import EdgeMiddleware
from .http.errors import exception_handlers
from .http.openapi import docs_routes, is_docs_path
from .http.ratelimit import TokenBuckets
from .http.routes import ConversationRoutes
from .settings import Settings
from .store.migrate import Migration
from .store.postgres import PostgresStore
from .store.sqlite import SQLiteStore, sqlite_path_from_url

__all__ = ["create_app", "create_app_from_env", "migrate_database", "open_store"]

logger = logging.getLogger("mka1_conversations")


async def open_store(settings: Settings) -> SQLiteStore | PostgresStore:
    """The Store for ``settings.database_url``; RuntimeError when it cannot be used (unreachable,
    or not migrated)."""
    if settings.database_kind == "postgresql":
        return await PostgresStore.open(settings.database_url, pool_size=settings.db_pool_size)
    return SQLiteStore.open(sqlite_path_from_url(settings.database_url))


async def migrate_database(settings: Settings) -> list[Migration]:
    """Apply the pending migrations of ``settings.database_url``; returns the ones applied."""
    if settings.database_kind == "postgresql":
        return await PostgresStore.migrate(settings.database_url)
    return SQLiteStore.migrate(sqlite_path_from_url(settings.database_url))


@dataclass(slots=True)
class _Running:
    """What exists only between start-up and shutdown."""

    settings: Settings
    service_: ConversationService | None = None
    keyring_: KeyRing | None = None

    def service(self) -> ConversationService:
        assert self.service_ is not None, "the app has not started (lifespan not run)"
        return self.service_

    def keyring(self) -> KeyRing:
        assert self.keyring_ is not None, "the app has not started (lifespan not run)"
        return self.keyring_


_KEY_USE_FLUSH_SECONDS = 15.0


async def _record_key_uses(keyring: KeyRing) -> None:
    """Off the request path: write the keys' remembered last-used times every few seconds."""
    while True:
        await asyncio.sleep(_KEY_USE_FLUSH_SECONDS)
        try:
            await keyring.flush()
        except Exception:  # the database is away or busy: the uses are kept for the next try
            logger.warning("could not record API key use; will retry")


def _is_public(path: str) -> bool:
    return path == "/healthz" or is_docs_path(path)


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The ASGI app. The Store is opened at start-up (lifespan) and closed at shutdown."""
    settings = settings or Settings.from_env()
    running = _Running(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(settings)
        running.service_ = ConversationService(store, settings.identity_mode)
        keyring = KeyRing(
            settings.api_keys,
            store.account_for_key,
            cache_seconds=settings.key_cache_seconds,
            record_use=store.record_key_use,
        )
        running.keyring_ = keyring
        recorder = asyncio.create_task(_record_key_uses(keyring))
        try:
            yield
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
            with contextlib.suppress(Exception):
                await keyring.flush()
            await store.close()

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    api = ConversationRoutes(
        running.service, settings.max_body_bytes, settings.read_timeout_seconds
    )
    starlette = Starlette(
        routes=[*api.routes(), Route("/healthz", healthz, methods=["GET"]), *docs_routes()],
        middleware=[
            Middleware(
                AuthMiddleware,
                keyring=running.keyring,
                public=_is_public,
                limiter=(
                    TokenBuckets(settings.rate_limit, settings.rate_limit_burst)
                    if settings.rate_limit > 0
                    else None
                ),
            )
        ],
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    starlette.router.redirect_slashes = False  # a 307 on a POST surprises clients: 404 instead
    return EdgeMiddleware(starlette, max_header_bytes=settings.max_header_bytes)


def create_app_from_env() -> ASGIApp:
    """Factory for servers: ``uvicorn --factory mka1_conversations.app:create_app_from_env``."""
    return create_app(Settings.from_env())
