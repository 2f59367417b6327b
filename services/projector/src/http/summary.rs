//! `GET /api/v1/usage/summary`: sums from the daily (or, for whole months,
//! monthly) views, grouped by day, month, model, API key or user, one row
//! per group and currency. The views are per UTC day, so a window that does
//! not start or end at midnight UTC is widened to whole days, and the answer
//! echoes the window actually summed.

use std::{collections::BTreeMap, sync::Arc};

use axum::{Json, extract::State};
use keyway_common::api::Query;
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, Postgres, QueryBuilder};
use time::{
    Date, Month, OffsetDateTime, Time, format_description::well_known::Rfc3339, macros::format_description,
};
use utoipa::{IntoParams, ToSchema};

use super::{Principal, Scope, UsageError, UsageState};

/// How a summary groups its rows (for the OpenAPI document; the handler
/// validates `group_by` itself and names the allowed values in its 400).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(dead_code, reason = "documentation only")]
enum GroupBy {
    Day,
    Month,
    Model,
    ApiKey,
    User,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct SummaryQuery {
    /// Start, inclusive: `YYYY-MM-DD` or RFC 3339 (UTC). Default: the first
    /// day of the current UTC month (of `to`'s month when only `to` is given).
    from: Option<String>,
    /// End, exclusive: `YYYY-MM-DD` or RFC 3339. Default: the first day of
    /// the next UTC month.
    to: Option<String>,
    /// `day` (default), `month`, `model`, `api_key` or `user`.
    #[param(value_type = Option<GroupBy>, inline)]
    group_by: Option<String>,
    /// Platform admins: the tenant (default `platform`). Others may only name
    /// their own.
    tenant_id: Option<String>,
}

/// Sums over usage events. `errors` counts status >= 400; `disconnects`
/// counts clients that went away; `estimated_requests` counts events whose
/// tokens were estimated because the upstream reported none.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, ToSchema, FromRow)]
pub(crate) struct Sums {
    pub(crate) requests: i64,
    pub(crate) errors: i64,
    pub(crate) disconnects: i64,
    pub(crate) estimated_requests: i64,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cached_tokens: i64,
    /// Part of `output_tokens` (billed as output), recorded apart.
    pub(crate) reasoning_tokens: i64,
    /// Prompt-cache writes, every TTL: part of `input_tokens`, billed at
    /// the cache-write price.
    pub(crate) cache_write_tokens: i64,
    /// The 1-hour-TTL part of `cache_write_tokens`.
    pub(crate) cache_write_1h_tokens: i64,
    /// Anthropic server tool requests: recorded, not billed.
    pub(crate) web_search_requests: i64,
    pub(crate) web_fetch_requests: i64,
    /// Integer micro-units of `currency`, as computed by the gateway.
    pub(crate) cost_micros: i64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.disconnects += o.disconnects;
        self.estimated_requests += o.estimated_requests;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_tokens += o.cached_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.cache_write_1h_tokens += o.cache_write_1h_tokens;
        self.web_search_requests += o.web_search_requests;
        self.web_fetch_requests += o.web_fetch_requests;
        self.cost_micros += o.cost_micros;
    }
}

#[derive(Debug, Serialize, ToSchema, FromRow)]
pub(crate) struct SummaryRow {
    /// The group: `YYYY-MM-DD`, `YYYY-MM`, a model, an API key id or a user
    /// id ('' = no key or no user, e.g. the admin key).
    key: String,
    #[serde(flatten)]
    #[sqlx(flatten)]
    sums: Sums,
    currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CurrencyTotals {
    currency: String,
    #[serde(flatten)]
    sums: Sums,
}

/// Counts and tokens over every row. `cost_micros` and `currency` are set
/// when the rows use one currency; with several they are null, and
/// `totals_by_currency` has one entry each.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Totals {
    requests: i64,
    errors: i64,
    disconnects: i64,
    estimated_requests: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    reasoning_tokens: i64,
    cache_write_tokens: i64,
    cache_write_1h_tokens: i64,
    web_search_requests: i64,
    web_fetch_requests: i64,
    cost_micros: Option<i64>,
    currency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Summary {
    /// The window summed, inclusive (RFC 3339, UTC, whole days).
    from: String,
    /// The end of the window, exclusive.
    to: String,
    group_by: String,
    tenant_id: String,
    rows: Vec<SummaryRow>,
    totals: Totals,
    totals_by_currency: Vec<CurrencyTotals>,
}

/// Summarizes usage: platform admins any tenant, tenant admins and viewers
/// their own tenant, members only their own usage.
#[utoipa::path(get, path = "/api/v1/usage/summary", tag = "usage", params(SummaryQuery),
    responses((status = 200, body = Summary), (status = 400, description = "KW-USAGE-001: a parameter is invalid"),
        (status = 404, description = "KW-USAGE-002: another tenant")),
    security(("bearer" = [])))]
