"""Responses ⇄ Chat Completions, streamed: ``chat.completion.chunk`` deltas become Responses
output events as each chunk arrives (nothing waits for the whole answer).

Reasoning deltas (``reasoning_content`` or ``reasoning``) stream as a ``reasoning`` item with one
``reasoning_text`` part; text and refusal deltas as a ``message`` item with an ``output_text``
and a ``refusal`` part; each tool call (matched by its ``index``) as a ``function_call`` or
``custom_tool_call`` item with argument or input deltas. An item is done when the answer moves on
to another kind (reasoning, message, tool calls) or ends; the item being written when the answer
stopped early (``finish_reason: length``) ends ``incomplete``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from ..domain.ids import new_id
from ..domain.model_server import ModelAnswer
from ..domain.response_events import (
    ContentPartAdded,
    ContentPartDone,
    CustomToolCallInputDelta,
    CustomToolCallInputDone,
    FunctionCallArgumentsDelta,
    FunctionCallArgumentsDone,
    OutputEvent,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    OutputTextDone,
    ReasoningTextDelta,
    ReasoningTextDone,
    RefusalDelta,
    RefusalDone,
)
from ..domain.responses import (
    CustomToolCallItem,
    FunctionCallItem,
    ItemStatus,
    MessageItem,
    OutputItem,
    OutputText,
    ReasoningItem,
    ReasoningText,
    Refusal,
    new_item_id,
)
from .chat import ChatChunk, ChatUsage, ChoiceDelta, ToolCall, arguments_text
from .translate import incomplete_reason, usage_of

__all__ = ["StreamTranslator", "translate_stream"]


@dataclass(slots=True)
class _Part:
    kind: str
    """``output_text``, ``refusal`` or ``reasoning_text``."""
    index: int
    text: list[str] = field(default_factory=list)

    def value(self) -> OutputText | Refusal | ReasoningText:
        text = "".join(self.text)
        if self.kind == "refusal":
            return Refusal(refusal=text)
        if self.kind == "reasoning_text":
            return ReasoningText(text=text)
        return OutputText(text=text)


@dataclass(slots=True)
class _Text:
    """A reasoning or message item being written."""

    kind: str
    """``reasoning`` or ``message``."""
    id: str
    output_index: int
    parts: dict[str, _Part] = field(default_factory=dict)

    def item(self, status: ItemStatus) -> ReasoningItem | MessageItem:
        values = [part.value() for part in self.parts.values()]
        if self.kind == "reasoning":
            content = [v for v in values if isinstance(v, ReasoningText)]
            return ReasoningItem(id=self.id, status=status, content=content)
        message_parts = [v for v in values if isinstance(v, OutputText | Refusal)]
        return MessageItem(id=self.id, status=status, content=message_parts)


@dataclass(slots=True)
class _Call:
    """A tool call being written."""

    custom: bool
    id: str
    call_id: str
    name: str
    output_index: int
    text: list[str] = field(default_factory=list)

    def item(self, status: ItemStatus) -> FunctionCallItem | CustomToolCallItem:
        text = "".join(self.text)
        if self.custom:
            return CustomToolCallItem(id=self.id, call_id=self.call_id, name=self.name, input=text)
        return FunctionCallItem(
            id=self.id, call_id=self.call_id, name=self.name, arguments=text, status=status
        )


@dataclass(slots=True)
class StreamTranslator:
    """Feed it the chunks in order; ``finish`` closes what is open and gives the answer."""

    output: list[OutputItem] = field(default_factory=list)
    """The finished items, in output order."""
    finish_reason: str | None = None
    usage: ChatUsage | None = None
    _text: _Text | None = None
    _calls: dict[int, _Call] = field(default_factory=dict)
    _done: dict[int, OutputItem] = field(default_factory=dict)
    _next_index: int = 0

    def feed(self, chunk: ChatChunk) -> list[OutputEvent]:
        """The events of one chunk (its first choice; other choices are not asked for)."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        events: list[OutputEvent] = []
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            self._delta(choice.delta, events)
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
        return events

    def finish(self) -> tuple[list[OutputEvent], ModelAnswer]:
        """Close every open item; the last one ends ``incomplete`` when the answer stopped
        early."""
        incomplete = incomplete_reason(self.finish_reason)
        events: list[OutputEvent] = []
        last = self._next_index - 1
        self._close_text(events, last if incomplete else None)
        self._close_calls(events, last if incomplete else None)
        self.output = [self._done[index] for index in sorted(self._done)]
        return events, ModelAnswer(self.output, usage_of(self.usage), incomplete)

    # --- deltas -----------------------------------------------------------------------------

    def _delta(self, delta: ChoiceDelta, events: list[OutputEvent]) -> None:
        reasoning = delta.reasoning_content or delta.reasoning
        if reasoning:
            self._text_delta("reasoning", "reasoning_text", reasoning, events)
        if delta.content:
            self._text_delta("message", "output_text", delta.content, events)
        if delta.refusal:
            self._text_delta("message", "refusal", delta.refusal, events)
        for call in delta.tool_calls or []:
            self._call_delta(call, events)

    def _text_delta(self, kind: str, part_kind: str, text: str, events: list[OutputEvent]) -> None:
        self._close_calls(events, None)
        if self._text is not None and self._text.kind != kind:
            self._close_text(events, None)
        item = self._text
        if item is None:
            item = self._text = _Text(kind, new_item_id(kind), self._take_index())
            events.append(
                OutputItemAdded(output_index=item.output_index, item=item.item("in_progress"))
            )
        part = item.parts.get(part_kind)
        if part is None:
            part = item.parts[part_kind] = _Part(part_kind, len(item.parts))
            events.append(
                ContentPartAdded(
                    item_id=item.id,
                    output_index=item.output_index,
                    content_index=part.index,
                    part=_Part(part_kind, part.index).value(),
                )
            )
        part.text.append(text)
        where: dict[str, Any] = {
            "item_id": item.id,
            "output_index": item.output_index,
            "content_index": part.index,
        }
        if part_kind == "output_text":
            events.append(OutputTextDelta(**where, delta=text))
        elif part_kind == "refusal":
            events.append(RefusalDelta(**where, delta=text))
        else:
            events.append(ReasoningTextDelta(**where, delta=text))

    def _call_delta(self, fragment: ToolCall, events: list[OutputEvent]) -> None:
        self._close_text(events, None)
        index = fragment.index or 0
        call = self._calls.get(index)
        if call is None:
            custom = fragment.is_custom
            name = (fragment.custom.name if fragment.custom else None) if custom else None
            if not custom and fragment.function is not None:
                name = fragment.function.name
            item_type = "custom_tool_call" if custom else "function_call"
            call = self._calls[index] = _Call(
                custom=custom,
                id=new_item_id(item_type),
                call_id=fragment.id or new_id("call"),
                name=name or "",
                output_index=self._take_index(),
            )
            events.append(
                OutputItemAdded(output_index=call.output_index, item=call.item("in_progress"))
            )
        elif not call.name:
            part = fragment.custom if call.custom else fragment.function
            call.name = (part.name if part is not None else None) or ""
        if call.custom:
            text = fragment.custom.input if fragment.custom is not None else None
        else:
            text = arguments_text(fragment.function.arguments) if fragment.function else None
        if text:
            call.text.append(text)
            where: dict[str, Any] = {"item_id": call.id, "output_index": call.output_index}
            if call.custom:
                events.append(CustomToolCallInputDelta(**where, delta=text))
            else:
                events.append(FunctionCallArgumentsDelta(**where, delta=text))

    # --- closing items ----------------------------------------------------------------------

    def _take_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    def _status(self, output_index: int, incomplete_index: int | None) -> ItemStatus:
        return "incomplete" if output_index == incomplete_index else "completed"

    def _close_text(self, events: list[OutputEvent], incomplete_index: int | None) -> None:
        item = self._text
        if item is None:
            return
        self._text = None
        for part in item.parts.values():
            value = part.value()
            where: dict[str, Any] = {
                "item_id": item.id,
                "output_index": item.output_index,
                "content_index": part.index,
            }
            if isinstance(value, OutputText):
                events.append(OutputTextDone(**where, text=value.text))
            elif isinstance(value, Refusal):
                events.append(RefusalDone(**where, refusal=value.refusal))
            else:
                events.append(ReasoningTextDone(**where, text=value.text))
            events.append(ContentPartDone(**where, part=part.value()))
        done = item.item(self._status(item.output_index, incomplete_index))
        self._done[item.output_index] = done
        events.append(OutputItemDone(output_index=item.output_index, item=done))

    def _close_calls(self, events: list[OutputEvent], incomplete_index: int | None) -> None:
        calls = sorted(self._calls.values(), key=lambda c: c.output_index)
        self._calls = {}
        for call in calls:
            done = call.item(self._status(call.output_index, incomplete_index))
            where: dict[str, Any] = {"item_id": call.id, "output_index": call.output_index}
            if isinstance(done, CustomToolCallItem):
                events.append(CustomToolCallInputDone(**where, input=done.input))
            else:
                events.append(
                    FunctionCallArgumentsDone(**where, name=done.name, arguments=done.arguments)
                )
            self._done[call.output_index] = done
            events.append(OutputItemDone(output_index=call.output_index, item=done))


async def translate_stream(
    chunks: AsyncGenerator[ChatChunk, None],
) -> AsyncIterator[OutputEvent | ModelAnswer]:
    """The output events of a streamed answer as its chunks arrive, then the ``ModelAnswer``.
    Closing it closes ``chunks`` (and so the model server's answer)."""
    translator = StreamTranslator()
    async with aclosing(chunks):
        async for chunk in chunks:
            for event in translator.feed(chunk):
                yield event
    events, answer = translator.finish()
    for event in events:
        yield event
    yield answer
