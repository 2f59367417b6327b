//! The official `openai` and `anthropic` Python SDKs against a real
//! `keyway up` process: stream and non-stream, content, usage and errors.
//! The SDK tests live in `tests/sdk/`; `scripts/install-peers.sh` installs
//! the SDKs (the README's test command runs it first).

use std::process::Command;

use crate::helpers::{KeywayProcess, peers_bin, repo_root};

#[test]
fn the_official_openai_and_anthropic_sdks_work_against_keyway_up() {
    let python = peers_bin("python");
    let process = KeywayProcess::start(&[]);
    let output = Command::new(python)
        .args(["-m", "pytest", "tests/sdk", "-q", "-p", "no:cacheprovider"])
        .current_dir(repo_root())
        .env("KEYWAY_BASE_URL", &process.base)
        .env("KEYWAY_API_KEY", &process.isolation.admin_key)
        .output()
        .expect("pytest runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "SDK tests failed:\n{report}\nkeyway logs:\n{}",
        process.logs()
    );
    assert!(report.contains("passed"), "pytest ran no test:\n{report}");
}
