-- Paging conversations as of a snapshot: where each conversation was in the list before it moved.
-- A listing page is served "as of" the moment the listing started; a conversation that moved
-- since (an item added, metadata updated) is placed by its position at that moment, found here.
-- Moves are kept 24 hours (SNAPSHOT_RETENTION in domain/listing.py).

CREATE TABLE conversation_moves (
    owner_id        TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    from_position   INTEGER NOT NULL,          -- updated_at before the move
    to_position     INTEGER NOT NULL           -- updated_at after it
);

CREATE INDEX conversation_moves_owner ON conversation_moves (owner_id, to_position);
CREATE INDEX conversation_moves_conversation ON conversation_moves (conversation_id, to_position);

CREATE TRIGGER conversations_moved AFTER UPDATE OF updated_at ON conversations
WHEN old.updated_at <> new.updated_at BEGIN
    INSERT INTO conversation_moves (owner_id, conversation_id, from_position, to_position)
    VALUES (old.owner_id, old.id, old.updated_at, new.updated_at);
    DELETE FROM conversation_moves
    WHERE conversation_id = old.id AND to_position < new.updated_at - 86400000000;
END;
