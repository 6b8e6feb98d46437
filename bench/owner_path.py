"""The owner's own get-item, list-20 and append-1, in process (no HTTP), CPU per call: run it with
two checkouts' interpreters, alternately, to compare a change's cost on the owner's path on a
busy machine (docs/performance.md, "Sharing (issue 14)"). Uses only the storage API every
version has.

    /work/main/.venv/bin/python bench/owner_path.py --label main
    .venv/bin/python bench/owner_path.py --label sharing
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.items import prepare_items
from mka1_conversations.store import open_storage
from mka1_conversations.store.sqlite import SQLiteBackend

OWNER = Owner("bench", "owner")
NOW = 1_700_000_000
MESSAGE = "How do I reset my password? " * 5


async def run(url: str, calls: int, rounds: int) -> dict[str, float]:
    storage = await open_storage(url)
    store = storage.conversations
    try:
        items = prepare_items([{"role": "user", "content": f"{MESSAGE}{i}"} for i in range(40)])
        await store.create_conversation(OWNER, "conv_owner", metadata={}, items=items, now=NOW)

        async def get_item() -> object:
            return await store.get_item(OWNER, "conv_owner", items[7].id)

        async def list_20() -> object:
            return await store.list_items(
                OWNER, "conv_owner", after=None, limit=20, order="desc", max_bytes=1 << 20
            )

        async def append_1() -> object:
            one = prepare_items([{"role": "user", "content": MESSAGE}])
            return await store.append_items(OWNER, "conv_owner", one, now=NOW)

        out: dict[str, float] = {}
        for name, call in (("get-item", get_item), ("list-20", list_20), ("append-1", append_1)):
            samples = []
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(calls):
                    await call()
                samples.append((time.process_time() - started) / calls * 1e6)
            out[name] = min(samples)  # the least disturbed round
        return out
    finally:
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres", help="a PostgreSQL database URL, migrated, to use instead")
    args = parser.parse_args()
    if args.postgres:
        figures = asyncio.run(run(args.postgres, args.calls, args.rounds))
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "owner.db"
            SQLiteBackend.migrate(path)
            figures = asyncio.run(run(f"sqlite:///{path}", args.calls, args.rounds))
    shown = "  ".join(f"{k} {v:.1f}" for k, v in figures.items())
    mean = statistics.mean(figures.values())
    print(f"{args.label} CPU µs/call (best of {args.rounds}): {shown}  [{mean:.1f}]")


if __name__ == "__main__":
    main()
