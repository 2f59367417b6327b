-- The key service's append-only event store. Every change to tenants, users,
-- gateway API keys and BYOK secrets is one row here; read models are
-- projections of it.
--
-- `transaction_id` lets readers follow the log without skipping late
-- commits: a reader only consumes rows whose transaction_id is below
-- pg_snapshot_xmin(pg_current_snapshot()), i.e. from transactions that can
-- no longer commit "behind" it.
CREATE TABLE key_events (
    position        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  XID8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id        UUID NOT NULL UNIQUE,
    stream_id       TEXT NOT NULL,
    version         BIGINT NOT NULL CHECK (version > 0),
    tenant_id       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         JSONB NOT NULL,
    actor           TEXT NOT NULL,
    request_id      TEXT,
    occurred_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Optimistic concurrency: two writers of the same version conflict.
    CONSTRAINT key_events_stream_version UNIQUE (stream_id, version)
);

CREATE INDEX key_events_follow ON key_events (transaction_id, position);
CREATE INDEX key_events_tenant ON key_events (tenant_id, position);

-- The event store is append-only.
CREATE FUNCTION key_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'key_events is append-only';
END $$;

CREATE TRIGGER key_events_no_update BEFORE UPDATE OR DELETE ON key_events
    FOR EACH ROW EXECUTE FUNCTION key_events_append_only();
