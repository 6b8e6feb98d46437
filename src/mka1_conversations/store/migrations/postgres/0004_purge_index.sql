-- The retention purge (`mka1-conversations purge`) finds soft-deleted conversations by
-- deleted_at; live ones (most rows) stay out of this index.

CREATE INDEX conversations_deleted ON conversations (deleted_at) WHERE deleted_at IS NOT NULL;
