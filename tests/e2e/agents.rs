//! Real Node clients against a real `keyway up`: the official openai Node
//! SDK on the Responses API (`tests/agents/responses.mjs`), Codex CLI
//! (`codex exec`, custom provider with `wire_api = "responses"`) and Claude
//! Code (`claude -p`). `scripts/install-peers.sh` installs them from
//! `tests/agents/package-lock.json`. Each agent gets its own HOME, with its
//! telemetry and update checks off: there is no internet here.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::helpers::{KeywayProcess, repo_root};

fn agents_bin(name: &str) -> PathBuf {
    let bin = repo_root().join("tests/agents/node_modules/.bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-peers.sh",
        bin.display()
    );
    bin
}

fn report(output: &Output, process: &KeywayProcess) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}\nkeyway logs:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        process.logs()
    )
}

/// A fresh HOME for one agent, so nothing of the machine's leaks in.
fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp home")
}

#[test]
fn the_openai_node_sdk_speaks_the_responses_api_through_keyway_up() {
    agents_bin("codex"); // the Node peers are installed
    let process = KeywayProcess::start(&[]);
    let output = Command::new("node")
        .arg(repo_root().join("tests/agents/responses.mjs"))
        .env("KEYWAY_BASE_URL", &process.base)
        .env("KEYWAY_API_KEY", &process.isolation.admin_key)
        .output()
        .expect("node runs");
    let text = report(&output, &process);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("checks passed"), "{text}");
}

fn write_codex_config(codex_home: &Path, base: &str, model: &str) {
    let config = format!(
        r#"model = "{model}"
model_provider = "keyway"
check_for_update_on_startup = false
approval_policy = "never"
sandbox_mode = "read-only"

[analytics]
enabled = false

[model_providers.keyway]
name = "Keyway"
base_url = "{base}/v1"
env_key = "KEYWAY_CODEX_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"#
    );
    std::fs::create_dir_all(codex_home).expect("codex home");
    std::fs::write(codex_home.join("config.toml"), config).expect("codex config");
}

/// Codex speaks only the Responses API: `mock-gpt` passes it through,
/// `mock-claude-lenient` (Anthropic's wire) is reached through the bridge.
/// Codex offers hosted tools (web search, a sub-agent namespace) that only
/// OpenAI runs, so the Anthropic model must drop what does not translate.
#[test]
fn codex_exec_completes_a_prompt_through_keyway_up_on_both_wires() {
    let codex = agents_bin("codex");
    let process = KeywayProcess::start(&[]);
    for model in ["mock-gpt", "mock-claude-lenient"] {
        let home = home();
        let codex_home = home.path().join(".codex");
        write_codex_config(&codex_home, &process.base, model);
        let output = Command::new(&codex)
            .args(["exec", "--skip-git-repo-check", "say hello to keyway"])
            .current_dir(home.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("CODEX_HOME", &codex_home)
            .env("KEYWAY_CODEX_KEY", &process.isolation.admin_key)
            .env("NO_COLOR", "1")
            .output()
            .expect("codex runs");
        let text = report(&output, &process);
        assert!(output.status.success(), "{model}: {text}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Hello from mock-llm!"),
            "{model}: {text}"
        );
    }
}

/// Claude Code speaks only the Anthropic messages API: `mock-claude`
/// passes it through, `mock-gpt` (OpenAI's wire) is translated.
#[test]
fn claude_code_completes_a_prompt_through_keyway_up_on_both_wires() {
    let claude = agents_bin("claude");
    let process = KeywayProcess::start(&[]);
    for model in ["mock-claude", "mock-gpt"] {
        let home = home();
        let output = Command::new(&claude)
            .args(["-p", "say hello to keyway", "--model", model])
            .current_dir(home.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("ANTHROPIC_BASE_URL", &process.base)
            .env("ANTHROPIC_API_KEY", &process.isolation.admin_key)
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .output()
            .expect("claude runs");
        let text = report(&output, &process);
        assert!(output.status.success(), "{model}: {text}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Hello from mock-llm!"),
            "{model}: {text}"
        );
    }
}
