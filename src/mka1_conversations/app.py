"""The app: ``create_app(settings)`` wires the storage, the service, the routes and the
middleware; the lifespan opens what lives only while the app runs (``http/services.py``).

A request's way: ObserveMiddleware (request id, metrics, the log line) → ErrorEnvelopeMiddleware
(every error → envelope) → AdmissionMiddleware (the request's deadline; a write's fingerprint and
Idempotency-Key; the head limits, 414/431) → Starlette's Router (routing, once) → AuthMiddleware
on the API routes (the caller) → ConversationRoutes (parse, encode) → ConversationService (rules)
→ the storage (one transaction, timed by its backend).

Operational routes, without an API key: ``/healthz`` (the process answers), ``/readyz`` (the
database answers and is migrated), ``/metrics`` (Prometheus; its own token when configured);
and the docs, ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Router
from starlette.types import ASGIApp

from . import store
from .domain.service import ConversationService
from .domain.stored_responses import StoredResponses
from .domain.turns import TurnObserver, TurnService
from .http.admission import AdmissionMiddleware
from .http.auth import AuthMiddleware, unknown_path
from .http.dialects import DIALECTS
from .http.errors import ErrorEnvelopeMiddleware
from .http.keyring import KeyRing
from .http.observe import ObserveMiddleware, operation_names
from .http.openapi import DOCS_OPERATIONS, docs_routes
from .http.operational import OperationalRoutes
from .http.ratelimit import TokenBuckets
from .http.routes import ConversationRoutes, mount
from .http.services import Services, lifespan_state
from .http.sharing import SharingRoutes
from .logs import RequestLog, configure_logging
from .metrics import Metrics
from .settings import Settings
from .store import Instruments, Storage
from .store.migrate import Migration
from .store.usage import Usage
from .upstream.client import ChatCompletionsModel

__all__ = ["create_app", "create_app_from_env", "migrate_database", "open_store"]

logger = logging.getLogger("mka1_conversations")


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


_KEY_USE_FLUSH_SECONDS = 15.0


async def _record_key_uses(keyring: KeyRing) -> None:
    """Off the request path: write the keys' remembered last-used times every few seconds."""
    while True:
        await asyncio.sleep(_KEY_USE_FLUSH_SECONDS)
        try:
            await keyring.flush()
        except Exception:  # the database is away or busy: the uses are kept for the next try
            logger.warning("could not record API key use; will retry")


_USAGE_FLUSH_SECONDS = 1.0


async def _record_usage(usage: Usage) -> None:
    """Off the request path: add the operations counted in memory every second
    (store/usage.py)."""
    while True:
        await asyncio.sleep(_USAGE_FLUSH_SECONDS)
        try:
            await usage.flush()
        except Exception:  # kept for the next try
            logger.warning("could not record conversation usage; will retry")


def _services(
    settings: Settings,
    storage: Storage,
    model: ChatCompletionsModel | None,
    observer: TurnObserver,
) -> Services:
    """What requests use, standing on the open ``storage`` and the process's model server
    client (None when no model server is configured: the Responses operations answer 503)."""
    keyring = KeyRing(
        settings.api_keys,
        storage.keys.account_for_key,
        cache_seconds=settings.key_cache_seconds,
        record_use=storage.keys.record_key_use,
    )
    return Services(
        conversations=ConversationService(
            storage.conversations,
            max_item_bytes=settings.max_item_bytes,
            max_page_bytes=settings.max_page_bytes,
            identity_mode=settings.identity_mode,
        ),
        keyring=keyring,
        maintenance=storage.maintenance,
        usage=storage.usage,
        turns=TurnService(
            storage.responses,
            model,
            lease_seconds=settings.turn_lease_seconds,
            observer=observer,
            store_seconds=settings.request_timeout_seconds,
        ),
        responses=StoredResponses(storage.responses, model),
    )


def _check_operations(routes: Sequence[BaseRoute], operations: Mapping[str, object]) -> None:
    """Every route has its row in the operation table (metrics and logs would call its requests
    ``unmatched`` otherwise)."""
    missing = [path for r in routes if (path := getattr(r, "path", None)) not in operations]
    if missing:
        raise RuntimeError(f"routes without an operation: {missing}")


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The ASGI app. The storage is opened at start-up (lifespan) and closed at shutdown."""
    settings = settings or Settings.from_env()
    # The API's faces (MKA1's, OpenAI's): the same handlers, each bound to its dialect.
    faces = [
        ConversationRoutes(dialect, settings.max_body_bytes, settings.read_timeout_seconds)
        for dialect in DIALECTS
    ]
    sharing = SharingRoutes(settings.max_body_bytes, settings.read_timeout_seconds)
    operations = {
        **{path: ops for face in faces for path, ops in face.operations.items()},
        **SharingRoutes.OPERATIONS,
        **OperationalRoutes.OPERATIONS,
        **DOCS_OPERATIONS,
    }
    metrics = Metrics(operation_names(operations), multiproc_dir=settings.metrics_multiproc_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[dict[str, Services]]:
        storage = await open_store(
            settings, Instruments(metrics.db_timer, metrics.items_written.inc)
        )
        # One pooled client per process for every turn (closed at shutdown).
        model = ChatCompletionsModel.from_settings(settings)
        running = _services(settings, storage, model, metrics.turns)
        background = [
            asyncio.create_task(_record_key_uses(running.keyring)),
            asyncio.create_task(_record_usage(storage.usage)),
        ]
        if metrics.multiproc_dir is not None:
            background.append(asyncio.create_task(metrics.flush_every(1.0)))
        try:
            yield lifespan_state(running)
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await running.keyring.flush()
            with contextlib.suppress(Exception):
                await storage.usage.flush()
            if model is not None:
                await model.aclose()
            await storage.close()
            metrics.process_exited()

    operational = OperationalRoutes(metrics, settings.metrics_token)
    limiter = (
        TokenBuckets(settings.rate_limit, settings.rate_limit_burst)
        if settings.rate_limit > 0
        else None
    )
    # Authentication runs after routing, on the API routes only: an unknown path or method is
    # answered before any key is looked at (docs/api.md, "Status order").
    auth = [Middleware(AuthMiddleware, limiter=limiter)]
    routes = [
        *mount(faces, middleware=auth),
        *sharing.routes(middleware=auth),
        *operational.routes(),
        *docs_routes(),
    ]
    _check_operations(routes, operations)
    # Starlette's router, for routing and lifespan only: no Starlette application around it
    # (its two exception middlewares would wrap every request); errors are answered by
    # ErrorEnvelopeMiddleware, in the envelope.
    router = Router(
        routes=routes,
        redirect_slashes=False,  # a 307 on a POST surprises clients: 404 instead
        default=unknown_path,
        lifespan=lifespan,
    )
    return ObserveMiddleware(
        ErrorEnvelopeMiddleware(
            AdmissionMiddleware(
                router,
                seconds=settings.request_timeout_seconds,
                max_header_bytes=settings.max_header_bytes,
            ),
            dialects=DIALECTS,
        ),
        metrics=metrics,
        operations=operations,
        request_log=RequestLog.for_process(settings.log_format),
    )


def create_app_from_env() -> ASGIApp:
    """Factory for servers: ``uvicorn --factory mka1_conversations.app:create_app_from_env``.
    Unlike ``create_app``, it also sets up this process's logging from the settings."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)
