-- Sharing (store/sharing.py) and usage (store/usage.py), issue 14.
--
-- A grant gives an end user of the owner's account (grantee_id 'account:end_user'), or every
-- end user of it ('account:*'), a role on one conversation. It is keyed by the grantee, and
-- names the conversation's owner (conversation_owner, the conversations' owner_id), so that a
-- grantee's request finds its grant by one key and then runs on the owner's rows (under Citus:
-- the grantee's shard, then the owner's). role: 1 reader, 2 writer, 3 owner.
CREATE TABLE conversation_grants (
    grantee_id         TEXT NOT NULL,
    conversation_id    TEXT NOT NULL,
    conversation_owner TEXT NOT NULL,
    role               INTEGER NOT NULL CHECK (role IN (1, 2, 3)),
    granted_at         INTEGER NOT NULL,             -- unix seconds
    PRIMARY KEY (grantee_id, conversation_id)
) WITHOUT ROWID;
-- Purge and export find a conversation's grants.
CREATE INDEX conversation_grants_conversation
    ON conversation_grants (conversation_owner, conversation_id);

-- Usage per caller (owner_id: 'account:end_user'), API key and minute (unix seconds of its
-- start). Creations and appends add to it in their own transaction; other operations are
-- counted in memory and added every second.
CREATE TABLE conversation_usage (
    owner_id              TEXT NOT NULL,
    minute                INTEGER NOT NULL,
    api_key_id            TEXT NOT NULL,
    account               TEXT NOT NULL,
    end_user              TEXT NOT NULL,
    conversations_created INTEGER NOT NULL DEFAULT 0,
    items_added           INTEGER NOT NULL DEFAULT 0,
    operations            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (owner_id, minute, api_key_id)
) WITHOUT ROWID;
-- An account's usage over a time range (without X-On-Behalf-Of).
CREATE INDEX conversation_usage_account ON conversation_usage (account, minute);
