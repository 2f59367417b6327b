//! Test harness: `TestStack::spawn()` builds a whole stack in-process on
//! port 0 with a fresh database, NATS prefix and data dir, and cleans them
//! up when dropped. `KeywayProcess` runs the real binary instead.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Once, OnceLock},
    time::{Duration, Instant},
};

use keyway::{Services, Stack};
use keyway_common::Config;
use tokio_util::sync::CancellationToken;

/// The Postgres server every stack creates its database on, without a
/// database name; `KEYWAY_TEST_PG_BASE` points the tests at another server.
pub(crate) fn pg_base() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        std::env::var("KEYWAY_TEST_PG_BASE")
            .map(|base| base.trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
    })
}

/// The URL of database `db` on the test server.
pub(crate) fn pg_url(db: &str) -> String {
    format!("{}/{db}", pg_base())
}

/// The NATS server the stacks share (each under a prefix of its own);
/// `KEYWAY_TEST_NATS_URL` points the tests at another server.
pub(crate) fn nats_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("KEYWAY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
    })
}

/// Polls `check` until it holds, failing after a deadline that is generous
/// on purpose: the machine may be busy, and a passing check returns at once.
pub(crate) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(Duration::from_secs(30), what, check).await;
}

/// `eventually` with a deadline of the caller's choosing, for waits that
/// are slow by design (e.g. a consumer's ack wait).
pub(crate) async fn eventually_within<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < deadline, "not within the deadline: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unique, lowercase id for database names and NATS prefixes.
pub(crate) fn unique_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

pub(crate) fn random_secret(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Everything that must differ between two stacks sharing one machine.
pub(crate) struct Isolation {
    pub(crate) db_name: String,
    pub(crate) nats_prefix: String,
    pub(crate) data_dir: tempfile::TempDir,
    pub(crate) admin_key: String,
}

impl Isolation {
    pub(crate) fn new() -> Self {
        let id = unique_id();
        Self {
            db_name: format!("keyway_test_{id}"),
            nats_prefix: format!("kwt{id}"),
            data_dir: tempfile::tempdir().expect("temp dir"),
            admin_key: random_secret("kw_test_admin_"),
        }
    }

    pub(crate) fn env(&self) -> HashMap<String, String> {
        HashMap::from([
            ("KEYWAY_LISTEN".into(), "127.0.0.1:0".into()),
            ("KEYWAY_DATABASE_URL".into(), pg_url(&self.db_name)),
            ("KEYWAY_NATS_URL".into(), nats_url().to_owned()),
            ("KEYWAY_NATS_PREFIX".into(), self.nats_prefix.clone()),
            (
                "KEYWAY_DATA_DIR".into(),
                self.data_dir.path().display().to_string(),
            ),
            ("KEYWAY_ADMIN_KEY".into(), self.admin_key.clone()),
            ("KEYWAY_MOCK_REQUIRE_AUTH".into(), "true".into()),
            // Tests present wrong keys on purpose, many per stack and all
            // from 127.0.0.1, which the brute-force guard (5 per 15 min by
            // default) would answer with 429; its own tests set a limit.
            ("KEYWAY_AUTH_FAILURE_LIMIT".into(), "1000".into()),
        ])
    }
}

impl Drop for Isolation {
    /// Drops the database and streams on a thread of its own: `Drop` cannot
    /// await, and the test's runtime may already be shutting down.
    fn drop(&mut self) {
        let (db, prefix) = (self.db_name.clone(), self.nats_prefix.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Runtime::new() else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::Connection::connect(&pg_url("postgres")).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                        .execute(&mut conn as &mut sqlx::PgConnection)
                        .await;
                }
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let js = async_nats::jetstream::new(client);
                    let prefix = prefix.to_uppercase();
                    let streams = ["USAGE", "KEYS"].map(|kind| format!("{prefix}_{kind}"));
                    let buckets = ["LIMITS_RATE", "LIMITS_SPEND", "AUTH_FAILURES", "RESPONSES"]
                        .map(|bucket| format!("KV_{prefix}_{bucket}"));
                    for stream in streams.iter().chain(&buckets) {
                        let _ = js.delete_stream(stream).await;
                    }
                }
            });
        })
        .join();
    }
}

fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .try_init();
        }
    });
}

/// A whole Keyway stack running inside the test process.
pub(crate) struct TestStack {
    pub(crate) base: String,
    /// The in-process mock upstream, e.g. `http://127.0.0.1:PORT`.
    pub(crate) mock_url: Option<String>,
    pub(crate) admin_key: String,
    pub(crate) http: reqwest::Client,
    pub(crate) isolation: Isolation,
    shutdown: CancellationToken,
}

