-- Signed webhooks: each registration pushes its tenant's usage events, in
-- export order, to a billing system's URL.
--
-- The signing secret is never stored in plaintext: it is sealed (AES-256-GCM,
-- bound to tenant, webhook id and secret version) under a data key of its
-- own, and only the KMS-wrapped form of that data key is kept. Deleting the
-- row is therefore a crypto-shred.
CREATE TABLE usage_webhooks (
    id                   UUID PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    url                  TEXT NOT NULL,
    description          TEXT,
    -- The KEK that wrapped the data key (the KMS's key_ref), for rewrapping.
    kms_key_ref          TEXT NOT NULL,
    wrapped_dek          BYTEA NOT NULL,
    sealed_secret        BYTEA NOT NULL,
    -- Bumped by every rotation; part of the seal's AAD.
    secret_version       INTEGER NOT NULL DEFAULT 1,
    -- The delivery cursor: the export position (ledger_seq) of the last
    -- event the receiver acknowledged. Retention never prunes past it.
    ledger_seq           BIGINT NOT NULL DEFAULT 0,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    secret_rotated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at      TIMESTAMPTZ,
    last_delivered_at    TIMESTAMPTZ,
    -- An HTTP status (`http_500`) or an error kind (`timeout`, `connect`);
    -- never a response body, never a secret.
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A delivery in flight: the instance's claim token and when the claim
    -- lapses (after a crash, another instance takes over then).
    claim_token          UUID,
    claimed_until        TIMESTAMPTZ
);

CREATE INDEX usage_webhooks_tenant ON usage_webhooks (tenant_id, created_at, id);
CREATE INDEX usage_webhooks_due ON usage_webhooks (next_attempt_at);
