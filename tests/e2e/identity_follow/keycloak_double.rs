//! A test double of the Keycloak endpoints the identity follower uses —
//! real Keycloak cannot run on these machines — speaking Keycloak's own
//! shapes (checked against its admin REST docs and sources):
//!
//! * `POST /realms/{realm}/protocol/openid-connect/token`: the client
//!   credentials grant, client authenticated by HTTP Basic (Keycloak's
//!   `client_secret_basic`) or by form fields; an OAuth error otherwise;
//! * `GET /admin/realms/{realm}/users/{id}`: a `UserRepresentation`, or
//!   404 `{"error":"User not found"}` (`{"error":"Realm not found."}` for
//!   another realm); 401 without a valid bearer token;
//! * `GET /admin/realms/{realm}/admin-events`: `AdminEventRepresentation`s
//!   filtered by `resourceTypes`, `operationTypes`, `dateFrom` (epoch ms,
//!   inclusive), `first`, `max` (default 100) and `direction` (default desc).
//!
//! The test drives it directly: users are added, disabled, re-enabled and
//! deleted as an admin would in Keycloak's console, each change optionally
//! recorded as an admin event, and the whole server can be taken "down".

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde_json::{Value, json};

pub(crate) const REALM: &str = "acme";
pub(crate) const CLIENT_ID: &str = "keyway-follower";

#[derive(Default)]
struct Inner {
    users: HashMap<String, Value>,
    events: Vec<Value>,
    tokens: HashSet<String>,
    /// `dateFrom` of every admin-events request, in order.
    date_froms: Vec<i64>,
}

#[derive(Clone)]
pub(crate) struct KeycloakDouble {
    pub(crate) base: String,
    pub(crate) client_secret: String,
    realm_id: String,
    inner: Arc<Mutex<Inner>>,
    down: Arc<AtomicBool>,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl KeycloakDouble {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let double = Self {
            base: format!("http://{addr}"),
            client_secret: crate::helpers::random_secret("kc-secret-"),
            realm_id: uuid::Uuid::new_v4().to_string(),
            inner: Arc::default(),
            down: Arc::default(),
        };
        let app = Router::new()
            .route("/realms/{realm}/protocol/openid-connect/token", post(token))
            .route("/admin/realms/{realm}/users/{id}", get(user))
            .route("/admin/realms/{realm}/admin-events", get(admin_events))
            .with_state(double.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        double
    }

    /// The follower's settings pointing at this double.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KEYWAY_KEYCLOAK_URL", self.base.clone()),
            ("KEYWAY_KEYCLOAK_REALM", REALM.to_owned()),
            ("KEYWAY_KEYCLOAK_CLIENT_ID", CLIENT_ID.to_owned()),
            ("KEYWAY_KEYCLOAK_CLIENT_SECRET", self.client_secret.clone()),
        ]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Creates an enabled user; returns its id.
    pub(crate) fn add_user(&self, username: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let user = json!({
            "id": id, "username": username, "firstName": username, "lastName": "Test",
            "email": format!("{username}@example.com"), "emailVerified": true,
            "createdTimestamp": now_ms(), "enabled": true, "totp": false,
            "disableableCredentialTypes": [], "requiredActions": [], "notBefore": 0,
            "access": {"manageGroupMembership": true, "view": true, "mapRoles": true, "impersonate": false, "manage": true},
        });
        self.lock().users.insert(id.clone(), user);
        id
    }

    /// What the console's "Enabled" switch does; `event` records the admin
    /// event the realm would save (with "include representation" on).
    pub(crate) fn set_enabled(&self, id: &str, enabled: bool, event: bool) {
        let mut inner = self.lock();
        let user = inner.users.get_mut(id).unwrap();
        user["enabled"] = json!(enabled);
        let representation = user.to_string();
        if event {
            let e = self.event("UPDATE", id, Some(representation));
            inner.events.push(e);
        }
    }

    pub(crate) fn delete_user(&self, id: &str, event: bool) {
        let mut inner = self.lock();
        inner.users.remove(id);
        if event {
            let e = self.event("DELETE", id, None);
            inner.events.push(e);
        }
    }

    fn event(&self, operation: &str, user_id: &str, representation: Option<String>) -> Value {
        let mut e = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "time": now_ms(),
            "realmId": self.realm_id,
            "authDetails": {"realmId": self.realm_id, "clientId": "security-admin-console",
                            "userId": "admin-user-id", "ipAddress": "127.0.0.1"},
            "operationType": operation,
            "resourceType": "USER",
            "resourcePath": format!("users/{user_id}"),
        });
        if let Some(r) = representation {
            e["representation"] = json!(r);
        }
        e
    }

    /// Takes the whole server down (every endpoint answers 503) or back up.
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn date_froms(&self) -> Vec<i64> {
        self.lock().date_froms.clone()
    }

    pub(crate) fn latest_event_time(&self) -> Option<i64> {
        self.lock().events.last().and_then(|e| e["time"].as_i64())
    }

    fn unavailable(&self) -> Option<Response> {
        self.down
            .load(Ordering::SeqCst)
            .then(|| (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        token.is_some_and(|t| self.lock().tokens.contains(t))
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(kc): State<KeycloakDouble>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(down) = kc.unavailable() {
        return down;
    }
    if realm != REALM {
        return oauth_error(StatusCode::NOT_FOUND, "Realm does not exist", "");
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(i, p)| (i.to_owned(), p.to_owned())));
    let (id, secret) = basic
        .or_else(|| Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone())))
        .unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        );
    }
    if id != CLIENT_ID || secret != kc.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Invalid client or Invalid client credentials",
        );
    }
    let access = crate::helpers::random_secret("eyJ.kc-token-");
    kc.lock().tokens.insert(access.clone());
    Json(
        json!({"access_token": access, "expires_in": 300, "refresh_expires_in": 0,
        "token_type": "Bearer", "not-before-policy": 0, "scope": "profile email"}),
    )
    .into_response()
}

async fn user(
    State(kc): State<KeycloakDouble>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(down) = kc.unavailable() {
        return down;
    }
    if !kc.authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "HTTP 401 Unauthorized"})),
        )
            .into_response();
    }
    if realm != REALM {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "Realm not found."}))).into_response();
    }
    match kc.lock().users.get(&id) {
        Some(user) => Json(user.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "User not found"}))).into_response(),
    }
}

async fn admin_events(
    State(kc): State<KeycloakDouble>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(down) = kc.unavailable() {
        return down;
    }
    if !kc.authorized(&headers) || realm != REALM {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "HTTP 401 Unauthorized"})),
        )
            .into_response();
    }
    let all = |name: &str| -> Vec<String> {
        query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let one = |name: &str| all(name).into_iter().next();
    let (types, operations) = (all("resourceTypes"), all("operationTypes"));
    let from: i64 = one("dateFrom").and_then(|v| v.parse().ok()).unwrap_or(0);
    let first: usize = one("first").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = one("max").and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut inner = kc.lock();
    inner.date_froms.push(from);
    let mut events: Vec<Value> = inner
        .events
        .iter()
        .filter(|e| types.is_empty() || types.iter().any(|t| e["resourceType"] == *t))
        .filter(|e| operations.is_empty() || operations.iter().any(|o| e["operationType"] == *o))
        .filter(|e| e["time"].as_i64().unwrap() >= from)
        .cloned()
        .collect();
    // Keycloak's default order is newest first.
    if one("direction").as_deref() != Some("asc") {
        events.reverse();
    }
    Json(events.into_iter().skip(first).take(max).collect::<Vec<_>>()).into_response()
}
