//! Per-request behaviour controls: `x-mock-*` headers and the body's `"mock"`
//! object (body wins), layered over the process-level [`MockConfig`].

use std::borrow::Cow;
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::config::MockConfig;
pub(crate) use crate::errors::{InjectedError, parse_error};

/// How long an injected `timeout` hangs; far beyond any sane gateway timeout.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(300);

/// The effective behaviour for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Controls {
    pub(crate) latency: Duration,
    pub(crate) chunks: Option<usize>,
    pub(crate) chunk_delay: Duration,
    pub(crate) error: Option<InjectedError>,
    pub(crate) cached_tokens: u64,
    /// Reported as reasoning tokens (OpenAI), on top of the reply's words.
    pub(crate) reasoning_tokens: u64,
    /// Reported as Anthropic prompt-cache writes, 5-minute TTL.
    pub(crate) cache_write_tokens: u64,
    /// Reported as Anthropic prompt-cache writes, 1-hour TTL.
    pub(crate) cache_write_1h_tokens: u64,
    /// Reported as Anthropic `server_tool_use.web_search_requests`.
    pub(crate) web_search_requests: u64,
    pub(crate) omit_usage: bool,
    /// Stream only: break the connection after this many deltas.
    pub(crate) error_after_chunks: Option<usize>,
    /// Stream only: after the first frame, send this many bytes that never
    /// end an event (no blank line), then end the stream — an upstream that
    /// does not frame its events.
    pub(crate) unframed_bytes: Option<u64>,
}

impl Controls {
    /// Resolves the controls; `Err` is a client-facing message for a 400.
    pub(crate) fn resolve(
        config: &MockConfig,
        headers: &HeaderMap,
        mock: Option<&Value>,
    ) -> Result<Self, String> {
        let mock = match mock {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err("mock must be a JSON object".to_owned()),
        };
        let src = Sources { headers, mock };
        let latency = src.get("x-mock-latency-ms", "latency_ms", parse_u64, "an integer")?;
        let chunks = src.get("x-mock-chunks", "chunks", parse_chunks, "a positive integer")?;
        let chunk_delay = src.get("x-mock-chunk-delay-ms", "chunk_delay_ms", parse_u64, "an integer")?;
        let error = src.get(
            "x-mock-error",
            "error",
            parse_error,
            "one of 400, 401, 429, 500, 503, timeout",
        )?;
        let cached = src.get("x-mock-cached-tokens", "cached_tokens", parse_u64, "an integer")?;
        let count = |header: &str, field: &str| {
            src.get(header, field, parse_u64, "an integer")
                .map(Option::unwrap_or_default)
        };
        let reasoning_tokens = count("x-mock-reasoning-tokens", "reasoning_tokens")?;
        let cache_write_tokens = count("x-mock-cache-write-tokens", "cache_write_tokens")?;
        let cache_write_1h_tokens = count("x-mock-cache-write-1h-tokens", "cache_write_1h_tokens")?;
        let web_search_requests = count("x-mock-web-search-requests", "web_search_requests")?;
        let omit_usage = src.get("x-mock-omit-usage", "omit_usage", parse_bool, "true or false")?;
        let error_after = src.get(
            "x-mock-error-after-chunks",
            "error_after_chunks",
            parse_usize,
            "an integer",
        )?;
        let unframed = src.get("x-mock-unframed-bytes", "unframed_bytes", parse_u64, "an integer")?;
        Ok(Self {
            latency: latency.map_or(config.latency, Duration::from_millis),
            chunks: chunks.or(config.chunks),
            chunk_delay: chunk_delay.map_or(config.chunk_delay, Duration::from_millis),
            error: error.or_else(|| config.error.as_deref().and_then(parse_error)),
            cached_tokens: cached.unwrap_or(0),
            reasoning_tokens,
            cache_write_tokens,
            cache_write_1h_tokens,
            web_search_requests,
            omit_usage: omit_usage.unwrap_or(false),
            error_after_chunks: error_after.or(config.error_after_chunks),
            unframed_bytes: unframed,
        })
    }
}

struct Sources<'a> {
    headers: &'a HeaderMap,
    mock: Option<&'a Map<String, Value>>,
}

