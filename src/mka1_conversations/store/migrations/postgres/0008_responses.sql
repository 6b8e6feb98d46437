-- Model turns (issue 17, docs/responses.md): stored responses, the items each turn read and
-- wrote, and the conversation turn lease. Every table leads its keys with owner_id (Citus
-- distributes and co-locates by owner), and no table references conversations: a stored
-- response outlives its conversation (deleted or purged), as on OpenAI.

-- The turn lease: which turn (a response id) holds the conversation, and until when (unix
-- seconds). Taken and renewed by short statements, never a transaction held during the model
-- server's answer; a crashed turn's lease runs out by itself.
ALTER TABLE conversations
    ADD COLUMN turn_response_id text,
    ADD COLUMN turn_until bigint;

CREATE TABLE responses (
    owner_id             text   NOT NULL,
    id                   text   NOT NULL,
    created_at           bigint NOT NULL,      -- unix seconds
    position             bigint NOT NULL,      -- unix microseconds when stored: list order
    status               text   NOT NULL,      -- completed, incomplete, failed
    conversation_id      text,                 -- the conversation the turn read (and wrote)
    context_seq          bigint,               -- that conversation's last item (seq) before the turn
    previous_response_id text,
    data                 bytea  NOT NULL,      -- the Response JSON, returned verbatim
    PRIMARY KEY (owner_id, id)
);

CREATE INDEX responses_owner_position ON responses (owner_id, position, id);

-- A response's input items (part 0) and output items (part 1), in order.
CREATE TABLE response_items (
    owner_id    text     NOT NULL,
    response_id text     NOT NULL,
    part        smallint NOT NULL,
    n           integer  NOT NULL,             -- 1, 2, 3 … within the part
    id          text     NOT NULL,
    data        bytea    NOT NULL,             -- the item JSON, returned verbatim
    PRIMARY KEY (owner_id, response_id, part, n)
);

CREATE INDEX response_items_id ON response_items (owner_id, response_id, part, id);
