//! Usage: the summary by day and by model as server-drawn SVG charts and
//! tables, and the event export as a CSV download. What a caller sees is
//! what `/api/v1/usage` shows them (members their own usage, admins their
//! tenant's, platform admins any tenant's).

use axum::{
    extract::Query,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Signed;
use crate::{api::segment, charts};

#[derive(Deserialize)]
pub(crate) struct Window {
    from: Option<String>,
    to: Option<String>,
    /// Platform admins: which tenant.
    tenant: Option<String>,
}

impl Window {
    fn query(&self) -> String {
        let mut query = String::new();
        for (name, value) in [
            ("from", &self.from),
            ("to", &self.to),
            ("tenant_id", &self.tenant),
        ] {
            if let Some(value) = super::filled(value) {
                query.push_str(&format!("&{name}={}", segment(value)));
            }
        }
        query
    }
}

/// `field` summed by row key, in the rows' order (a key has one row per
/// currency).
fn series(summary: &Value, field: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for row in summary["rows"].as_array().into_iter().flatten() {
        let (key, value) = (
            row["key"].as_str().unwrap_or(""),
            row[field].as_u64().unwrap_or(0),
        );
        match out.iter_mut().find(|(k, _)| k == key) {
            Some((_, sum)) => *sum += value,
            None => out.push((key.to_owned(), value)),
        }
    }
    out
}

/// Every day of the summary's window, with 0 for days without usage, so
/// the chart's time axis has no gaps.
fn every_day(summary: &Value, by_day: Vec<(String, u64)>) -> Vec<(String, u64)> {
    use time::{
        Duration, OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description,
    };
    let bound = |name: &str| {
        summary[name]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    };
    let (Some(from), Some(to)) = (bound("from"), bound("to")) else {
        return by_day;
    };
    let day_format = format_description!("[year]-[month]-[day]");
    let mut days = Vec::new();
    let mut day = from;
    // A window is at most a few years; the bound keeps a bad answer cheap.
    while day < to && days.len() < 1000 {
        let key = day.format(&day_format).unwrap_or_default();
        let value = by_day.iter().find(|(k, _)| *k == key).map_or(0, |(_, v)| *v);
        days.push((key, value));
        day += Duration::days(1);
    }
    days
}

pub(crate) async fn page(signed: Signed, Query(window): Query<Window>) -> Response {
    let query = window.query();
    let by_day = signed
        .api
        .get(&format!("/api/v1/usage/summary?group_by=day{query}"))
        .await;
    let by_model = signed
        .api
        .get(&format!("/api/v1/usage/summary?group_by=model{query}"))
        .await;
    let (by_day, by_model) = match (by_day, by_model) {
        (Ok(d), Ok(m)) => (d, m),
        (Err(e), _) | (_, Err(e)) => return signed.fail(e),
    };
    let tokens = |s: &Value| -> Vec<(String, u64)> {
        series(s, "input_tokens")
            .into_iter()
            .zip(series(s, "output_tokens"))
            .map(|((k, i), (_, o))| (k, i + o))
            .collect()
    };
    signed.page(
        "usage.html",
        json!({
            "by_day": by_day,
            "by_model": by_model,
            "requests_chart": charts::bars(&every_day(&by_day, series(&by_day, "requests"))),
            "tokens_chart": charts::bars(&tokens(&by_model)),
            "from": window.from, "to": window.to, "tenant": window.tenant,
            "query": query.trim_start_matches('&'),
            "page": "usage",
        }),
    )
}

/// Columns of the CSV, each a field of the export's `data` (or the event).
const COLUMNS: &[&str] = &[
    "id",
    "time",
    "tenant_id",
    "user_id",
    "api_key_id",
    "model",
    "provider",
    "key_source",
    "status",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_micros",
    "currency",
    "latency_ms",
    "streamed",
    "estimated",
];
/// The download stops after this many pages of 1000 events; the export API
/// (or `keyway admin usage export`) pages further.
const MAX_PAGES: usize = 100;

pub(crate) async fn export_csv(signed: Signed, Query(window): Query<Window>) -> Response {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(COLUMNS);
    let tenant = super::filled(&window.tenant)
        .map(|t| format!("&tenant_id={}", segment(t)))
        .unwrap_or_default();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let after = cursor
            .as_deref()
            .map(|c| format!("&cursor={}", segment(c)))
            .unwrap_or_default();
        let page = match signed
            .api
            .get(&format!("/api/v1/usage/events?limit=1000{tenant}{after}"))
            .await
        {
            Ok(page) => page,
            Err(e) => return signed.fail(e),
        };
        for event in page["events"].as_array().into_iter().flatten() {
            let record = COLUMNS.iter().map(|c| cell(event, c));
            let _ = out.write_record(record);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let body = out.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keyway-usage.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

fn cell(event: &Value, column: &str) -> String {
    let value = match column {
        "id" | "time" => &event[column],
        _ => &event["data"][column],
    };
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_of_the_window_is_charted_and_currencies_are_summed() {
        let summary = json!({
            "from": "2026-11-01T00:00:00Z", "to": "2026-11-04T00:00:00Z",
            "rows": [{"key": "2026-11-02", "requests": 2, "currency": "USD"},
                     {"key": "2026-11-02", "requests": 3, "currency": "EUR"}],
        });
        let days = every_day(&summary, series(&summary, "requests"));
        let expected =
            [("2026-11-01", 0), ("2026-11-02", 5), ("2026-11-03", 0)].map(|(k, v)| (k.to_owned(), v));
        assert_eq!(days, expected);
    }
}
