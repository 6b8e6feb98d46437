"""The Prometheus series of a server process and their text exposition (``GET /metrics``).

Series (docs/operations.md lists them with examples):

- ``mka1_http_requests_total{operation,status}``: answered requests;
- ``mka1_http_request_duration_seconds{operation}``: latency, first byte in to last byte out;
- ``mka1_http_requests_in_flight``: requests being served now;
- ``mka1_db_duration_seconds{call}``: time spent in Store calls (the database's share);
- ``mka1_items_written_total``: items stored by create-conversation and create-items;
- ``mka1_turns_total{status}``: Responses turns ended, by status (completed, incomplete,
  failed);
- ``mka1_upstream_duration_seconds``: the model server's time per answer;
- ``mka1_tokens_total{direction}``: tokens the model server read (``in``) and wrote (``out``).

A request adds to plain numbers (:class:`CounterBuffer`, :class:`HistogramBuffer`), with no
lock (the event loop is one thread). They reach prometheus-client's series when they are exposed
(:meth:`Metrics.flush`): before every scrape, and with several processes (``serve --workers N``)
also right after each turn of the event loop that answered a request and once a second, because
there every scrape, whichever process answers it, sums the files that each process's series
write to ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode). Why not
prometheus-client on every request: docs/performance.md ("The HTTP face").
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from bisect import bisect_left
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

from .domain.responses import Usage

__all__ = [
    "CONTENT_TYPE_LATEST",
    "CounterBuffer",
    "HistogramBuffer",
    "Metrics",
    "OperationSeries",
    "TurnMetrics",
    "prepare_multiproc_dir",
]

#: Request latency buckets (seconds): most requests take around a millisecond.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Model server buckets (seconds): an answer takes from tens of milliseconds to minutes.
_UPSTREAM_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)


def _use_multiprocess_values() -> None:
    """prometheus-client picks file-backed values when it is imported with the variable set; the
    server's parent may have imported it before setting the variable (Granian forks its workers),
    so pick again now."""
    if values.ValueClass.__name__ != "MmapedValue":
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class CounterBuffer:
    """A counter's increments since the last flush, for one prometheus-client child."""

    __slots__ = ("_child", "pending")

    def __init__(self, child: Counter) -> None:
        self._child = child
        self.pending = 0.0

    def inc(self, amount: float = 1) -> None:
        self.pending += amount

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0.0
            self._child.inc(amount)


class HistogramBuffer:
    """A histogram's observations since the last flush, for one prometheus-client child: the
    count per bucket (not cumulative, as prometheus-client keeps them) and their sum."""

    __slots__ = ("_bounds", "_child", "counts", "total")

    def __init__(self, child: Histogram, bounds: tuple[float, ...]) -> None:
        # The child's own values, one per bucket (the last is +Inf), and its sum: adding to them
        # is what Histogram.observe does, n observations at a time. Checked here, at start-up,
        # so that a prometheus-client that keeps them otherwise fails at once, not at a scrape.
        if len(getattr(child, "_buckets", ())) != len(bounds) + 1 or not hasattr(child, "_sum"):
            raise RuntimeError("unsupported prometheus-client: Histogram children changed")
        self._child = child
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, amount: float) -> None:
        # The first bound >= amount, as a histogram's "le" means; past the last: +Inf.
        self.counts[bisect_left(self._bounds, amount)] += 1
        self.total += amount

    def flush(self) -> None:
        if not self.total and not any(self.counts):
            return
        child = self._child
        for i, count in enumerate(self.counts):
            if count:
                child._buckets[i].inc(count)
                self.counts[i] = 0
        child._sum.inc(self.total)
        self.total = 0.0


class OperationSeries:
    """One operation's latency and its request counts by status (a child made on first use)."""

    __slots__ = ("_counter", "_operation", "latency", "statuses")

    def __init__(self, counter: Counter, latency: Histogram, operation: str) -> None:
        self._counter = counter
        self._operation = operation
        self.latency = HistogramBuffer(latency.labels(operation), _LATENCY_BUCKETS)
        self.statuses: dict[int, CounterBuffer] = {}

    def count(self, status: int) -> None:
        buffer = self.statuses.get(status)
        if buffer is None:
            child = self._counter.labels(self._operation, str(status))
            buffer = self.statuses[status] = CounterBuffer(child)
        buffer.pending += 1

    def flush(self) -> None:
        self.latency.flush()
        for buffer in self.statuses.values():
            buffer.flush()


