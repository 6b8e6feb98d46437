"""What a database backend provides to the storage rules: transactions, and the time they take.

The rules of every operation (``conversations.py``, ``items.py``, ``listing.py``, …) are written
once, as async functions over a dialect's *statements* (an object whose methods each run one
statement, or the few that one dialect needs for it, and return plain values). A backend only
runs them: it opens the transaction, hands the rule its statements, commits or rolls back,
turns its driver's errors into the storage's own, and times the call under its name.

- ``read(call, rule, *args)``: a read; on SQLite inline on the event loop, on PostgreSQL on one
  pooled connection.
- ``write(call, rule, *args)``: one transaction. SQLite runs it inline and *without suspending*
  (``run_inline``): the event loop serialises writers, so a write never waits for the lock.
  PostgreSQL opens a transaction on one connection, unless the rule is marked
  :func:`one_statement`: it then runs without BEGIN/COMMIT (one round trip, atomic by itself),
  and a second statement is refused.
- ``snapshot()``: statements that read one consistent state, for an export.

Every call obeys the current request's deadline (``domain.requests``): a read is cut off when it
passes, a write ``settle_seconds`` before it (the backend's time for a write in flight to be
applied or refused for good). Cut off, a call answers ``DatabaseTimeout``: a write that had not
sent its commit was not applied and never will be (``stored=False``); one whose commit was in
flight is answered only once the database can no longer apply it (``stored=None``: it may have
been stored; ``receipts.py`` keeps its retry from storing it twice).

On the statements themselves, ``consistent_read(may_take_long, rule, *args)`` runs several
reads that must see one state (a listing page); SQLite runs one that may take long on a reader
thread, off the event loop.

Driver errors a rule may expect come out as :class:`DuplicateKey`; a lost database as the
domain's ``ServiceUnavailable``; a write refused for want of space (a full disk, a file that
cannot grow) as its ``StorageFull``, which readiness then reports (``storage_full``) until a
write succeeds again or ``FULL_REMEMBERED_SECONDS`` pass without another such refusal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, TypeVarTuple

from ..domain import requests
from ..domain.errors import DatabaseTimeout, ServiceUnavailable, StorageFull
from ..suspension import Suspended, start

__all__ = [
    "FULL_REMEMBERED_SECONDS",
    "NO_INSTRUMENTS",
    "Backend",
    "DuplicateKey",
    "Instruments",
    "QueryFailed",
    "Rule",
    "Runner",
    "Timer",
    "WriteProgress",
    "is_one_statement",
    "one_statement",
    "run_inline",
]

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")

Rule = Callable[[S, *Ts], Coroutine[Any, Any, T]]
"""A storage rule: an async function of a dialect's statements and its own arguments."""


class DuplicateKey(Exception):
    """A write hit a unique key (an item id already live in the conversation, a row that an
    import holds twice). The transaction has been rolled back."""


class QueryFailed(Exception):
    """A statement failed for another reason than a duplicate key or a lost database (a
    constraint, a table that is not there): the transaction has been rolled back. Unexpected on
    a request's path (answered 500 and logged); some rules give it a meaning (an import that
    does not fit, a database that cannot be read)."""


@dataclass(slots=True)
class WriteProgress:
    """How far a write got, for the Runner to tell a cut-off write's outcome: ``until``, the
    wall-clock time (``time.time()``) after which the database must not apply it (None: no
    deadline); ``commit_sent``, its commit (or its only statement) is on its way."""

    until: float | None = None
    commit_sent: bool = False


class Timer(Protocol):
    def observe(self, amount: float) -> None: ...


class _NoTimer:
    __slots__ = ()

    def observe(self, amount: float) -> None:
        pass


class _Timers(dict[str, Timer]):
    """A timer per call name, made on its first use."""

    def __init__(self, make: Callable[[str], Timer]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, call: str) -> Timer:
        timer = self[call] = self._make(call)
        return timer


class Instruments:
    """Where the storage reports what it does: each call's database time (``timers[call]``)
    and the count of items written. The app hands in the metrics' own; the command line none."""

    def __init__(
        self,
        timer: Callable[[str], Timer] | None = None,
        items_written: Callable[[int], None] | None = None,
        statement_sent: Callable[[str, tuple[Any, ...]], None] | None = None,
    ) -> None:
        self.timers = _Timers(timer or (lambda call: _NoTimer()))
        self.items_written: Callable[[int], None] = items_written or (lambda count: None)
        self.statement_sent = statement_sent
        """Told each statement a database server was sent, with its arguments (None: nobody
        asks; PostgreSQL only): what an operation really sends, e.g. for the test that every
        statement on Citus runs on one shard."""


NO_INSTRUMENTS = Instruments()


_ONE_STATEMENT: set[Callable[..., Any]] = set()

R = TypeVar("R", bound=Callable[..., Any])


def one_statement(rule: R) -> R:
    """Mark a write rule that sends exactly one statement (PostgreSQL then runs it without an
    explicit transaction; SQLite does not care)."""
    _ONE_STATEMENT.add(rule)
    return rule


