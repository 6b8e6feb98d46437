"""Server-Sent Events as OpenAI streams a Response: per event an ``event: <type>`` line and one
``data: <json>`` line. No ``data: [DONE]`` line at the end: OpenAI's Responses streams have none,
and the MKA1 SDK's stream parser fails on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from ..domain.response_events import StreamEvent, event_type

__all__ = ["SSE_MEDIA_TYPE", "sse_event", "sse_stream"]

SSE_MEDIA_TYPE = "text/event-stream"

_encode = msgspec.json.Encoder().encode


def sse_event(event: StreamEvent) -> bytes:
    """One event, ready to send."""
    return b"event: %s\ndata: %s\n\n" % (event_type(event).encode(), _encode(event))


async def sse_stream(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """Each event encoded as it comes."""
    async for event in events:
        yield sse_event(event)
