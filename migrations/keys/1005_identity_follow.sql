-- Following Keycloak identities (docs/identity.md).
--
-- `identity_status` is the user's status in Keycloak as the follower last
-- saw it, projected from `user.identity_changed` events. It is kept apart
-- from `status`, which only Keyway admins set: a user's credentials work
-- only while both are 'active'.
ALTER TABLE users ADD COLUMN identity_status TEXT NOT NULL DEFAULT 'active'
    CHECK (identity_status IN ('active', 'disabled'));
CREATE INDEX users_external_subject ON users (external_subject) WHERE external_subject IS NOT NULL;

-- When Keycloak last confirmed each followed identity (its user id). Not
-- event-sourced: a confirmation changes nothing, and one event per user per
-- reconciliation would swamp the event store. A rebuild keeps this table;
-- were it lost, followed users would fail closed until the next check.
CREATE TABLE identity_subjects (
    subject         TEXT PRIMARY KEY,
    confirmed_at    TIMESTAMPTZ NOT NULL
);

-- The follower's position in the realm's admin events (Keycloak's event
-- time in ms, plus the events already applied at that very millisecond),
-- and the lease that lets one key-service instance follow at a time.
CREATE TABLE identity_follow_state (
    realm           TEXT PRIMARY KEY,
    cursor_time_ms  BIGINT NOT NULL,
    cursor_seen     TEXT[] NOT NULL DEFAULT '{}',
    lease_holder    UUID,
    lease_until     TIMESTAMPTZ
);

-- Tenants whose data key must be rotated because a deleted identity's BYOK
-- keys were removed: queued in the deletion's transaction, cleared once the
-- rotation has destroyed the old data keys (crypto-shredding the deleted
-- keys' copies in key_events).
CREATE TABLE identity_shreds (
    tenant_id       TEXT PRIMARY KEY,
    queued_at       TIMESTAMPTZ NOT NULL
);
