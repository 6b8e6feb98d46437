-- Sharing (store/sharing.py) and usage (store/usage.py), issue 14.
--
-- A grant gives an end user of the owner's account (grantee_id 'account:end_user'), or every
-- end user of it ('account:*'), a role on one conversation. It is keyed by the grantee, and
-- names the conversation's owner (conversation_owner, the conversations' owner_id), so that a
-- grantee's request finds its grant by one key and then runs on the owner's rows. Under Citus
-- this table is distributed by grantee_id (not co-located with conversations): a grantee's
-- lookup is one shard, then the statement runs on the owner's. role: 1 reader, 2 writer, 3 owner.
CREATE TABLE conversation_grants (
    grantee_id         text     NOT NULL,
    conversation_id    text     NOT NULL,
    conversation_owner text     NOT NULL,
    role               smallint NOT NULL CHECK (role IN (1, 2, 3)),
    granted_at         bigint   NOT NULL,               -- unix seconds
    PRIMARY KEY (grantee_id, conversation_id)
);
-- Purge and export find a conversation's grants.
CREATE INDEX conversation_grants_conversation
    ON conversation_grants (conversation_owner, conversation_id);

-- Usage per caller (owner_id: 'account:end_user'), API key and minute (unix seconds of its
-- start). Creations and appends add to it in their own statement; other operations are
-- counted in memory and added every second.
CREATE TABLE conversation_usage (
    owner_id              text   NOT NULL,
    minute                bigint NOT NULL,
    api_key_id            text   NOT NULL,
    account               text   NOT NULL,
    end_user              text   NOT NULL,
    conversations_created bigint NOT NULL DEFAULT 0,
    items_added           bigint NOT NULL DEFAULT 0,
    operations            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (owner_id, minute, api_key_id)
);
-- An account's usage over a time range (without X-On-Behalf-Of).
CREATE INDEX conversation_usage_account ON conversation_usage (account, minute);
