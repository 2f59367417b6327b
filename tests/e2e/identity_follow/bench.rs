//! The measurement behind `bench/identity-follow.sh` (ignored in normal
//! runs): with the default follower and cache settings, the delay from
//! disabling a user at the Keycloak double (an admin event, as Keycloak
//! records it) to the first request the gateway refuses. Printed, not
//! asserted: the bound it should stay under is the poll interval plus one
//! tick's work (docs/identity.md).

use std::time::{Duration, Instant};

use super::{
    keycloak_double::KeycloakDouble,
    support::{ALICE_SECRET, chat_code, followed_stack, person, works},
};
use crate::{helpers::eventually, keys_api::new_tenant};

#[tokio::test]
#[ignore = "a measurement: run by bench/identity-follow.sh"]
#[expect(clippy::print_stdout, reason = "the measurement is the output")]
async fn measure_the_delay_from_a_keycloak_disable_to_the_first_refusal() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let poll = std::env::var("BENCH_KEYCLOAK_POLL_MS").unwrap_or_else(|_| "5000".into());
    let kc = KeycloakDouble::start().await;
    // The defaults, except the reconciliation and the staleness the
    // follow_env helper pushes out of the way.
    let stack = followed_stack(&kc, &[("KEYWAY_KEYCLOAK_POLL_MS", poll.as_str())]).await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = person(&stack, &kc, &tenant, "alice", ALICE_SECRET).await;
    let mut delays = Vec::new();
    for round in 0..rounds {
        eventually("alice works", || works(&stack, &alice)).await;
        kc.set_enabled(&alice.kc_id, false, true);
        let start = Instant::now();
        loop {
            if chat_code(&stack, &alice.key, "mock-gpt").await.0 == 401 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "not refused within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let delay = start.elapsed();
        println!(
            "identity-follow round {round}: disable -> first refusal {} ms",
            delay.as_millis()
        );
        delays.push(delay);
        kc.set_enabled(&alice.kc_id, true, true);
    }
    delays.sort();
    let ms = |d: &Duration| d.as_millis();
    println!(
        "identity-follow: KEYWAY_KEYCLOAK_POLL_MS={poll}, {rounds} rounds: min {} ms, median {} ms, max {} ms",
        ms(&delays[0]),
        ms(&delays[delays.len() / 2]),
        ms(&delays[delays.len() - 1])
    );
}
