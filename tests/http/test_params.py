"""Query parameters: the plain fast path reads what Starlette's parser reads, ``limit`` and
``order`` defaults and bounds (an empty value is the default), ids that cannot exist, and the
three forms of the metadata filter with their conflicts and limits."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from mka1_conversations.domain.errors import InvalidRequest, NotFound
from mka1_conversations.domain.limits import (
    CONVERSATION_LIST_LIMIT,
    DEFAULT_LIST_LIMIT,
    ITEM_LIST_LIMIT,
    MAX_METADATA_PAIRS,
    MAX_SEARCH_CHARS,
)
from mka1_conversations.http.params import (
    parse_after,
    parse_conversation_query,
    parse_integer,
    parse_limit,
    parse_order,
    path_ids,
    query_params,
)


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"limit=20&order=desc",
        b"after=msg_1&limit=&order=",
        b"a=1&a=2&b",
        b"metadata%5Bk%5D=v+w&search=caf%C3%A9",
        b"x=a;b",
        b"&&limit=5&",
    ],
)
def test_the_fast_path_reads_what_starlette_reads(query: bytes) -> None:
    ours = query_params(query)
    theirs = QueryParams(query.decode("latin-1"))
    assert ours.multi_items() == theirs.multi_items()


def test_limit_defaults_and_bounds() -> None:
    assert parse_limit(QueryParams(""), maximum=ITEM_LIST_LIMIT) == DEFAULT_LIST_LIMIT
    assert parse_limit(QueryParams("limit="), maximum=ITEM_LIST_LIMIT) == DEFAULT_LIST_LIMIT
    assert parse_limit(QueryParams("limit=007"), maximum=ITEM_LIST_LIMIT) == 7
    assert parse_limit(QueryParams(f"limit={ITEM_LIST_LIMIT}"), maximum=ITEM_LIST_LIMIT) == 100


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0", "integer_below_min_value"),
        ("-3", "integer_below_min_value"),
        (str(CONVERSATION_LIST_LIMIT + 1), "integer_above_max_value"),
        ("ten", "invalid_type"),
        ("1.5", "invalid_type"),
        (" 07 ", "invalid_type"),  # ASCII digits only (issue 18, finding 12)
    ],
)
def test_a_bad_limit_names_the_parameter(raw: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        parse_limit(QueryParams({"limit": raw}), maximum=CONVERSATION_LIST_LIMIT)
    assert (bad.value.code, bad.value.param) == (code, "limit")


def test_order_is_asc_unless_desc() -> None:
    assert parse_order(QueryParams("")) == "asc"
    assert parse_order(QueryParams("order=")) == "asc"
    assert parse_order(QueryParams("order=asc")) == "asc"
    assert parse_order(QueryParams("order=desc")) == "desc"
    with pytest.raises(InvalidRequest) as bad:
        parse_order(QueryParams("order=DESC"))
    assert (bad.value.code, bad.value.param) == ("invalid_value", "order")
    assert "'asc' and 'desc'" in bad.value.message


def test_after_is_an_id_that_can_exist_or_nothing() -> None:
    assert parse_after(QueryParams("")) is None
    assert parse_after(QueryParams("after=")) is None
    assert parse_after(QueryParams("after=msg_1")) == "msg_1"
    for impossible in ("x" * 257, "a%00b"):
        with pytest.raises(InvalidRequest) as bad:
            parse_after(QueryParams(f"after={impossible}"))
        assert bad.value.param == "after"


def test_path_ids_that_cannot_exist_are_not_found() -> None:
    assert path_ids({"conversation_id": "conv_1"}) == ("conv_1", "")
    assert path_ids({"conversation_id": "conv_1", "item_id": "msg_1"}) == ("conv_1", "msg_1")
    with pytest.raises(NotFound) as conversation:
        path_ids({"conversation_id": "c" * 257, "item_id": "msg_1"})
    assert conversation.value.message.startswith("Conversation with id")
    with pytest.raises(NotFound) as item:
        path_ids({"conversation_id": "conv_1", "item_id": "m\x00"})
    assert item.value.message.startswith("Item with id")


def test_the_metadata_filter_in_its_three_forms() -> None:
    query = parse_conversation_query(
        QueryParams('metadata={"a":"1"}&metadata[b]=2&c=3&limit=5&order=desc&search=hi')
    )
    assert query.metadata == {"a": "1", "b": "2", "c": "3"}
    assert (query.limit, query.order, query.after, query.search) == (5, "desc", None, "hi")
    same = parse_conversation_query(QueryParams('metadata={"a":"1"}&metadata[a]=1'))
    assert same.metadata == {"a": "1"}  # the same pair twice is one pair
    assert parse_conversation_query(QueryParams("search=")).search is None


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ('metadata={"a":"1"}&metadata[a]=2', "metadata.a"),
        ("metadata=[1]", "metadata"),
        ("metadata={nope", "metadata"),
        ('metadata={"a":1}', "metadata.a"),
    ],
)
def test_a_bad_metadata_filter_is_400(query: str, param: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        parse_conversation_query(QueryParams(query))
    assert bad.value.param == param


def test_the_filter_obeys_the_metadata_limits() -> None:
    pairs = "&".join(f"k{n}=v" for n in range(MAX_METADATA_PAIRS + 1))
    with pytest.raises(InvalidRequest) as bad:
        parse_conversation_query(QueryParams(pairs))
    assert bad.value.code == "object_above_max_properties"


def test_search_is_bounded() -> None:
    longest = "a" * MAX_SEARCH_CHARS
    assert parse_conversation_query(QueryParams({"search": longest})).search == longest
    with pytest.raises(InvalidRequest) as bad:
        parse_conversation_query(QueryParams({"search": longest + "a"}))
    assert (bad.value.code, bad.value.param) == ("string_above_max_length", "search")


# Integer query parameters: an optional '-' and ASCII digits, nothing Python's int would also
# take; any number of digits is a value compared with the bounds.


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
