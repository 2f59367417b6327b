#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use super::*;
use crate::catalog::Catalog;

fn catalog(deployments: &str) -> Catalog {
    let yaml = format!(
        "models:\n  m:\n    provider: openai\n    upstream_model: u\n    key_source: [system]\n    api_key_env: K\n    deployments:\n{deployments}"
    );
    Catalog::parse(&yaml, |_| None).expect("catalog")
}

fn two() -> Catalog {
    catalog(
        "      - {name: a, base_url: 'http://a.test/v1', weight: 3}\n      - {name: b, base_url: 'http://b.test/v1'}\n",
    )
}

fn ask(now: u64, tried: Tried) -> Ask<'static> {
    Ask {
        now,
        tokens: 10,
        tried,
        has_key: &|_| true,
    }
}

#[test]
fn weights_split_the_traffic() {
    let cat = two();
    let model = cat.get("m").unwrap();
    let mut counts = [0u32; 2];
    for _ in 0..40_000 {
        counts[pick(model, &ask(0, Tried::default())).unwrap()] += 1;
    }
    let share = f64::from(counts[0]) / 40_000.0;
    assert!((0.749..0.751).contains(&share), "{counts:?}");
}

#[test]
fn a_tried_deployment_comes_last_and_a_cooling_one_not_at_all() {
    let cat = two();
    let model = cat.get("m").unwrap();
    let mut tried = Tried::default();
    tried.add(0);
    for _ in 0..100 {
        assert_eq!(pick(model, &ask(0, tried)), Some(1));
    }
    let b = &model.deployments[1].health;
    b.failed(1_000, 1, Duration::from_secs(30), None);
    // b cools down; a was tried but may be tried again.
    assert_eq!(pick(model, &ask(1_001, tried)), Some(0));
    assert!(b.cooling(30_999) && !b.cooling(31_000));
    // After the cooldown b is probed again; one more failure cools it at once.
    b.failed(31_000, 1, Duration::from_secs(30), None);
    assert!(b.cooling(31_001));
    b.succeeded();
    b.failed(70_000, 2, Duration::from_secs(30), None);
    assert!(
        !b.cooling(70_001),
        "one failure after a success does not reach the limit of two"
    );
}

#[test]
fn retry_after_cools_a_deployment_for_at_least_that_long() {
    let cat = two();
    let a = &cat.get("m").unwrap().deployments[0].health;
    a.failed(0, 100, Duration::from_secs(1), Some(Duration::from_secs(5)));
    assert!(a.cooling(4_999) && !a.cooling(5_000));
}

#[test]
fn among_equal_weights_the_least_busy_wins() {
    let cat = catalog(
        "      - {name: a, base_url: 'http://a.test/v1'}\n      - {name: b, base_url: 'http://b.test/v1'}\n",
    );
    let model = cat.get("m").unwrap();
    let _busy = model.deployments[0].health.enter();
    for _ in 0..100 {
        assert_eq!(pick(model, &ask(0, Tried::default())), Some(1));
    }
}

#[test]
fn rpm_and_keys_limit_the_choice() {
    let cat = catalog(
        "      - {name: a, base_url: 'http://a.test/v1', rpm: 2}\n      - {name: b, base_url: 'http://b.test/v1', api_key_env: OTHER}\n",
    );
    let model = cat.get("m").unwrap();
    let a = &model.deployments[0];
    a.health.count(0, 1);
    a.health.count(0, 1);
    assert!(!a.health.has_room(59_999, a.rpm, a.tpm, 1));
    assert!(a.health.has_room(60_000, a.rpm, a.tpm, 1), "a new minute");
    let only_a: &(dyn Fn(&crate::catalog::Deployment) -> bool + Sync) = &|d| d.name == "a";
    let full = Ask {
        now: 0,
        tokens: 1,
        tried: Tried::default(),
        has_key: only_a,
    };
    assert_eq!(pick(model, &full), None, "a is at its rpm and b has no key");
}

#[test]
fn a_single_deployment_is_picked_while_it_can_serve() {
    let cat = catalog("      - {name: only, base_url: 'http://a.test/v1'}\n");
    let model = cat.get("m").unwrap();
    let mut tried = Tried::default();
    tried.add(0);
    assert_eq!(
        pick(model, &ask(0, tried)),
        Some(0),
        "a retry may go to the same one"
    );
    model.deployments[0]
        .health
        .failed(0, 1, Duration::from_secs(1), None);
    assert_eq!(pick(model, &ask(1, tried)), None);
}
