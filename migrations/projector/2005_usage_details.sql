-- Usage details (issue 12), recorded apart from the totals they are part of:
--   reasoning_tokens       OpenAI reasoning tokens, inside output_tokens (billed as output)
--   cache_write_tokens     prompt-cache writes (Anthropic cache_creation_input_tokens),
--                          inside input_tokens, billed at the cache-write price
--   cache_write_1h_tokens  the 1-hour-TTL part of cache_write_tokens (its own price)
--   web_search_requests    Anthropic server_tool_use counts: recorded, not billed
--   web_fetch_requests
-- A constant default makes each ADD COLUMN a catalog-only change: existing
-- rows read 0, which is what they had.
ALTER TABLE usage_ledger
    ADD COLUMN reasoning_tokens      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_tokens    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN web_search_requests   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN web_fetch_requests    BIGINT NOT NULL DEFAULT 0;

ALTER TABLE usage_daily
    ADD COLUMN reasoning_tokens      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_tokens    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN web_search_requests   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN web_fetch_requests    BIGINT NOT NULL DEFAULT 0;

ALTER TABLE usage_monthly
    ADD COLUMN reasoning_tokens      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_tokens    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN web_search_requests   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN web_fetch_requests    BIGINT NOT NULL DEFAULT 0;
