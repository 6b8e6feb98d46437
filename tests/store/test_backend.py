"""What the backends promise the rules: a SQLite transaction's rule runs without suspending,
and each call's database time is measured under its name."""

from __future__ import annotations

import asyncio

import pytest

from mka1_conversations.store.backend import Instruments, run_inline


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
