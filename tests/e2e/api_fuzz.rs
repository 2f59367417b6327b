//! schemathesis against the committed OpenAPI document's live twin, as the
//! platform admin and as a tenant's key: no 5xx, and every status, content
//! type and body the server answers is the one the document promises.
//! Deterministic generation keeps CI reproducible; run it alone with
//! `cargo test -p keyway --test e2e api_fuzz -- --nocapture`.

use std::process::Command;

use serde_json::json;

use crate::{
    helpers::{TestStack, peers_bin},
    keys_api::{new_api_key, new_tenant},
};

const CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

fn schemathesis(spec_url: &str, key: &str) -> String {
    let output = Command::new(peers_bin("schemathesis"))
        .args(["run", spec_url, "--checks", CHECKS])
        .args(["--max-examples", "25", "--generation-deterministic", "--no-color"])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "schemathesis found failures:\n{report}");
    assert!(
        report.contains("generated"),
        "schemathesis generated nothing:\n{report}"
    );
    report
}

/// The report's closing summary (operations, test cases, failures), which
/// `--nocapture` shows and docs/security.md quotes.
fn summary(report: &str) -> String {
    let lines: Vec<&str> = report.lines().collect();
    let from = lines
        .iter()
        .rposition(|l| l.contains("SUMMARY"))
        .unwrap_or(lines.len().saturating_sub(12));
    lines[from..].join("\n")
}

#[tokio::test]
#[expect(clippy::print_stdout, reason = "schemathesis's summary is the test's report")]
async fn the_api_keeps_its_openapi_promises_for_a_tenant_key_and_the_admin() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (_, tenant_key) = new_api_key(&stack, &tenant, json!({"name": "fuzz", "role": "tenant-admin"})).await;
    // The tenant's run first: the admin's may delete the tenant.
    for (caller, key) in [
        ("a tenant key", tenant_key),
        ("the admin", stack.admin_key.clone()),
    ] {
        let spec_url = stack.url("/openapi.json");
        // A blocking subprocess, off the runtime that serves the stack.
        let report = tokio::task::spawn_blocking(move || schemathesis(&spec_url, &key))
            .await
            .unwrap();
        println!("api_fuzz as {caller}:\n{}", summary(&report));
    }
}
