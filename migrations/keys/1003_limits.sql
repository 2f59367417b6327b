-- Rate limits and monthly budgets per tenant and per gateway API key,
-- projected from tenant.* and api_key.* events. '{}' means no limit.
ALTER TABLE tenants ADD COLUMN limits JSONB NOT NULL DEFAULT '{}';
ALTER TABLE api_keys ADD COLUMN limits JSONB NOT NULL DEFAULT '{}';
