"""What the backends promise the rules: a SQLite transaction's rule runs without suspending,
each call's database time is measured under its name, and a call obeys the request's deadline
(with no timer at all for a call that never suspends)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

import pytest

from mka1_conversations.domain import requests
from mka1_conversations.domain.errors import DatabaseTimeout
from mka1_conversations.store.backend import Instruments, Runner, WriteProgress, run_inline


async def _no_suspension(value: int) -> int:
    return value + 1


async def _suspends() -> int:
    await asyncio.sleep(0)
    return 1


def test_a_rule_that_never_suspends_runs_to_its_end_at_once() -> None:
    assert run_inline(_no_suspension(1)) == 2


def test_a_rule_that_suspends_is_refused() -> None:
    with pytest.raises(RuntimeError, match="suspended"):
        run_inline(_suspends())


def test_each_call_gets_one_timer_made_once() -> None:
    made: list[str] = []

    class Recorder:
        def __init__(self, call: str) -> None:
            made.append(call)
            self.seen: list[float] = []

        def observe(self, amount: float) -> None:
            self.seen.append(amount)

    instruments = Instruments(Recorder)
    instruments.timers["get_item"].observe(1.0)
    instruments.timers["get_item"].observe(2.0)
    instruments.timers["list_items"].observe(3.0)
    assert made == ["get_item", "list_items"]


def test_without_instruments_nothing_is_recorded() -> None:
    instruments = Instruments()
    instruments.timers["x"].observe(1.0)
    instruments.items_written(3)


T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _Statements:
    """Stands for a dialect's statements: what the rules below read."""

    def __init__(self) -> None:
        self.finished: list[str] = []


class _Direct(Runner[_Statements]):
    """A backend that runs each rule as it comes (SQLite's reads, inline), no driver."""

    def __init__(self) -> None:
        super().__init__(Instruments())
        self.statements = _Statements()

    def _run_read(
        self, rule: Callable[[_Statements, *Ts], Coroutine[Any, Any, T]], args: tuple[*Ts]
    ) -> Coroutine[Any, Any, T]:
        return rule(self.statements, *args)

    def _run_write(
        self,
        rule: Callable[[_Statements, *Ts], Coroutine[Any, Any, T]],
        args: tuple[*Ts],
        progress: WriteProgress,
    ) -> Coroutine[Any, Any, T]:
        return rule(self.statements, *args)


async def _at_once(st: _Statements) -> str:
    return "read"


async def _slow(st: _Statements) -> str:
    try:
        await asyncio.sleep(5)
    finally:
        st.finished.append("slow")
    return "late"


async def _brief(st: _Statements) -> str:
    await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    return "brief"


async def _fails_later(st: _Statements) -> str:
    await asyncio.sleep(0)
    raise LookupError("from the rule")


def _timers() -> int:
    scheduled = getattr(asyncio.get_running_loop(), "_scheduled", None)
    if scheduled is None:
        pytest.skip("this event loop does not show its timers")
    return len(scheduled)  # cancelled ones too: they stay until the loop next runs


async def test_a_call_that_never_suspends_arms_no_timer() -> None:
    runner = _Direct()
    with requests.serving(requests.Request(deadline=time.monotonic() + 60)):
        before = _timers()
        assert await runner.read("get_item", _at_once) == "read"
        assert await runner.write("append", _at_once) == "read"
        assert _timers() == before


async def test_a_call_past_the_deadline_is_cut_off_and_told_so() -> None:
    runner = _Direct()
    deadline = requests.Request(deadline=time.monotonic() + 0.05)
    with requests.serving(deadline), pytest.raises(DatabaseTimeout):
        await runner.read("list_items", _slow)
    assert runner.statements.finished == ["slow"]  # the rule was cancelled, not abandoned


async def test_a_call_that_suspends_within_the_deadline_answers() -> None:
    runner = _Direct()
    with requests.serving(requests.Request(deadline=time.monotonic() + 5)):
        assert await runner.read("list_items", _brief) == "brief"
        with pytest.raises(LookupError, match="from the rule"):
            await runner.read("list_items", _fails_later)


async def test_cancelling_the_request_reaches_a_suspended_call() -> None:
    runner = _Direct()

    async def request() -> None:
        with requests.serving(requests.Request(deadline=time.monotonic() + 60)):
            await runner.read("list_items", _slow)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.statements.finished == ["slow"]
