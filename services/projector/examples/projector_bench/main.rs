//! Projector throughput and lag benchmark (driven by `bench/projector.sh`).
//!
//! Creates a throwaway database and NATS prefix, runs one projector
//! in-process (or `BENCH_PROJECTORS` real `keyway run projector` processes
//! from `KEYWAY_BIN`), publishes `BENCH_EVENTS` real `UsageEvent`s to
//! JetStream — one per message, or `BENCH_WIRE_BATCH` per `UsageBatch`
//! message as the gateway batches them — as fast as possible, or paced at
//! `BENCH_RATE` events/s, and samples how many events the views hold every
//! few milliseconds. It reports:
//! - sustained events/s into the views (first publish → last event visible);
//! - projection lag p50/p99/max: from an event's publish to the first sample
//!   in which the views (committed) include it. Events commit in publish
//!   order with one projector, so the n-th event is in once the views count
//!   n; the sampling period bounds the error.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

mod processes;

use std::{
    collections::VecDeque,
    error::Error,
    time::{Duration, Instant},
};

use async_nats::{HeaderMap, jetstream};
use keyway_projector::ProjectorSettings;
use keyway_proto::{
    cloudevents as ce,
    v1::{UsageBatch, UsageEvent},
};
use prost::Message;
use rand::Rng;
use tokio_util::sync::CancellationToken;

/// Drain times and lags are this precise. Each sample sums the monthly view
/// (below), so sampling more often takes CPU from the run it measures.
const SAMPLE_EVERY: Duration = Duration::from_millis(25);
const IN_FLIGHT: usize = 8_192;
/// How many events are committed: the ledger and the views commit together,
/// so the monthly view's request count is the ledger's row count, and the
/// view has a row per tenant, key and model (1,200 with the default 20
/// tenants, `BENCH_TENANTS`), far fewer than the
/// ledger. (`max(ledger_seq)` was the probe while positions were identity
/// values; since migration 2007 they follow transaction ids and count
/// nothing.) The views are checked against the total at the end.
const VISIBLE: &str = "SELECT COALESCE(sum(requests), 0)::bigint FROM usage_monthly";
/// Tenants the events are spread over, a message each in turn, unless
/// `BENCH_TENANTS` says otherwise.
const TENANTS: usize = 20;
const KEYS_PER_TENANT: usize = 20;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// An event of one of `KEYS_PER_TENANT` keys, each bound to its own user,
/// on one of three models: the views' cardinality of a busy real tenant.
fn event(rng: &mut impl Rng, tenant: &str) -> UsageEvent {
    let input = rng.random_range(10..4_000u64);
    let key = rng.random_range(0..KEYS_PER_TENANT);
    UsageEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        user_id: format!("user-{key}"),
        api_key_id: format!("{tenant}-key-{key}"),
        model: ["mock-gpt", "mock-claude", "mock-embed"][rng.random_range(0..3)].to_owned(),
        provider: "openai".to_owned(),
        key_source: 3,
        input_tokens: input,
        output_tokens: rng.random_range(0..1_000),
        cached_tokens: rng.random_range(0..input),
        cost_micros: rng.random_range(0..50_000),
        currency: "USD".to_owned(),
        status: if rng.random_bool(0.02) { 502 } else { 200 },
        latency_ms: rng.random_range(50..2_000),
        occurred_at_unix_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
        ..Default::default()
    }
}

