"""The head limit: the request line and headers together, counted roughly as sent, are refused
with 431 (and the connection closed) above the limit; at or under it the request goes on."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from mka1_conversations.domain.errors import HeadersTooLarge
from mka1_conversations.http.head_limit import HeadLimit

LIMIT = 8192


def scope(path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "raw_path": path, "query_string": query, "headers": headers}


def head_size(s: Scope) -> int:
    """What the head would weigh: request line overhead, path, ``?`` and query,
    ``name: value\\r\\n``."""
    query = len(s["query_string"])
    return (
        16
        + len(s["raw_path"])
        + (query + 1 if query else 0)
        + sum(len(n) + len(v) + 4 for n, v in s["headers"])
    )


def run(s: Scope) -> bool:
    """Whether the head passes (raises the refusal otherwise)."""
    HeadLimit(max_header_bytes=LIMIT).check(s)
    return True


@pytest.mark.parametrize("part", ["path", "query", "header"])
def test_every_part_of_the_head_counts(part: str) -> None:
    def build(extra: int) -> Scope:
        filler = b"x" * extra
        return scope(
            b"/p" + (filler if part == "path" else b""),
            filler if part == "query" else b"",
            [(b"host", b"h"), (b"x-filler", filler if part == "header" else b"")],
        )

    empty = head_size(build(0)) + (1 if part == "query" else 0)  # a query brings its "?"
    at_limit = build(LIMIT - empty)
    assert head_size(at_limit) == LIMIT
    assert run(at_limit)
    over = build(LIMIT - empty + 1)
    with pytest.raises(HeadersTooLarge) as refused:
        run(over)
    assert refused.value.status == 431
    assert refused.value.headers == {"connection": "close"}
