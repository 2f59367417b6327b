#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use super::*;

fn parse(yaml: &str) -> Result<Catalog, CatalogError> {
    Catalog::parse(yaml, |name| (name == "URL").then(|| "http://up.test".to_owned()))
}

const HEAD: &str = "models:\n  m:\n    provider: openai\n    upstream_model: u\n    key_source: [system]\n    api_key_env: K\n";

fn model_with(rest: &str) -> Result<Catalog, CatalogError> {
    parse(&format!("{HEAD}{rest}"))
}

fn reason(rest: &str) -> String {
    model_with(rest).expect_err("refused").to_string()
}

#[test]
fn a_single_base_url_is_one_implicit_deployment() {
    let cat = model_with("    base_url: ${URL}/v1\n").unwrap();
    let m = cat.get("m").unwrap();
    assert_eq!(m.deployments.len(), 1);
    let d = &m.deployments[0];
    assert_eq!(
        (
            d.name.as_str(),
            d.provider.as_str(),
            d.weight,
            d.api_key_env.as_deref()
        ),
        (IMPLICIT_DEPLOYMENT, "openai", 1, Some("K"))
    );
    assert_eq!(d.upstream_url.as_str(), "http://up.test/v1/chat/completions");
    assert_eq!(m.routing.attempts, 1);
    assert_eq!(m.routing.cooldown_failures, DEFAULT_COOLDOWN_FAILURES);
}

#[test]
fn deployments_inherit_and_override_the_model() {
    let cat = model_with(
        "    deployments:\n      - {name: a, base_url: 'http://a.test/v1/', weight: 3}\n      - {name: b, provider: groq, base_url: 'http://b.test/v1', api_key_env: KB, upstream_model: other, rpm: 10, tpm: 1000}\n    retry: {attempts: 3, on: [connect, '429']}\n    cooldown: {failures: 2, seconds: 5}\n",
    )
    .unwrap();
    let m = cat.get("m").unwrap();
    let (a, b) = (&m.deployments[0], &m.deployments[1]);
    assert_eq!(
        (a.base_url.as_str(), a.weight, a.upstream_model.as_str()),
        ("http://a.test/v1", 3, "u")
    );
    assert_eq!(
        (
            b.provider.as_str(),
            b.api_key_env.as_deref(),
            b.upstream_model.as_str()
        ),
        ("groq", Some("KB"), "other")
    );
    assert_eq!((b.rpm, b.tpm), (Some(10), Some(1000)));
    assert_eq!(m.routing.attempts, 3);
    assert!(m.routing.retries_on(RetryOn::RateLimited) && !m.routing.retries_on(RetryOn::ServerError));
    assert_eq!(
        (m.routing.cooldown_failures, m.routing.cooldown.as_secs()),
        (2, 5)
    );
    let envs: Vec<&str> = cat.system_key_envs().collect();
    assert!(envs.contains(&"K") && envs.contains(&"KB"));
}

#[test]
fn a_bad_routing_section_fails_the_start_with_a_clear_message() {
    let cases = [
        (
            "    base_url: 'http://a.test'\n    deployments: [{name: a, base_url: 'http://a.test'}]\n",
            "not both",
        ),
        ("    deployments: []\n", "1 to 64"),
        (
            "    deployments: [{name: a, base_url: 'http://a.test', weight: 0}]\n",
            "weight must be at least 1",
        ),
        (
            "    deployments: [{name: a, base_url: 'http://a.test'}, {name: a, base_url: 'http://b.test'}]\n",
            "listed twice",
        ),
        (
            "    deployments: [{name: a, provider: anthropic, base_url: 'http://a.test'}]\n",
            "list it in fallbacks",
        ),
        (
            "    deployments: [{name: a, base_url: 'http://a.test', rpm: 0}]\n",
            "rpm and tpm",
        ),
        (
            "    base_url: 'http://a.test'\n    retry: {attempts: 0}\n",
            "retry.attempts",
        ),
        (
            "    base_url: 'http://a.test'\n    fallbacks: [nowhere]\n",
            "not a model of the catalog",
        ),
        ("    base_url: 'http://a.test'\n    fallbacks: [m]\n", "itself"),
    ];
    for (rest, expected) in cases {
        let message = reason(rest);
        assert!(message.contains(expected), "{rest}: {message}");
    }
}

#[test]
fn system_keys_are_required_per_deployment() {
    let yaml = "models:\n  m:\n    provider: openai\n    upstream_model: u\n    key_source: [system]\n    deployments: [{name: a, base_url: 'http://a.test', api_key_env: KA}, {name: b, base_url: 'http://b.test'}]\n";
    assert!(parse(yaml).unwrap_err().to_string().contains("\"b\""));
}

#[test]
fn fallback_cycles_are_refused() {
    let model = |name: &str, fb: &str| {
        format!(
            "  {name}:\n    provider: openai\n    upstream_model: u\n    key_source: [system]\n    api_key_env: K\n    base_url: 'http://a.test'\n    fallbacks: [{fb}]\n"
        )
    };
    let yaml = format!(
        "models:\n{}{}{}",
        model("a", "b"),
        model("b", "c"),
        model("c", "a")
    );
    let message = parse(&yaml).unwrap_err().to_string();
    assert!(
        message.contains("cycle") && message.contains("a -> b -> c -> a"),
        "{message}"
    );
    let chain = format!(
        "models:\n{}{}",
        model("a", "b"),
        model("b", "c").replace("fallbacks: [c]\n", "")
    );
    parse(&chain).expect("a chain without a cycle loads");
}

#[test]
fn routing_defaults_come_from_the_environment() {
    let vars = |name: &str| match name {
        "KEYWAY_ROUTING_COOLDOWN_FAILURES" => Some("5".to_owned()),
        "KEYWAY_ROUTING_COOLDOWN_SECS" => Some("7".to_owned()),
        _ => None,
    };
    let cat = Catalog::parse(&format!("{HEAD}    base_url: 'http://a.test'\n"), vars).unwrap();
    let r = &cat.get("m").unwrap().routing;
    assert_eq!((r.cooldown_failures, r.cooldown.as_secs()), (5, 7));
    let bad = Catalog::parse(HEAD, |n| {
        (n == "KEYWAY_ROUTING_COOLDOWN_SECS").then(|| "soon".to_owned())
    });
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("KEYWAY_ROUTING_COOLDOWN_SECS")
    );
}
