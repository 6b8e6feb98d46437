-- The word index counted exactly, with pending items (store/words.py), and every word keyed so
-- that it fits the b-tree whatever its length (domain/search.py, index_word: a word over 64
-- characters made the index row exceed PostgreSQL's 2,704 bytes, and its item a 500).
--
-- Each conversation says how many of its newest items are pending: appended since its words
-- were last counted (folded). Existing conversations have none: their counts are recomputed
-- here from their live items, exactly (until now a count stopped at 4), under the words' index
-- keys. The key of a word over 64 characters is computed here as index_word computes it.

ALTER TABLE conversations
    ADD COLUMN words_pending_items integer NOT NULL DEFAULT 0,
    ADD COLUMN words_pending_chars bigint NOT NULL DEFAULT 0;

DELETE FROM conversation_words;

INSERT INTO conversation_words (owner_id, conversation_id, word, items)
SELECT i.owner_id, i.conversation_id, k.word, count(*)
FROM items i,
     LATERAL (SELECT DISTINCT CASE WHEN length(w) <= 64 THEN w
                  ELSE left(w, 64) || '_' || left(encode(sha256(convert_to(w, 'UTF8')), 'hex'), 32)
              END AS word
              FROM unnest(string_to_array(i.search_text, ' ')) AS w
              WHERE w <> '') k
WHERE i.deleted_at IS NULL
GROUP BY i.owner_id, i.conversation_id, k.word;

-- A write statement cut off by its request's deadline may still reach the database later (its
-- bytes were on their way when the database or the network stalled); it then must change
-- nothing. Such a statement carries the time after which it is too late (in this server's
-- clock), and this guard makes it fail as a cancelled statement would (store/postgres).
CREATE FUNCTION mka1_in_time(deadline float8) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF clock_timestamp() >= to_timestamp(deadline) THEN
        RAISE EXCEPTION 'a write arrived after its deadline' USING ERRCODE = 'query_canceled';
    END IF;
    RETURN true;
END
$$;

-- Receipts of writes sent with an Idempotency-Key (store/receipts.py): the same key and request
-- again are answered with the stored result. Kept 24 hours; `purge` removes older ones. Keys
-- lead with owner_id (Citus by owner).
CREATE TABLE request_receipts (
    owner_id    text   NOT NULL,
    key         text   NOT NULL,               -- the client's Idempotency-Key
    fingerprint text   NOT NULL,               -- SHA-256 hex of the request's method, path, body
    created_at  bigint NOT NULL,               -- unix seconds
    result      bytea  NOT NULL,               -- the write's result, JSON
    PRIMARY KEY (owner_id, key)
);

CREATE INDEX request_receipts_created ON request_receipts (created_at);