impl Sources<'_> {
    /// Reads one control, body field first. JSON numbers and booleans are
    /// accepted as well as strings so `"mock": {"error": 429}` works.
    fn get<T>(
        &self,
        header: &str,
        field: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, String> {
        if let Some(value) = self.mock.and_then(|m| m.get(field)) {
            let text: Option<Cow<'_, str>> = match value {
                Value::Null => return Ok(None),
                Value::String(s) => Some(Cow::Borrowed(s.trim())),
                Value::Number(n) => Some(Cow::Owned(n.to_string())),
                Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
                Value::Array(_) | Value::Object(_) => None,
            };
            return text
                .and_then(|t| parse(&t))
                .map(Some)
                .ok_or_else(|| format!("mock.{field} must be {expected}"));
        }
        match self.headers.get(header) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|t| parse(t.trim()))
                .map(Some)
                .ok_or_else(|| format!("header {header} must be {expected}")),
        }
    }
}

fn parse_u64(text: &str) -> Option<u64> {
    text.parse().ok()
}

fn parse_usize(text: &str) -> Option<usize> {
    text.parse().ok()
}

fn parse_chunks(text: &str) -> Option<usize> {
    parse_usize(text).filter(|n| *n > 0)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::errors::ErrorKind;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn config() -> MockConfig {
        MockConfig {
            latency: Duration::from_millis(5),
            chunks: Some(2),
            chunk_delay: Duration::from_millis(3),
            ..MockConfig::default()
        }
    }

    #[test]
    fn without_controls_the_config_defaults_apply() {
        let controls = Controls::resolve(&config(), &HeaderMap::new(), None).unwrap();
        assert_eq!(controls.latency, Duration::from_millis(5));
        assert_eq!(controls.chunks, Some(2));
        assert_eq!(controls.chunk_delay, Duration::from_millis(3));
        assert_eq!(controls.error, None);
        assert_eq!(controls.cached_tokens, 0);
        assert!(!controls.omit_usage);
        assert_eq!(controls.error_after_chunks, None);
        assert_eq!(controls.unframed_bytes, None);
    }

    #[test]
    fn headers_override_the_config_and_the_body_overrides_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-mock-latency-ms", HeaderValue::from_static("40"));
        headers.insert("x-mock-chunks", HeaderValue::from_static("4"));
        headers.insert("x-mock-error", HeaderValue::from_static("500"));
        headers.insert("x-mock-omit-usage", HeaderValue::from_static("true"));
        headers.insert("x-mock-unframed-bytes", HeaderValue::from_static("50000000"));
        let mock = json!({"error": 429, "cached_tokens": "3", "error_after_chunks": 1});
        let controls = Controls::resolve(&config(), &headers, Some(&mock)).unwrap();
        assert_eq!(controls.latency, Duration::from_millis(40));
        assert_eq!(controls.chunks, Some(4));
        assert_eq!(
            controls.error,
            Some(InjectedError::Status(ErrorKind::RateLimited))
        );
        assert_eq!(controls.cached_tokens, 3);
        assert!(controls.omit_usage);
        assert_eq!(controls.error_after_chunks, Some(1));
        assert_eq!(controls.unframed_bytes, Some(50_000_000));
    }

    #[test]
    fn usage_detail_controls_default_to_zero_and_are_read_from_both_places() {
        let mut headers = HeaderMap::new();
        headers.insert("x-mock-reasoning-tokens", HeaderValue::from_static("4"));
        let mock = json!({"cache_write_tokens": 5, "cache_write_1h_tokens": "6", "web_search_requests": 2});
        let c = Controls::resolve(&config(), &headers, Some(&mock)).unwrap();
        let got = (
            c.reasoning_tokens,
            c.cache_write_tokens,
            c.cache_write_1h_tokens,
            c.web_search_requests,
        );
        assert_eq!(got, (4, 5, 6, 2));
        let c = Controls::resolve(&config(), &HeaderMap::new(), None).unwrap();
        assert_eq!(
            c.reasoning_tokens + c.cache_write_tokens + c.web_search_requests,
            0
        );
    }

    #[test]
    fn timeout_is_an_injectable_error() {
        let mock = json!({"error": "timeout"});
        let controls = Controls::resolve(&config(), &HeaderMap::new(), Some(&mock)).unwrap();
        assert_eq!(controls.error, Some(InjectedError::Timeout));
    }

    #[test]
    fn invalid_controls_are_reported_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert("x-mock-error", HeaderValue::from_static("418"));
        let err = Controls::resolve(&config(), &headers, None).unwrap_err();
        assert!(err.contains("x-mock-error"), "{err}");

        let mock = json!({"chunks": 0});
        let err = Controls::resolve(&config(), &HeaderMap::new(), Some(&mock)).unwrap_err();
        assert_eq!(err, "mock.chunks must be a positive integer");

        let err = Controls::resolve(&config(), &HeaderMap::new(), Some(&json!([1]))).unwrap_err();
        assert_eq!(err, "mock must be a JSON object");
    }
}
