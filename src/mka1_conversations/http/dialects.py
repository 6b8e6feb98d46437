"""The faces the API is served with, and every way they differ, in one table: MKA1's under
``/api/v1/llm`` and OpenAI's under ``/v1``. One service, one storage, the same handlers and the
same auth: a face only decides where it is mounted, which operations it serves, a default or
two, and how some errors look. docs/api.md ("Two faces") is this table for users.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.errors import ErrorCode, MethodNotAllowed, NotFound, ServiceError
from ..domain.store import Order

__all__ = ["DIALECTS", "MKA1", "OPENAI", "Dialect"]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    prefix: str
    """Where the face is mounted: its operations' paths follow it."""
    leaves_out: frozenset[str]
    """Operations of the table (``routes.OPERATIONS``) this face does not serve: 404 there."""
    item_order: Order
    """The order of an item list whose ``order`` is absent."""
    method_not_allowed: bool
    """A method a path does not serve: 405 with ``Allow`` (True) or 404 ``Invalid URL``."""
    null_404_code: bool
    """Whether a 404's ``code`` is null (OpenAI) or says which 404 (``not_found``,
    ``unknown_url``)."""

    def serves(self, operation: str) -> bool:
        return operation not in self.leaves_out

    def mounts(self, path: str) -> bool:
        """Whether a request path is this face's."""
        return path.startswith(self.prefix) and path[len(self.prefix) : len(self.prefix) + 1] in (
            "",
            "/",
        )

    def shown(self, err: ServiceError, method: str, path: str) -> tuple[ServiceError, str | None]:
        """The error this face answers with, and the code its envelope shows."""
        if isinstance(err, MethodNotAllowed) and not self.method_not_allowed:
            err = NotFound.url(method, path)
        code: ErrorCode | None = err.code
        if self.null_404_code and err.status == 404:
            code = None
        return err, code


MKA1 = Dialect(
    name="mka1",
    prefix="/api/v1/llm",
    leaves_out=frozenset(),
    item_order="asc",
    method_not_allowed=True,
    null_404_code=False,
)

OPENAI = Dialect(
    name="openai",
    prefix="/v1",
    # MKA1's own operations (OpenAI has no list of conversations or of responses)
    leaves_out=frozenset({"list_conversations", "delete_items", "list_responses"}),
    item_order="desc",
    method_not_allowed=False,
    null_404_code=True,
)

DIALECTS = (MKA1, OPENAI)
"""Every face the app mounts; MKA1's first (it also answers for paths of no face)."""
