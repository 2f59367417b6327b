//! Writing a batch: one transaction inserts the events into the ledger
//! (`ON CONFLICT (event_id) DO NOTHING RETURNING`), folds exactly the rows it
//! inserted into the daily and monthly views and `api_key_last_used`, saves
//! the checkpoint and stores dead letters. `rebuild` runs the very same fold
//! over the whole ledger, so both give identical views by construction.
//!
//! Writers run side by side (several processes on one consumer): a row's
//! ledger position follows its transaction id (migration 2007), which keeps
//! the export's cursor rule exact without one writer at a time. Every
//! writer upserts view rows in key order, so two batches that share rows
//! wait for each other instead of deadlocking.

use std::sync::{Arc, LazyLock};

use sqlx::{PgPool, Postgres, Transaction};

use crate::{ProjectorError, decode::LedgerRow, ledger_columns as columns};

/// Where a message came from, to dead-letter it.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) stream: String,
    pub(crate) stream_sequence: i64,
    pub(crate) subject: String,
    pub(crate) msg_id: Option<String>,
    /// The message as received (shared, not copied, by its events' rows).
    pub(crate) payload: bytes::Bytes,
}

/// A message with events that could not be projected, kept rather than
/// blocking the stream: the whole message, and why each refused event was.
/// Its valid events are in the ledger, so republishing it is safe.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetter {
    pub(crate) origin: Arc<Origin>,
    pub(crate) error: String,
}

/// One dead letter per message (the table's key): the errors of several
/// refused events of one batch message are joined.
fn merge_dead(dead: Vec<DeadLetter>) -> Vec<DeadLetter> {
    let mut merged: Vec<DeadLetter> = Vec::with_capacity(dead.len());
    for letter in dead {
        let same = |m: &&mut DeadLetter| {
            m.origin.stream == letter.origin.stream
                && m.origin.stream_sequence == letter.origin.stream_sequence
        };
        match merged.iter_mut().find(same) {
            Some(m) => {
                m.error.push_str("; ");
                m.error.push_str(&letter.error);
            }
            None => merged.push(letter),
        }
    }
    merged
}

/// Everything one transaction writes. `origins[i]` is where `rows[i]` came
/// from: shared by the events of one message, not copied for each.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) rows: Vec<LedgerRow>,
    pub(crate) origins: Vec<Arc<Origin>>,
    pub(crate) dead: Vec<DeadLetter>,
    pub(crate) max_stream_sequence: i64,
}

/// The columns every fold reads, whatever the source relation.
fn view_upsert(view: &str, period: &str, source: &str) -> String {
    format!(
        "INSERT INTO {view} AS v (tenant_id, period, model, api_key_id, user_id, currency, requests, errors,
             disconnects, input_tokens, output_tokens, cached_tokens, cost_micros, estimated_requests,
             {DETAILS})
         SELECT tenant_id, {period}, model, COALESCE(api_key_id, ''), COALESCE(user_id, ''), currency,
             count(*), count(*) FILTER (WHERE status >= 400), count(*) FILTER (WHERE client_disconnected),
             sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cached_tokens)::bigint,
             sum(cost_micros)::bigint, count(*) FILTER (WHERE estimated),
             {detail_sums}
         FROM {source} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
         ON CONFLICT (tenant_id, period, model, api_key_id, user_id, currency) DO UPDATE SET
             requests = v.requests + EXCLUDED.requests,
             errors = v.errors + EXCLUDED.errors,
             disconnects = v.disconnects + EXCLUDED.disconnects,
             input_tokens = v.input_tokens + EXCLUDED.input_tokens,
             output_tokens = v.output_tokens + EXCLUDED.output_tokens,
             cached_tokens = v.cached_tokens + EXCLUDED.cached_tokens,
             cost_micros = v.cost_micros + EXCLUDED.cost_micros,
             estimated_requests = v.estimated_requests + EXCLUDED.estimated_requests,
             {detail_adds}",
        detail_sums = DETAIL_COLUMNS.map(|c| format!("sum({c})::bigint")).join(", "),
        detail_adds = DETAIL_COLUMNS
            .map(|c| format!("{c} = v.{c} + EXCLUDED.{c}"))
            .join(",\n             "),
    )
}

/// The usage details (migration 2005), in ledger and view alike; bound as
/// `$21..$25` in this order.
const DETAIL_COLUMNS: [&str; 5] = [
    "reasoning_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "web_search_requests",
    "web_fetch_requests",
];
const DETAILS: &str =
    "reasoning_tokens, cache_write_tokens, cache_write_1h_tokens, web_search_requests, web_fetch_requests";

/// The fold of `source` into every derived table, as CTEs of one statement.
fn fold_ctes(source: &str) -> String {
    format!(
        "daily AS ({daily}),
         monthly AS ({monthly}),
         last_used AS (
             INSERT INTO api_key_last_used AS k (api_key_id, tenant_id, last_used_at)
             SELECT api_key_id, min(tenant_id), max(occurred_at) FROM {source}
             WHERE api_key_id IS NOT NULL GROUP BY api_key_id ORDER BY api_key_id
             ON CONFLICT (api_key_id) DO UPDATE SET last_used_at = GREATEST(k.last_used_at, EXCLUDED.last_used_at))",
        daily = view_upsert("usage_daily", "(occurred_at AT TIME ZONE 'UTC')::date", source),
        monthly = view_upsert(
            "usage_monthly",
            "date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date",
            source
        ),
    )
}

