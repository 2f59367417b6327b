//! The limiter against a real NATS KV (the shared local server, with a
//! bucket prefix of its own per test).

#![expect(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use keyway_auth::{Caller, CallerLimits, Limits, Role};
use time::OffsetDateTime;

use super::*;

fn nats_url() -> String {
    std::env::var("KEYWAY_TEST_NATS_URL")
        .or_else(|_| std::env::var("KEYWAY_NATS_URL"))
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn prefix() -> String {
    format!("KWTEST_{}", uuid::Uuid::new_v4().simple())
}

/// Fails closed, so a test can never pass by skipping the counters.
async fn limiter(prefix: &str, settings: LimitSettings) -> Arc<Limiter> {
    limiter_with_clock(prefix, settings, Clock::system()).await
}

async fn limiter_with_clock(prefix: &str, settings: LimitSettings, clock: Clock) -> Arc<Limiter> {
    let settings = LimitSettings {
        fail_open: false,
        ..settings
    };
    Limiter::with_clock(
        async_nats::connect(nats_url()).await.unwrap(),
        prefix,
        settings,
        clock,
    )
}

/// Removes the test's buckets from the shared server.
async fn drop_buckets(prefix: &str) {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    for bucket in ["RATE", "SPEND"] {
        let _ = js.delete_stream(format!("KV_{prefix}_{bucket}")).await;
    }
}

fn caller(tenant: Limits, api_key: Limits) -> Caller {
    Caller {
        api_key_id: Some("key1".into()),
        limits: CallerLimits { tenant, api_key },
        ..Caller::in_tenant("acme", Role::Member)
    }
}

fn key(kind: Kind, scope: Scope) -> CounterKey {
    CounterKey {
        kind,
        scope,
        window: kind.window(OffsetDateTime::now_utc()),
    }
}

async fn counter(l: &Limiter, key: &CounterKey) -> u64 {
    l.counters.value(key.kind, &key.kv_key()).await.unwrap()
}

#[tokio::test]
async fn two_gateways_share_one_request_limit() {
    let prefix = prefix();
    // Thirty compare-and-swaps race on one key: on a loaded machine some
    // take longer than the production timeout, which is not what is tested.
    let patient = LimitSettings {
        kv_timeout: std::time::Duration::from_secs(30),
        ..LimitSettings::default()
    };
    let (a, b) = (
        limiter(&prefix, patient.clone()).await,
        limiter(&prefix, patient).await,
    );
    let per_key = Limits {
        requests_per_minute: Some(10),
        ..Limits::default()
    };
    let c = caller(Limits::default(), per_key);
    // Keep reservations alive: dropping one never gives a request back.
    let mut granted = Vec::new();
    let mut refused = Vec::new();
    let attempts = (0..30).map(|i| {
        let (l, c) = (if i % 2 == 0 { a.clone() } else { b.clone() }, c.clone());
        async move { l.reserve(&c, Demand::default()).await }
    });
    for outcome in futures::future::join_all(attempts).await {
        match outcome {
            Ok(r) => granted.push(r),
            Err(LimitError::Refused(r)) => refused.push(r),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(granted.len(), 10, "N gateways must not multiply the limit");
    assert_eq!(refused.len(), 20);
    let r = &refused[0];
    assert_eq!(
        (r.kind, r.scope, r.limit),
        (Kind::RequestsPerMinute, "API key", 10)
    );
    assert!((1..=60).contains(&r.retry_after()));
    assert_eq!(
        counter(&a, &key(Kind::RequestsPerMinute, Scope::ApiKey("key1".into()))).await,
        10
    );
    drop_buckets(&prefix).await;
}

#[tokio::test]
async fn a_budget_is_reserved_then_settled_to_what_was_used() {
    let prefix = prefix();
    let clock = Clock::manual();
    let l = limiter_with_clock(&prefix, LimitSettings::default(), clock.clone()).await;
    let budget = Limits {
        monthly_budget_micros: Some(1_000),
        ..Limits::default()
    };
    let c = caller(budget, Limits::default());
    let spend = key(Kind::MonthlySpend, Scope::Tenant("acme".into()));
    let demand = |cost| Demand {
        tokens: 0,
        cost_micros: cost,
    };

    // 100 concurrent requests reserving 30 each: at most 1000 / 30 fit.
    let attempts = (0..100).map(|_| l.reserve(&c, demand(30)));
    let outcomes = futures::future::join_all(attempts).await;
    let (granted, refused): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(Result::is_ok);
    let granted: Vec<_> = granted.into_iter().filter_map(Result::ok).collect();
    assert_eq!(granted.len(), 33);
    // Refused while the 33 are unsettled: worth retrying in a second.
    for r in refused {
        match r.err().unwrap() {
            LimitError::Refused(r) => assert_eq!((r.held_in_flight, r.retry_after()), (true, 1)),
            e => panic!("unexpected {e}"),
        }
    }
    // Each used only 10: settling gives 20 back per request, and the sweep
    // returns the lease to the shared counter once it has idled.
    for r in granted {
        r.settle(demand(10));
    }
    clock.advance(l.settings.lease);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while counter(&l, &spend).await != 330 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "counter at {}",
            counter(&l, &spend).await
        );
        l.sweep(false).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Using more than reserved is charged too, beyond the lease if need be.
    let r = l.reserve(&c, demand(30)).await.unwrap();
    r.settle(demand(500));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while counter(&l, &spend).await != 830 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "counter at {}",
            counter(&l, &spend).await
        );
        l.sweep(true).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing in flight now: the budget is used up until the month ends.
    let refused = l.reserve(&c, demand(200)).await.err().unwrap();
    assert!(
        matches!(refused, LimitError::Refused(ref r) if r.is_budget() && !r.held_in_flight && r.retry_after() > 1),
        "{refused}"
    );
    drop_buckets(&prefix).await;
}

#[tokio::test]
async fn a_new_minute_opens_a_new_window_and_the_sweep_forgets_the_old_one() {
    let prefix = prefix();
    let clock = Clock::manual();
    let l = limiter_with_clock(&prefix, LimitSettings::default(), clock.clone()).await;
    let one = Limits {
        requests_per_minute: Some(1),
        ..Limits::default()
    };
    let c = caller(one, Limits::default());
    let _first = l.reserve(&c, Demand::default()).await.unwrap();
    assert!(matches!(
        l.reserve(&c, Demand::default()).await,
        Err(LimitError::Refused(_))
    ));
    clock.advance(Duration::from_secs(60));
    let _next = l.reserve(&c, Demand::default()).await.unwrap();
    l.sweep(false).await;
    let windows: Vec<u64> = l.leases.lock().unwrap().keys().map(|k| k.window).collect();
    assert_eq!(
        windows,
        vec![Kind::RequestsPerMinute.window(clock.now_utc())],
        "only the current minute's lease is kept"
    );
    drop_buckets(&prefix).await;
}

#[tokio::test]
async fn a_refusal_on_one_counter_gives_back_the_others() {
    let prefix = prefix();
    let l = limiter(&prefix, LimitSettings::default()).await;
    let tenant = Limits {
        requests_per_minute: Some(100),
        ..Limits::default()
    };
    let per_key = Limits {
        tokens_per_minute: Some(50),
        ..Limits::default()
    };
    let c = caller(tenant, per_key);
    let tokens = |n| Demand {
        tokens: n,
        cost_micros: 0,
    };
    let _first = l.reserve(&c, tokens(40)).await.unwrap();
    let refused = l.reserve(&c, tokens(40)).await.err().unwrap();
    assert!(matches!(refused, LimitError::Refused(ref r) if r.kind == Kind::TokensPerMinute));
    l.sweep(true).await;
    // The tenant's request counter kept only the request that went through.
    assert_eq!(
        counter(&l, &key(Kind::RequestsPerMinute, Scope::Tenant("acme".into()))).await,
        1
    );
    drop_buckets(&prefix).await;
}

#[tokio::test]
async fn unreachable_counters_fail_open_or_closed_as_configured() {
    // A client that never connects: nothing listens on port 1.
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect("nats://127.0.0.1:1")
        .await
        .unwrap();
    let settings = |fail_open| LimitSettings {
        kv_timeout: Duration::from_millis(100),
        fail_open,
        ..LimitSettings::default()
    };
    let c = caller(
        Limits {
            requests_per_minute: Some(1),
            ..Limits::default()
        },
        Limits::default(),
    );
    let open = Limiter::new(client.clone(), "KWTEST_DOWN", settings(true));
    assert!(open.reserve(&c, Demand::default()).await.is_ok());
    let closed = Limiter::new(client, "KWTEST_DOWN", settings(false));
    assert!(matches!(
        closed.reserve(&c, Demand::default()).await,
        Err(LimitError::Unavailable)
    ));
}

#[test]
fn settings_come_from_the_environment() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let s = LimitSettings::from_vars(vars(&[
        ("KEYWAY_LIMITS_LEASE_MS", "250"),
        ("KEYWAY_LIMITS_ON_NATS_DOWN", "closed"),
    ]))
    .unwrap();
    assert_eq!((s.lease, s.fail_open), (Duration::from_millis(250), false));
    let err = LimitSettings::from_vars(vars(&[("KEYWAY_LIMITS_ON_NATS_DOWN", "maybe")])).unwrap_err();
    assert!(err.to_string().contains("KEYWAY_LIMITS_ON_NATS_DOWN"), "{err}");
    assert!(LimitSettings::from_vars(vars(&[("KEYWAY_LIMITS_KV_TIMEOUT_MS", "0")])).is_err());
}

