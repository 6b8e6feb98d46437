"""Search folding: case, accents and compatibility forms fold away; words are letters and
digits; a query is its distinct words, at most MAX_SEARCH_WORDS of them; a word is indexed under
a key of bounded length."""

from __future__ import annotations

import hashlib

from mka1_conversations.domain.search import (
    MAX_INDEXED_CHARS,
    MAX_SEARCH_WORDS,
    fold,
    index_word,
    index_words,
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


def test_a_word_is_its_own_index_key_up_to_64_characters() -> None:
    word = "a" * MAX_INDEXED_CHARS
    assert index_word(word) == word
    assert search_words(word.upper()) == [word]


def test_a_longer_word_is_keyed_by_its_start_and_a_digest_of_it_whole() -> None:
    long = "b" * 5000
    key = index_word(long)
    assert key == "b" * 64 + "_" + hashlib.sha256(long.encode()).hexdigest()[:32]
    assert len(key.encode()) <= 64 * 4 + 33  # bounded, whatever the word's length
    assert index_word(long + "c") != key and index_word(long[:-1]) != key
    assert "_" not in search_words("x_y z")  # no word has "_": a key is never a short word
    assert search_words(long) == [key]
    assert index_words(f"{long} a a") == {key, "a"}
