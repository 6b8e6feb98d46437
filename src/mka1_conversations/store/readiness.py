"""Whether a database can serve: it answers (``ping``), and it has every migration this code
ships and room to write (``check_ready``: readiness, ``GET /readyz``)."""

from __future__ import annotations

from typing import Protocol

from ..domain.errors import ServiceUnavailable, StorageFull
from .backend import Backend, QueryFailed
from .migrate import describe, not_applied

__all__ = ["ReadinessStatements", "check_ready", "ping"]


class ReadinessStatements(Protocol):
    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgres``: whose migrations apply."""

    async def ping(self) -> None: ...

    async def applied_migrations(self) -> list[int]: ...


async def _ping(st: ReadinessStatements) -> None:
    await st.ping()


async def _applied(st: ReadinessStatements) -> tuple[str, list[int]]:
    return st.dialect, await st.applied_migrations()


async def ping(db: Backend[ReadinessStatements]) -> None:
    try:
        await db.read("ping", _ping)
    except QueryFailed as exc:
        raise ServiceUnavailable() from exc


async def check_ready(db: Backend[ReadinessStatements]) -> None:
    if db.storage_full():
        raise StorageFull("The database's storage is full: writes are refused (reads are served).")
    try:
        dialect, applied = await db.read("check_ready", _applied)
    except QueryFailed as exc:
        raise ServiceUnavailable("The database cannot be read.") from exc
    if missing := not_applied(dialect, applied):
        raise ServiceUnavailable(f"The database is not migrated (pending: {describe(missing)}).")
