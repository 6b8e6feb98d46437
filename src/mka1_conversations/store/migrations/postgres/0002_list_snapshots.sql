-- Paging conversations as of a snapshot: where each conversation was in the list before it moved,
-- and the snapshot each listing page was served from (keyed by the page's last conversation,
-- which the next page names as `after`). Both are kept 24 hours (SNAPSHOT_RETENTION in
-- domain/listing.py).

CREATE TABLE conversation_moves (
    owner_id        text   NOT NULL,
    conversation_id text   NOT NULL,
    from_position   bigint NOT NULL,           -- updated_at before the move
    to_position     bigint NOT NULL,           -- updated_at after it
    FOREIGN KEY (owner_id, conversation_id) REFERENCES conversations (owner_id, id) ON DELETE CASCADE
);

CREATE INDEX conversation_moves_owner ON conversation_moves (owner_id, to_position);
CREATE INDEX conversation_moves_conversation
    ON conversation_moves (owner_id, conversation_id, to_position);

CREATE FUNCTION conversations_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_moves (owner_id, conversation_id, from_position, to_position)
    VALUES (OLD.owner_id, OLD.id, OLD.updated_at, NEW.updated_at);
    DELETE FROM conversation_moves
    WHERE owner_id = OLD.owner_id AND conversation_id = OLD.id
      AND to_position < NEW.updated_at - 86400000000;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_moved AFTER UPDATE OF updated_at ON conversations
FOR EACH ROW WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at)
EXECUTE FUNCTION conversations_moved();

CREATE TABLE list_snapshots (
    owner_id        text   NOT NULL,
    conversation_id text   NOT NULL,
    snapshot_at     bigint NOT NULL,           -- unix microseconds (the database's clock)
    PRIMARY KEY (owner_id, conversation_id),
    FOREIGN KEY (owner_id, conversation_id) REFERENCES conversations (owner_id, id) ON DELETE CASCADE
);
