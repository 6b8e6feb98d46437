"""The nesting bound of request bodies: brackets outside strings, counted in one pass."""

from __future__ import annotations

import pytest

from mka1_conversations.http.body import MAX_JSON_DEPTH, _too_deep


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        (_nested(MAX_JSON_DEPTH), False),
        (_nested(MAX_JSON_DEPTH + 1), True),
        (b'{"a": ' + _nested(MAX_JSON_DEPTH - 1) + b"}", False),
        (b'{"a": ' + _nested(MAX_JSON_DEPTH) + b"}", True),
        (b"[" + b",".join([_nested(MAX_JSON_DEPTH - 1)] * 50) + b"]", False),  # wide, not deep
        (b'["' + b"[" * 1000 + b'"]', False),  # brackets in a string are text
        (b'["\\"[[[", ' + _nested(MAX_JSON_DEPTH - 1) + b"]", False),  # an escaped quote
        (b'["\\\\", ' + _nested(MAX_JSON_DEPTH) + b"]", True),  # an escaped backslash
        (b'{"k": "}}}}", "v": [{}, {}, {"x": []}]}', False),
    ],
)
def test_depth_counts_brackets_outside_strings(body: bytes, deep: bool) -> None:
    assert _too_deep(body) is deep
