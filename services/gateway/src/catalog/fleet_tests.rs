//! Mixed fleets: deployments of one model called differently (OpenAI and
//! Azure, Anthropic and Bedrock), each with its own resolved adapter.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use super::*;

/// The catalog of issue 13 and ARCHITECTURE §3, with its fallback model.
const FLEET: &str = r#"
models:
  gpt-main:
    provider: openai
    upstream_model: gpt-4o
    key_source: [tenant, system]
    deployments:
      - {name: primary, base_url: https://api.openai.com/v1, api_key_env: OPENAI_KEY_A, weight: 3}
      - {name: azure-eu, provider: azure, base_url: https://x.openai.azure.com, deployment: gpt4o, api_version: "2024-10-21", api_key_env: AZURE_KEY, weight: 1}
    fallbacks: [claude-main]
    retry: {attempts: 3, on: [connect, timeout, 429, 5xx]}
  claude-main:
    provider: anthropic
    upstream_model: claude-sonnet-4-5
    key_source: [system]
    deployments:
      - {name: direct, base_url: https://api.anthropic.com/v1, api_key_env: ANTHROPIC_KEY}
      - {name: bedrock-eu, provider: bedrock, base_url: "https://bedrock-runtime.eu-west-1.amazonaws.com", upstream_model: "eu.anthropic.claude-sonnet-4-5-v1:0", region: eu-west-1, api_key_env: AWS_KEY}
"#;

fn parse(yaml: &str) -> Result<Catalog, CatalogError> {
    Catalog::parse(yaml, |_| None)
}

#[test]
fn the_issues_openai_plus_azure_fleet_loads_with_an_adapter_per_deployment() {
    let cat = parse(FLEET).unwrap();
    let m = cat.get("gpt-main").unwrap();
    assert_eq!(m.wire, Wire::OpenAi);
    let (primary, azure) = (&m.deployments[0], &m.deployments[1]);
    assert_eq!(
        (
            primary.options.adapter,
            primary.weight,
            primary.api_key_env.as_deref()
        ),
        (Adapter::Bearer, 3, Some("OPENAI_KEY_A"))
    );
    assert_eq!(primary.options.api_version, None);
    assert_eq!(
        (azure.provider.as_str(), azure.options.adapter, azure.weight),
        ("azure", Adapter::Azure, 1)
    );
    assert_eq!(
        (
            azure.options.deployment.as_deref(),
            azure.options.api_version.as_deref()
        ),
        (Some("gpt4o"), Some("2024-10-21"))
    );
    assert_eq!(azure.api_key_env.as_deref(), Some("AZURE_KEY"));
    let envs: Vec<&str> = cat.system_key_envs().collect();
    for env in ["OPENAI_KEY_A", "AZURE_KEY", "ANTHROPIC_KEY", "AWS_KEY"] {
        assert!(envs.contains(&env), "{env} missing from {envs:?}");
    }
}

#[test]
fn anthropic_and_bedrock_deployments_share_a_model() {
    let cat = parse(FLEET).unwrap();
    let m = cat.get("claude-main").unwrap();
    assert_eq!(m.wire, Wire::Anthropic);
    let (direct, bedrock) = (&m.deployments[0], &m.deployments[1]);
    assert_eq!(direct.options.adapter, Adapter::Anthropic);
    assert_eq!(
        (bedrock.options.adapter, bedrock.options.region.as_deref()),
        (Adapter::Bedrock, Some("eu-west-1"))
    );
    assert_eq!(bedrock.upstream_model, "eu.anthropic.claude-sonnet-4-5-v1:0");
    // Without `region`, the deployment signs for AWS_REGION.
    let yaml = FLEET.replace(", region: eu-west-1", "");
    assert!(parse(&yaml).unwrap_err().to_string().contains("bedrock-eu"));
    let cat = Catalog::parse(&yaml, |n| (n == "AWS_REGION").then(|| "us-east-2".to_owned())).unwrap();
    let d = &cat.get("claude-main").unwrap().deployments[1];
    assert_eq!(d.options.region.as_deref(), Some("us-east-2"));
}

#[test]
fn deployments_inherit_the_models_fields_only_when_called_the_same_way() {
    let yaml = r#"
models:
  az:
    provider: azure
    upstream_model: gpt-4o
    key_source: [user]
    api_version: "2025-01-01"
    deployments:
      - {name: west, base_url: "https://w.openai.azure.com", deployment: gpt4o-w}
      - {name: north, base_url: "https://n.openai.azure.com", deployment: gpt4o-n, api_version: "2024-10-21"}
      - {name: plain, provider: openai, base_url: "https://api.openai.com/v1"}
"#;
    let cat = parse(yaml).unwrap();
    let d = &cat.get("az").unwrap().deployments;
    let version = |i: usize| d[i].options.api_version.as_deref();
    assert_eq!(
        (version(0), version(1), version(2)),
        (Some("2025-01-01"), Some("2024-10-21"), None)
    );
    assert_eq!(d[0].options.deployment.as_deref(), Some("gpt4o-w"));
    assert_eq!(
        (d[2].options.adapter, d[2].options.deployment.as_deref()),
        (Adapter::Bearer, None)
    );
}

#[test]
fn a_deployment_of_another_wire_or_with_anothers_fields_is_refused_by_name() {
    let other_wire = FLEET.replace(
        "fallbacks: [claude-main]",
        "fallbacks: []",
    )
    .replace(
        "      - {name: azure-eu,",
        "      - {name: claude-side, provider: anthropic, base_url: https://api.anthropic.com/v1, api_key_env: K}\n      - {name: azure-eu,",
    );
    let message = parse(&other_wire).unwrap_err().to_string();
    assert!(
        message.contains("gpt-main")
            && message.contains("\"claude-side\"")
            && message.contains("anthropic wire")
            && message.contains("fallbacks"),
        "{message}"
    );
    let stray = FLEET.replace(
        "api_key_env: OPENAI_KEY_A, weight: 3}",
        "api_key_env: OPENAI_KEY_A, weight: 3, deployment: nope}",
    );
    let message = parse(&stray).unwrap_err().to_string();
    assert!(
        message.contains("\"primary\"") && message.contains("deployment applies only to provider azure"),
        "{message}"
    );
}

/// The first YAML block of a document.
fn first_yaml(doc: &str) -> &str {
    let start = doc.find("```yaml\n").unwrap() + "```yaml\n".len();
    let len = doc[start..].find("```").unwrap();
    &doc[start..start + len]
}

#[test]
fn the_example_fleets_of_the_docs_load() {
    for doc in [
        include_str!("../../../../docs/routing.md"),
        include_str!("../../../../docs/providers.md"),
    ] {
        let yaml = first_yaml(doc);
        let cat = parse(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert!(cat.iter().any(|m| m.deployments.len() > 1));
    }
}
