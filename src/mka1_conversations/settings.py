"""One Settings object, read once at start-up from the ``MKA1_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from .domain.identity import IdentityMode, validate_account_id

__all__ = ["LogFormat", "LogLevel", "Settings", "SettingsError"]

DEFAULT_DATABASE_URL = "sqlite:///./data/mka1.db"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_KEY_CACHE_SECONDS = 5.0
DEFAULT_RATE_LIMIT_BURST = 20
DEFAULT_READ_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ITEM_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_PAGE_BYTES = 8 * 1024 * 1024
DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 300.0
DEFAULT_TURN_LEASE_SECONDS = 30

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["json", "text"]
_LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error")
_LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")


C = TypeVar("C", bound=str)


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


def _parse_api_keys(raw: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, account = pair.partition("=")
        key, account = key.strip(), account.strip()
        if not sep or not key or not account:
            raise SettingsError(
                "MKA1_API_KEYS must be comma-separated key=account pairs, "
                "e.g. 'sk-1=acme,sk-2=beta'"
            )
        try:
            validate_account_id(account)
        except ValueError as exc:
            raise SettingsError(f"MKA1_API_KEYS: {exc}") from None
        keys[key] = account
    return keys


def _choice(env: Mapping[str, str], name: str, allowed: tuple[C, ...], default: C) -> C:
    raw = env.get(name, default).strip().lower() or default
    for value in allowed:
        if raw == value:
            return value
    raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:  # also rejects nan
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, not {raw!r}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{name} must be an integer from {low} to {high}, not {raw!r}")
    return int(raw)


def _upstream_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("MKA1_UPSTREAM_URL", "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        valid = (
            raw.isascii()  # sent as is in the request line and Host: no IDN, no raw UTF-8
            and parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.port != 0
            and not any(c.isspace() for c in raw)
        )
    except ValueError:  # a port that is not a number, a bracket left open
        valid = False
    if not valid:
        raise SettingsError(
            f"MKA1_UPSTREAM_URL must be an http:// or https:// base URL such as "
            f"http://127.0.0.1:8001/v1, not {raw!r}"
        )
    return raw.rstrip("/")


def _upstream_api_key(env: Mapping[str, str]) -> str | None:
    raw = env.get("MKA1_UPSTREAM_API_KEY", "").strip()
    if any(not (" " <= c <= "~" or "\xa0" <= c <= "\xff") for c in raw):
        raise SettingsError(
            "MKA1_UPSTREAM_API_KEY must be printable Latin-1 text (it is sent in a header)"
        )
    return raw or None


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting; ``Settings.from_env()`` is the one reader of the environment."""

    database_url: str = field(
        default=DEFAULT_DATABASE_URL,
        metadata={
            "env": "MKA1_DATABASE_URL",
            "doc": "Where data lives: `sqlite:///path/to/file.db` (a new file, and its "
            "directory, is created by `serve` or `migrate`) or "
            "`postgresql://user:password@host:5432/database` (docs/scaling.md).",
        },
    )
    api_keys: Mapping[str, str] = field(
        default_factory=dict,
        metadata={
            "env": "MKA1_API_KEYS",
            "doc": "Comma-separated `key=account` pairs accepted as Bearer keys, besides the "
            "keys created with `keys create`. Account ids: 1–150 printable ASCII characters, "
            "no `:`.",
        },
    )
    identity_mode: IdentityMode = field(
        default="hash",
        metadata={
            "env": "MKA1_IDENTITY_MODE",
            "doc": "How a conversation's `identity` is shown: `hash` = SHA-256 hex of "
            "`account:end_user`, `raw` = `account:end_user`. Never changes who owns what.",
        },
    )
    max_body_bytes: int = field(
        default=DEFAULT_MAX_BODY_BYTES,
        metadata={
            "env": "MKA1_MAX_BODY_BYTES",
            "doc": "Largest request body accepted, in bytes (413 above); at least 1024.",
        },
    )
    db_pool_size: int = field(
        default=10,
        metadata={
            "env": "MKA1_DB_POOL_SIZE",
            "doc": "PostgreSQL connections per server process, 1–1000. Keep processes × pool "
            "size under the server's `max_connections`.",
        },
    )
    log_level: LogLevel = field(
        default="info",
        metadata={
            "env": "MKA1_LOG_LEVEL",
            "doc": "Least severe log level written: debug, info, warning or error. At info every "
            "request writes one line; warning and above keep only problems.",
        },
    )
    log_format: LogFormat = field(
        default="json",
        metadata={
            "env": "MKA1_LOG_FORMAT",
            "doc": "json (one JSON object per line, for log collectors) or text (for people; "
            "`make run` uses it). Logs go to standard error.",
        },
    )
    metrics_token: str | None = field(
        default=None,
        metadata={
            "env": "MKA1_METRICS_TOKEN",
            "doc": "When set, `GET /metrics` requires `Authorization: Bearer <this token>` "
            "(compared in constant time); API keys do not open it. Unset: /metrics is public.",
        },
    )
    metrics_multiproc_dir: str | None = field(
        default=None,
        metadata={
            "env": "PROMETHEUS_MULTIPROC_DIR",
            "doc": "prometheus-client's multiprocess directory: every process writes its series "
            "there and each /metrics answer sums all of them. `serve --workers N` (N > 1) sets "
            "up a fresh one by itself; set it only to choose where it lives.",
        },
    )
    key_cache_seconds: float = field(
        default=DEFAULT_KEY_CACHE_SECONDS,
        metadata={
            "env": "MKA1_KEY_CACHE_SECONDS",
            "doc": "How long a process trusts a database key's lookup: a revoked key stops "
            "working within this many seconds (0: look up on every request).",
        },
    )

    rate_limit: float = field(
        default=0.0,
        metadata={
            "env": "MKA1_RATE_LIMIT",
            "doc": "Requests per second per API key and server process (token bucket); 0: off.",
        },
    )
    rate_limit_burst: int = field(
        default=DEFAULT_RATE_LIMIT_BURST,
        metadata={
            "env": "MKA1_RATE_LIMIT_BURST",
            "doc": "Requests a key may send at once before the rate applies (bucket size).",
        },
    )

    read_timeout_seconds: float = field(
        default=DEFAULT_READ_TIMEOUT_SECONDS,
        metadata={
            "env": "MKA1_READ_TIMEOUT_SECONDS",
            "doc": "Longest time to receive a request's head, from connecting or from the end "
            "of the previous response (then the connection is closed: this is also how long an "
            "idle connection is kept, under Granian), and its body (408 after it).",
        },
    )
    max_header_bytes: int = field(
        default=DEFAULT_MAX_HEADER_BYTES,
        metadata={
            "env": "MKA1_MAX_HEADER_BYTES",
            "doc": "Largest request head (request line and headers) accepted (431 above; a "
            "path and query over it, or over 65,534 bytes, 414). The servers read heads up to "
            "twice this, so that the service answers.",
        },
    )

    upstream_url: str | None = field(
        default=None,
        metadata={
            "env": "MKA1_UPSTREAM_URL",
            "doc": "Base URL of the OpenAI-compatible model server that answers Responses "
            "turns, e.g. `http://127.0.0.1:8001/v1` (the service calls `POST "
            "{MKA1_UPSTREAM_URL}/chat/completions`). Unset: the Responses operations answer "
            "503 (docs/responses.md).",
        },
    )
    upstream_api_key: str | None = field(
        default=None,
        repr=False,
        metadata={
            "env": "MKA1_UPSTREAM_API_KEY",
            "doc": "Sent to the model server as `Authorization: Bearer <key>`; unset: no "
            "`Authorization` header.",
        },
    )
    upstream_timeout_seconds: float = field(
        default=DEFAULT_UPSTREAM_TIMEOUT_SECONDS,
        metadata={
            "env": "MKA1_UPSTREAM_TIMEOUT",
            "doc": "Longest wait, in seconds, to connect to the model server (at most 10) and "
            "for each read from it: a whole answer, or the next chunk of a streamed one (504 or "
            "`response.failed` after it).",
        },
    )
    turn_lease_seconds: int = field(
        default=DEFAULT_TURN_LEASE_SECONDS,
        metadata={
            "env": "MKA1_TURN_LEASE_SECONDS",
            "doc": "How long a Responses turn holds its conversation (renewed every third of "
            "it while the model server answers): a crashed turn's conversation is free again "
            "after at most this many seconds (docs/responses.md).",
        },
    )

    request_timeout_seconds: float = field(
        default=DEFAULT_REQUEST_TIMEOUT_SECONDS,
        metadata={
            "env": "MKA1_REQUEST_TIMEOUT_SECONDS",
            "doc": "Longest a request may take once its body has arrived: database work still "
            "running then is cut off and answered 503 `database_timeout` (PostgreSQL's "
            "`statement_timeout` is set to it, and a write is cut off up to 2 s earlier so "
            "that the answer says for sure whether it was stored). A Responses turn lasts as "
            "long as its model server takes (MKA1_UPSTREAM_TIMEOUT bounds that); each of its "
            "database calls has this deadline. 0.5–3600.",
        },
    )
    max_item_bytes: int = field(
        default=DEFAULT_MAX_ITEM_BYTES,
        metadata={
            "env": "MKA1_MAX_ITEM_BYTES",
            "doc": "Largest item, in bytes of its JSON as stored and returned (413 "
            "`request_too_large` naming it above); at least 1024.",
        },
    )
    max_page_bytes: int = field(
        default=DEFAULT_MAX_PAGE_BYTES,
        metadata={
            "env": "MKA1_MAX_PAGE_BYTES",
            "doc": "Most bytes of item JSON in one page of `GET …/items`: the page ends before "
            "the item that would pass it, with `has_more: true` (its first item always comes "
            "whole). At least 1024.",
        },
    )

    @property
    def database_kind(self) -> Literal["sqlite", "postgresql"]:
        if self.database_url.startswith("sqlite:///"):
            return "sqlite"
        if self.database_url.startswith(("postgresql://", "postgres://")):
            return "postgresql"
        raise SettingsError(
            f"MKA1_DATABASE_URL={self.database_url!r}: expected sqlite:///path or "
            "postgresql://user@host:port/database"
        )

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a ``sqlite:///path`` database (``sqlite:////abs`` is absolute); None for
        PostgreSQL."""
        if self.database_kind != "sqlite":
            return None
        return Path(self.database_url[len("sqlite:///") :])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("MKA1_IDENTITY_MODE", "hash").strip().lower()
        if mode not in ("hash", "raw"):
            raise SettingsError(f"MKA1_IDENTITY_MODE must be 'hash' or 'raw', not {mode!r}")
        raw_limit = env.get("MKA1_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)).strip()
        try:
            max_body = int(raw_limit)
        except ValueError:
            raise SettingsError(
                f"MKA1_MAX_BODY_BYTES must be an integer, not {raw_limit!r}"
            ) from None
        if max_body < 1024:
            raise SettingsError("MKA1_MAX_BODY_BYTES must be at least 1024")
        raw_pool = env.get("MKA1_DB_POOL_SIZE", "10").strip()
        if not raw_pool.isdigit() or not 1 <= int(raw_pool) <= 1000:
            raise SettingsError(f"MKA1_DB_POOL_SIZE must be 1-1000, not {raw_pool!r}")
        log_level = _choice(env, "MKA1_LOG_LEVEL", _LOG_LEVELS, "info")
        log_format = _choice(env, "MKA1_LOG_FORMAT", _LOG_FORMATS, "json")
        settings = cls(
            database_url=env.get("MKA1_DATABASE_URL", DEFAULT_DATABASE_URL).strip()
            or DEFAULT_DATABASE_URL,
            api_keys=_parse_api_keys(env.get("MKA1_API_KEYS", "")),
            identity_mode="raw" if mode == "raw" else "hash",
            max_body_bytes=max_body,
            db_pool_size=int(raw_pool),
            log_level=log_level,
            log_format=log_format,
            metrics_token=env.get("MKA1_METRICS_TOKEN", "").strip() or None,
            metrics_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or None,
            key_cache_seconds=_number(
                env, "MKA1_KEY_CACHE_SECONDS", DEFAULT_KEY_CACHE_SECONDS, 0, 300
            ),
            rate_limit=_number(env, "MKA1_RATE_LIMIT", 0.0, 0, 1_000_000),
            rate_limit_burst=_integer(
                env, "MKA1_RATE_LIMIT_BURST", DEFAULT_RATE_LIMIT_BURST, 1, 1_000_000
            ),
            read_timeout_seconds=_number(
                env, "MKA1_READ_TIMEOUT_SECONDS", DEFAULT_READ_TIMEOUT_SECONDS, 1, 3600
            ),
            max_header_bytes=_integer(
                env, "MKA1_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, 8192, 16 * 1024 * 1024
            ),
            request_timeout_seconds=_number(
                env, "MKA1_REQUEST_TIMEOUT_SECONDS", DEFAULT_REQUEST_TIMEOUT_SECONDS, 0.5, 3600
            ),
            max_item_bytes=_integer(
                env, "MKA1_MAX_ITEM_BYTES", DEFAULT_MAX_ITEM_BYTES, 1024, 1024**3
            ),
            max_page_bytes=_integer(
                env, "MKA1_MAX_PAGE_BYTES", DEFAULT_MAX_PAGE_BYTES, 1024, 1024**3
            ),
            upstream_url=_upstream_url(env),
            upstream_api_key=_upstream_api_key(env),
            upstream_timeout_seconds=_number(
                env, "MKA1_UPSTREAM_TIMEOUT", DEFAULT_UPSTREAM_TIMEOUT_SECONDS, 1, 3600
            ),
            turn_lease_seconds=_integer(
                env, "MKA1_TURN_LEASE_SECONDS", DEFAULT_TURN_LEASE_SECONDS, 2, 3600
            ),
        )
        _ = settings.database_kind  # fail early on an unsupported URL
        return settings
