-- Export cursor names were one namespace across all tenants: a tenant could
-- learn another's cursor names (404 for a taken name, 403 for a free one)
-- and squat a name the other then could not use. Each tenant now has its own
-- names, and all-tenant cursors (tenant_id NULL, platform admins) theirs.
--
-- The key is (tenant_id, name) in substance. NULL cannot be part of a
-- primary key, so `scope` stands for tenant_id with NULL as '' (no tenant id
-- is empty: the API refuses one); it is generated, so it cannot drift.
ALTER TABLE usage_export_cursors
    ADD COLUMN scope TEXT GENERATED ALWAYS AS (COALESCE(tenant_id, '')) STORED;
ALTER TABLE usage_export_cursors DROP CONSTRAINT usage_export_cursors_pkey;
ALTER TABLE usage_export_cursors ADD PRIMARY KEY (scope, name);
