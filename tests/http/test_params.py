"""Integer query parameters: an optional ``-`` and ASCII digits, nothing Python's ``int`` would
also take; any number of digits is a value compared with the bounds."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from mka1_conversations.domain.errors import InvalidRequest
from mka1_conversations.http.params import parse_integer


def _parse(raw: str | None) -> int:
    query = QueryParams({} if raw is None else {"n": raw})
    return parse_integer(query, "n", minimum=1, maximum=100, default=20)


@pytest.mark.parametrize(
    ("raw", "value"), [(None, 20), ("", 20), ("5", 5), ("007", 7), ("100", 100)]
)
def test_ascii_digits_are_read(raw: str | None, value: int) -> None:
    assert _parse(raw) == value


@pytest.mark.parametrize(
    "raw",
    ["1_0", "\u0663", "\uff15", "+5", " 5", "5 ", "5\n", "0x10", "1e1", "1.0", "-", "--5", "五"],
)
def test_anything_else_is_not_an_integer(raw: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        _parse(raw)
    assert (refused.value.code, refused.value.param) == ("invalid_type", "n")


@pytest.mark.parametrize(
    ("raw", "code", "shown"),
    [
        ("0", "integer_below_min_value", "got 0 instead"),
        ("-0", "integer_below_min_value", "got 0 instead"),
        ("-3", "integer_below_min_value", "got -3 instead"),
        ("101", "integer_above_max_value", "got 101 instead"),
        ("9" * 5000, "integer_above_max_value", "got " + "9" * 40 + "... instead"),
        ("-" + "9" * 5000, "integer_below_min_value", "got -" + "9" * 40 + "... instead"),
        ("0" * 5000 + "7", None, None),
    ],
)
def test_any_number_of_digits_meets_the_bounds(raw: str, code: str | None, shown: str) -> None:
    if code is None:
        assert _parse(raw) == 7
        return
    with pytest.raises(InvalidRequest) as refused:
        _parse(raw)
    assert refused.value.code == code
    assert shown in refused.value.message
