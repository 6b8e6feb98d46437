-- Listing positions in commit order, and no statement a Citus shard cannot run by itself
-- (issue 15; docs/scaling.md).
--
-- A conversation's position (updated_at) was stamped with clock_timestamp() before its
-- transaction committed, so a listing snapshot taken between the stamp and the commit saw the
-- conversation at its old place and, on the next page, at a new place before the snapshot time:
-- twice ascending, never descending. Positions now come from one clock row per owner, bumped
-- by every write that moves one of the owner's conversations (greatest of the row + 1 and the
-- server's clock in microseconds). The bump holds the row until commit, so the owner's positions
-- are handed out in commit order: a listing whose snapshot is the row's committed value sees
-- every position at or below it already committed (store/listing.py).
CREATE TABLE owner_clocks (
    owner_id text   NOT NULL PRIMARY KEY,
    position bigint NOT NULL                 -- the owner's last position handed out
);

INSERT INTO owner_clocks (owner_id, position)
SELECT owner_id, max(updated_at) FROM conversations GROUP BY owner_id;

-- A move is recorded by the statement that moves a conversation (the row keeps where it came
-- from, for that statement's RETURNING), not by a trigger: Citus cannot run a trigger that
-- writes another distributed table from a shard.
ALTER TABLE conversations ADD COLUMN moved_from bigint;   -- position before the latest move

DROP TRIGGER conversations_moved ON conversations;
DROP FUNCTION conversations_moved();

-- The late-write guard (0006) is STABLE: Citus refuses a VOLATILE function in an UPDATE's WHERE
-- and evaluates a STABLE one with constant arguments once, on the coordinator (the database the
-- service talks to), before the statement goes to its shard. It still reads clock_timestamp().
ALTER FUNCTION mka1_in_time(float8) STABLE;

-- A remembered listing snapshot is a position of the owner's clock, which stands still while
-- the owner writes nothing: when it was taken (the server's clock, microseconds) says whether
-- it is still within the retention time.
ALTER TABLE list_snapshots ADD COLUMN taken_at bigint NOT NULL DEFAULT 0;
