"""A streamed answer (``http.responses.Streamed``) on the ASGI channel: events that are ready
together go out in one body chunk, none waits for a later one, and a client gone while the next
event is awaited reaches the turn as a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from mka1_conversations.domain.response_events import OutputTextDelta, StreamEvent
from mka1_conversations.http.responses import Streamed


def delta(n: int) -> OutputTextDelta:
    return OutputTextDelta(
        sequence_number=n, item_id="msg_1", output_index=0, content_index=0, delta=f"d{n}"
    )


class Channel:
    """The ASGI channel: what was sent, a disconnect when told."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.gone = asyncio.Event()
        self.fail_sends = False

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if self.fail_sends and message["type"] == "http.response.body":
            raise OSError("the client went away")
        if message["type"] == "http.response.body" and message["body"]:
            self.bodies.append(message["body"])


def events_in(body: bytes) -> list[str]:
    return [line[7:] for line in body.decode().splitlines() if line.startswith("event: ")]


async def test_ready_events_go_together_and_none_waits_for_a_later_one() -> None:
    channel = Channel()
    sent_before_waiting: list[int] = []
    release = asyncio.Event()

    async def events() -> AsyncIterator[StreamEvent]:
        yield delta(1)
        yield delta(2)
        sent_before_waiting.append(len(channel.bodies))
        await release.wait()  # the model server's next read
        yield delta(3)
        yield delta(4)

    async def model() -> None:
        await asyncio.sleep(0.05)
        release.set()

    streamed = Streamed(delta(0), events())
    await asyncio.gather(streamed.send(channel.receive, channel.send), model())
    assert sent_before_waiting == [0]  # the first three were still together when it waited…
    assert [len(events_in(b)) for b in channel.bodies] == [3, 2]  # …then sent, then the rest
    data = [line for line in b"".join(channel.bodies).decode().splitlines() if "data:" in line]
    assert [f'"delta":"d{n}"' in line for n, line in enumerate(data)] == [True] * 5


async def test_a_client_gone_during_a_send_cancels_the_waiting_turn() -> None:
    channel = Channel()
    channel.fail_sends = True
    seen: list[str] = []

    async def events() -> AsyncIterator[StreamEvent]:
        try:
            await asyncio.sleep(10)  # the model server is still answering
            yield delta(1)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("closed")

    streamed = Streamed(delta(0), events())
    with contextlib.suppress(OSError):
        await asyncio.wait_for(streamed.send(channel.receive, channel.send), 2)
    assert seen == ["cancelled", "closed"]


async def test_a_client_gone_while_waiting_stops_the_stream() -> None:
    channel = Channel()
    closed = asyncio.Event()

    async def events() -> AsyncIterator[StreamEvent]:
        try:
            await asyncio.sleep(10)
            yield delta(1)
        finally:
            closed.set()

    async def leave() -> None:
        await asyncio.sleep(0.05)
        channel.gone.set()

    streamed = Streamed(delta(0), events())
    await asyncio.wait_for(asyncio.gather(streamed.send(channel.receive, channel.send), leave()), 2)
    assert closed.is_set() and len(channel.bodies) == 1