pub(crate) async fn summary(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<Summary>, UsageError> {
    let scope = Scope::of(&caller, q.tenant_id, false)?;
    let group_by = q.group_by.unwrap_or_else(|| "day".to_owned());
    let key = match group_by.as_str() {
        "day" => "to_char(period, 'YYYY-MM-DD')",
        "month" => "to_char(period, 'YYYY-MM')",
        "model" => "model",
        "api_key" => "api_key_id",
        "user" => "user_id",
        other => {
            return Err(UsageError::invalid(
                "group_by",
                format!("expected day, month, model, api_key or user, got {other:?}"),
            ));
        }
    };
    let (from, to) = window(q.from.as_deref(), q.to.as_deref(), OffsetDateTime::now_utc())?;
    // Whole months read the monthly view: one row per month, not per day.
    let monthly = group_by != "day" && from.day() == 1 && to.day() == 1;
    let mut query: QueryBuilder<'_, Postgres> = QueryBuilder::new(format!(
        "SELECT {key} AS key, currency, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors,
             sum(disconnects)::bigint AS disconnects, sum(estimated_requests)::bigint AS estimated_requests,
             sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
             sum(cached_tokens)::bigint AS cached_tokens, sum(cost_micros)::bigint AS cost_micros,
             sum(reasoning_tokens)::bigint AS reasoning_tokens,
             sum(cache_write_tokens)::bigint AS cache_write_tokens,
             sum(cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
             sum(web_search_requests)::bigint AS web_search_requests,
             sum(web_fetch_requests)::bigint AS web_fetch_requests
         FROM {} WHERE true",
        if monthly { "usage_monthly" } else { "usage_daily" }
    ));
    scope.push_filters(&mut query);
    query.push(" AND period >= ").push_bind(from);
    query.push(" AND period < ").push_bind(to);
    query.push(" GROUP BY 1, 2 ORDER BY 1, 2");
    let rows: Vec<SummaryRow> = query.build_query_as().fetch_all(&s.pool).await?;
    let (totals, totals_by_currency) = totals(&rows);
    Ok(Json(Summary {
        from: rfc3339(from),
        to: rfc3339(to),
        group_by,
        tenant_id: scope.tenant.unwrap_or_default(),
        rows,
        totals,
        totals_by_currency,
    }))
}

fn totals(rows: &[SummaryRow]) -> (Totals, Vec<CurrencyTotals>) {
    let mut all = Sums::default();
    let mut by_currency: BTreeMap<&str, Sums> = BTreeMap::new();
    for row in rows {
        all.add(&row.sums);
        by_currency.entry(&row.currency).or_default().add(&row.sums);
    }
    // Events refused before pricing carry no currency (and no cost); they
    // must not turn a one-currency tenant into a "mixed" one.
    let priced: Vec<&str> = by_currency.keys().copied().filter(|c| !c.is_empty()).collect();
    let (cost_micros, currency) = match priced.as_slice() {
        [] => (Some(all.cost_micros), None),
        [one] => (Some(all.cost_micros), Some((*one).to_owned())),
        _ => (None, None),
    };
    let totals = Totals {
        requests: all.requests,
        errors: all.errors,
        disconnects: all.disconnects,
        estimated_requests: all.estimated_requests,
        input_tokens: all.input_tokens,
        output_tokens: all.output_tokens,
        cached_tokens: all.cached_tokens,
        reasoning_tokens: all.reasoning_tokens,
        cache_write_tokens: all.cache_write_tokens,
        cache_write_1h_tokens: all.cache_write_1h_tokens,
        web_search_requests: all.web_search_requests,
        web_fetch_requests: all.web_fetch_requests,
        cost_micros,
        currency,
    };
    let by_currency = by_currency
        .into_iter()
        .map(|(currency, sums)| CurrencyTotals {
            currency: currency.to_owned(),
            sums,
        })
        .collect();
    (totals, by_currency)
}

