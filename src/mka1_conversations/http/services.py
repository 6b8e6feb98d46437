"""What exists only while the app runs (the conversation service, the key ring, the storage's
maintenance part for readiness), as the lifespan hands it to every request: Starlette lifespan
state, which Granian and uvicorn copy into each request's ``scope["state"]``. :func:`services`
is the one typed way to read it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from ..domain.service import ConversationService
from ..domain.store import MaintenanceStore
from ..domain.usage import UsageStore
from .keyring import KeyRing

__all__ = ["Services", "lifespan_state", "services"]

_STATE_KEY = "services"


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a request uses that the lifespan opened (and closes at shutdown)."""

    conversations: ConversationService
    keyring: KeyRing
    maintenance: MaintenanceStore
    """Readiness (``/readyz``)."""
    usage: UsageStore
    """Conversation usage: operations are counted here, and queried."""


def lifespan_state(running: Services) -> dict[str, Services]:
    """What the lifespan yields: the state every request's scope will carry."""
    return {_STATE_KEY: running}


def services(scope: Scope) -> Services:
    """The running app's services, from a request's scope."""
    try:
        running: Services = scope["state"][_STATE_KEY]
    except KeyError:
        raise RuntimeError("the app has not started: its lifespan has not run") from None
    return running
