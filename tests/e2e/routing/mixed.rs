//! A model whose deployments are called differently: the catalog of
//! issue 13 (an OpenAI `primary` deployment and an Azure `azure-eu` one with
//! `deployment:` and `api_version:`, weights 3:1), each deployment with its
//! own system key, against two mock-llm instances in auth mode.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::Value;

use super::{
    ask,
    fleet::{Mock, gateway, ledger},
};

const REQUESTS: usize = 400;

#[tokio::test]
async fn an_openai_and_an_azure_deployment_share_a_model_each_called_its_own_way() {
    let auth = |keys: &'static str| [("REQUIRE_AUTH", "true"), ("KEYS", keys)];
    let openai = Mock::start(&auth("sk-openai-a=openai-a")).await;
    let azure = Mock::start(&auth("azure-key-eu=azure-eu")).await;
    let catalog = format!(
        r#"models:
  gpt-main:
    provider: openai
    upstream_model: mock-model
    key_source: [system]
    price: {{input_per_mtok: 1, output_per_mtok: 2, currency: USD}}
    deployments:
      - {{name: primary, base_url: '{}/v1', api_key_env: OPENAI_KEY_A, weight: 3}}
      - {{name: azure-eu, provider: azure, base_url: '{}', deployment: gpt4o, api_version: "2024-10-21", api_key_env: AZURE_KEY, weight: 1}}
"#,
        openai.url, azure.url
    );
    let keys = [("OPENAI_KEY_A", "sk-openai-a"), ("AZURE_KEY", "azure-key-eu")];
    let (process, _catalog) = gateway(&catalog, &keys);
    let http = reqwest::Client::new();

    let answers: Vec<(u16, Value)> = futures::stream::iter(0..REQUESTS)
        .map(|_| {
            let (process, http) = (&process, &http);
            async move { ask(process, http, "gpt-main").await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    // Each answer names the identity of the key it arrived with: a
    // deployment's own system key, never the other's.
    let mut identities: BTreeMap<String, usize> = BTreeMap::new();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let text = body["choices"][0]["message"]["content"].as_str().unwrap();
        let who = text
            .rsplit("[Authenticated as ")
            .next()
            .unwrap()
            .trim_end_matches(']');
        *identities.entry(who.to_owned()).or_default() += 1;
    }
    let (on_openai, on_azure) = (openai.requests().await, azure.requests().await);
    assert_eq!(on_openai + on_azure, REQUESTS as u64);
    assert_eq!(
        identities,
        BTreeMap::from([
            ("azure-eu".to_owned(), on_azure as usize),
            ("openai-a".to_owned(), on_openai as usize)
        ])
    );
    // 3:1 is a quarter on Azure: 100 of 400. ±30 is over three standard
    // deviations of even a random pick, so a slow box cannot break it.
    assert!(
        (70..=130).contains(&on_azure),
        "3:1 split: {on_openai} to {on_azure}"
    );

    // Each deployment saw its provider's shape and nothing else.
    let azure_seen = azure.seen().await;
    let azure_path = "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21";
    assert_eq!(
        azure_seen["paths"],
        serde_json::json!({azure_path: on_azure}),
        "{azure_seen}"
    );
    assert_eq!(
        azure_seen["auth"],
        serde_json::json!({"api-key": on_azure}),
        "{azure_seen}"
    );
    let openai_seen = openai.seen().await;
    assert_eq!(
        openai_seen["paths"],
        serde_json::json!({"/v1/chat/completions": on_openai}),
        "{openai_seen}"
    );
    assert_eq!(
        openai_seen["auth"],
        serde_json::json!({"authorization": on_openai}),
        "{openai_seen}"
    );

    // Each request is billed once, naming the deployment that served it.
    let rows = ledger(&process, "gpt-main", REQUESTS).await;
    assert_eq!(rows.len(), REQUESTS);
    let billed = |name: &str| rows.iter().filter(|r| r.deployment == name).count() as u64;
    assert_eq!((billed("primary"), billed("azure-eu")), (on_openai, on_azure));
    for row in &rows {
        assert_eq!((row.status, row.attempts), (200, 1), "{row:?}");
        assert!(row.input_tokens > 0 && row.output_tokens > 0, "{row:?}");
        // $1 and $2 per million tokens: one micro-dollar per input token, two per output token.
        assert_eq!(
            row.cost_micros,
            row.input_tokens + 2 * row.output_tokens,
            "{row:?}"
        );
    }
}
