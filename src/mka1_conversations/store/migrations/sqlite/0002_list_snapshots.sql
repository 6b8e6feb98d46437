-- Paging conversations as of a snapshot: where each conversation was in the list before it moved.
-- A listing page is served "as of" the moment the listing started; a conversation that moved
-- since (an item added, metadata updated) is placed by its position at that moment, found here.
-- Moves are kept 24 hours (SNAPSHOT_RETENTION in domain/listing.py). The store records a move
-- only when a remembered snapshot may need it (SQLite keeps snapshots in the server process:
-- see SQLiteStore._record_move), not on every update: most appends cost no extra row.

CREATE TABLE conversation_moves (
    owner_id        TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    from_position   INTEGER NOT NULL,          -- updated_at before the move
    to_position     INTEGER NOT NULL           -- updated_at after it
);

CREATE INDEX conversation_moves_owner ON conversation_moves (owner_id, to_position);
CREATE INDEX conversation_moves_conversation ON conversation_moves (conversation_id, to_position);
