//! The guard in front of a real authenticator (the admin key), counting
//! locally, in a real NATS KV bucket (the shared local server, a bucket of
//! its own per test), and with NATS out of reach.

#![expect(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;
use crate::{AdminKeyAuthenticator, Role, authenticate_request};

const ADMIN: &str = "admin-secret";

fn nats_url() -> String {
    std::env::var("KEYWAY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn settings(limit: u32) -> GuardSettings {
    GuardSettings {
        failure_limit: limit,
        ..GuardSettings::default()
    }
}

/// A request from `ip` presenting `key` (none for `None`), through `guard`.
fn request(guard: &Arc<AuthGuard>, ip: &str, key: Option<&str>) -> http::request::Parts {
    let mut request = http::Request::new(());
    if let Some(key) = key {
        let value = http::HeaderValue::from_str(&format!("Bearer {key}")).unwrap();
        request.headers_mut().insert("authorization", value);
    }
    request.extensions_mut().insert(guard.clone());
    request.extensions_mut().insert(ClientIp(ip.parse().unwrap()));
    request.into_parts().0
}

async fn attempt(guard: &Arc<AuthGuard>, ip: &str, key: Option<&str>) -> Result<Role, Rejection> {
    let admin = AdminKeyAuthenticator::new(ADMIN);
    authenticate_request(&request(guard, ip, key), &admin)
        .await
        .map(|c| c.role)
}

fn blocked(outcome: &Result<Role, Rejection>) -> bool {
    matches!(outcome, Err(Rejection::TooManyFailures { retry_after_secs }) if *retry_after_secs > 0)
}

const INVALID: Result<Role, Rejection> = Err(Rejection::Credential(AuthError::Invalid));

#[tokio::test]
async fn the_limit_th_failure_blocks_the_client_and_a_success_resets_nothing() {
    let guard = Arc::new(AuthGuard::new(settings(3), None));
    let ip = "192.0.2.1";
    assert_eq!(attempt(&guard, ip, Some("wrong")).await, INVALID);
    assert_eq!(attempt(&guard, ip, Some("wrong")).await, INVALID);
    assert_eq!(attempt(&guard, ip, Some(ADMIN)).await, Ok(Role::PlatformAdmin));
    // The third failure is still answered as a failure; then the client is out,
    // even with the right key.
    assert_eq!(attempt(&guard, ip, Some("wrong")).await, INVALID);
    assert!(blocked(&attempt(&guard, ip, Some(ADMIN)).await));
    assert!(blocked(&attempt(&guard, ip, None).await));
    // Other clients are not.
    assert_eq!(
        attempt(&guard, "192.0.2.2", Some(ADMIN)).await,
        Ok(Role::PlatformAdmin)
    );
}

#[tokio::test]
async fn missing_credentials_and_unknown_clients_are_not_counted() {
    let guard = Arc::new(AuthGuard::new(settings(2), None));
    for _ in 0..5 {
        assert_eq!(
            attempt(&guard, "192.0.2.1", None).await,
            Err(Rejection::Credential(AuthError::Missing))
        );
    }
    assert_eq!(
        attempt(&guard, "192.0.2.1", Some(ADMIN)).await,
        Ok(Role::PlatformAdmin)
    );
    // Without a client address (no HTTP front) failures cannot be counted.
    let admin = AdminKeyAuthenticator::new(ADMIN);
    for _ in 0..3 {
        let mut parts = request(&guard, "192.0.2.9", Some("wrong"));
        parts.extensions.remove::<ClientIp>();
        assert_eq!(
            authenticate_request(&parts, &admin).await.map(|c| c.role),
            INVALID
        );
    }
}

#[tokio::test]
async fn two_gateways_share_one_count_through_nats_kv() {
    let prefix = format!("KWTEST_AUTH_{}", uuid::Uuid::new_v4().simple());
    let client = async_nats::connect(nats_url()).await.unwrap();
    let guard = |settings: GuardSettings| {
        let bucket = AuthGuard::bucket(client.clone(), &prefix, &settings);
        Arc::new(AuthGuard::new(settings, Some(bucket)))
    };
    let (a, b) = (guard(settings(3)), guard(settings(3)));
    let ip = "198.51.100.7";
    assert_eq!(attempt(&a, ip, Some("wrong")).await, INVALID);
    assert_eq!(attempt(&b, ip, Some("wrong")).await, INVALID);
    // The third failure overall, on A: A now refuses the client.
    assert_eq!(attempt(&a, ip, Some("wrong")).await, INVALID);
    assert!(blocked(&attempt(&a, ip, Some(ADMIN)).await));
    // B has not heard yet (successes never ask NATS), but its next failure
    // finds the shared block and from then on B refuses too.
    assert_eq!(attempt(&b, ip, Some(ADMIN)).await, Ok(Role::PlatformAdmin));
    assert!(blocked(&attempt(&b, ip, Some("wrong")).await));
    assert!(blocked(&attempt(&b, ip, Some(ADMIN)).await));
    let js = async_nats::jetstream::new(client);
    let _ = js.delete_stream(format!("KV_{prefix}_FAILURES")).await;
}

#[tokio::test]
async fn with_nats_out_of_reach_each_process_counts_on_its_own() {
    // Nothing listens on port 1: every KV call fails or times out.
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect("nats://127.0.0.1:1")
        .await
        .unwrap();
    let bucket = AuthGuard::bucket(client, "KWTEST_AUTH_DOWN", &settings(2));
    let guard = Arc::new(AuthGuard::new(settings(2), Some(bucket)));
    let ip = "203.0.113.5";
    assert_eq!(attempt(&guard, ip, Some("wrong")).await, INVALID);
    assert_eq!(attempt(&guard, ip, Some("wrong")).await, INVALID);
    assert!(blocked(&attempt(&guard, ip, Some(ADMIN)).await));
}

#[tokio::test]
async fn with_auth_off_everyone_is_the_platform_admin_whatever_they_present() {
    let guard = Arc::new(AuthGuard::auth_off());
    assert!(guard.is_auth_off());
    for key in [None, Some("wrong"), Some(ADMIN)] {
        assert_eq!(attempt(&guard, "192.0.2.1", key).await, Ok(Role::PlatformAdmin));
    }
}
