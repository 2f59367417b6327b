//! Seed 000 in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven by selenium from the peers' venv) signs in to
//! the console of a real stack, sees the orange key, adds a key and sees it
//! green, chats in the playground (the answer streams in and names the
//! key's identity, from mock-llm's auth mode), removes the key and sees it
//! orange and unselectable again, and finds the chat on the usage page
//! charts. Screenshots go to the stack's data dir,
//! or with `KEYWAY_UPDATE_SCREENSHOTS=1` to `docs/console/console-*.png`
//! (the committed copies).

use serde_json::json;

use crate::{
    console::tenant_with_admin,
    helpers::{TestStack, peers_bin, repo_root},
    keys_api::{new_api_key, new_user},
};

const SECRET: &str = "sk-ada-browser-0123456789-secret";

#[tokio::test]
async fn headless_chromium_walks_seed_000_through_the_console() {
    let keys = format!("{SECRET}=ada@acme.test");
    let stack = TestStack::spawn_with(&[("KEYWAY_MOCK_KEYS", keys.as_str())]).await;
    let (tenant, _) = tenant_with_admin(&stack).await;
    let ada = new_user(&stack, &tenant, "member").await;
    let (_, key) = new_api_key(&stack, &tenant, json!({"name": "ada", "user_id": ada})).await;
    let shots = if std::env::var_os("KEYWAY_UPDATE_SCREENSHOTS").is_some() {
        repo_root().join("docs/console")
    } else {
        stack.isolation.data_dir.path().to_owned()
    };
    // tokio's process, so the in-process stack keeps serving meanwhile.
    let output = tokio::process::Command::new(peers_bin("python"))
        .arg(repo_root().join("tests/browser/console_seed_000.py"))
        .args([stack.base.as_str(), key.as_str(), SECRET, "ada@acme.test"])
        .arg(&shots)
        .output()
        .await
        .expect("the browser script runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "browser flow failed:\n{report}");
    for step in [
        "orange key shown",
        "green key after adding it",
        "[Authenticated as ada@acme.test]",
        "orange again",
        "usage charted",
    ] {
        assert!(report.contains(step), "missing step {step:?}:\n{report}");
    }
    for name in [
        "models-key-missing",
        "models-key-stored",
        "playground",
        "models-key-removed",
        "usage",
    ] {
        let png = std::fs::read(shots.join(format!("console-{name}.png"))).expect("the screenshot was saved");
        assert!(png.starts_with(b"\x89PNG"), "console-{name}.png is not a PNG");
    }
}
