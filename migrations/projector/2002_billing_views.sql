-- Billing views, checkpoints and export cursors of the projector.
--
-- `transaction_id` records the writing transaction of every ledger row. The
-- export only hands out rows whose transaction is older than every running
-- one (`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`), so a
-- cursor can never move past a row that is still being committed with a
-- smaller `ledger_seq`.
ALTER TABLE usage_ledger
    ADD COLUMN transaction_id XID8 NOT NULL DEFAULT pg_current_xact_id(),
    -- Kept out of 2001 by mistake: the views count disconnects, and a rebuild
    -- must see the same input as the incremental fold.
    ADD COLUMN client_disconnected BOOLEAN NOT NULL DEFAULT false;

-- The per-tenant export walks this index in cursor order.
CREATE INDEX usage_ledger_tenant_seq ON usage_ledger (tenant_id, ledger_seq);
-- No query reads the ledger by (tenant, time): summaries read the views and
-- retention uses the BRIN index below. Every insert paid for it.
DROP INDEX usage_ledger_tenant_time;
-- Retention selects by age; BRIN costs almost nothing per insert and works
-- because occurred_at grows with insertion order (spool replays aside).
CREATE INDEX usage_ledger_occurred_brin ON usage_ledger USING brin (occurred_at);

-- Daily (UTC day) and monthly (first UTC day of the month) sums. Missing ids
-- are '' so they can be part of the key. Never pruned.
--
-- Every batch upserts hundreds of keys: the key columns compare bytewise
-- (COLLATE "C"; ids need no linguistic order), and pages keep free space so
-- the updates stay HOT (no index write per update).
CREATE TABLE usage_daily (
    tenant_id           TEXT COLLATE "C" NOT NULL,
    period              DATE NOT NULL,
    model               TEXT COLLATE "C" NOT NULL,
    api_key_id          TEXT COLLATE "C" NOT NULL,
    user_id             TEXT COLLATE "C" NOT NULL,
    currency            TEXT COLLATE "C" NOT NULL,
    requests            BIGINT NOT NULL,
    errors              BIGINT NOT NULL,
    disconnects         BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cached_tokens       BIGINT NOT NULL,
    cost_micros         BIGINT NOT NULL,
    estimated_requests  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, period, model, api_key_id, user_id, currency)
) WITH (fillfactor = 70);

CREATE TABLE usage_monthly (LIKE usage_daily INCLUDING ALL) WITH (fillfactor = 70);

-- The `last_used_at` of gateway API keys, derived from usage events so the
-- gateway never writes to the database per request.
CREATE TABLE api_key_last_used (
    api_key_id      TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    last_used_at    TIMESTAMPTZ NOT NULL
);

-- The highest JetStream stream sequence folded per durable consumer, for
-- operators; the ledger's primary key, not this, guarantees exactly-once.
CREATE TABLE projector_checkpoints (
    consumer        TEXT PRIMARY KEY,
    stream_sequence BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Registered billing consumers of the export. Retention never deletes a
-- ledger row that a cursor covering its tenant (or all tenants, when
-- tenant_id is NULL) has not passed.
CREATE TABLE usage_export_cursors (
    name            TEXT PRIMARY KEY,
    tenant_id       TEXT NULL,
    ledger_seq      BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Messages that could not be decoded, kept with the reason so the stream
-- never blocks on them and nothing is silently lost.
CREATE TABLE usage_dead_letters (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream          TEXT NOT NULL,
    stream_sequence BIGINT NOT NULL,
    subject         TEXT NOT NULL,
    msg_id          TEXT,
    payload         BYTEA NOT NULL,
    error           TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (stream, stream_sequence)
);

-- Ledgers written before this migration are folded once here, with the same
-- expressions as the projector's fold, so the views start complete.
INSERT INTO usage_daily
SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, model,
       COALESCE(api_key_id, ''), COALESCE(user_id, ''), currency,
       count(*), count(*) FILTER (WHERE status >= 400), count(*) FILTER (WHERE client_disconnected),
       sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cached_tokens)::bigint,
       sum(cost_micros)::bigint, count(*) FILTER (WHERE estimated)
FROM usage_ledger GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO usage_monthly
SELECT tenant_id, date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date, model,
       COALESCE(api_key_id, ''), COALESCE(user_id, ''), currency,
       count(*), count(*) FILTER (WHERE status >= 400), count(*) FILTER (WHERE client_disconnected),
       sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cached_tokens)::bigint,
       sum(cost_micros)::bigint, count(*) FILTER (WHERE estimated)
FROM usage_ledger GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO api_key_last_used
SELECT api_key_id, min(tenant_id), max(occurred_at)
FROM usage_ledger WHERE api_key_id IS NOT NULL GROUP BY api_key_id;
