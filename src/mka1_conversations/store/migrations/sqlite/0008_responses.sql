-- Model turns (issue 17, docs/responses.md): stored responses, the items each turn read and
-- wrote, and the conversation turn lease. Every table leads its keys with owner_id (Citus
-- distributes and co-locates by owner), and no table references conversations: a stored
-- response outlives its conversation (deleted or purged), as on OpenAI.

-- The turn lease: which turn (a response id) holds the conversation, and until when (unix
-- seconds). Taken and renewed by short statements, never a transaction held during the model
-- server's answer; a crashed turn's lease runs out by itself.
ALTER TABLE conversations ADD COLUMN turn_response_id TEXT;
ALTER TABLE conversations ADD COLUMN turn_until INTEGER;

CREATE TABLE responses (
    owner_id             TEXT NOT NULL,
    id                   TEXT NOT NULL,
    created_at           INTEGER NOT NULL,     -- unix seconds
    position             INTEGER NOT NULL,     -- unix microseconds when stored: list order
    status               TEXT NOT NULL,        -- completed, incomplete, failed
    conversation_id      TEXT,                 -- the conversation the turn read (and wrote)
    context_seq          INTEGER,              -- that conversation's last item (seq) before the turn
    previous_response_id TEXT,
    data                 BLOB NOT NULL,        -- the Response JSON, returned verbatim
    PRIMARY KEY (owner_id, id)
) WITHOUT ROWID;

CREATE INDEX responses_owner_position ON responses (owner_id, position, id);

-- A response's input items (part 0) and output items (part 1), in order.
CREATE TABLE response_items (
    owner_id    TEXT NOT NULL,
    response_id TEXT NOT NULL,
    part        INTEGER NOT NULL,
    n           INTEGER NOT NULL,              -- 1, 2, 3 … within the part
    id          TEXT NOT NULL,
    data        BLOB NOT NULL,                 -- the item JSON, returned verbatim
    PRIMARY KEY (owner_id, response_id, part, n)
) WITHOUT ROWID;

CREATE INDEX response_items_id ON response_items (owner_id, response_id, part, id);
