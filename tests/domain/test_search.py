"""Search folding: case, accents and compatibility forms fold away; words are letters and
digits; a query is its distinct words, at most MAX_SEARCH_WORDS of them."""

from __future__ import annotations

from mka1_conversations.domain.search import (
    MAX_SEARCH_WORDS,
    fold,
    search_document,
    search_words,
)


def test_folding_drops_case_and_diacritics() -> None:
    assert fold("Crème BRÛLÉE") == "creme brulee"
    assert fold("ＦＵＬＬ width") == "full width"  # NFKD compatibility forms
    assert fold("Straße") == "strasse"  # case-folded, not lowercased
    assert fold("plain ascii") == "plain ascii"


def test_words_are_runs_of_letters_and_digits() -> None:
    assert search_words("don't stop_me now: 42!") == ["don", "t", "stop", "me", "now", "42"]
    assert search_words("日本語 テキスト") == ["日本語", "テキスト"]


def test_a_query_keeps_each_word_once_in_order() -> None:
    assert search_words("b a B á") == ["b", "a"]


def test_a_query_is_capped() -> None:
    query = " ".join(f"w{n}" for n in range(MAX_SEARCH_WORDS + 10))
    assert search_words(query) == [f"w{n}" for n in range(MAX_SEARCH_WORDS)]


def test_a_document_is_the_folded_words_of_its_texts() -> None:
    assert search_document(["Hello, World", "", "Ça va?"]) == "hello world ca va"
