"""The operational endpoints, answered without an API key: ``/healthz`` (the process answers),
``/readyz`` (the database answers and has every migration) and ``/metrics`` (Prometheus text,
behind its own token when ``MKA1_METRICS_TOKEN`` is set). See docs/operations.md.
"""

from __future__ import annotations

import hmac
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.errors import ServiceUnavailable, Unauthorized
from ..metrics import CONTENT_TYPE_LATEST, Metrics
from .errors import error_response
from .services import services

__all__ = ["OperationalRoutes"]

logger = logging.getLogger("mka1_conversations")

_OK = b'{"status":"ok"}'
_READY = b'{"status":"ready"}'
_METRICS_AUTH_MESSAGE = (
    "This endpoint needs the metrics token: Authorization: Bearer <MKA1_METRICS_TOKEN>."
)


class OperationalRoutes:
    """The three routes, bound to the metrics and the token; readiness asks the running app's
    storage."""

    #: Path → method → operation (for metrics and logs).
    OPERATIONS = {
        "/healthz": {"GET": "healthz"},
        "/readyz": {"GET": "readyz"},
        "/metrics": {"GET": "metrics"},
    }
    PATHS = frozenset(OPERATIONS)

    def __init__(self, metrics: Metrics, token: str | None) -> None:
        self.metrics = metrics
        self.token = b"Bearer " + token.encode() if token else None

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.scrape, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return Response(_OK, media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        try:
            await services(request.scope).maintenance.check_ready()
        except ServiceUnavailable as err:
            cause = err.__cause__
            logger.warning("not ready: %s%s", err.message, f" ({cause})" if cause else "")
            return error_response(err)
        return Response(_READY, media_type="application/json")

    async def scrape(self, request: Request) -> Response:
        if self.token is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, self.token):
                return error_response(Unauthorized(_METRICS_AUTH_MESSAGE))
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)
