"""Model turns: ``POST /responses``, whole or streamed, over a ResponseStore and a ModelServer.

A turn: validate the request; read its context (the conversation's live items, taking the
conversation's lease, or the previous response's context); ask the model server; then, in one
store transaction, save the response and append the turn's input and output items to the
conversation, before the client is told the response is complete. Nothing is appended when any
step fails; with ``store: false`` nothing is written at all. Every error before the model server
has started answering is raised (an HTTP error); once a stream has started, a failure is its last
event, ``response.failed``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec

from . import requests
from .errors import ClientGone, Conflict, ServiceError, UpstreamError, UpstreamNotConfigured
from .identity import Owner
from .ids import new_id
from .items import NewItem, prepare_items
from .model_server import ModelAnswer, ModelServer
from .response_events import (
    OutputEvent,
    ResponseCompleted,
    ResponseCreated,
    ResponseFailed,
    ResponseIncomplete,
    ResponseInProgress,
    StreamEvent,
)
from .response_request import CreateResponseInput
from .response_rules import TurnRequest, validate_create
from .response_store import ResponseRecord, ResponseStore
from .responses import (
    RESPONSE_PREFIX,
    IncompleteDetails,
    OutputItem,
    ResponseObject,
    Usage,
    decode_response,
    error_of,
)

__all__ = ["DEFAULT_LEASE_SECONDS", "TurnObserver", "TurnService", "stored_output"]

logger = logging.getLogger("mka1_conversations")

T = TypeVar("T")

DEFAULT_LEASE_SECONDS = 30
"""How long a conversation stays locked by a turn that stopped renewing its lease (a crash)."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


async def _replayed(response: ResponseObject) -> AsyncIterator[StreamEvent]:
    """A stored response as a stream: ``response.created`` and ``response.in_progress`` (as it
    began: no output yet), then its last event, which carries it whole."""
    began = msgspec.structs.replace(
        response,
        status="in_progress",
        output=[],
        usage=Usage(),
        completed_at=None,
        incomplete_details=None,
    )
    yield ResponseCreated(sequence_number=0, response=began)
    yield ResponseInProgress(sequence_number=1, response=began)
    if response.status == "incomplete":
        yield ResponseIncomplete(sequence_number=2, response=response)
    else:
        yield ResponseCompleted(sequence_number=2, response=response)


def _now() -> int:
    return int(time.time())


def stored_output(output: list[OutputItem], response_id: str) -> list[NewItem]:
    """A turn's output items as conversation items (validated by the item table, like any
    item), each with the turn's ``response_id``."""
    return prepare_items(
        [msgspec.to_builtins(item) for item in output], param="output", response_id=response_id
    )


class TurnObserver(Protocol):
    """Where turns report what an operator counts (``metrics.py``): never any content."""

    def model_answered(self, seconds: float) -> None:
        """The model server's time for one answer (request sent to answer complete)."""

    def turn_ended(self, status: str, usage: Usage | None) -> None:
        """A turn ended ``completed``, ``incomplete`` or ``failed``, with the tokens it used."""


class _NoObserver:
    def model_answered(self, seconds: float) -> None:
        pass

    def turn_ended(self, status: str, usage: Usage | None) -> None:
        pass


@dataclass(slots=True)
class _Turn:
    """One running turn."""

    owner: Owner
    request: TurnRequest
    model: ModelServer
    items: list[dict[str, Any]]
    """The context, then the input: what the model server is sent."""
    response: ResponseObject
    """The response as it stands (``in_progress`` until the turn ends)."""
    leased: bool
    """Whether the turn holds its conversation's lease (and must give it back)."""


