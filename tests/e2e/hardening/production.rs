//! `KEYWAY_ENV=prod` refuses to start with insecure settings, naming each
//! one, through the real binary; and `KEYWAY_AUTH=off` works in dev only,
//! loudly.

use std::{
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{Isolation, KeywayProcess, chat};

/// Runs `keyway up` with `extra` on top of a fresh isolation and waits for
/// it to exit; `None` if it was still running after `deadline` (then killed).
fn run_to_exit(
    isolation: &Isolation,
    extra: &[(&str, &str)],
    deadline: Duration,
) -> (Option<ExitStatus>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .arg("up")
        .envs(isolation.env())
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyway binary starts");
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("keyway output");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (status, text)
}

#[test]
fn production_refuses_to_start_and_names_every_insecure_setting() {
    let isolation = Isolation::new();
    let (status, output) = run_to_exit(
        &isolation,
        &[
            ("KEYWAY_ENV", "prod"),
            // Blank counts as unset.
            ("KEYWAY_ADMIN_KEY", ""),
            ("KEYWAY_AUTH", "off"),
            ("KEYWAY_CORS_ORIGINS", "*"),
            ("KEYWAY_CORS_ALLOW_CREDENTIALS", "true"),
            ("KEYWAY_OIDC_ISSUER", "http://sso.example.com/realms/acme"),
            ("KEYWAY_OIDC_AUDIENCE", "keyway"),
        ],
        Duration::from_secs(60),
    );
    let status = status.expect("keyway exits instead of serving");
    assert!(!status.success(), "{output}");
    for named in [
        "KEYWAY_ADMIN_KEY",
        "KEYWAY_AUTH",
        "KEYWAY_KMS=local",
        "KEYWAY_MODELS",
        "KEYWAY_CORS_ORIGINS=*",
        "KEYWAY_OIDC_ISSUER",
    ] {
        assert!(output.contains(named), "{named} is not named:\n{output}");
    }
    assert!(!output.contains("serving on"), "{output}");
    // Nothing was generated on the way out.
    let data = isolation.data_dir.path();
    assert!(!data.join("kms").join("master-v1.key").exists());
    assert!(!data.join("admin.key").exists());
}

#[tokio::test]
async fn with_auth_off_in_dev_every_request_is_the_platform_admin_and_the_banner_says_so() {
    let process = KeywayProcess::start(&[("KEYWAY_AUTH", "off")]);
    assert!(
        process.logs().contains("authentication is OFF"),
        "{}",
        process.logs()
    );
    let http = reqwest::Client::new();
    let tenants = http
        .get(format!("{}/api/v1/tenants", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(tenants.status(), 200);
    for key in [None, Some("kw_wrong")] {
        let mut request = http
            .post(format!("{}/v1/chat/completions", process.base))
            .json(&chat("mock-gpt", "hi"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        assert_eq!(request.send().await.unwrap().status(), 200, "{key:?}");
    }
}
