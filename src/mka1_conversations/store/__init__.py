"""The storage wing: the rules of every operation written once (``conversations``, ``items``,
``listing``, ``words``, ``keys``, ``retention``, ``readiness``, ``transfer``), run by a backend of
one dialect (``sqlite/``, ``postgres/``: SQL, transactions, driver errors), and the migrations.

``open_storage(url)`` gives the three parts a caller may use, each of which only sees what it
needs: ``conversations`` (the service), ``keys`` (authentication and the command line) and
``maintenance`` (purge, readiness, export and import); and ``usage`` (the conversation usage:
its query, and the operations counted in memory until the app adds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backend import NO_INSTRUMENTS, Backend, Instruments
from .conversations import Conversations
from .keys import Keys
from .maintenance import Maintenance
from .migrate import Migration
from .postgres import PostgresBackend
from .sqlite import SQLiteBackend, sqlite_path_from_url
from .usage import Usage

__all__ = ["Instruments", "Storage", "migrate_database", "open_storage"]


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class Storage:
    """An open database, in the parts callers use. Close it once."""

    conversations: Conversations
    keys: Keys
    maintenance: Maintenance
    backend: Backend[Any]
    usage: Usage

    async def close(self) -> None:
        await self.backend.close()


async def open_storage(
    url: str,
    *,
    pool_size: int = 10,
    instruments: Instruments = NO_INSTRUMENTS,
    request_timeout: float | None = None,
) -> Storage:
    """The storage at ``url`` (``sqlite:///…`` or ``postgresql://…``); RuntimeError when it
    cannot be used (unreachable, missing, or not migrated). ``request_timeout``: the deadline
    requests have (the server's own timeouts stay under it); None for the command line."""
    backend: SQLiteBackend | PostgresBackend
    if _is_postgres(url):
        backend = await PostgresBackend.open(
            url, instruments, pool_size=pool_size, request_timeout=request_timeout
        )
    else:
        backend = SQLiteBackend.open(sqlite_path_from_url(url), instruments)
    return Storage(
        Conversations(backend, instruments),
        Keys(backend),
        Maintenance(backend),
        backend,
        Usage(backend),
    )


async def migrate_database(url: str) -> list[Migration]:
    """Apply the pending migrations of the database at ``url``; returns the ones applied."""
    if _is_postgres(url):
        return await PostgresBackend.migrate(url)
    return SQLiteBackend.migrate(sqlite_path_from_url(url))