#[test]
fn a_request_larger_than_a_whole_limit_is_refused_not_run_alone() {
    let now = OffsetDateTime::now_utc();
    let tpm = Limits {
        tokens_per_minute: Some(60),
        ..Limits::default()
    };
    let budget = Limits {
        monthly_budget_micros: Some(40),
        ..Limits::default()
    };
    let demand = |tokens, cost_micros| Demand { tokens, cost_micros };
    assert_eq!(
        needs(&caller(tpm, Limits::default()), demand(60, 0), now)
            .unwrap()
            .len(),
        1
    );
    let refused = needs(&caller(Limits::default(), tpm), demand(61, 0), now).unwrap_err();
    assert_eq!(
        (refused.kind, refused.scope, refused.requested),
        (Kind::TokensPerMinute, "API key", Some(61))
    );
    assert!(
        refused
            .message()
            .contains("smaller than this request's reservation (61)"),
        "{}",
        refused.message()
    );
    let refused = needs(&caller(budget, Limits::default()), demand(1, 41), now).unwrap_err();
    assert!(refused.is_budget() && refused.retry_after() >= 1);
}

#[test]
fn settling_gives_back_to_the_lease_and_charges_overruns_to_it_before_the_counter() {
    let mut lease = Lease {
        available: 10,
        idle_sweeps: 0,
        in_flight: 50,
    };
    // Used less than reserved: the rest goes back into the lease.
    assert_eq!(settle_lease(&mut lease, 30, 20), 0);
    assert_eq!((lease.available, lease.in_flight), (20, 20));
    // Used more: the lease pays what it holds, the shared counter the rest.
    assert_eq!(settle_lease(&mut lease, 20, 50), 10);
    assert_eq!((lease.available, lease.in_flight), (0, 0));
    // Exactly what was reserved: nothing moves but the in-flight count.
    lease.in_flight = 5;
    assert_eq!(settle_lease(&mut lease, 5, 5), 0);
    assert_eq!((lease.available, lease.in_flight), (0, 0));
}

