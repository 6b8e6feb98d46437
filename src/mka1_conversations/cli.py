"""The command line: ``mka1-conversations serve | migrate | export | import | purge | keys``
(``keys create | list | revoke``). Each command opens the database through the app's entry
points (``app.open_store``, ``app.migrate_database``); ``serve`` runs Granian or uvicorn with
the bounds of ``serving.py``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

from .app import migrate_database, open_store
from .domain.errors import ServiceError
from .domain.identity import validate_account_id
from .domain.keys import hash_key, new_api_key
from .domain.store import ApiKeyRecord, KeyStore
from .logs import configure_logging
from .metrics import prepare_multiproc_dir
from .serving import granian_options, raise_open_file_limit, uvicorn_options
from .settings import Settings, SettingsError
from .store import Storage
from .store.migrate import describe
from .store.transfer import Row, read_rows, write_rows

__all__ = ["main"]

DEV_ACCOUNT = "dev"

logger = logging.getLogger("mka1_conversations")

R = TypeVar("R")


def _fail(message: str) -> int:
    print(f"mka1-conversations: {message}", file=sys.stderr)
    return 1


async def _create_key(keys: KeyStore, account: str, name: str) -> str:
    key = new_api_key()
    await keys.create_api_key(hash_key(key), account=account, name=name, now=int(time.time()))
    return key


async def _check_and_ensure_a_key(settings: Settings) -> None:
    """Open the database (RuntimeError if unusable); with no key configured anywhere, create a
    development key and print it once."""
    storage = await open_store(settings)
    try:
        if settings.api_keys:
            return
        count = await storage.keys.count_api_keys()
        if count:
            print(f"Using the {count} API key(s) stored in the database.", file=sys.stderr)
            return
        key = await _create_key(storage.keys, DEV_ACCOUNT, "development key created by serve")
    finally:
        await storage.close()
    print(
        "\n  No API key was configured, so a development key was created for account "
        f"'{DEV_ACCOUNT}':\n\n      {key}\n\n"
        "  It is shown only this once (only its SHA-256 is stored). Use it as\n"
        "  'Authorization: Bearer <key>'. For real keys set MKA1_API_KEYS=key=account,... or run\n"
        "  'mka1-conversations keys create --account NAME'.\n",
        file=sys.stderr,
        flush=True,
    )


def cmd_migrate(settings: Settings) -> int:
    try:
        applied = asyncio.run(migrate_database(settings))
    except RuntimeError as exc:
        return _fail(str(exc))
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    if not applied:
        print("database is up to date")
    return 0


async def _prepare_database(settings: Settings, *, migrate: bool) -> None:
    """Before serving: a SQLite file that does not exist yet is created and migrated (the
    embedded default needs no set-up); with ``migrate``, any database gets its pending
    migrations. Otherwise, and then, the database must be usable as it is (RuntimeError):
    upgrading an existing one stays a deliberate ``migrate`` (or ``serve --migrate``)."""
    path = settings.sqlite_path
    if path is not None and not path.exists():
        applied = await migrate_database(settings)
        logger.info(
            "created the database %s and applied its %d migrations (through %s)",
            path,
            len(applied),
            describe(applied[-1:]),
        )
    elif migrate:
        applied = await migrate_database(settings)
        if applied:
            logger.info("applied %d migrations: %s", len(applied), describe(applied))
        else:
            logger.info("the database is up to date")
    await _check_and_ensure_a_key(settings)


def cmd_serve(
    settings: Settings, host: str, port: int, workers: int, server: str, *, migrate: bool = False
) -> int:
    if settings.database_kind == "sqlite" and workers != 1:
        return _fail(
            "SQLite serves from one process (its single writer keeps the item order total); "
            "use --workers 1, or PostgreSQL for several processes"
        )
    log_config = configure_logging(settings)
    try:  # in this process, before any server process starts: one migration run, no race
        asyncio.run(_prepare_database(settings, migrate=migrate))
    except RuntimeError as exc:
        return _fail(str(exc))
    with _metrics_directory(settings, workers):
        _run_server(server, host, port, workers, settings, log_config)
    return 0


@contextlib.contextmanager
def _metrics_directory(settings: Settings, workers: int) -> Iterator[None]:
    """Several processes share their metrics through files (docs/operations.md): set up
    ``PROMETHEUS_MULTIPROC_DIR`` for the workers (a fresh temporary one unless configured)."""
    if workers == 1 and settings.metrics_multiproc_dir is None:
        yield
        return
    path, made_here = prepare_multiproc_dir(settings.metrics_multiproc_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path  # the workers read their settings again
    try:
        yield
    finally:
        if made_here:
            shutil.rmtree(path, ignore_errors=True)


def _run_server(
    server: str, host: str, port: int, workers: int, settings: Settings, log_config: dict[str, Any]
) -> None:
    target = "mka1_conversations.app:create_app_from_env"
    open_files = raise_open_file_limit()  # each connection is an open file
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            target,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            log_level=settings.log_level,
            access_log=False,  # our request line replaces it
            **uvicorn_options(settings),
        )
        return
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(
        target,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_dictconfig=log_config,
        log_level=LogLevels(settings.log_level),
        log_access=False,  # our request line replaces it
        **granian_options(settings, open_files),
    ).serve()


def cmd_keys_create(settings: Settings, account: str, name: str) -> int:
    try:
        validate_account_id(account)
    except ValueError as exc:
        return _fail(str(exc))

    async def run(storage: Storage) -> str:
        return await _create_key(storage.keys, account, name)

    try:
        key = asyncio.run(_with_storage(settings, run))
    except RuntimeError as exc:
        return _fail(str(exc))
    print(key)
    print(f"(account {account!r}; shown once: only its SHA-256 is stored)", file=sys.stderr)
    return 0


KEY_ID_CHARS = 12
"""``keys list`` names a key by the first hex digits of its SHA-256 (never by the key)."""
_MIN_KEY_ID_CHARS = 8


def _utc_time(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_table(keys: Sequence[ApiKeyRecord]) -> str:
    rows = [("ID", "ACCOUNT", "NAME", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (
            k.key_hash[:KEY_ID_CHARS],
            k.account,
            k.name or "-",
            _utc_time(k.created_at),
            _utc_time(k.last_used_at),
            _utc_time(k.revoked_at),
        )
        for k in keys
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


async def _with_storage(settings: Settings, work: Callable[[Storage], Awaitable[R]]) -> R:
    storage = await open_store(settings)
    try:
        return await work(storage)
    finally:
        await storage.close()


def cmd_keys_list(settings: Settings) -> int:
    async def run(storage: Storage) -> list[ApiKeyRecord]:
        return await storage.keys.list_api_keys()

    try:
        keys = asyncio.run(_with_storage(settings, run))
    except RuntimeError as exc:
        return _fail(str(exc))
    print(_key_table(keys))
    if settings.api_keys:
        print(
            f"(and {len(settings.api_keys)} key(s) from MKA1_API_KEYS, not listed)", file=sys.stderr
        )
    return 0


def cmd_keys_revoke(settings: Settings, key_id: str) -> int:
    key_id = key_id.strip().lower()
    if not re.fullmatch(rf"[0-9a-f]{{{_MIN_KEY_ID_CHARS},64}}", key_id):
        return _fail(
            f"a key id is {_MIN_KEY_ID_CHARS} to 64 hex digits, as `keys list` shows it "
            f"(not the key itself): {key_id[:16]!r}"
        )

    async def run(storage: Storage) -> str:
        live = [k for k in await storage.keys.list_api_keys() if k.revoked_at is None]
        matches = [k for k in live if k.key_hash.startswith(key_id)]
        if len(matches) != 1:
            return "no unrevoked key has id" if not matches else "several keys start with"
        await storage.keys.revoke_api_key(matches[0].key_hash, now=int(time.time()))
        return ""

    try:
        problem = asyncio.run(_with_storage(settings, run))
    except RuntimeError as exc:
        return _fail(str(exc))
    if problem:
        return _fail(f"{problem} {key_id!r}; nothing was revoked")
    print(
        f"revoked {key_id}: running servers refuse it within "
        f"{settings.key_cache_seconds:g} s (MKA1_KEY_CACHE_SECONDS)"
    )
    return 0


_AGE = re.compile(r"^(\d{1,9})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> int:
    """``30d`` → seconds; ``s``, ``m``, ``h`` and ``d`` units. ValueError otherwise."""
    match = _AGE.match(text.strip())
    if match is None:
        raise ValueError(f"expected an age such as 30d, 12h, 90m or 3600s, not {text!r}")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def cmd_purge(settings: Settings, deleted_before: str, batch_size: int, pause: float) -> int:
    try:
        age = parse_age(deleted_before)
    except ValueError as exc:
        return _fail(f"--deleted-before: {exc}")
    if not 1 <= batch_size <= 100_000:
        return _fail("--batch-size must be 1-100000")
    cutoff = int(time.time()) - age

    async def run(storage: Storage) -> tuple[int, int]:
        conversations = items = 0
        while True:
            batch = await storage.maintenance.purge_deleted(
                deleted_before=cutoff, max_rows=batch_size
            )
            conversations += batch.conversations
            items += batch.items
            if batch.empty:
                return conversations, items
            await asyncio.sleep(pause)  # let the server's writes in between two batches

    try:
        conversations, items = asyncio.run(_with_storage(settings, run))
    except (RuntimeError, ServiceError) as exc:
        return _fail(f"purge stopped (what was purged so far stays purged): {exc}")
    print(
        f"purged {conversations} conversation(s) deleted before "
        f"{_utc_time(cutoff)}, with {items} item(s)"
    )
    return 0


def cmd_export(settings: Settings, output: str) -> int:
    async def run(out: IO[bytes]) -> int:
        async def export(storage: Storage) -> int:
            count = 0
            async for row in storage.maintenance.export_rows():
                write_rows([row], out)
                count += 1
            return count

        return await _with_storage(settings, export)

    try:
        if output == "-":
            count = asyncio.run(run(sys.stdout.buffer))
            sys.stdout.flush()
        else:
            with open(output, "wb") as out:
                count = asyncio.run(run(out))
    except (RuntimeError, ServiceError) as exc:
        return _fail(str(exc))
    print(f"exported {count} rows", file=sys.stderr)
    return 0


def cmd_import(settings: Settings, source: str) -> int:
    async def run(rows: Iterable[Row]) -> int:
        async def load(storage: Storage) -> int:
            return await storage.maintenance.import_rows(rows)

        return await _with_storage(settings, load)

    try:
        if source == "-":
            count = asyncio.run(run(read_rows(sys.stdin.buffer)))
        else:
            with open(source, "rb") as lines:
                count = asyncio.run(run(read_rows(lines)))
    except (ValueError, RuntimeError, ServiceError) as exc:
        return _fail(f"import failed, nothing was imported: {exc}")
    print(f"imported {count} rows", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mka1-conversations", description="The MKA1 Conversations service."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes (more than 1: PostgreSQL only)"
    )
    serve.add_argument(
        "--server", choices=["granian", "uvicorn"], default="granian", help="HTTP server"
    )
    serve.add_argument(
        "--migrate",
        action="store_true",
        help="apply pending migrations before serving (a new SQLite file is always set up)",
    )
    sub.add_parser("migrate", help="apply pending database migrations")
    export = sub.add_parser("export", help="write every row as JSON Lines (see docs/scaling.md)")
    export.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    load = sub.add_parser("import", help="load JSON Lines from export, all or nothing")
    load.add_argument("--input", "-i", default="-", help="file to read (default: stdin)")
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints it once")
    create.add_argument("--account", required=True)
    create.add_argument("--name", default="")
    keys_sub.add_parser("list", help="list stored keys (never the keys: their ids)")
    revoke = keys_sub.add_parser("revoke", help="revoke a stored key by its id from `keys list`")
    revoke.add_argument("key_id")
    purge = sub.add_parser(
        "purge", help="hard-delete conversations soft-deleted longer ago than an age"
    )
    purge.add_argument("--deleted-before", required=True, metavar="AGE", help="e.g. 30d, 12h")
    purge.add_argument(
        "--batch-size",
        type=int,
        default=1000,
        help="rows (items and indexed words, or conversations) per transaction",
    )
    purge.add_argument(
        "--pause", type=float, default=0.05, help="seconds between transactions (default 0.05)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _fail(str(exc))
    if args.command == "migrate":
        return cmd_migrate(settings)
    if args.command == "serve":
        return cmd_serve(
            settings, args.host, args.port, args.workers, args.server, migrate=args.migrate
        )
    if args.command == "export":
        return cmd_export(settings, args.output)
    if args.command == "import":
        return cmd_import(settings, args.input)
    if args.command == "purge":
        return cmd_purge(settings, args.deleted_before, args.batch_size, max(0.0, args.pause))
    if args.keys_command == "list":
        return cmd_keys_list(settings)
    if args.keys_command == "revoke":
        return cmd_keys_revoke(settings, args.key_id)
    return cmd_keys_create(settings, args.account, args.name)
