//! The two Keycloak admin endpoints the follower reads, with a
//! service-account token from the `oauth2` crate's client credentials grant
//! against `<base>/realms/<realm>/protocol/openid-connect/token`. The token
//! is cached until shortly before it expires and fetched again after a 401.
//! Neither the client secret nor a token ever appears in an error or a log.

use std::time::{Duration, Instant};

use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, TokenResponse, TokenUrl,
    basic::BasicClient,
};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::settings::FollowSettings;

type TokenClient = BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Events fetched per admin-events request (Keycloak's own default is 100).
pub(crate) const PAGE: usize = 100;

/// Why a call to Keycloak failed. The messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeycloakError {
    #[error("the token endpoint refused the client credentials grant: {0}")]
    Token(String),
    #[error("Keycloak could not be reached: {0}")]
    Transport(String),
    #[error("Keycloak answered {status} to {what}")]
    Status { status: u16, what: &'static str },
    #[error("Keycloak's answer to {what} could not be read: {reason}")]
    Decode { what: &'static str, reason: String },
}

/// What Keycloak says about one user (`UserRepresentation`, the fields
/// the follower needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Enabled,
    Disabled,
    /// 404: the user no longer exists in the realm.
    Deleted,
}

#[derive(Deserialize)]
struct UserRepresentation {
    #[serde(default)]
    enabled: Option<bool>,
}

/// One `AdminEventRepresentation`, as `GET …/admin-events` returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminEvent {
    /// Keycloak 23+ gives each event a UUID; older versions do not.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// Milliseconds since the epoch, by Keycloak's clock.
    pub(crate) time: i64,
    #[serde(default)]
    pub(crate) operation_type: Option<String>,
    #[serde(default)]
    pub(crate) resource_type: Option<String>,
    #[serde(default)]
    pub(crate) resource_path: Option<String>,
    /// The JSON the admin sent, as a string; only when the realm includes
    /// representations. The follower does not trust it: it re-reads the user.
    #[serde(default)]
    pub(crate) representation: Option<String>,
}

impl AdminEvent {
    /// The Keycloak user id of a `USER` event on `users/<id>` itself (not a
    /// sub-resource such as `users/<id>/role-mappings`).
    pub(crate) fn user_id(&self) -> Option<&str> {
        if self.resource_type.as_deref().is_some_and(|t| t != "USER") {
            return None;
        }
        let id = self.resource_path.as_deref()?.strip_prefix("users/")?;
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }

    /// A stable identity for the event, so one seen at the cursor's own
    /// millisecond is not applied twice: its id, or a digest of its content.
    pub(crate) fn fingerprint(&self) -> String {
        if let Some(id) = &self.id {
            return id.clone();
        }
        let content = format!(
            "{}|{:?}|{:?}|{:?}|{:?}",
            self.time, self.operation_type, self.resource_type, self.resource_path, self.representation
        );
        let digest = crate::crypto::hmac_sha256(b"keyway-admin-event", content.as_bytes());
        hex::encode(digest)
    }
}

pub(crate) struct Keycloak {
    http: reqwest::Client,
    oauth: TokenClient,
    admin_url: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl Keycloak {
    pub(crate) fn new(settings: &FollowSettings) -> Result<Self, KeycloakError> {
        let token_url = TokenUrl::new(settings.token_url())
            .map_err(|e| KeycloakError::Token(format!("token URL: {e}")))?;
        let oauth = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(settings.client_secret.clone()))
            // Keycloak's default client authenticator is client_secret_basic.
            .set_auth_type(AuthType::BasicAuth)
            .set_token_uri(token_url);
        let http = reqwest::Client::builder()
            // A redirect could carry the token request somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| KeycloakError::Transport(format!("http client: {e}")))?;
        Ok(Self {
            http,
            oauth,
            admin_url: settings.admin_url(),
            token: Mutex::new(None),
        })
    }

