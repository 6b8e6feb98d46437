"""Receipts keep a write's result exactly, and the memory of unconfirmed creations is bounded
in age and size (the behaviour over HTTP: tests/test_idempotency.py, tests/test_stall.py)."""

from __future__ import annotations

from mka1_conversations.domain.conversations import ConversationRecord
from mka1_conversations.domain.store import ItemPage
from mka1_conversations.store import receipts
from mka1_conversations.store.receipts import Unconfirmed, decode_result, encode_result


def test_a_result_comes_back_as_it_was_stored() -> None:
    record = ConversationRecord(id="conv_1", created_at=5, deleted_at=None, metadata={"é": "ü"})
    page = ItemPage(ids=["a", "b"], data=[b'{"id":"a","x":[1]}', b'{"id":"b"}'], has_more=False)
    for result in (record, page, None):
        assert decode_result(encode_result(result)) == result


def test_an_unconfirmed_creation_is_asked_about_once_and_forgotten_when_old() -> None:
    now = [0.0]
    memory = Unconfirmed(clock=lambda: now[0])
    memory.remember("o", "f", "conv_1", "msg_1", None)
    attempt = memory.take("o", "f")
    assert attempt is not None and attempt.item_id == "msg_1"
    assert memory.take("o", "f") is None  # taken
    memory.remember("o", "f", "conv_1", None, None)
    now[0] = receipts.UNCONFIRMED_SECONDS + 1
    assert memory.take("o", "f") is None  # too old: any retry is long over
    assert memory.take("other owner", "f") is None


def test_the_memory_keeps_the_newest_attempts() -> None:
    memory = Unconfirmed()
    for n in range(receipts.UNCONFIRMED_ENTRIES + 5):
        memory.remember("o", str(n), "c", None, None)
    assert memory.take("o", "0") is None
    assert memory.take("o", str(receipts.UNCONFIRMED_ENTRIES + 4)) is not None