@dataclass(slots=True)
class TurnService:
    """Create a response, whole or streamed."""

    store: ResponseStore
    model: ModelServer | None
    """None when no model server is configured: every operation answers 503."""
    clock: Callable[[], int] = field(default=_now)
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    observer: TurnObserver = field(default_factory=_NoObserver)
    store_seconds: float | None = None
    """The deadline of each storage call of a turn (the request's own deadline would run out
    while the model server answers, which its own timeout bounds); None: the caller's."""

    async def create(self, owner: Owner, body: CreateResponseInput) -> ResponseObject:
        """Run a turn and return its finished response; raises what failed. A request whose
        ``Idempotency-Key`` already answered it is answered with that response."""
        answered = await self._answered(owner)
        if answered is not None:
            return answered
        turn = await self._begin(owner, body)
        try:
            async with self._lease_kept(turn):
                started = time.perf_counter()
                answer = await turn.model.answer(turn.request, turn.items)
                self.observer.model_answered(time.perf_counter() - started)
            return await self._finish(turn, answer)
        except ServiceError as exc:
            await self._fail(turn, exc)
            raise
        finally:
            await asyncio.shield(self._release(turn))

    async def create_stream(
        self, owner: Owner, body: CreateResponseInput
    ) -> AsyncIterator[StreamEvent]:
        """Start a turn whose events are streamed. Raises (an HTTP error) what fails before the
        model server has started answering; the returned events end with the response's last
        state: ``response.completed``, ``response.incomplete`` or ``response.failed``. Iterate
        them to the end or close them: that is what ends the turn. A request whose
        ``Idempotency-Key`` already answered it gets that response's first and last events."""
        answered = await self._answered(owner)
        if answered is not None:
            return _replayed(answered)
        turn = await self._begin(owner, body)
        started = time.perf_counter()
        try:
            events = await turn.model.answer_streamed(turn.request, turn.items)
        except ServiceError as exc:
            await self._fail(turn, exc)
            await self._release(turn)
            raise
        except BaseException:
            await asyncio.shield(self._release(turn))
            raise
        return self._stream(turn, events, started)

    async def _stream(
        self, turn: _Turn, events: AsyncIterator[OutputEvent | ModelAnswer], started: float
    ) -> AsyncIterator[StreamEvent]:
        number = itertools.count()
        last: StreamEvent
        try:
            yield ResponseCreated(sequence_number=next(number), response=turn.response)
            yield ResponseInProgress(sequence_number=next(number), response=turn.response)
            answer: ModelAnswer | None = None
            async with self._lease_kept(turn):
                async for event in events:
                    if isinstance(event, ModelAnswer):
                        answer = event
                        self.observer.model_answered(time.perf_counter() - started)
                        break
                    event.sequence_number = next(number)
                    yield event
            if answer is None:
                raise UpstreamError("The model server's stream ended before its answer did.")
            response = await self._finish(turn, answer)
            if response.status == "incomplete":
                last = ResponseIncomplete(sequence_number=next(number), response=response)
            else:
                last = ResponseCompleted(sequence_number=next(number), response=response)
        except ServiceError as exc:
            last = ResponseFailed(
                sequence_number=next(number), response=await self._fail(turn, exc)
            )
        except (asyncio.CancelledError, GeneratorExit):
            # The client went away mid-stream: the turn failed, nothing is appended.
            if turn.response.status == "in_progress":
                await asyncio.shield(self._fail(turn, ClientGone()))
            raise
        finally:
            # Also when the client went away: the task may be cancelled (repeatedly, under
            # anyio), so the clean-up runs on its own.
            await asyncio.shield(self._close(turn, events))
        yield last

    async def _close(self, turn: _Turn, events: AsyncIterator[OutputEvent | ModelAnswer]) -> None:
        """Close the model server's answer (if still open) and give the lease back."""
        try:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            await self._release(turn)

    # --- the steps of a turn ----------------------------------------------------------------

    async def _answered(self, owner: Owner) -> ResponseObject | None:
        """The response that already answered this request's Idempotency-Key, if any."""
        self._model()
        request = requests.current()
        if request is None or request.idempotency_key is None:
            return None
        data = await self._stored(self.store.answered(owner))
        return None if data is None else decode_response(data)

    async def _begin(self, owner: Owner, body: CreateResponseInput) -> _Turn:
        model = self._model()
        request = validate_create(body, response_id=new_id(RESPONSE_PREFIX))
        now = self.clock()
        leased = False
        if request.conversation_id is not None and request.store:
            context = await self._stored(
                self.store.begin_turn(
                    owner,
                    request.conversation_id,
                    request.id,
                    now=now,
                    lease_seconds=self.lease_seconds,
                )
            )
            leased = True
        elif request.conversation_id is not None:
            context = await self._stored(
                self.store.conversation_items(owner, request.conversation_id)
            )
        elif request.previous_response_id is not None:
            context = await self._stored(
                self.store.response_context(owner, request.previous_response_id)
            )
        else:
            context = []
        items = [_decode(data) for data in context]
        turn = _Turn(owner, request, model, items, request.in_progress(now), leased)
        if leased:
            await self._refuse_taken_ids(turn)
        items += [_decode(item.data) for item in request.input_items]
        return turn

    async def _refuse_taken_ids(self, turn: _Turn) -> None:
        """An input item whose id the conversation already has could not be appended: refuse
        it (409) before the model server is asked (the store checks again when appending)."""
        ids = [item.id for item in turn.request.input_items]
        taken = {str(item.get("id")) for item in turn.items} & set(ids)
        if taken:
            await self._release(turn)
            conversation_id = turn.request.conversation_id
            assert conversation_id is not None
            raise Conflict.duplicate_item(conversation_id, ids, taken, param="input")

    async def _finish(self, turn: _Turn, answer: ModelAnswer) -> ResponseObject:
        """The finished response, stored (and the turn's items appended) when ``store``."""
        request = turn.request
        incomplete = answer.incomplete
        response = msgspec.structs.replace(
            turn.response,
            status="incomplete" if incomplete else "completed",
            completed_at=None if incomplete else self.clock(),
            incomplete_details=IncompleteDetails(reason=incomplete) if incomplete else None,
            output=answer.output,
            usage=answer.usage,
        )
        answered: bytes | None = None
        if request.store:
            output_items = stored_output(answer.output, request.id)
            append = request.conversation_id is not None
            answered = await self._stored(
                self.store.save_response(
                    turn.owner, self._record(turn, response, output_items, append), now=self.clock()
                )
            )
            if answered is None:  # else the same request sent at once was answered: ours is
                turn.leased = turn.leased and not append  # not stored, the lease still ours
        turn.response = response
        self.observer.turn_ended(response.status, response.usage)
        return response if answered is None else decode_response(answered)

    async def _fail(self, turn: _Turn, exc: ServiceError) -> ResponseObject:
        """The failed response, stored when ``store`` (never appended); a failure to store it
        leaves the original error to report."""
        response = msgspec.structs.replace(turn.response, status="failed", error=error_of(exc))
        turn.response = response
        self.observer.turn_ended("failed", None)
        if turn.request.store:
            try:
                await self._stored(
                    self.store.save_response(
                        turn.owner, self._record(turn, response, [], False), now=self.clock()
                    )
                )
            except Exception:  # the original error is the one to report
                logger.warning("could not store failed response %s", turn.request.id)
        return response

    async def _release(self, turn: _Turn) -> None:
        """Give the conversation's lease back, if the turn still holds it (best effort: the
        lease runs out anyway)."""
        if not turn.leased or turn.request.conversation_id is None:
            return
        turn.leased = False
        with suppress(ServiceError):
            await self._stored(
                self.store.end_turn(turn.owner, turn.request.conversation_id, turn.request.id)
            )

    @asynccontextmanager
    async def _lease_kept(self, turn: _Turn) -> AsyncIterator[None]:
        """Renew the turn's lease while the model server answers."""
        if not turn.leased:
            yield
            return
        renewal = asyncio.create_task(self._renew(turn))
        try:
            yield
        finally:
            renewal.cancel()
            with suppress(asyncio.CancelledError):
                await renewal

    async def _renew(self, turn: _Turn) -> None:
        conversation_id = turn.request.conversation_id
        assert conversation_id is not None
        while True:
            await asyncio.sleep(max(1.0, self.lease_seconds / 3))
            try:
                held = await self._stored(
                    self.store.renew_turn(
                        turn.owner,
                        conversation_id,
                        turn.request.id,
                        now=self.clock(),
                        lease_seconds=self.lease_seconds,
                    )
                )
            except ServiceError:
                continue  # the database is unavailable for now: try again next period
            if not held:
                return

    def _record(
        self, turn: _Turn, response: ResponseObject, output_items: list[NewItem], append: bool
    ) -> ResponseRecord:
        request = turn.request
        return ResponseRecord(
            id=request.id,
            data=_encode(response),
            status=response.status,
            created_at=response.created_at,
            conversation_id=request.conversation_id,
            previous_response_id=request.previous_response_id,
            input_items=request.input_items,
            output_items=output_items,
            append=append,
        )

    async def _stored(self, call: Awaitable[T]) -> T:
        """A storage call, under a deadline of its own (``store_seconds``)."""
        if self.store_seconds is None:
            return await call
        deadline = time.monotonic() + self.store_seconds
        outer = requests.current()
        inner = requests.Request(deadline) if outer is None else outer.with_deadline(deadline)
        with requests.serving(inner):
            return await call

    def _model(self) -> ModelServer:
        if self.model is None:
            raise UpstreamNotConfigured()
        return self.model