/// A lease in use stays with the gateway however long it is used; only one
/// left idle for three sweeps (half a lease apart) goes back. It used to go
/// back a lease after each top-up, busy or not, and every request on the
/// counter queued behind giving it back and taking it again.
#[tokio::test]
async fn the_sweep_gives_back_only_leases_left_idle() {
    let prefix = prefix();
    let l = limiter(&prefix, LimitSettings::default()).await;
    let per_key = Limits {
        requests_per_minute: Some(1_000),
        ..Limits::default()
    };
    let c = caller(Limits::default(), per_key);
    let rpm = key(Kind::RequestsPerMinute, Scope::ApiKey("key1".into()));
    let mut held = vec![l.reserve(&c, Demand::default()).await.unwrap()];
    let chunk = counter(&l, &rpm).await;
    assert!(chunk > 1, "a chunk is leased, not one request: {chunk}");
    for _ in 0..6 {
        l.sweep(false).await;
        held.push(l.reserve(&c, Demand::default()).await.unwrap());
    }
    assert_eq!(counter(&l, &rpm).await, chunk, "in use: kept");
    for _ in 0..3 {
        l.sweep(false).await;
    }
    assert_eq!(
        counter(&l, &rpm).await,
        held.len() as u64,
        "idle: the unused part went back"
    );
    drop_buckets(&prefix).await;
}
