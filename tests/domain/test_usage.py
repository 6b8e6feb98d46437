"""Usage buckets and pages (domain/usage.py)."""

from __future__ import annotations

import msgspec

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.usage import UsageQuery, UsageRow, mark, page_of


def query(**changes: object) -> UsageQuery:
    values: dict[str, object] = {
        "account": "acct",
        "owner_keys": None,
        "start": 3600,
        "end": 3600 * 5,
        "width": 3600,
        "limit": 3,
        "by_user": False,
        "by_key": False,
    }
    values.update(changes)
    return UsageQuery(**values)  # type: ignore[arg-type]


def test_mark_is_the_callers_minute() -> None:
    caller = Owner("acct", "bob", key_id="abc")
    m = mark(caller, 125)
    assert (m.owner_key, m.account, m.end_user, m.api_key_id, m.minute) == (
        "acct:bob",
        "acct",
        "bob",
        "abc",
        120,
    )


def test_a_page_holds_every_bucket_empty_or_not() -> None:
    rows = [UsageRow(7200, None, None, 1, 2, 3)]
    page = page_of(query(), rows)
    assert [b.start_time for b in page.data] == [3600, 7200, 10800]
    assert [b.end_time - b.start_time for b in page.data] == [3600] * 3
    assert page.data[0].results == [] and page.data[2].results == []
    (result,) = page.data[1].results
    assert (result.num_conversations_created, result.num_items_added, result.num_operations) == (
        1,
        2,
        3,
    )
    assert page.has_more and page.next_page == "14400"
    last = page_of(query(start=14400), [])
    assert [b.start_time for b in last.data] == [14400]
    assert not last.has_more and last.next_page is None


def test_groups_show_only_what_was_asked() -> None:
    rows = [UsageRow(3600, "", "k1", 1, 0, 1), UsageRow(3600, "bob", "k2", 0, 1, 1)]
    page = page_of(query(by_user=True, by_key=True), rows)
    shown = [(r.user_id, r.api_key_id) for r in page.data[0].results]
    assert shown == [(None, "k1"), ("bob", "k2")]  # the account's own requests: user_id null
    wire = msgspec.json.decode(msgspec.json.encode(page))
    assert wire["object"] == "page"
    assert wire["data"][0]["object"] == "bucket"
    assert wire["data"][0]["results"][0] == {
        "object": "organization.usage.conversations.result",
        "num_conversations_created": 1,
        "num_items_added": 0,
        "num_operations": 1,
        "user_id": None,
        "api_key_id": "k1",
    }
