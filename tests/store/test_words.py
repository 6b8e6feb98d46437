"""How the word index counts: each stored search text holds a word once, however often."""

from __future__ import annotations

from mka1_conversations.store.words import word_counts


def test_a_word_counts_the_texts_that_hold_it_not_its_occurrences() -> None:
    assert word_counts(["a b a", "b c", ""]) == {"a": 1, "b": 2, "c": 1}


def test_no_text_no_words() -> None:
    assert word_counts([]) == {}
