-- Search by conversation instead of by item: one row per (conversation, word of its live items),
-- with how many live items hold the word. A search word then costs one index range of the
-- owner's conversations that hold it (or a point lookup per conversation while walking the
-- list), never a walk over every item that holds it, as the item-level tsvector GIN index did:
-- a common word is in a large share of an owner's items. Words are folded and split in Python
-- (domain/search.py); the rows are written in the same statement as the items
-- (PostgresStore.append_items) and decremented when items are deleted. Keys lead with owner_id
-- (Citus by owner).

CREATE TABLE conversation_words (
    owner_id        text    NOT NULL,
    conversation_id text    NOT NULL,
    word            text    NOT NULL,
    items           integer NOT NULL,            -- live items of the conversation holding the word
    PRIMARY KEY (owner_id, conversation_id, word),
    FOREIGN KEY (owner_id, conversation_id) REFERENCES conversations (owner_id, id) ON DELETE CASCADE
);

CREATE INDEX conversation_words_owner_word ON conversation_words (owner_id, word, conversation_id);

INSERT INTO conversation_words (owner_id, conversation_id, word, items)
SELECT i.owner_id, i.conversation_id, w.word, count(*)
FROM items i, LATERAL (SELECT DISTINCT unnest(string_to_array(i.search_text, ' ')) AS word) w
WHERE i.deleted_at IS NULL AND w.word <> ''
GROUP BY i.owner_id, i.conversation_id, w.word;

DROP INDEX items_search;
ALTER TABLE items DROP COLUMN search;