/// Counts the committed events every `SAMPLE_EVERY` until `stop`.
async fn sample(pool: sqlx::PgPool, stop: CancellationToken) -> Vec<(Instant, i64)> {
    let mut samples: Vec<(Instant, i64)> = Vec::new();
    while !stop.is_cancelled() {
        let count: Result<i64, _> = sqlx::query_scalar(VISIBLE).fetch_one(&pool).await;
        if let Ok(count) = count {
            samples.push((Instant::now(), count));
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    samples
}

/// The CloudEvents headers the gateway's publisher sends.
fn headers(id: &str, ce_type: &str, tenant: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (ce::NATS_MSG_ID, id),
        (ce::ID, id),
        (ce::SPECVERSION, "1.0"),
        (ce::SOURCE, "keyway/gateway"),
        (ce::TYPE, ce_type),
        (ce::SUBJECT, tenant),
        (ce::DATACONTENTTYPE, ce::PROTOBUF),
    ] {
        headers.insert(name, value);
    }
    headers
}

/// One message: a single `UsageEvent` when `n` is 1, else a `UsageBatch`
/// of `n` events of one tenant, as the gateway's publisher sends them.
fn message(rng: &mut impl Rng, tenant: &str, n: usize) -> (HeaderMap, Vec<u8>) {
    if n == 1 {
        let e = event(rng, tenant);
        return (headers(&e.event_id, ce::USAGE_TYPE, tenant), e.encode_to_vec());
    }
    let batch = UsageBatch {
        events: (0..n).map(|_| event(rng, tenant)).collect(),
    };
    let id = format!("kwb-{}", batch.events[0].event_id);
    (headers(&id, ce::USAGE_BATCH_TYPE, tenant), batch.encode_to_vec())
}

/// Publishes `total` events, `per_message` to a message (paced at `rate`
/// events/s when positive), with up to `IN_FLIGHT` events unacknowledged;
/// returns when each event was published.
async fn publish(
    js: &jetstream::Context,
    prefix: &str,
    (total, per_message): (usize, usize),
    rate: f64,
    start: Instant,
) -> Result<Vec<Instant>, Box<dyn Error>> {
    let mut rng = rand::rng();
    let tenants = env_or("BENCH_TENANTS", TENANTS).max(1);
    let mut published_at = Vec::with_capacity(total);
    let mut acks = VecDeque::with_capacity(IN_FLIGHT);
    let mut i = 0;
    while i < total {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let n = per_message.min(total - i);
        let tenant = format!("tenant-{}", (i / per_message) % tenants);
        let (headers, payload) = message(&mut rng, &tenant, n);
        let subject = keyway_proto::subjects::usage(prefix, &tenant);
        published_at.extend(std::iter::repeat_n(Instant::now(), n));
        acks.push_back(js.publish_with_headers(subject, headers, payload.into()).await?);
        if acks.len() * per_message >= IN_FLIGHT
            && let Some(ack) = acks.pop_front()
        {
            ack.await?;
        }
        i += n;
    }
    for ack in acks {
        ack.await?;
    }
    Ok(published_at)
}

/// Waits up to 10 minutes for `total` committed events; false on timeout.
async fn wait_visible(pool: &sqlx::PgPool, total: usize) -> Result<bool, sqlx::Error> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let count: i64 = sqlx::query_scalar(VISIBLE).fetch_one(pool).await?;
        if count as usize >= total {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// Each event's lag: from its publish to the first sample counting it
/// (events commit in publish order), sorted.
fn lags(published_at: &[Instant], samples: &[(Instant, i64)]) -> Vec<Duration> {
    let mut lags = Vec::with_capacity(published_at.len());
    let mut next = 0;
    for (i, at) in published_at.iter().enumerate() {
        while next < samples.len() && (samples[next].1 as usize) < i + 1 {
            next += 1;
        }
        if let Some((seen, _)) = samples.get(next) {
            lags.push(seen.saturating_duration_since(*at));
        }
    }
    lags.sort_unstable();
    lags
}

/// A fresh database with the projector's schema, and the NATS streams.
async fn set_up(
    db_url: &str,
    prefix: &str,
    nats_url: &str,
) -> Result<(sqlx::PgPool, keyway_common::Config, async_nats::Client), Box<dyn Error>> {
    keyway_common::db::ensure_database(db_url).await?;
    let pool = keyway_common::db::connect(db_url).await?;
    keyway_projector::migrate(&pool).await?;
    let config = keyway_common::Config::from_vars(
        [("KEYWAY_NATS_PREFIX", prefix), ("KEYWAY_NATS_URL", nats_url)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )?;
    let nats = async_nats::connect(nats_url).await?;
    keyway_common::nats::ensure_streams(&nats, &config).await?;
    Ok((pool, config, nats))
}

fn announce(total: usize, rate: f64, batch_size: usize, backlog: bool) {
    let pace = if rate > 0.0 {
        format!("paced at {rate:.0}/s")
    } else {
        "as fast as possible".into()
    };
    let when = if backlog {
        "projector started after publishing"
    } else {
        "projector consuming meanwhile"
    };
    println!("publishing {total} usage events ({pace}), batch size {batch_size}, {when}");
}

/// `drained`: the events counted from the first commit (all of them when
/// the projector ran while publishing).
fn report_rates((total, drained): (usize, usize), published: Duration, all_in: Duration, done: bool) {
    println!(
        "published in {:.2}s ({:.0} events/s)",
        published.as_secs_f64(),
        total as f64 / published.as_secs_f64()
    );
    println!(
        "projected {} events in {:.2}s: {:.0} events/s into the views{}",
        drained,
        all_in.as_secs_f64(),
        drained as f64 / all_in.as_secs_f64(),
        if done { "" } else { " (TIMED OUT)" }
    );
}

fn report_lags(backlog: bool, lags: &[Duration]) {
    if backlog {
        println!("(backlog mode: all events were queued before the projector started; no lag figures)");
    } else {
        println!(
            "projection lag (publish -> committed in the views): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            percentile(lags, 0.50).as_secs_f64() * 1e3,
            percentile(lags, 0.99).as_secs_f64() * 1e3,
            lags.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    }
}

/// Drops the throwaway database and streams.
async fn clean_up(
    pg_base: &str,
    db: &str,
    js: &jetstream::Context,
    config: &keyway_common::Config,
) -> Result<(), Box<dyn Error>> {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{pg_base}/postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    for kind in ["usage", "keys"] {
        let _ = js.delete_stream(config.stream_name(kind)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let total: usize = env_or("BENCH_EVENTS", 200_000);
    let rate: f64 = env_or("BENCH_RATE", 0.0);
    let batch_size: usize = env_or("BENCH_BATCH", ProjectorSettings::DEFAULT_BATCH_SIZE);
    let per_message: usize = env_or("BENCH_WIRE_BATCH", 1).max(1);
    let pg_base =
        std::env::var("BENCH_PG_BASE").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let nats_url = std::env::var("KEYWAY_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let id = std::process::id();
    let (db, prefix) = (format!("keyway_bench_projector_{id}"), format!("kwbenchproj{id}"));
    let db_url = format!("{pg_base}/{db}");

    let (pool, config, nats) = set_up(&db_url, &prefix, &nats_url).await?;
    let js = jetstream::new(nats.clone());
    let data_dir = tempfile::tempdir()?;

    let stop = CancellationToken::new();
    let settings = ProjectorSettings {
        batch_size,
        writers: env_or("BENCH_WRITERS", ProjectorSettings::DEFAULT_WRITERS),
        ..ProjectorSettings::new(prefix.clone())
    };
    let backlog = std::env::var("BENCH_MODE").is_ok_and(|m| m == "backlog");
    let start_projector = || {
        processes::start(
            &pool,
            &nats,
            &settings,
            (&db_url, &nats_url),
            (&stop, data_dir.path()),
        )
    };
    let mut projector = if backlog { None } else { Some(start_projector()?) };
    let sampler = tokio::spawn(sample(pool.clone(), stop.clone()));

    announce(total, rate, batch_size, backlog);
    println!("events per JetStream message: {per_message}");
    let start = Instant::now();
    let published_at = publish(&js, &prefix, (total, per_message), rate, start).await?;
    let published = start.elapsed();
    // Backlog mode measures the projector alone, draining what is queued.
    let projecting_from = if backlog {
        let from = Instant::now();
        projector = Some(start_projector()?);
        from
    } else {
        start
    };

    let done = wait_visible(&pool, total).await?;
    tokio::time::sleep(SAMPLE_EVERY * 2).await;
    let in_views: i64 = sqlx::query_scalar("SELECT COALESCE(sum(requests), 0)::bigint FROM usage_monthly")
        .fetch_one(&pool)
        .await?;
    stop.cancel();
    let samples = sampler.await?;
    match projector {
        Some(processes::Projector::InProcess(task)) => drop(task.await),
        Some(processes::Projector::Processes(processes)) => drop(processes),
        None => {}
    }

    let (drained, all_in) = processes::drain(&samples, total, projecting_from, backlog);
    println!("views hold {in_views} requests (expected {total})");
    report_rates((total, drained), published, all_in, done);
    report_lags(backlog, &lags(&published_at, &samples));

    pool.close().await;
    clean_up(&pg_base, &db, &js, &config).await?;
    if !done {
        return Err("the projector did not catch up within 10 minutes".into());
    }
    if in_views as usize != total {
        return Err("the views do not hold exactly the published events".into());
    }
    Ok(())
}
