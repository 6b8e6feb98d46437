"""Run an awaitable's first step now, and await the rest only if it suspended: for callers that
act differently on work that is ready at once (a database call that needs no timer; stream
events sent together while the next one is not yet there)."""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Suspended", "start"]

T = TypeVar("T")


def start(awaitable: Awaitable[T]) -> T | Suspended[T]:
    """Run ``awaitable`` up to its first suspension: its result if it finished (or its
    exception, raised), else ``Suspended``, to await for the rest."""
    steps = awaitable.__await__()
    try:
        waiting = steps.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    return Suspended(steps, waiting)


class Suspended(Generic[T]):
    """The rest of an awaitable that suspended once already: awaiting it hands the task what
    the awaitable waits for, then what the task sends or throws (a cancellation) back to it."""

    __slots__ = ("_steps", "_waiting")

    def __init__(self, steps: Generator[Any, Any, T], waiting: Any) -> None:
        self._steps = steps
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, T]:
        steps, waiting = self._steps, self._waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # a cancellation goes on to the awaitable
                try:
                    waiting = steps.throw(exc)
                except StopIteration as done:
                    result: T = done.value
                    return result
            else:
                try:
                    waiting = steps.send(sent)
                except StopIteration as done:
                    result = done.value
                    return result

    async def abandon(self, exc: BaseException) -> None:
        """Throw ``exc`` into the awaitable where it waits (as a cancellation would reach it)
        and let it end, whatever it raises: for a caller that stops waiting for it."""
        try:
            waiting = self._steps.throw(exc)
        except BaseException:  # it ended: how is the caller's business
            return
        try:
            await Suspended(self._steps, waiting)
        except BaseException:
            return
