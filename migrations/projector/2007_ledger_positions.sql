-- Ledger positions that follow transaction ids, so that projector instances
-- write the ledger side by side instead of one at a time (issue 14,
-- docs/scaling.md#projector-scale-out).
--
-- The export hands out rows in `ledger_seq` order, and only rows of
-- transactions older than every running one (`transaction_id <
-- pg_snapshot_xmin(…)`). That is exact only if a row committed later can
-- never take a smaller position than a row already visible. Identity values
-- are drawn at insert time, in any order relative to transaction ids, so
-- they needed one writer at a time: an advisory lock held until commit.
--
-- A row's position is now
--     offset + ((its transaction id - base) << 20) + its index in the transaction
-- so positions sort by transaction id first. A transaction still running, or
-- not yet begun, has an id >= the snapshot's xmin, hence positions above
-- every row the export can show now, whatever order writers run and commit
-- in. `offset` is past every identity value drawn so far and `base` is this
-- migration's own transaction id, so every later row sorts after every
-- earlier one and the cursors already handed out keep their meaning.
--
-- 20 bits leave 1,048,575 rows to one transaction (a projector batch is at
-- most 10,000 events and a few hundred more from its last message) and room
-- for 2^43 transactions. The projector numbers its rows itself (`WITH
-- ORDINALITY`); the default serves any other insert, for example a projector
-- of an earlier release during a rolling upgrade, whose rows would otherwise
-- fail NOT NULL and be dead-lettered.
DO $migration$
DECLARE
    last_value bigint;
    base bigint := pg_current_xact_id()::text::bigint;
BEGIN
    EXECUTE format(
        'SELECT GREATEST(last_value, (SELECT COALESCE(max(ledger_seq), 0) FROM usage_ledger)) FROM %s',
        pg_get_serial_sequence('usage_ledger', 'ledger_seq'))
        INTO last_value;
    ALTER TABLE usage_ledger ALTER COLUMN ledger_seq DROP IDENTITY;
    EXECUTE format(
        $f$CREATE FUNCTION usage_ledger_position_base() RETURNS bigint LANGUAGE sql
           AS 'SELECT %s::bigint + ((pg_current_xact_id()::text::bigint - %s) << 20)'$f$,
        last_value, base);
END
$migration$;

COMMENT ON FUNCTION usage_ledger_position_base() IS
    'The ledger position of the calling transaction''s row 0: add the row''s index (1..1048575). See migration 2007.';

-- Low bits for inserts that do not number their rows: unique within one
-- transaction as long as fewer than 2^20 values are drawn (by everyone)
-- while it inserts. Only such inserts draw them, and the projector does not.
CREATE SEQUENCE usage_ledger_position_in_transaction AS bigint CYCLE MAXVALUE 1048575;
ALTER TABLE usage_ledger ALTER COLUMN ledger_seq
    SET DEFAULT usage_ledger_position_base() + nextval('usage_ledger_position_in_transaction');
