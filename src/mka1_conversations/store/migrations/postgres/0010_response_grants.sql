-- Sharing stored responses (issue 14's resourceType "response"; docs/sharing.md).
--
-- A separate table beside conversation_grants (0009 is left as it is: it may be applied
-- already), of the same shape: keyed by the grantee ('account:end_user' or 'account:*'), naming
-- the response's owner (response_owner, the responses' owner_id), so that a grantee's request
-- finds its grant by one key and then runs on the owner's rows. Under Citus it is distributed
-- by grantee_id like conversation_grants: a grantee's lookup is one shard. role: 1 reader,
-- 2 writer, 3 owner (a writer may do what a reader may: a response is immutable).
CREATE TABLE response_grants (
    grantee_id     text     NOT NULL,
    response_id    text     NOT NULL,
    response_owner text     NOT NULL,
    role           smallint NOT NULL CHECK (role IN (1, 2, 3)),
    granted_at     bigint   NOT NULL,               -- unix seconds
    PRIMARY KEY (grantee_id, response_id)
);
-- Deleting a response deletes its grants; export finds them.
CREATE INDEX response_grants_response ON response_grants (response_owner, response_id);
