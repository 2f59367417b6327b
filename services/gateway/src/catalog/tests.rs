#![expect(clippy::unwrap_used)]
use super::*;

fn mock_vars(name: &str) -> Option<String> {
    (name == "KEYWAY_MOCK_URL").then(|| "http://127.0.0.1:9999".to_owned())
}

#[test]
fn the_dev_catalog_loads_with_the_mock_address_filled_in() {
    let c = Catalog::parse(DEV_CATALOG, mock_vars).unwrap();
    let gpt = c.get("mock-gpt").unwrap();
    assert_eq!(
        gpt.upstream_url.as_str(),
        "http://127.0.0.1:9999/v1/chat/completions"
    );
    assert_eq!(gpt.wire, Wire::OpenAi);
    assert_eq!(c.get("mock-claude").unwrap().wire, Wire::Anthropic);
    assert_eq!(c.get("mock-embed").unwrap().mode, Mode::Embedding);
    assert_eq!(c.get("mock-gpt-byok").unwrap().key_source, vec![KeySource::User]);
}

#[test]
fn an_unset_variable_is_named() {
    let err = Catalog::parse(DEV_CATALOG, |_| None).unwrap_err().to_string();
    assert!(err.contains("KEYWAY_MOCK_URL"), "{err}");
}

#[test]
fn a_system_source_without_a_key_variable_is_refused() {
    let yaml = "models:\n  m:\n    provider: openai\n    upstream_model: x\n    base_url: http://h/v1\n    key_source: [system]\n";
    let err = Catalog::parse(yaml, |_| None).unwrap_err().to_string();
    assert!(err.contains("api_key_env"), "{err}");
}

#[test]
fn unknown_providers_and_fields_are_refused() {
    let bad_provider = "models:\n  m:\n    provider: nope\n    upstream_model: x\n    base_url: http://h\n    key_source: [user]\n";
    assert!(
        Catalog::parse(bad_provider, |_| None)
            .unwrap_err()
            .to_string()
            .contains("unknown provider")
    );
    let typo = "models:\n  m:\n    provider: openai\n    upstream_modle: x\n    base_url: http://h\n    key_source: [user]\n";
    assert!(Catalog::parse(typo, |_| None).is_err());
}

#[test]
fn max_output_tokens_has_a_default_and_a_bounded_range() {
    let entry = |extra: &str| {
        format!(
            "models:\n  m:\n    provider: openai\n    upstream_model: x\n    base_url: http://h/v1\n    key_source: [user]\n{extra}"
        )
    };
    let c = Catalog::parse(&entry(""), |_| None).unwrap();
    assert_eq!(c.get("m").unwrap().max_output_tokens, DEFAULT_MAX_OUTPUT_TOKENS);
    let c = Catalog::parse(&entry("    max_output_tokens: 4096\n"), |_| None).unwrap();
    assert_eq!(c.get("m").unwrap().max_output_tokens, 4096);
    for bad in ["0", "16777217", "18446744073709551615"] {
        let err = Catalog::parse(&entry(&format!("    max_output_tokens: {bad}\n")), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_output_tokens"), "{bad}: {err}");
    }
    let pricey = "    price: {input_per_mtok: 1e300, output_per_mtok: 1, currency: USD}\n";
    let err = Catalog::parse(&entry(pricey), |_| None).unwrap_err().to_string();
    assert!(err.contains("prices must be"), "{err}");
}

#[test]
fn completion_models_and_the_responses_family_are_routed() {
    let c = Catalog::parse(DEV_CATALOG, mock_vars).unwrap();
    let instruct = c.get("mock-instruct").unwrap();
    assert_eq!(instruct.mode, Mode::Completion);
    assert_eq!(
        instruct.upstream_url.as_str(),
        "http://127.0.0.1:9999/v1/completions"
    );
    assert_eq!(c.get("mock-gpt").unwrap().base_url, "http://127.0.0.1:9999/v1");
    // OpenAI has a Responses API; other OpenAI-compatible servers get the bridge.
    assert_eq!(c.get("mock-gpt").unwrap().responses_api, ResponsesApi::Native);
    assert_eq!(c.get("mock-compat").unwrap().responses_api, ResponsesApi::Bridge);
    assert_eq!(Endpoint::Responses.family(), Endpoint::ChatCompletions);
    assert_eq!(Endpoint::CountTokens.family(), Endpoint::Messages);
    let yaml = "models:\n  m:\n    provider: anthropic\n    mode: completion\n    upstream_model: x\n    base_url: http://h/v1\n    key_source: [user]\n";
    assert!(Catalog::parse(yaml, |_| None).is_err());
    let price: Price =
        serde_yaml::from_str("{input_per_mtok: 2, output_per_mtok: 1, currency: USD}").unwrap();
    assert_eq!((price.cache_write(), price.cache_write_1h()), (2.5, 4.0));
}

#[test]
fn custom_providers_speak_the_openai_wire() {
    let yaml = "models:\n  m:\n    provider: custom-acme\n    upstream_model: x\n    base_url: https://llm.acme.test/v1/\n    key_source: [user, tenant]\n";
    let c = Catalog::parse(yaml, |_| None).unwrap();
    let m = c.get("m").unwrap();
    assert_eq!(m.wire, Wire::OpenAi);
    assert_eq!(
        m.upstream_url.as_str(),
        "https://llm.acme.test/v1/chat/completions"
    );
}
