-- Read models of the key service: projections of key_events, rebuilt by
-- `keyway keys rebuild`. Every row carries the version of its event stream,
-- which the next command on it must expect (optimistic concurrency).

CREATE TABLE tenants (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    plan                TEXT NOT NULL CHECK (plan IN ('free', 'starter', 'pro', 'enterprise')),
    external_id         TEXT UNIQUE,
    -- Secrets sealed under a DEK older than this no longer open.
    min_dek_version     INTEGER NOT NULL DEFAULT 1,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    version             BIGINT NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email               TEXT,
    display_name        TEXT,
    role                TEXT NOT NULL CHECK (role IN ('tenant-admin', 'member', 'viewer')),
    external_subject    TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    version             BIGINT NOT NULL,
    UNIQUE (tenant_id, external_subject)
);
CREATE INDEX users_tenant ON users (tenant_id, id);

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id             TEXT REFERENCES users (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    role                TEXT NOT NULL,
    scopes              TEXT[],
    expires_at          TIMESTAMPTZ,
    -- HMAC-SHA256(pepper, secret); the secret itself is never stored.
    secret_hash         BYTEA NOT NULL,
    created_by          TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    rotated_at          TIMESTAMPTZ,
    revoked_at          TIMESTAMPTZ,
    version             BIGINT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE byok_keys (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope               TEXT NOT NULL CHECK (scope IN ('tenant', 'user')),
    user_id             TEXT REFERENCES users (id) ON DELETE CASCADE,
    provider            TEXT NOT NULL,
    label               TEXT,
    base_url            TEXT,
    masked              TEXT NOT NULL,
    -- AES-256-GCM under the tenant's DEK; AAD binds tenant, id, provider, DEK version.
    sealed              BYTEA NOT NULL,
    dek_version         INTEGER NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    version             BIGINT NOT NULL,
    CHECK ((scope = 'user') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX byok_keys_owner ON byok_keys (tenant_id, scope, COALESCE(user_id, ''), provider);

-- Key material is not event-sourced: crypto-shredding must be able to delete
-- it for good, and the event store is append-only.
CREATE TABLE tenant_deks (
    tenant_id           TEXT NOT NULL,
    version             INTEGER NOT NULL,
    wrapped             BYTEA NOT NULL,
    kek_ref             TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE service_secrets (
    name                TEXT PRIMARY KEY,
    wrapped             BYTEA NOT NULL,
    kek_ref             TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Transactional outbox: written in the same transaction as the event, and
-- deleted only once JetStream has acknowledged it under the event's id.
CREATE TABLE key_outbox (
    position            BIGINT PRIMARY KEY REFERENCES key_events (position),
    event_id            UUID NOT NULL,
    subject             TEXT NOT NULL,
    payload             BYTEA NOT NULL,
    occurred_at         TIMESTAMPTZ NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0
);
