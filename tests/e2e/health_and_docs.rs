//! Health, readiness, request ids, isolation between stacks, and the
//! OpenAPI document (served and committed copies must match).

use serde_json::Value;

use crate::helpers::{TestStack, repo_root};

#[tokio::test]
async fn healthz_is_ok_and_readyz_reports_every_dependency() {
    let stack = TestStack::spawn().await;
    let health = stack.http.get(stack.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Streams are created in the background; poll with a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = stack.http.get(stack.url("/readyz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        if body["status"] == "ready" {
            assert_eq!(body["checks"]["postgres"], "ok");
            assert_eq!(body["checks"]["nats"], "ok");
            assert_eq!(body["checks"]["jetstream_streams"], "ok");
            assert_eq!(
                body["services"],
                serde_json::json!(["gateway", "keys", "projector"])
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_request_id_is_echoed_or_generated() {
    let stack = TestStack::spawn().await;
    let echoed = stack
        .http
        .get(stack.url("/healthz"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-abc-123");
    let generated = stack.http.get(stack.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[tokio::test]
async fn two_stacks_side_by_side_keep_their_own_streams_and_databases() {
    let (a, b) = tokio::join!(TestStack::spawn(), TestStack::spawn());
    assert_ne!(a.base, b.base);
    let js = async_nats::jetstream::new(async_nats::connect(crate::helpers::nats_url()).await.unwrap());
    for stack in [&a, &b] {
        let name = format!("{}_USAGE", stack.isolation.nats_prefix.to_uppercase());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match js.get_stream(&name).await {
                Ok(mut stream) => {
                    let subjects = stream.info().await.unwrap().config.subjects.clone();
                    assert_eq!(
                        subjects,
                        vec![format!("{}.usage.v1.>", stack.isolation.nats_prefix)]
                    );
                    break;
                }
                Err(e) => assert!(std::time::Instant::now() < deadline, "{name} not created: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let url = crate::helpers::pg_url(&stack.isolation.db_name);
        let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&url).await.unwrap();
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('key_events', 'usage_ledger')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 2, "migrations ran in {url}");
    }
}

#[tokio::test]
async fn the_served_openapi_document_matches_the_committed_one() {
    let stack = TestStack::spawn().await;
    let served: Value = stack
        .http
        .get(stack.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // That the committed file is what the code generates is
    // `keyway::openapi::tests` (and the drift check in .ci/run).
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("openapi/keyway.json")).unwrap())
            .unwrap();
    assert_eq!(served, committed, "/openapi.json must serve openapi/keyway.json");
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(
        served.get("servers").is_none(),
        "servers must not hard-code an address"
    );
    for path in [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/embeddings",
        "/v1/models",
        "/readyz",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is undocumented");
    }
    let docs = stack.http.get(stack.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    // The UI loads the document from the route above.
    let init = stack
        .http
        .get(stack.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("\"/openapi.json\""));
}
