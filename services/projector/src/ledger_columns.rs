//! The ledger columns a batch inserts, in one place: the `UNNEST` of one
//! array per column (a whole batch in one statement, one round trip) is
//! generated from `COLUMNS`, and `bind_rows` binds the arrays in the same
//! order. A new ledger column is one entry here and one bind below.

use sqlx::{Postgres, postgres::PgArguments, query::QueryScalar};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::decode::LedgerRow;

/// `(column, Postgres element type)`, in bind order.
const COLUMNS: [(&str, &str); 26] = [
    ("event_id", "uuid"),
    ("tenant_id", "text"),
    ("user_id", "text"),
    ("api_key_id", "text"),
    ("model", "text"),
    ("provider", "text"),
    ("key_source", "text"),
    ("input_tokens", "bigint"),
    ("output_tokens", "bigint"),
    ("cached_tokens", "bigint"),
    ("cost_micros", "bigint"),
    ("currency", "text"),
    ("status", "int"),
    ("streamed", "bool"),
    ("estimated", "bool"),
    ("client_disconnected", "bool"),
    ("occurred_at", "timestamptz"),
    ("event", "bytea"),
    // The usage details (migration 2005).
    ("reasoning_tokens", "bigint"),
    ("cache_write_tokens", "bigint"),
    ("cache_write_1h_tokens", "bigint"),
    ("web_search_requests", "bigint"),
    ("web_fetch_requests", "bigint"),
    // Routing (migration 2006).
    ("deployment", "text"),
    ("attempts", "int"),
    ("fallback_model", "text"),
];

/// What follows `INSERT INTO usage_ledger`: the column list, and the rows
/// from an `UNNEST` of one array parameter per column (from `$first`), each
/// at its ledger position: the transaction's base (migration 2007) plus the
/// row's index in the batch.
pub(crate) fn insert_rows(first: usize) -> String {
    let names = COLUMNS.map(|(name, _)| name).join(", ");
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{ty}[]", first + i))
        .collect();
    format!(
        "(ledger_seq, {names})
         SELECT (SELECT usage_ledger_position_base()) + row_index, {names}
         FROM UNNEST({arrays}) WITH ORDINALITY AS u({names}, row_index)",
        arrays = arrays.join(", "),
    )
}

/// Binds one array per column, in `COLUMNS` order. Columns borrow from the
/// rows: a batch is bound without copying a string.
pub(crate) fn bind_rows<'q>(
    query: QueryScalar<'q, Postgres, i64, PgArguments>,
    rows: &'q [LedgerRow],
) -> QueryScalar<'q, Postgres, i64, PgArguments> {
    let text = |f: fn(&LedgerRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let opt = |f: fn(&LedgerRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<Option<&str>>>();
    let int = |f: fn(&LedgerRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let flag = |f: fn(&LedgerRow) -> bool| rows.iter().map(f).collect::<Vec<bool>>();
    query
        .bind(rows.iter().map(|r| r.event_id).collect::<Vec<Uuid>>())
        .bind(text(|r| &r.tenant_id))
        .bind(opt(|r| r.user_id.as_deref()))
        .bind(opt(|r| r.api_key_id.as_deref()))
        .bind(text(|r| &r.model))
        .bind(text(|r| &r.provider))
        .bind(text(|r| r.key_source))
        .bind(int(|r| r.input_tokens))
        .bind(int(|r| r.output_tokens))
        .bind(int(|r| r.cached_tokens))
        .bind(int(|r| r.cost_micros))
        .bind(text(|r| &r.currency))
        .bind(rows.iter().map(|r| r.status).collect::<Vec<i32>>())
        .bind(flag(|r| r.streamed))
        .bind(flag(|r| r.estimated))
        .bind(flag(|r| r.client_disconnected))
        .bind(
            rows.iter()
                .map(|r| r.occurred_at)
                .collect::<Vec<OffsetDateTime>>(),
        )
        .bind(rows.iter().map(|r| r.event.as_slice()).collect::<Vec<&[u8]>>())
        .bind(int(|r| r.details.reasoning_tokens))
        .bind(int(|r| r.details.cache_write_tokens))
        .bind(int(|r| r.details.cache_write_1h_tokens))
        .bind(int(|r| r.details.web_search_requests))
        .bind(int(|r| r.details.web_fetch_requests))
        .bind(text(|r| &r.deployment))
        .bind(rows.iter().map(|r| r.attempts).collect::<Vec<i32>>())
        .bind(text(|r| &r.fallback_model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unnest_has_one_typed_array_per_named_column() {
        let sql = insert_rows(3);
        assert!(sql.starts_with("(ledger_seq, event_id, tenant_id,"), "{sql}");
        assert!(sql.contains("UNNEST($3::uuid[], $4::text[]"), "{sql}");
        assert!(
            sql.contains("$20::bytea[]") && sql.contains("$28::text[]) WITH ORDINALITY"),
            "{sql}"
        );
        assert!(sql.ends_with("fallback_model, row_index)"), "{sql}");
    }
}
