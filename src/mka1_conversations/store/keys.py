"""API keys stored in the database (``domain.store.KeyStore``): only each key's SHA-256 hex."""

from __future__ import annotations

from typing import Protocol

from ..domain.store import ApiKeyRecord
from .backend import Backend, one_statement

__all__ = ["KeyStatements", "Keys"]


class KeyStatements(Protocol):
    async def account_for_key(self, key_hash: str) -> str | None: ...

    async def insert_key(self, key_hash: str, account: str, name: str, *, now: int) -> None: ...

    async def count_keys(self) -> int: ...

    async def list_keys(self) -> list[ApiKeyRecord]:
        """Oldest first (by created_at, then key hash in byte order)."""

    async def revoke_key(self, key_hash: str, *, now: int) -> bool:
        """False when there is no such unrevoked key."""

    async def record_key_use(self, last_used: dict[str, int]) -> None:
        """Each key's last use, never moved backwards."""


async def account_for_key(st: KeyStatements, key_hash: str) -> str | None:
    return await st.account_for_key(key_hash)


@one_statement
async def create_api_key(
    st: KeyStatements, key_hash: str, account: str, name: str, now: int
) -> None:
    await st.insert_key(key_hash, account, name, now=now)


async def count_api_keys(st: KeyStatements) -> int:
    return await st.count_keys()


async def list_api_keys(st: KeyStatements) -> list[ApiKeyRecord]:
    return await st.list_keys()


@one_statement
async def revoke_api_key(st: KeyStatements, key_hash: str, now: int) -> bool:
    return await st.revoke_key(key_hash, now=now)


@one_statement
async def record_key_use(st: KeyStatements, last_used: dict[str, int]) -> None:
    await st.record_key_use(last_used)


class Keys:
    """``domain.store.KeyStore`` over a backend."""

    def __init__(self, backend: Backend[KeyStatements]) -> None:
        self._db = backend

    async def account_for_key(self, key_hash: str) -> str | None:
        return await self._db.read("account_for_key", account_for_key, key_hash)

    async def create_api_key(self, key_hash: str, *, account: str, name: str, now: int) -> None:
        await self._db.write("create_api_key", create_api_key, key_hash, account, name, now)

    async def count_api_keys(self) -> int:
        return await self._db.read("count_api_keys", count_api_keys)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return await self._db.read("list_api_keys", list_api_keys)

    async def revoke_api_key(self, key_hash: str, *, now: int) -> bool:
        return await self._db.write("revoke_api_key", revoke_api_key, key_hash, now)

    async def record_key_use(self, last_used: dict[str, int]) -> None:
        if last_used:
            await self._db.write("record_key_use", record_key_use, last_used)
