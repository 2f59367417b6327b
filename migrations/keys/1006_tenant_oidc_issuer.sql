-- The one OIDC issuer a tenant trusts (one realm per tenant), or NULL for
-- any configured issuer (one realm with organizations). Tokens from any
-- other issuer are refused for the tenant.
ALTER TABLE tenants ADD COLUMN oidc_issuer TEXT;
CREATE INDEX tenants_oidc_issuer ON tenants (oidc_issuer) WHERE oidc_issuer IS NOT NULL;
