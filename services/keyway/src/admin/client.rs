//! The REST client: every admin command is one or more calls to
//! `/api/v1/...` with the credential as a bearer token. Answers come back
//! as the API's JSON, untouched, so `--json` prints exactly what Keyway
//! said; failures become an `AdminError` carrying the API's code.

use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;

use super::{
    config::ApiCredential,
    error::{AdminError, hint_for},
};

/// Connection attempts fail fast; a request may take a while (a KEK
/// rotation rewraps every tenant's data key).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) struct Client {
    base: Url,
    credential: ApiCredential,
    http: reqwest::Client,
}

/// Query parameters; `None` values are left out.
pub(crate) type Query<'a> = [(&'a str, Option<String>)];

impl Client {
    pub(crate) fn new(base: &str, credential: ApiCredential) -> Result<Self, AdminError> {
        let base = Url::parse(base).map_err(|e| AdminError::Usage(format!("{base:?}: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("keyway-admin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AdminError::Io(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base,
            credential,
            http,
        })
    }

    /// `GET /api/v1/<segments>?<query>`.
    pub(crate) async fn get(&self, segments: &[&str], query: &Query<'_>) -> Result<Value, AdminError> {
        self.call(Method::GET, segments, query, None).await
    }

    /// One call. Path segments are percent-encoded one by one, so an id
    /// typed by the operator can never change the route.
    pub(crate) async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &Query<'_>,
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        let url = self.url(segments, query)?;
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(self.credential.secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| unreachable(&self.base, &e))?;
        read_answer(&url, status, &text)
    }

    fn url(&self, segments: &[&str], query: &Query<'_>) -> Result<Url, AdminError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| AdminError::Usage(format!("{} cannot be a base URL", self.base)))?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        let pairs: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| (*name, v)))
            .collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        Ok(url)
    }
}

/// The cause of a transport failure, without the URL reqwest puts in its
/// own message (the caller names the base URL once).
fn unreachable(base: &Url, error: &reqwest::Error) -> AdminError {
    let mut reason = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if !reason.is_empty() {
            reason.push_str(": ");
        }
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        reason = format!("timed out {reason}");
    }
    if reason.is_empty() {
        reason = error.to_string();
    }
    AdminError::Unreachable {
        url: base.as_str().trim_end_matches('/').to_owned(),
        reason,
    }
}

/// A success is the answer's JSON (`null` for 204); a failure is the API's
/// error envelope, or `Unexpected` when the answer is not Keyway's.
fn read_answer(url: &Url, status: u16, text: &str) -> Result<Value, AdminError> {
    let parsed: Option<Value> = if text.trim().is_empty() {
        Some(Value::Null)
    } else {
        serde_json::from_str(text).ok()
    };
    if (200..300).contains(&status) {
        return parsed.ok_or_else(|| unexpected(url, status, text));
    }
    let envelope = parsed.as_ref().and_then(|v| {
        let error = v.get("error")?;
        Some((error.get("code")?.as_str()?, error.get("message")?.as_str()?))
    });
    match envelope {
        Some((code, message)) => Err(AdminError::Api {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            hint: hint_for(status),
        }),
        None => Err(unexpected(url, status, text)),
    }
}

fn unexpected(url: &Url, status: u16, text: &str) -> AdminError {
    let snippet: String = text.chars().take(200).collect();
    let mut at = url.clone();
    at.set_query(None);
    AdminError::Unexpected {
        url: at.to_string(),
        status,
        snippet: if snippet.is_empty() {
            "(empty body)".into()
        } else {
            snippet
        },
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("http://127.0.0.1:8080/api/v1/tenants").unwrap()
    }

    #[test]
    fn the_error_envelope_becomes_an_api_error() {
        let body = r#"{"error": {"code": "KW-ADM-001", "message": "tenant not found"}}"#;
        let err = read_answer(&url(), 404, body).unwrap_err();
        assert_eq!(err.to_string(), "KW-ADM-001 (404): tenant not found");
    }

    #[test]
    fn a_page_that_is_not_keyways_is_unexpected() {
        let err = read_answer(&url(), 502, "<html>bad gateway</html>").unwrap_err();
        assert!(matches!(err, AdminError::Unexpected { status: 502, .. }), "{err}");
        assert!(read_answer(&url(), 200, "not json").is_err());
    }

    #[test]
    fn no_content_is_null() {
        assert_eq!(read_answer(&url(), 204, "").unwrap(), Value::Null);
    }

    #[test]
    fn segments_are_encoded_and_empty_query_values_dropped() {
        let client = Client::new(
            "http://127.0.0.1:8080/prefix/",
            ApiCredential::resolve(None, |_| Some("k".into())).unwrap(),
        )
        .unwrap();
        let url = client
            .url(
                &["tenants", "a/../b c"],
                &[("limit", Some("5".into())), ("cursor", None)],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/prefix/api/v1/tenants/a%2F..%2Fb%20c?limit=5"
        );
    }
}
