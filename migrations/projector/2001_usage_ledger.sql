-- The projector's usage ledger: one row per usage event, keyed by the event
-- id, which is the permanent idempotency guard (JetStream's dedupe window is
-- only the first line of defence). `ledger_seq` orders the export cursor by
-- arrival in the ledger, so an event replayed late from a gateway spool is
-- still exported after the cursor that was already handed out.
CREATE TABLE usage_ledger (
    ledger_seq      BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id        UUID PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT,
    api_key_id      TEXT,
    model           TEXT NOT NULL,
    provider        TEXT NOT NULL,
    key_source      TEXT NOT NULL,
    input_tokens    BIGINT NOT NULL,
    output_tokens   BIGINT NOT NULL,
    cached_tokens   BIGINT NOT NULL,
    cost_micros     BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    status          INTEGER NOT NULL,
    streamed        BOOLEAN NOT NULL,
    estimated       BOOLEAN NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    event           BYTEA NOT NULL
);

CREATE INDEX usage_ledger_tenant_time ON usage_ledger (tenant_id, occurred_at);
