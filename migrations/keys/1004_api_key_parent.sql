-- The key that created a key, when a key (not a person or the admin key)
-- created it. Revoking a key revokes every key it created, transitively, so
-- a derived key can never outlive the credential it was minted from.
ALTER TABLE api_keys ADD COLUMN parent_key_id TEXT;
CREATE INDEX api_keys_parent ON api_keys (parent_key_id) WHERE parent_key_id IS NOT NULL;
