"""The listing's pure rules: how terms split by their holders, where a moved conversation sits
in a snapshot, and how a page is merged from unmoved and moved conversations."""

from __future__ import annotations

import pytest

from mka1_conversations.domain.conversations import ConversationRecord
from mka1_conversations.domain.store import ConversationQuery
from mka1_conversations.store.listing import (
    DRIVE_FROM_MATCHES,
    Listed,
    Term,
    classify,
    merge_page,
    position_as_of,
    terms_of,
)


def listed(position: int, conversation_id: str) -> Listed:
    return Listed(
        position, ConversationRecord(id=conversation_id, created_at=0, deleted_at=None, metadata={})
    )


def ids(page: list[Listed]) -> list[str]:
    return [p.record.id for p in page]


def test_terms_are_the_metadata_pairs_then_the_distinct_folded_search_words() -> None:
    query = ConversationQuery(metadata={"team": "t1", "tier": "gold"}, search="Crème creme BRÛLÉE")
    assert terms_of(query) == [
        Term("metadata", ("team", "t1")),
        Term("metadata", ("tier", "gold")),
        Term("word", ("creme",)),
        Term("word", ("brulee",)),
    ]
    assert terms_of(ConversationQuery()) == []


def test_a_term_nobody_holds_means_nothing_matches() -> None:
    terms = [Term("word", ("a",)), Term("word", ("b",))]
    assert classify(terms, [5, 0]) is None


def test_terms_split_into_rare_common_and_uncounted_at_the_threshold() -> None:
    rare, edge, common, uncounted = (Term("word", (w,)) for w in "abcd")
    filters = classify(
        [rare, edge, common, uncounted], [1, DRIVE_FROM_MATCHES, DRIVE_FROM_MATCHES + 1, None]
    )
    assert filters is not None
    assert filters.rare == [rare, edge]
    assert filters.common == [common]
    assert filters.uncounted == [uncounted]
    assert filters.by_id and not filters.may_take_long


@pytest.mark.parametrize(
    ("counts", "may_take_long"),
    [([DRIVE_FROM_MATCHES + 1], True), ([None], True), ([3], False), ([3, None], False)],
)
def test_only_a_page_no_rare_term_bounds_may_take_long(
    counts: list[int | None], may_take_long: bool
) -> None:
    terms = [Term("word", (str(n),)) for n in range(len(counts))]
    filters = classify(terms, counts)
    assert filters is not None and filters.may_take_long is may_take_long


def test_a_conversation_sits_where_it_was_before_its_move_crossed_the_snapshot() -> None:
    assert position_as_of(50, None) == 50
    assert position_as_of(90, 40) == 40


def test_moved_conversations_join_the_page_at_their_snapshot_position() -> None:
    unmoved = [listed(10, "c10"), listed(20, "c20"), listed(30, "c30")]
    moved = [listed(15, "m15"), listed(5, "m05")]
    page, more = merge_page(unmoved, moved, after=None, order="asc", limit=3)
    assert ids(page) == ["m05", "c10", "m15"] and more
    page, more = merge_page(unmoved[::-1], moved, after=None, order="desc", limit=10)
    assert ids(page) == ["c30", "c20", "m15", "c10", "m05"] and not more


def test_moved_conversations_behind_the_cursor_stay_out() -> None:
    unmoved = [listed(30, "c30")]
    moved = [listed(15, "m15"), listed(25, "m25")]
    page, more = merge_page(unmoved, moved, after=(20, "c20"), order="asc", limit=5)
    assert ids(page) == ["m25", "c30"] and not more
    page, _ = merge_page([listed(10, "c10")], moved, after=(20, "c20"), order="desc", limit=5)
    assert ids(page) == ["m15", "c10"]


def test_equal_positions_are_ordered_by_id() -> None:
    page, _ = merge_page(
        [listed(10, "b")], [listed(10, "a"), listed(10, "c")], after=(10, "a"), order="asc", limit=5
    )
    assert ids(page) == ["b", "c"]