const CHECKPOINT: &str = "INSERT INTO projector_checkpoints AS c (consumer, stream_sequence, updated_at)
     VALUES ($1, $2, now())
     ON CONFLICT (consumer) DO UPDATE SET
         stream_sequence = GREATEST(c.stream_sequence, EXCLUDED.stream_sequence), updated_at = now()";

/// The ledger insert, the checkpoint and the folds of exactly the rows
/// inserted, in one statement: one round trip per batch.
static INCREMENTAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH ins AS (
             INSERT INTO usage_ledger {rows}
             ON CONFLICT (event_id) DO NOTHING
             RETURNING tenant_id, user_id, api_key_id, model, currency, status, estimated,
                 client_disconnected, input_tokens, output_tokens, cached_tokens, cost_micros, occurred_at,
                 {DETAILS}
         ),
         checkpoint AS ({CHECKPOINT}),
         {folds}
         SELECT count(*) FROM ins",
        rows = columns::insert_rows(3),
        folds = fold_ctes("ins"),
    )
});

static REBUILD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} SELECT count(*) FROM usage_ledger",
        fold_ctes("usage_ledger")
    )
});

/// Writes one batch in one transaction; returns how many events were new.
pub(crate) async fn write_batch(pool: &PgPool, consumer: &str, batch: &Batch) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = if batch.rows.is_empty() {
        sqlx::query(CHECKPOINT)
            .bind(consumer)
            .bind(batch.max_stream_sequence)
            .execute(&mut *tx)
            .await?;
        0
    } else {
        insert_and_fold(&mut tx, consumer, batch).await?
    };
    if !batch.dead.is_empty() {
        let d = &batch.dead;
        sqlx::query(
            "INSERT INTO usage_dead_letters (stream, stream_sequence, subject, msg_id, payload, error)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::text[])
             ON CONFLICT (stream, stream_sequence) DO NOTHING",
        )
        .bind(d.iter().map(|l| l.origin.stream.clone()).collect::<Vec<_>>())
        .bind(d.iter().map(|l| l.origin.stream_sequence).collect::<Vec<_>>())
        .bind(d.iter().map(|l| l.origin.subject.clone()).collect::<Vec<_>>())
        .bind(d.iter().map(|l| l.origin.msg_id.clone()).collect::<Vec<_>>())
        .bind(
            d.iter()
                .map(|l| l.origin.payload.as_ref())
                .collect::<Vec<&[u8]>>(),
        )
        .bind(d.iter().map(|l| l.error.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// Whether retrying `e` can only fail again: bad data (22), a violated
/// constraint (23) or a limit such as an oversized index entry (54).
pub(crate) fn is_data_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23") || c.starts_with("54")),
        _ => false,
    }
}

/// After a batch failed on its data: writes its events one per
/// transaction and dead-letters those the database refuses, so one bad
/// event cannot block the stream. Rows already written are no-ops on a
/// later retry, thanks to the ledger's primary key.
pub(crate) async fn write_isolated(pool: &PgPool, consumer: &str, batch: &Batch) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    let mut dead = batch.dead.clone();
    for (row, origin) in batch.rows.iter().zip(&batch.origins) {
        let one = Batch {
            rows: vec![row.clone()],
            origins: vec![origin.clone()],
            dead: Vec::new(),
            max_stream_sequence: origin.stream_sequence,
        };
        match write_batch(pool, consumer, &one).await {
            Ok(n) => inserted += n,
            Err(e) if is_data_error(&e) => {
                tracing::warn!(error = %e, stream_sequence = origin.stream_sequence, "dead-lettering a usage event the database refuses");
                dead.push(DeadLetter {
                    origin: origin.clone(),
                    error: format!("event {} refused by the database: {e}", row.event_id),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let rest = Batch {
        dead: merge_dead(dead),
        max_stream_sequence: batch.max_stream_sequence,
        ..Batch::default()
    };
    write_batch(pool, consumer, &rest).await?;
    Ok(inserted)
}

async fn insert_and_fold(
    tx: &mut Transaction<'_, Postgres>,
    consumer: &str,
    batch: &Batch,
) -> Result<u64, sqlx::Error> {
    let query = sqlx::query_scalar(&INCREMENTAL)
        .bind(consumer)
        .bind(batch.max_stream_sequence);
    let inserted: i64 = columns::bind_rows(query, &batch.rows)
        .fetch_one(&mut **tx)
        .await?;
    Ok(u64::try_from(inserted).unwrap_or(0))
}

/// Recomputes the views from the ledger in one transaction: truncates
/// `usage_daily` and `usage_monthly` and folds every ledger row again with
/// the incremental fold's own SQL. Returns the number of rows folded.
///
/// `api_key_last_used` is refolded with `GREATEST`, not truncated, so a
/// ledger pruned by retention cannot move a key's last use backwards. The
/// same caveat makes the views themselves lose pruned history on a rebuild:
/// rebuild before pruning, or keep retention off if rebuilds are routine.
///
/// Writers may keep running: `TRUNCATE` waits for every transaction that
/// has touched the views and holds back every later one until the rebuild
/// commits, so each ledger row is folded either before the rebuild reads
/// the ledger (and then again by it, from scratch) or after it, never both.
pub async fn rebuild(pool: &PgPool) -> Result<u64, ProjectorError> {
    let mut tx = pool.begin().await?;
    sqlx::query("TRUNCATE usage_daily, usage_monthly")
        .execute(&mut *tx)
        .await?;
    let folded: i64 = sqlx::query_scalar(&REBUILD).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    tracing::info!(folded, "rebuilt the usage views from the ledger");
    Ok(u64::try_from(folded).unwrap_or(0))
}
