//! Server-side sessions. The browser holds only a random session id in an
//! `HttpOnly`, `SameSite=Strict` cookie; the credential the console acts
//! with stays in this process's memory (zeroized when the session ends)
//! and is never sent back to the browser. Sessions are looked up by the
//! SHA-256 of their id, so a lookup's timing says nothing about stored ids.
//!
//! Sessions live in one process: behind a load balancer, route `/console`
//! to one instance or use sticky sessions (docs/console.md).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use keyway_auth::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub(crate) const COOKIE: &str = "keyway_console";

/// Who is signed in, and the credential the console acts with.
pub(crate) struct Session {
    pub(crate) credential: Arc<Zeroizing<String>>,
    pub(crate) tenant_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) role: Role,
    /// What the header shows: an API key's public id, or an email.
    pub(crate) label: String,
    /// This session's CSRF token (`csrf::verify` checks every POST).
    pub(crate) csrf: String,
    /// One-shot notices shown on the next page.
    flash: Mutex<Vec<Flash>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Flash {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

impl Session {
    pub(crate) fn new(credential: String, caller: &keyway_auth::Caller, label: String) -> Self {
        Self {
            credential: Arc::new(Zeroizing::new(credential)),
            tenant_id: caller.tenant_id.clone(),
            user_id: caller.user_id.clone(),
            role: caller.role,
            label,
            csrf: random_token(),
            flash: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn flash(&self, ok: bool, text: impl Into<String>) {
        lock(&self.flash).push(Flash {
            ok,
            text: text.into(),
        });
    }

    pub(crate) fn take_flash(&self) -> Vec<Flash> {
        std::mem::take(&mut *lock(&self.flash))
    }

    pub(crate) fn is(&self, role: Role) -> bool {
        self.role >= role
    }
}

struct Entry {
    session: Arc<Session>,
    last_seen: Instant,
}

pub(crate) struct Sessions {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    idle: Duration,
    max: usize,
}

impl Sessions {
    pub(crate) fn new(idle: Duration, max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            idle,
            max: max.max(1),
        }
    }

    /// Stores a session; returns the id the cookie carries.
    pub(crate) fn insert(&self, session: Session) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut entries = lock(&self.entries);
        entries.retain(|_, e| now.duration_since(e.last_seen) < self.idle);
        if entries.len() >= self.max
            && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| *k)
        {
            entries.remove(&oldest);
        }
        entries.insert(
            digest(&id),
            Entry {
                session: Arc::new(session),
                last_seen: now,
            },
        );
        id
    }

    /// The live session with this id, which counts as activity.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        let now = Instant::now();
        let mut entries = lock(&self.entries);
        let key = digest(id);
        let entry = entries.get_mut(&key)?;
        if now.duration_since(entry.last_seen) >= self.idle {
            entries.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    pub(crate) fn remove(&self, id: &str) {
        lock(&self.entries).remove(&digest(id));
    }
}

/// A poisoned lock only means another request panicked mid-update of a
/// map that stays consistent; keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// 256 random bits, base64url: session ids and CSRF tokens.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value scoped to the console: `HttpOnly`, `SameSite=Strict`
/// and, when `secure`, `Secure`. `None` clears the cookie.
pub(crate) fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(value) => format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn session() -> Session {
        let caller = keyway_auth::Caller::in_tenant("t1", Role::Member);
        Session::new("kw_dev_x_y".into(), &caller, "x".into())
    }

    #[test]
    fn a_session_is_found_by_its_id_and_gone_once_removed() {
        let sessions = Sessions::new(Duration::from_secs(60), 10);
        let id = sessions.insert(session());
        assert_eq!(sessions.get(&id).unwrap().tenant_id, "t1");
        assert!(sessions.get("not-an-id").is_none());
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn an_idle_session_expires_and_the_oldest_gives_way_at_the_bound() {
        let sessions = Sessions::new(Duration::ZERO, 10);
        let id = sessions.insert(session());
        assert!(sessions.get(&id).is_none());
        let sessions = Sessions::new(Duration::from_secs(60), 1);
        let first = sessions.insert(session());
        let second = sessions.insert(session());
        assert!(sessions.get(&first).is_none());
        assert!(sessions.get(&second).is_some());
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header_and_set_with_the_safe_flags() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "a=1; keyway_console=abc".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
        let set = set_cookie(COOKIE, Some("abc"), true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.ends_with("; Secure"));
        assert!(!set_cookie(COOKIE, Some("abc"), false).contains("Secure"));
        assert!(set_cookie(COOKIE, None, false).contains("Max-Age=0"));
    }

    #[test]
    fn flash_messages_are_shown_once() {
        let s = session();
        s.flash(true, "saved");
        assert_eq!(s.take_flash().len(), 1);
        assert!(s.take_flash().is_empty());
    }
}
