"""What a model turn needs from the model server: one answer for a turn's context, whole or
streamed. ``upstream.client.ChatCompletionsModel`` implements it over any OpenAI-compatible
Chat Completions server; the turn service depends only on this protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .response_events import OutputEvent
from .response_rules import TurnRequest
from .responses import IncompleteReason, OutputItem, Usage

__all__ = ["ModelAnswer", "ModelServer"]


@dataclass(slots=True)
class ModelAnswer:
    """The model server's answer to one turn, in Responses terms."""

    output: list[OutputItem]
    usage: Usage = field(default_factory=Usage)
    incomplete: IncompleteReason | None = None
    """Why the answer stopped early (``max_output_tokens``, ``content_filter``); None if not."""


class ModelServer(Protocol):
    """Raises the ``Upstream*`` errors of ``domain.errors`` and nothing else it can help."""

    async def answer(self, turn: TurnRequest, items: Sequence[dict[str, Any]]) -> ModelAnswer:
        """The answer to ``turn`` given ``items`` (its context, then its input), whole."""

    async def answer_streamed(
        self, turn: TurnRequest, items: Sequence[dict[str, Any]]
    ) -> AsyncIterator[OutputEvent | ModelAnswer]:
        """Start the answer (a refusal of the model server raises here, before any event) and
        return its output events as they arrive, then the ``ModelAnswer`` as the last element.
        A failure after the start raises from the iterator."""