def is_one_statement(rule: Callable[..., Any]) -> bool:
    return rule in _ONE_STATEMENT


FULL_REMEMBERED_SECONDS = 30.0
"""How long a write refused for want of space keeps readiness down (unless a write succeeds):
long enough for a load balancer to notice, short enough that writes are tried again."""


class Backend(Protocol[S_co]):
    """Runs rules over the statements ``S`` of one dialect; see the module docstring."""

    def storage_full(self) -> bool:
        """A recent write was refused for want of space, and none has succeeded since."""

    async def read(
        self, call: str, rule: Callable[[S_co, *Ts], Coroutine[Any, Any, T]], *args: *Ts
    ) -> T: ...

    async def write(
        self, call: str, rule: Callable[[S_co, *Ts], Coroutine[Any, Any, T]], *args: *Ts
    ) -> T: ...

    def snapshot(self) -> AbstractAsyncContextManager[S_co]:
        """Statements that all read one consistent state of the database, for a long read
        beside the service (an export)."""

    async def close(self) -> None: ...


_clock = time.perf_counter


class Runner(Generic[S]):
    """What every backend does around a rule: time it under its call's name, and turn the
    driver's errors into the storage's. A dialect's backend says how a read and a write run
    (``_run_read``, ``_run_write``), which exceptions are its driver's (``driver_errors``) and
    what each means (``_storage_error``)."""

    driver_errors: tuple[type[BaseException], ...] = ()
    settle_seconds: float = 0.0
    """How long after a write is cut off the database may still apply it (see the module
    docstring); a write is cut off this long before the deadline."""

    def __init__(self, instruments: Instruments) -> None:
        self._timers = instruments.timers
        self._full_at: float | None = None

    def storage_full(self) -> bool:
        full_at = self._full_at
        return full_at is not None and _clock() - full_at < FULL_REMEMBERED_SECONDS

    async def read(
        self, call: str, rule: Callable[[S, *Ts], Coroutine[Any, Any, T]], *args: *Ts
    ) -> T:
        started = _clock()
        try:
            budget = requests.remaining()
            if budget is None:
                return await self._run_read(rule, args)
            if budget <= 0:
                raise DatabaseTimeout()
            try:
                return await _within(budget, self._run_read(rule, args))
            except TimeoutError:
                raise DatabaseTimeout() from None
        except self.driver_errors as exc:
            raise self._storage_error(exc) from exc
        finally:
            self._timers[call].observe(_clock() - started)

    async def write(
        self, call: str, rule: Callable[[S, *Ts], Coroutine[Any, Any, T]], *args: *Ts
    ) -> T:
        started = _clock()
        progress = WriteProgress()
        try:
            budget = requests.remaining()
            if budget is None:
                result = await self._run_write(rule, args, progress)
            else:
                limit = budget - self.settle_seconds
                if limit <= 0:
                    raise DatabaseTimeout()
                progress.until = time.time() + limit
                try:
                    result = await _within(limit, self._run_write(rule, args, progress))
                except TimeoutError:
                    if not progress.commit_sent:
                        raise DatabaseTimeout() from None
                    # Answer once the database can no longer apply it: a retry then finds out.
                    await asyncio.sleep(max(0.0, requests.remaining() or 0.0))
                    raise DatabaseTimeout(stored=None) from None
        except self.driver_errors as exc:
            error = self._storage_error(exc)
            if isinstance(error, StorageFull):
                self._full_at = _clock()
            elif progress.commit_sent and type(error) is ServiceUnavailable:
                error = DatabaseTimeout(stored=None)  # the connection died during the commit
            raise error from exc
        finally:
            self._timers[call].observe(_clock() - started)
        self._full_at = None
        return result

    def _run_read(
        self, rule: Callable[[S, *Ts], Coroutine[Any, Any, T]], args: tuple[*Ts]
    ) -> Awaitable[T]:
        raise NotImplementedError

    def _run_write(
        self,
        rule: Callable[[S, *Ts], Coroutine[Any, Any, T]],
        args: tuple[*Ts],
        progress: WriteProgress,
    ) -> Awaitable[T]:
        raise NotImplementedError

    def _storage_error(self, exc: BaseException) -> Exception:
        raise NotImplementedError


async def _within(seconds: float, coroutine: Awaitable[T]) -> T:
    """Await ``coroutine`` and raise ``TimeoutError`` if it takes more than ``seconds``: the
    deadline of a database call. The timer is armed only if the call suspends: a call that runs
    to its end at once (SQLite's inline statements) cannot be cut off anyway, and arming and
    cancelling an asyncio timer would cost it about as much as its statement."""
    first = start(coroutine)
    if not isinstance(first, Suspended):
        return first
    async with asyncio.timeout(seconds):
        return await first


def run_inline(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a rule over SQLite's statements) to its end, now.

    A suspension would let the event loop run another request in the middle of a SQLite
    transaction on the same connection; it is a programming error and raises."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a SQLite transaction suspended: its rule awaited something real")
