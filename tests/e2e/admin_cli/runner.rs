//! Runs the built `keyway admin …` as a subprocess, the way an operator
//! does, with a clean environment (only the variables a test names) and
//! keeps everything it printed so a test can finally prove that no secret
//! it never meant to show ever appeared.

use std::{
    io::Write,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
};

use serde_json::Value;

/// What one run printed and how it exited.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Stdout as JSON (for `--json` runs), failing loudly with the output.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// The CLI pointed at one Keyway with one key.
pub(crate) struct AdminCli {
    pub(crate) url: String,
    pub(crate) key: String,
    /// Every stdout and stderr so far, for the secret scan.
    printed: Arc<Mutex<Vec<String>>>,
}

impl AdminCli {
    pub(crate) fn new(url: &str, key: &str) -> Self {
        Self {
            url: url.to_owned(),
            key: key.to_owned(),
            printed: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The same CLI with another key (a tenant's), sharing the record of
    /// what was printed.
    pub(crate) fn with_key(&self, key: &str) -> Self {
        Self {
            url: self.url.clone(),
            key: key.to_owned(),
            printed: Arc::clone(&self.printed),
        }
    }

    /// `keyway admin <args>` with KEYWAY_URL and KEYWAY_ADMIN_KEY set.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[("KEYWAY_ADMIN_KEY", &self.key)], None)
    }

    /// Like `run`, asserting exit 0.
    pub(crate) fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "keyway admin {args:?} failed:\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    }

    /// `ok` with `--json`, parsed.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        self.ok(&with_json).json()
    }

    /// Runs with exactly these variables (plus KEYWAY_URL) and optional stdin.
    pub(crate) fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyway"))
            .arg("admin")
            .args(args)
            .env_clear()
            .env("KEYWAY_URL", &self.url)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the keyway binary runs");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("stdin written");
        }
        drop(input);
        let output = child.wait_with_output().expect("keyway admin finishes");
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        let mut printed = self.printed.lock().unwrap();
        printed.push(run.stdout.clone());
        printed.push(run.stderr.clone());
        run
    }

    /// Fails if `secret` appears in anything the CLI printed so far.
    pub(crate) fn assert_never_printed(&self, name: &str, secret: &str) {
        let printed = self.printed.lock().unwrap();
        assert!(!printed.is_empty(), "nothing was run");
        for text in printed.iter() {
            assert!(!text.contains(secret), "the {name} was printed:\n{text}");
        }
    }
}