impl TestStack {
    pub(crate) async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub(crate) async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        Self::spawn_services(Services::ALL, extra).await
    }

    /// A stack running only some services, as `keyway run <service>` does.
    pub(crate) async fn spawn_services(services: Services, extra: &[(&str, &str)]) -> Self {
        init_test_logging();
        let isolation = Isolation::new();
        let mut env = isolation.env();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let config = Config::from_vars(env).expect("test config");
        let shutdown = CancellationToken::new();
        let stack = Stack::build(config, services, shutdown.clone())
            .await
            .expect("stack builds");
        let base = format!("http://{}", stack.addr);
        let mock_url = stack.mock_addr.map(|a| format!("http://{a}"));
        tokio::spawn(stack.run_until_stopped());
        Self {
            base,
            mock_url,
            admin_key: isolation.admin_key.clone(),
            http: reqwest::Client::new(),
            isolation,
            shutdown,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST JSON with the admin key as a bearer token.
    pub(crate) async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.admin_key)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A chat request body for `model` saying `text`.
pub(crate) fn chat(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The `keyway` binary run as a real process, logs captured to files.
pub(crate) struct KeywayProcess {
    pub(crate) child: Child,
    args: Vec<String>,
    extra: Vec<(String, String)>,
    pub(crate) base: String,
    pub(crate) isolation: Isolation,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
}

impl KeywayProcess {
    pub(crate) fn start(extra: &[(&str, &str)]) -> Self {
        Self::start_args(&["up"], extra)
    }

    /// Runs `keyway <args>` (e.g. `run projector`) with its own isolation.
    pub(crate) fn start_args(args: &[&str], extra: &[(&str, &str)]) -> Self {
        let isolation = Isolation::new();
        let dir = isolation.data_dir.path().to_owned();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (stdout, stderr) = (dir.join("stdout.log"), dir.join("stderr.log"));
        let (child, base) = spawn(&args, &isolation, &extra, &stdout, &stderr);
        Self {
            child,
            args,
            extra,
            base,
            isolation,
            stdout,
            stderr,
        }
    }

    /// Starts the same command again on the same database, NATS prefix and
    /// data dir (after the previous process died or was killed).
    pub(crate) fn respawn(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, base) = spawn(
            &self.args,
            &self.isolation,
            &self.extra,
            &self.stdout,
            &self.stderr,
        );
        self.child = child;
        self.base = base;
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn terminate(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub(crate) fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}\n{}", read(&self.stdout), read(&self.stderr))
    }

    /// One more process running the same command on the same database,
    /// NATS prefix and data dir (e.g. a second `run projector` sharing the
    /// durable consumer), with logs of its own. Killed when dropped.
    pub(crate) fn sibling(&self, n: usize) -> Sibling {
        let dir = self.isolation.data_dir.path();
        let (stdout, stderr) = (
            dir.join(format!("stdout-{n}.log")),
            dir.join(format!("stderr-{n}.log")),
        );
        let (child, base) = spawn(&self.args, &self.isolation, &self.extra, &stdout, &stderr);
        Sibling { child, base }
    }
}

/// A process started by [`KeywayProcess::sibling`], serving at `base`.
pub(crate) struct Sibling {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Sibling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KeywayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    args: &[String],
    isolation: &Isolation,
    extra: &[(String, String)],
    stdout: &Path,
    stderr: &Path,
) -> (Child, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(args)
        .envs(isolation.env())
        .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).expect("stdout file"))
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("keyway binary starts");
    let base = wait_for_banner(stderr, Duration::from_secs(60));
    (child, base)
}

/// Waits for "serving on http://ADDR" on the process's stderr.
fn wait_for_banner(stderr: &Path, deadline: Duration) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        if let Some(rest) = text.split("serving on http://").nth(1) {
            let addr: SocketAddr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .parse()
                .expect("address in banner");
            return format!("http://{addr}");
        }
        assert!(
            start.elapsed() < deadline,
            "keyway did not start in time; stderr:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A program from the Python test peers' venv (`scripts/install-peers.sh`
/// installs it; `KEYWAY_PEERS_VENV` overrides where).
pub(crate) fn peers_bin(name: &str) -> PathBuf {
    keyway_crypto::test_support::peers_bin(name)
}

/// The repository root, for committed files and test scripts.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The stack's KMS: the local master key in its data directory.
pub(crate) async fn local_kms(stack: &TestStack) -> std::sync::Arc<dyn keyway_keys::crypto::Kms> {
    keyway_keys::crypto::build_kms(&keyway_keys::crypto::KmsConfig {
        provider: keyway_keys::crypto::KmsProvider::Local,
        data_dir: stack.isolation.data_dir.path().to_owned(),
        allow_generate: false,
    })
    .await
    .unwrap()
}

/// Waits until the key service's outbox in `db_name` is empty: every
/// key-change event it recorded is on JetStream.
pub(crate) async fn key_outbox_drained(db_name: &str) {
    let pool = sqlx::PgPool::connect(&pg_url(db_name))
        .await
        .expect("connect to the stack's database");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM key_outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} outbox rows never reached NATS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
}
