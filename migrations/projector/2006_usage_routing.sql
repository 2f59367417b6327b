-- Routing (issue 13, docs/routing.md), one ledger row per request as before:
--   deployment      the deployment of the serving model that answered
--                   ('default' for a model with one base_url; '' when none did)
--   attempts        upstream calls made for the request (retries included)
--   fallback_model  the catalog model that served when it was a fallback of
--                   `model` ('' otherwise); cost_micros is at its price
-- Constant defaults keep each ADD COLUMN a catalog-only change.
ALTER TABLE usage_ledger
    ADD COLUMN deployment     TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN attempts       INT NOT NULL DEFAULT 0,
    ADD COLUMN fallback_model TEXT COLLATE "C" NOT NULL DEFAULT '';
