"""The app: ``create_app(settings)`` wires the Store, the service, the routes and the middleware.

Request path: ObserveMiddleware (metrics, the request's log line) → EdgeMiddleware (request id,
every error → envelope) → DeadlineMiddleware (the request's deadline) → IdempotencyMiddleware
(its fingerprint and Idempotency-Key) → AuthMiddleware (Owner) → Starlette's Router (routing,
lifespan) → ConversationRoutes → ConversationService → the storage (one transaction, timed by
its backend).

Operational endpoints, without an API key: ``/healthz`` (the process answers), ``/readyz`` (the
database answers and is migrated), ``/metrics`` (Prometheus; its own token when configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.routing import Router
from starlette.types import ASGIApp

from . import store
from .domain.service import ConversationService
from .domain.store import MaintenanceStore
from .http.auth import AuthMiddleware, KeyRing
from .http.deadline import DeadlineMiddleware
from .http.edge import EdgeMiddleware
from .http.idempotency import IdempotencyMiddleware
from .http.observe import ObserveMiddleware, RouteIndex
from .http.openapi import docs_routes, is_docs_path
from .http.operational import OperationalRoutes
from .http.ratelimit import TokenBuckets
from .http.routes import OPERATIONS, ConversationRoutes
from .logs import RequestLog, configure_logging
from .metrics import Metrics
from .settings import Settings
from .store import Instruments, Storage
from .store.migrate import Migration

__all__ = ["create_app", "create_app_from_env", "migrate_database", "open_store"]

logger = logging.getLogger("mka1_conversations")

#: The interactive docs and the OpenAPI document, as operations in metrics and logs.
_DOCS_PATHS = {"/docs": {"GET": "docs"}, "/openapi.json": {"GET": "openapi"}}
_DOCS_PREFIXES = {"/docs/": "docs"}


async def open_store(settings: Settings, instruments: Instruments | None = None) -> Storage:
    """The storage at ``settings.database_url``; RuntimeError when it cannot be used
    (unreachable, or not migrated)."""
    return await store.open_storage(
        settings.database_url,
        pool_size=settings.db_pool_size,
        instruments=instruments or Instruments(),
        request_timeout=settings.request_timeout_seconds,
    )


async def migrate_database(settings: Settings) -> list[Migration]:
    """Apply the pending migrations of ``settings.database_url``; returns the ones applied."""
    return await store.migrate_database(settings.database_url)


@dataclass(slots=True)
class _Running:
    """What exists only between start-up and shutdown."""

    settings: Settings
    service_: ConversationService | None = None
    keyring_: KeyRing | None = None
    store_: MaintenanceStore | None = None

    def store(self) -> MaintenanceStore:
        assert self.store_ is not None, "the app has not started (lifespan not run)"
        return self.store_

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
    return path in OperationalRoutes.PATHS or is_docs_path(path)


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The ASGI app. The Store is opened at start-up (lifespan) and closed at shutdown."""
    settings = settings or Settings.from_env()
    running = _Running(settings)
    index = RouteIndex(OPERATIONS, {**OperationalRoutes.OPERATIONS, **_DOCS_PATHS}, _DOCS_PREFIXES)
    metrics = Metrics(index.operations, multiproc_dir=settings.metrics_multiproc_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        storage = await open_store(
            settings, Instruments(metrics.db_call, metrics.items_written.inc)
        )
        running.store_ = storage.maintenance
        running.service_ = ConversationService(
            storage.conversations,
            max_item_bytes=settings.max_item_bytes,
            max_page_bytes=settings.max_page_bytes,
            identity_mode=settings.identity_mode,
        )
        keyring = KeyRing(
            settings.api_keys,
            storage.keys.account_for_key,
            cache_seconds=settings.key_cache_seconds,
            record_use=storage.keys.record_key_use,
        )
        running.keyring_ = keyring
        background = [asyncio.create_task(_record_key_uses(keyring))]
        if metrics.multiproc_dir is not None:
            background.append(asyncio.create_task(metrics.flush_every(1.0)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await keyring.flush()
            await storage.close()
            metrics.process_exited()

    api = ConversationRoutes(
        running.service, settings.max_body_bytes, settings.read_timeout_seconds
    )
    operational = OperationalRoutes(running.store, metrics, settings.metrics_token)
    # Starlette's router, for routing and lifespan only: no Starlette application around it
    # (its two exception middlewares would wrap every request); errors are answered by
    # EdgeMiddleware, in the envelope.
    router = Router(
        routes=[*api.routes(), *operational.routes(), *docs_routes()],
        redirect_slashes=False,  # a 307 on a POST surprises clients: 404 instead
        lifespan=lifespan,
    )
    authenticated = AuthMiddleware(
        router,
        keyring=running.keyring,
        public=_is_public,
        limiter=(
            TokenBuckets(settings.rate_limit, settings.rate_limit_burst)
            if settings.rate_limit > 0
            else None
        ),
    )
    return ObserveMiddleware(
        EdgeMiddleware(
            DeadlineMiddleware(
                IdempotencyMiddleware(authenticated), seconds=settings.request_timeout_seconds
            ),
            max_header_bytes=settings.max_header_bytes,
        ),
        metrics=metrics,
        routes=index,
        request_log=RequestLog.for_process(settings.log_format),
    )


def create_app_from_env() -> ASGIApp:
    """Factory for servers: ``uvicorn --factory mka1_conversations.app:create_app_from_env``.
    Unlike ``create_app``, it also sets up this process's logging from the settings."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)
