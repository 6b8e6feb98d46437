-- The word index counted exactly, with pending items (store/words.py), and every word keyed so
-- that it fits an index whatever its length (domain/search.py, index_word).
--
-- Each conversation says how many of its newest items are pending: appended since its words
-- were last counted (folded). Existing conversations have none: their counts are recomputed
-- here from their live items, exactly (until now a count stopped at 4), under the words' index
-- keys. mka1_index_word is domain.search.index_word, registered on the connection by the
-- migration runner (SQLite has no digest function of its own).

ALTER TABLE conversations ADD COLUMN words_pending_items INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN words_pending_chars INTEGER NOT NULL DEFAULT 0;

DELETE FROM conversation_words;

-- A stored search text is words joined by single spaces, and a word is letters and digits
-- only, so it splits as a JSON array of strings (as in 0003).
INSERT INTO conversation_words (conversation_id, word, owner_id, items)
SELECT i.conversation_id, mka1_index_word(w.value), i.owner_id, count(DISTINCT i.rowid)
FROM items i, json_each('["' || replace(i.search_text, ' ', '","') || '"]') w
WHERE i.deleted_at IS NULL AND i.search_text <> '' AND w.value <> ''
GROUP BY i.conversation_id, mka1_index_word(w.value), i.owner_id;

-- Receipts of writes sent with an Idempotency-Key (store/receipts.py): the same key and request
-- again are answered with the stored result. Kept 24 hours; `purge` removes older ones.
CREATE TABLE request_receipts (
    owner_id    TEXT NOT NULL,
    key         TEXT NOT NULL,                 -- the client's Idempotency-Key
    fingerprint TEXT NOT NULL,                 -- SHA-256 hex of the request's method, path, body
    created_at  INTEGER NOT NULL,              -- unix seconds
    result      BLOB NOT NULL                  -- the write's result, JSON
);

CREATE UNIQUE INDEX request_receipts_key ON request_receipts (owner_id, key);
CREATE INDEX request_receipts_created ON request_receipts (created_at);
