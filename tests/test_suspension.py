"""``suspension``: an awaitable's first step run now; the rest awaited only if it suspended,
with a cancellation reaching it, and ``abandon`` ending it from where it waits."""

from __future__ import annotations

import asyncio

import pytest

from mka1_conversations.suspension import Suspended, start


async def ready() -> int:
    return 7


async def failing() -> int:
    raise KeyError("now")


async def waiting(event: asyncio.Event, log: list[str]) -> int:
    try:
        await event.wait()
        return 8
    except asyncio.CancelledError:
        log.append("cancelled")
        await asyncio.sleep(0)  # clean-up that itself waits
        log.append("cleaned")
        raise


async def test_a_ready_awaitable_gives_its_result_or_its_exception_at_once() -> None:
    assert start(ready()) == 7
    with pytest.raises(KeyError):
        start(failing())


async def test_a_suspended_one_is_awaited_for_the_rest() -> None:
    event = asyncio.Event()
    step = start(waiting(event, []))
    assert isinstance(step, Suspended)
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await step == 8


async def test_a_cancellation_reaches_the_suspended_awaitable() -> None:
    log: list[str] = []

    async def run() -> int:
        step = start(waiting(asyncio.Event(), log))
        assert isinstance(step, Suspended)
        return await step

    task = asyncio.ensure_future(run())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cancelled", "cleaned"]


async def test_abandon_throws_into_it_and_lets_it_end() -> None:
    log: list[str] = []
    step = start(waiting(asyncio.Event(), log))
    assert isinstance(step, Suspended)
    await step.abandon(asyncio.CancelledError())
    assert log == ["cancelled", "cleaned"]