    /// A service-account access token, cached until 30 s before it expires.
    async fn token(&self) -> Result<String, KeycloakError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .oauth
            .exchange_client_credentials()
            .request_async(&self.http)
            .await
            .map_err(|e| KeycloakError::Token(describe_token_error(&e)))?;
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(60));
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(30));
        let token = response.access_token().secret().clone();
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// GETs `path` under the realm's admin URL with a bearer token; a 401
    /// (an expired or revoked token) is retried once with a fresh one.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<reqwest::Response, KeycloakError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let response = self
                .http
                .get(format!("{}{path}", self.admin_url))
                .query(query)
                .bearer_auth(token)
                .send()
                .await
                // Without the URL: it is harmless, but the rule is simpler.
                .map_err(|e| KeycloakError::Transport(e.without_url().to_string()))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                self.forget_token().await;
                continue;
            }
            return Ok(response);
        }
        Err(KeycloakError::Status {
            status: 401,
            what: "the admin API",
        })
    }

    /// `GET /admin/realms/{realm}/users/{id}`.
    pub(crate) async fn user(&self, id: &str) -> Result<Identity, KeycloakError> {
        let what = "GET users/{id}";
        let path = format!("/users/{}", urlencode(id));
        let response = self.get(&path, &[]).await?;
        match response.status().as_u16() {
            404 => {
                let body = response.text().await.unwrap_or_default();
                if realm_missing(&body) {
                    // A wrong realm must not read as "every user was deleted".
                    return Err(KeycloakError::Status {
                        status: 404,
                        what: "the realm",
                    });
                }
                Ok(Identity::Deleted)
            }
            200 => {
                let user: UserRepresentation = response.json().await.map_err(|e| KeycloakError::Decode {
                    what,
                    reason: e.without_url().to_string(),
                })?;
                // A representation without `enabled` is not a confirmation.
                match user.enabled {
                    Some(true) => Ok(Identity::Enabled),
                    Some(false) => Ok(Identity::Disabled),
                    None => Err(KeycloakError::Decode {
                        what,
                        reason: "no `enabled` field".into(),
                    }),
                }
            }
            status => Err(KeycloakError::Status { status, what }),
        }
    }

    /// `GET /admin/realms/{realm}/admin-events` for USER updates and
    /// deletions from `from_ms` (inclusive), oldest first, one page.
    pub(crate) async fn admin_events(
        &self,
        from_ms: i64,
        first: usize,
    ) -> Result<Vec<AdminEvent>, KeycloakError> {
        let what = "GET admin-events";
        let query = [
            ("resourceTypes", "USER".to_owned()),
            ("operationTypes", "UPDATE".to_owned()),
            ("operationTypes", "DELETE".to_owned()),
            ("dateFrom", from_ms.to_string()),
            ("direction", "asc".to_owned()),
            ("first", first.to_string()),
            ("max", PAGE.to_string()),
        ];
        let response = self.get("/admin-events", &query).await?;
        if !response.status().is_success() {
            return Err(KeycloakError::Status {
                status: response.status().as_u16(),
                what,
            });
        }
        let mut events: Vec<AdminEvent> = response.json().await.map_err(|e| KeycloakError::Decode {
            what,
            reason: e.without_url().to_string(),
        })?;
        // Keycloak before 25 ignores `direction` and answers newest first.
        events.sort_by_key(|e| e.time);
        Ok(events)
    }
}

/// The token error without anything the server echoed back verbatim: the
/// OAuth error code and description are Keycloak's fixed strings.
fn describe_token_error<E: std::error::Error>(
    e: &oauth2::RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => match r.error_description() {
            Some(d) => format!("{} ({d})", r.error()),
            None => r.error().to_string(),
        },
        oauth2::RequestTokenError::Request(e) => format!("request failed: {e}"),
        oauth2::RequestTokenError::Parse(..) => "the token response could not be parsed".into(),
        oauth2::RequestTokenError::Other(e) => e.clone(),
    }
}

/// Keycloak answers a missing realm with 404 too (`{"error":"Realm not
/// found."}`); only a missing user means the identity is gone.
fn realm_missing(body: &str) -> bool {
    body.to_ascii_lowercase().contains("realm not found")
}

/// Percent-encodes a path segment: a subject is an opaque string.
fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(path: &str, kind: Option<&str>) -> AdminEvent {
        AdminEvent {
            id: None,
            time: 1,
            operation_type: Some("UPDATE".into()),
            resource_type: kind.map(str::to_owned),
            resource_path: Some(path.into()),
            representation: None,
        }
    }

    #[test]
    fn only_events_on_a_user_itself_name_a_user() {
        assert_eq!(event("users/abc", Some("USER")).user_id(), Some("abc"));
        assert_eq!(
            event("users/abc/role-mappings/realm", Some("USER")).user_id(),
            None
        );
        assert_eq!(event("users/abc", Some("GROUP")).user_id(), None);
        assert_eq!(event("clients/abc", None).user_id(), None);
    }

    #[test]
    fn admin_events_parse_from_keycloaks_shape() {
        let json = r#"[{"time":1700000000123,"realmId":"5f1c","authDetails":{"realmId":"5f1c","clientId":"c1","userId":"u0","ipAddress":"127.0.0.1"},
            "operationType":"UPDATE","resourceType":"USER","resourcePath":"users/8e2a","representation":"{\"enabled\":false}"}]"#;
        let events: Vec<AdminEvent> = serde_json::from_str(json).unwrap();
        assert_eq!(events[0].user_id(), Some("8e2a"));
        assert_eq!(events[0].fingerprint().len(), 64);
    }

    #[test]
    fn a_missing_realm_is_not_a_deleted_user() {
        assert!(realm_missing(r#"{"error":"Realm not found."}"#));
        assert!(!realm_missing(r#"{"error":"User not found"}"#));
        assert!(!realm_missing(""));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
        assert_eq!(urlencode("8e2a-1"), "8e2a-1");
    }
}
