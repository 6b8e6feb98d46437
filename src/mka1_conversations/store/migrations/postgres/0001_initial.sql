-- Conversations, items with their full-text index, and API keys.
-- Every key leads with owner_id, so a distributed PostgreSQL (Citus) can shard by owner and
-- every API call (always owner-scoped) stays on one shard.

CREATE TABLE conversations (
    owner_id    text   NOT NULL,                 -- 'account:end_user'
    id          text   NOT NULL,
    created_at  bigint NOT NULL,                 -- unix seconds
    updated_at  bigint NOT NULL,                 -- unix microseconds: list order
    deleted_at  bigint,                          -- unix seconds; soft delete
    metadata    jsonb  NOT NULL DEFAULT '{}',
    next_seq    bigint NOT NULL DEFAULT 0,       -- last item seq handed out
    PRIMARY KEY (owner_id, id)
);

CREATE INDEX conversations_owner_updated
    ON conversations (owner_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX conversations_metadata ON conversations USING gin (metadata jsonb_path_ops);

CREATE TABLE items (
    owner_id        text   NOT NULL,
    conversation_id text   NOT NULL,
    seq             bigint NOT NULL,             -- 1, 2, 3 … per conversation, gap-free
    id              text   NOT NULL,
    type            text   NOT NULL,
    created_at      bigint NOT NULL,
    deleted_at      bigint,                      -- a deleted item keeps its row (cursors), not its content
    data            text   NOT NULL,             -- canonical item JSON, returned verbatim
    search_text     text   NOT NULL DEFAULT '',  -- folded words, space-separated
    search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
    PRIMARY KEY (owner_id, conversation_id, seq),
    FOREIGN KEY (owner_id, conversation_id) REFERENCES conversations (owner_id, id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX items_live_id ON items (owner_id, conversation_id, id) WHERE deleted_at IS NULL;
CREATE INDEX items_id ON items (owner_id, conversation_id, id);
CREATE INDEX items_search ON items USING gin (search);

CREATE TABLE api_keys (
    key_hash     text PRIMARY KEY,               -- SHA-256 hex of the key; the key itself is never stored
    account      text NOT NULL,
    name         text NOT NULL DEFAULT '',
    created_at   bigint NOT NULL,
    last_used_at bigint,
    revoked_at   bigint
);
