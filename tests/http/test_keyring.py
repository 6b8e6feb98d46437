"""The key ring: a key resolves to its account by digest, a database key's lookup is trusted for
the cache seconds only, configured keys are compared with every digest, and a key's use is
written at most once a minute, in one batch (on a real SQLite store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mka1_conversations.domain.keys import hash_key
from mka1_conversations.http.keyring import LAST_USED_RESOLUTION_SECONDS, KeyRing
from mka1_conversations.store import open_storage

from ..conftest import migrated_database


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_keyring_trusts_a_lookup_only_for_the_cache_seconds(tmp_path: Path) -> None:
    storage = await open_storage(f"sqlite:///{migrated_database(tmp_path)}")
    store = storage.keys
    try:
        await store.create_api_key(hash_key("mk-db"), account="acct", name="", now=1)
        clock = _Clock()
        ring = KeyRing({"sk-env": "envacct"}, store.account_for_key, cache_seconds=5, clock=clock)
        assert await ring.account("mk-db") == "acct"
        await store.revoke_api_key(hash_key("mk-db"), now=2)
        clock.now += 4.9
        assert await ring.account("mk-db") == "acct"  # still cached: within the bound
        clock.now += 0.2
        assert await ring.account("mk-db") is None  # past the bound: looked up again
        assert await ring.account("sk-env") == "envacct"
        assert await ring.account("sk-env ") is None
        assert await ring.account("mk-unknown") is None
        uncached = KeyRing({}, store.account_for_key, cache_seconds=0)
        await store.create_api_key(hash_key("mk-2"), account="acct", name="", now=1)
        assert await uncached.account("mk-2") == "acct"
        await store.revoke_api_key(hash_key("mk-2"), now=2)
        assert await uncached.account("mk-2") is None
    finally:
        await storage.close()


async def test_keyring_records_a_keys_use_at_most_once_a_minute(tmp_path: Path) -> None:
    storage = await open_storage(f"sqlite:///{migrated_database(tmp_path)}")
    store = storage.keys
    try:
        await store.create_api_key(hash_key("mk-db"), account="acct", name="", now=1)
        wall = _Clock()
        writes: list[dict[str, int]] = []

        async def record(uses: dict[str, int]) -> None:
            writes.append(dict(uses))
            await store.record_key_use(uses)

        ring = KeyRing(
            {"sk-env": "envacct"},
            store.account_for_key,
            record_use=record,
            wall_clock=wall,
        )
        for _ in range(50):
            await ring.account("mk-db")
            await ring.account("sk-env")  # env keys have no row: nothing to record
            wall.now += 1
        await ring.flush()
        await ring.flush()  # nothing new: no write
        assert len(writes) == 1
        assert writes[0] == {hash_key("mk-db"): 1_000_000}
        wall.now = 1_000_000 + LAST_USED_RESOLUTION_SECONDS
        await ring.account("mk-db")
        await ring.flush()
        assert writes[-1] == {hash_key("mk-db"): 1_000_000 + LAST_USED_RESOLUTION_SECONDS}
        [key] = await store.list_api_keys()
        assert key.last_used_at == 1_000_000 + LAST_USED_RESOLUTION_SECONDS
        await store.record_key_use({hash_key("mk-db"): 5})  # never backwards
        [key] = await store.list_api_keys()
        assert key.last_used_at == 1_000_000 + LAST_USED_RESOLUTION_SECONDS
    finally:
        await storage.close()


def test_keyring_env_keys_resolve_to_their_accounts() -> None:
    async def nothing(_digest: str) -> str | None:
        return None

    ring = KeyRing({f"sk-{n}": f"acct{n}" for n in range(50)}, nothing)
    found = [asyncio.run(ring.account(f"sk-{n}")) for n in range(50)]
    assert found == [f"acct{n}" for n in range(50)]
    assert asyncio.run(ring.account("sk-50")) is None


async def test_uses_that_could_not_be_written_are_kept_for_the_next_flush() -> None:
    async def lookup(digest: str) -> str | None:
        return "acct" if digest == hash_key("mk-db") else None

    wall = _Clock()
    failing = True
    written: list[dict[str, int]] = []

    async def record(uses: dict[str, int]) -> None:
        if failing:
            raise ConnectionError("database away")
        written.append(dict(uses))

    ring = KeyRing({}, lookup, record_use=record, wall_clock=wall)
    await ring.account("mk-db")
    with pytest.raises(ConnectionError):
        await ring.flush()
    failing = False
    await ring.flush()
    assert written == [{hash_key("mk-db"): 1_000_000}]
