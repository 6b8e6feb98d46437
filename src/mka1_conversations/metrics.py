"""The Prometheus series of a server process and their text exposition (``GET /metrics``).

Series (docs/operations.md lists them with examples):

- ``mka1_http_requests_total{operation,status}``: answered requests;
- ``mka1_http_request_duration_seconds{operation}``: latency, first byte in to last byte out;
- ``mka1_http_requests_in_flight``: requests being served now;
- ``mka1_db_duration_seconds{call}``: time spent in Store calls (the database's share);
- ``mka1_items_written_total``: items stored by create-conversation and create-items.

One process: the series live in a registry of this app. Several processes (``serve --workers N``):
prometheus-client's multiprocess mode, each process writing its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and every scrape, whichever process answers it, summing them all.
Label children are made once per operation, so counting a request allocates nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "OperationSeries", "prepare_multiproc_dir"]

#: Request latency buckets (seconds): most requests take around a millisecond.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)


def _use_multiprocess_values() -> None:
    """prometheus-client picks file-backed values when it is imported with the variable set; the
    server's parent may have imported it before setting the variable (Granian forks its workers),
    so pick again now."""
    if values.ValueClass.__name__ != "MmapedValue":
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class OperationSeries:
    """One operation's latency child and its counter children by status (made on first use)."""

    __slots__ = ("_counter", "_operation", "latency", "statuses")

    def __init__(self, counter: Counter, latency: Histogram, operation: str) -> None:
        self._counter = counter
        self._operation = operation
        self.latency = latency.labels(operation)
        self.statuses: dict[int, Counter] = {}

    def count(self, status: int) -> None:
        child = self.statuses.get(status)
        if child is None:
            child = self.statuses[status] = self._counter.labels(self._operation, str(status))
        child.inc()


class Metrics:
    """Every series of this app, and the registry a scrape reads."""

    def __init__(self, operations: Iterable[str], *, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        registry: CollectorRegistry | None
        if multiproc_dir is not None:
            _use_multiprocess_values()
            registry = None  # values go to files; a scrape collects them (render)
            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry = CollectorRegistry()
        self.requests = Counter(
            "mka1_http_requests",
            "HTTP requests answered, by operation and status.",
            ["operation", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "mka1_http_request_duration_seconds",
            "Time to answer a request, by operation.",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "mka1_http_requests_in_flight",
            "Requests being answered now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.db_time = Histogram(
            "mka1_db_duration_seconds",
            "Time spent in Store calls (database work), by call.",
            ["call"],
            buckets=_DB_BUCKETS,
            registry=registry,
        )
        self.items_written = Counter(
            "mka1_items_written",
            "Conversation items stored (create conversation and create items).",
            registry=registry,
        )
        self.operations = {o: OperationSeries(self.requests, self.latency, o) for o in operations}

    def db_call(self, call: str) -> Histogram:
        """The database-time child of one Store call (made once, by the timing layer)."""
        return self.db_time.labels(call)

    def render(self) -> bytes:
        """The text exposition of every series (all processes' in multiprocess mode)."""
        return generate_latest(self.registry)

    def process_exited(self) -> None:
        """At shutdown, in multiprocess mode: drop this process's in-flight gauge file."""
        if self.multiproc_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiproc_dir)  # type: ignore[no-untyped-call]


def prepare_multiproc_dir(path: str | None) -> tuple[str, bool]:
    """The directory for multiprocess mode, emptied of a previous run's files (prometheus-client
    requires it): ``path`` when given, else a new temporary one. Returns it and whether it was
    made here (the caller removes those at exit)."""
    if path is None:
        return tempfile.mkdtemp(prefix="mka1-metrics-"), True
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return str(folder), False
