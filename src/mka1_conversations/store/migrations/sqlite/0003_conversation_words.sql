-- Search by conversation instead of by item: one row per (conversation, word of its live items),
-- with how many live items hold the word. A search word then costs one index range of the
-- owner's conversations that hold it (or a point lookup per conversation while walking the
-- list), never a walk over every item that holds it, as the item-level FTS5 index did: a common
-- word is in a large share of an owner's items. Words are folded and split in Python
-- (domain/search.py), so no tokenizer is needed; the rows are written in the same transaction
-- as the items (SQLiteStore._add_words) and decremented when items are deleted.

CREATE TABLE conversation_words (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    word            TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    items           INTEGER NOT NULL,          -- live items of the conversation holding the word
    PRIMARY KEY (conversation_id, word)
) WITHOUT ROWID;

CREATE INDEX conversation_words_owner_word ON conversation_words (owner_id, word, conversation_id);

-- The existing items' words. A stored search text is words joined by single spaces, and a word
-- is letters and digits only, so it splits as a JSON array of strings.
INSERT INTO conversation_words (conversation_id, word, owner_id, items)
SELECT i.conversation_id, w.value, i.owner_id, count(DISTINCT i.rowid)
FROM items i, json_each('["' || replace(i.search_text, ' ', '","') || '"]') w
WHERE i.deleted_at IS NULL AND i.search_text <> '' AND w.value <> ''
GROUP BY i.conversation_id, w.value, i.owner_id;

DROP TRIGGER items_fts_insert;
DROP TRIGGER items_fts_delete;
DROP TRIGGER items_fts_update;
DROP TABLE items_fts;