fn rfc3339(day: Date) -> String {
    day.with_time(Time::MIDNIGHT)
        .assume_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn first_of_month(day: Date) -> Date {
    day.replace_day(1).unwrap_or(day)
}

fn next_month(day: Date) -> Date {
    let (year, month) = match day.month() {
        Month::December => (day.year() + 1, Month::January),
        m => (day.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).unwrap_or(day)
}

/// Parses one bound: `YYYY-MM-DD` (midnight UTC) or RFC 3339 (to UTC).
fn instant(name: &str, raw: &str) -> Result<OffsetDateTime, UsageError> {
    let raw = raw.trim();
    if raw.len() == 10 {
        return Date::parse(raw, format_description!("[year]-[month]-[day]"))
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
            .map_err(|e| UsageError::invalid(name, format!("{raw:?} is not YYYY-MM-DD: {e}")));
    }
    OffsetDateTime::parse(raw, &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|e| UsageError::invalid(name, format!("{raw:?} is neither YYYY-MM-DD nor RFC 3339: {e}")))
}

/// The window as whole UTC days `[from, to)`: `from` rounds down, `to` up.
pub(crate) fn window(
    from: Option<&str>,
    to: Option<&str>,
    now: OffsetDateTime,
) -> Result<(Date, Date), UsageError> {
    let this_month = first_of_month(now.date());
    let to = match to {
        Some(raw) => instant("to", raw)?,
        None => next_month(this_month).with_time(Time::MIDNIGHT).assume_utc(),
    };
    let from = match from {
        Some(raw) => instant("from", raw)?,
        // Only `to` given: the calendar month that ends there.
        None => first_of_month((to - time::Duration::NANOSECOND).date())
            .with_time(Time::MIDNIGHT)
            .assume_utc(),
    };
    if from > to {
        return Err(UsageError::invalid("from", "must not be after `to`"));
    }
    let end = if to.time() == Time::MIDNIGHT {
        to.date()
    } else {
        to.date().next_day().unwrap_or(to.date())
    };
    Ok((from.date(), end))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn the_default_window_is_the_current_utc_month() {
        let now = datetime!(2025-12-17 10:00 UTC);
        assert_eq!(
            window(None, None, now).unwrap(),
            (date!(2025 - 12 - 01), date!(2026 - 01 - 01))
        );
        assert_eq!(
            window(None, Some("2025-02-01"), now).unwrap(),
            (date!(2025 - 01 - 01), date!(2025 - 02 - 01))
        );
    }

    #[test]
    fn bounds_accept_dates_and_rfc3339_and_widen_to_whole_days() {
        let now = datetime!(2025-03-17 10:00 UTC);
        assert_eq!(
            window(Some("2025-03-02"), Some("2025-03-05"), now).unwrap(),
            (date!(2025 - 03 - 02), date!(2025 - 03 - 05))
        );
        assert_eq!(
            window(
                Some("2025-03-02T23:30:00+02:00"),
                Some("2025-03-05T00:00:01Z"),
                now
            )
            .unwrap(),
            (date!(2025 - 03 - 02), date!(2025 - 03 - 06))
        );
    }

    #[test]
    fn invalid_bounds_name_the_parameter() {
        let now = datetime!(2025-03-17 10:00 UTC);
        let err = window(Some("yesterday"), None, now).unwrap_err().to_string();
        assert!(err.starts_with("from:"), "{err}");
        let err = window(None, Some("2025-13-01"), now).unwrap_err().to_string();
        assert!(err.starts_with("to:"), "{err}");
        let err = window(Some("2025-03-05"), Some("2025-03-01"), now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("after"), "{err}");
    }
}