class Metrics:
    """Every series of this app, the numbers requests add to, and the registry a scrape reads."""

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
        self._requests = Counter(
            "mka1_http_requests",
            "HTTP requests answered, by operation and status.",
            ["operation", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "mka1_http_request_duration_seconds",
            "Time to answer a request, by operation.",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._in_flight = Gauge(
            "mka1_http_requests_in_flight",
            "Requests being answered now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._db_time = Histogram(
            "mka1_db_duration_seconds",
            "Time spent in Store calls (database work), by call.",
            ["call"],
            buckets=_DB_BUCKETS,
            registry=registry,
        )
        self.items_written = CounterBuffer(
            Counter(
                "mka1_items_written",
                "Conversation items stored (create conversation and create items).",
                registry=registry,
            )
        )
        self.turns = TurnMetrics(registry)
        self.operations = {o: OperationSeries(self._requests, self._latency, o) for o in operations}
        self.in_flight = 0
        """Requests being answered now (the middleware counts them)."""
        self._db_timers: list[HistogramBuffer] = []
        self._flush_soon = multiproc_dir is not None
        self._flush_on: asyncio.AbstractEventLoop | None = None  # where a flush is scheduled

    def db_timer(self, call: str) -> HistogramBuffer:
        """The histogram of one storage call's database time (asked once per call name, by the
        storage's timing)."""
        buffer = HistogramBuffer(self._db_time.labels(call), _DB_BUCKETS)
        self._db_timers.append(buffer)
        return buffer

    def answered(self) -> None:
        """A request has been answered: with several processes, flush once this turn of the
        event loop is over (one flush for every request answered in it)."""
        if self._flush_soon:
            loop = asyncio.get_running_loop()
            if self._flush_on is not loop:  # none scheduled (or on a loop that has gone since)
                self._flush_on = loop
                loop.call_soon(self.flush)

    async def flush_every(self, seconds: float) -> None:
        """With several processes: also flush on a timer, for what no request's end flushes (the
        database time of background writes, the in-flight count during long requests)."""
        while True:
            await asyncio.sleep(seconds)
            self.flush()

    def flush(self) -> None:
        """Hand every number added since the last flush to prometheus-client's series."""
        self._flush_on = None
        for series in self.operations.values():
            series.flush()
        for buffer in self._db_timers:
            buffer.flush()
        self.items_written.flush()
        self.turns.flush()
        self._in_flight.set(self.in_flight)

    def render(self) -> bytes:
        """The text exposition of every series (all processes' in multiprocess mode)."""
        self.flush()
        return generate_latest(self.registry)

    def process_exited(self) -> None:
        """At shutdown: the last numbers out; in multiprocess mode, drop this process's in-flight
        gauge file."""
        self.flush()
        if self.multiproc_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiproc_dir)  # type: ignore[no-untyped-call]


class TurnMetrics:
    """What Responses turns report (``domain.turns.TurnObserver``): turns by status, the model
    server's time per answer, tokens in and out. Never any content."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._turns = Counter(
            "mka1_turns",
            "Responses turns ended, by status (completed, incomplete, failed).",
            ["status"],
            registry=registry,
        )
        self._by_status: dict[str, CounterBuffer] = {}
        self.upstream = HistogramBuffer(
            Histogram(
                "mka1_upstream_duration_seconds",
                "The model server's time per answer (request sent to answer complete).",
                buckets=_UPSTREAM_BUCKETS,
                registry=registry,
            ),
            _UPSTREAM_BUCKETS,
        )
        tokens = Counter(
            "mka1_tokens",
            "Tokens the model server read (in) and wrote (out), by direction.",
            ["direction"],
            registry=registry,
        )
        self.tokens_in = CounterBuffer(tokens.labels("in"))
        self.tokens_out = CounterBuffer(tokens.labels("out"))

    def model_answered(self, seconds: float) -> None:
        self.upstream.observe(seconds)

    def turn_ended(self, status: str, usage: Usage | None) -> None:
        buffer = self._by_status.get(status)
        if buffer is None:
            buffer = self._by_status[status] = CounterBuffer(self._turns.labels(status))
        buffer.inc()
        if usage is not None:
            self.tokens_in.inc(usage.input_tokens)
            self.tokens_out.inc(usage.output_tokens)

    def flush(self) -> None:
        for buffer in self._by_status.values():
            buffer.flush()
        self.upstream.flush()
        self.tokens_in.flush()
        self.tokens_out.flush()


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
