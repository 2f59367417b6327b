//! The browser check: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven by selenium from the peers' venv) loads the
//! Swagger UI of a real `keyway up` at `/docs`, sees the operations listed,
//! and saves a screenshot. `KEYWAY_UPDATE_SCREENSHOTS=1` writes it to
//! `docs/screenshots/api-docs.png` (the committed copy) instead of the
//! stack's data dir.

use std::process::Command;

use crate::helpers::{KeywayProcess, peers_bin, repo_root};

#[test]
fn headless_chromium_lists_the_operations_on_the_docs_page() {
    let process = KeywayProcess::start(&[]);
    let screenshot = if std::env::var_os("KEYWAY_UPDATE_SCREENSHOTS").is_some() {
        repo_root().join("docs/screenshots/api-docs.png")
    } else {
        process.isolation.data_dir.path().join("api-docs.png")
    };
    let output = Command::new(peers_bin("python"))
        .arg(repo_root().join("tests/browser/docs_page.py"))
        .arg(&process.base)
        .arg(&screenshot)
        .output()
        .expect("the browser script runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "browser check failed:\n{report}");
    assert!(report.contains("operations listed"), "{report}");
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
}
