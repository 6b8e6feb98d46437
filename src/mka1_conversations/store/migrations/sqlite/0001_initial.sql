-- Conversations, their metadata side table, items with their full-text index, and API keys.

CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL,                 -- 'account:end_user'
    created_at  INTEGER NOT NULL,              -- unix seconds
    updated_at  INTEGER NOT NULL,              -- unix microseconds: list order
    deleted_at  INTEGER,                       -- unix seconds; soft delete
    metadata    TEXT NOT NULL DEFAULT '{}',    -- JSON object of strings
    next_seq    INTEGER NOT NULL DEFAULT 0     -- last item seq handed out
) WITHOUT ROWID;

CREATE INDEX conversations_owner_updated
    ON conversations (owner_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX conversations_owner_all ON conversations (owner_id, id);

-- One row per metadata pair, so equality filters use an index (json_each cannot).
CREATE TABLE conversation_metadata (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    owner_id        TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    PRIMARY KEY (conversation_id, key)
) WITHOUT ROWID;

CREATE INDEX conversation_metadata_pair ON conversation_metadata (owner_id, key, value);

CREATE TABLE items (
    rowid           INTEGER PRIMARY KEY,       -- the FTS content rowid
    owner_id        TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,          -- 1, 2, 3 … per conversation, gap-free
    id              TEXT NOT NULL,
    type            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    deleted_at      INTEGER,                   -- a deleted item keeps its row (cursors) but not its content
    data            TEXT NOT NULL,             -- canonical item JSON, returned verbatim
    search_text     TEXT NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX items_conversation_seq ON items (conversation_id, seq);
CREATE UNIQUE INDEX items_conversation_live_id ON items (conversation_id, id) WHERE deleted_at IS NULL;
CREATE INDEX items_conversation_id ON items (conversation_id, id);

CREATE VIRTUAL TABLE items_fts USING fts5 (
    search_text, content = 'items', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;

CREATE TRIGGER items_fts_update AFTER UPDATE OF search_text ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO items_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

CREATE TABLE api_keys (
    key_hash     TEXT PRIMARY KEY,             -- SHA-256 hex of the key; the key itself is never stored
    account      TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;
