//! A fleet of mock-llm processes (`keyway mock-llm`), each one deployment,
//! healthy or faulty for the whole instance, and `keyway up` in front.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{KeywayProcess, eventually, pg_url};

/// A mock-llm process; killed when dropped.
pub(crate) struct Mock {
    child: Child,
    pub(crate) url: String,
}

/// A port nothing listens on: connections are refused.
pub(crate) fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

impl Mock {
    /// Starts `keyway mock-llm` with `MOCK_LLM_*` settings (e.g. `ERROR=500`).
    pub(crate) async fn start(settings: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyway"));
        command
            .args(["mock-llm", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in settings {
            command.env(format!("MOCK_LLM_{name}"), value);
        }
        let mock = Self {
            child: command.spawn().expect("keyway mock-llm starts"),
            url: format!("http://{addr}"),
        };
        let health = format!("{}/healthz", mock.url);
        eventually("the mock answers /healthz", || {
            let health = health.clone();
            async move { reqwest::get(&health).await.is_ok_and(|r| r.status() == 200) }
        })
        .await;
        mock
    }

    /// Requests this instance has received.
    pub(crate) async fn requests(&self) -> u64 {
        self.seen().await["requests"].as_u64().unwrap()
    }

    /// What this instance has received: `{requests, paths: {"<path>?<query>": n},
    /// auth: {"<auth header name>": n}}`.
    pub(crate) async fn seen(&self) -> Value {
        reqwest::get(format!("{}/mock/requests", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `keyway up` serving `catalog` (YAML) with the system key `ROUTE_KEY`.
pub(crate) fn gateway(catalog: &str, extra: &[(&str, &str)]) -> (KeywayProcess, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), catalog).unwrap();
    let path = file.path().display().to_string();
    let mut env = vec![("KEYWAY_MODELS", path.as_str()), ("ROUTE_KEY", "sk-route-system")];
    env.extend_from_slice(extra);
    (KeywayProcess::start(&env), file)
}

/// One ledger row's routing columns and bill.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) deployment: String,
    pub(crate) attempts: i32,
    pub(crate) fallback_model: String,
    pub(crate) status: i32,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cost_micros: i64,
}

/// The ledger rows of `model`, once there are `count` of them.
pub(crate) async fn ledger(process: &KeywayProcess, model: &str, count: usize) -> Vec<Row> {
    let pool = sqlx::PgPool::connect(&pg_url(&process.isolation.db_name))
        .await
        .unwrap();
    let query = || {
        sqlx::query_as::<_, (String, i32, String, i32, i64, i64, i64)>(
            "SELECT deployment, attempts, fallback_model, status, input_tokens, output_tokens, cost_micros
             FROM usage_ledger WHERE model = $1 ORDER BY ledger_seq",
        )
        .bind(model)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = query().fetch_all(&pool).await.unwrap_or_default();
        if rows.len() >= count || std::time::Instant::now() > deadline {
            return rows
                .into_iter()
                .map(|r| Row {
                    deployment: r.0,
                    attempts: r.1,
                    fallback_model: r.2,
                    status: r.3,
                    input_tokens: r.4,
                    output_tokens: r.5,
                    cost_micros: r.6,
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A model entry of the catalog: `body` is indented under the model name.
pub(crate) fn model(name: &str, provider: &str, body: &str) -> String {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "  {name}:\n    provider: {provider}\n    upstream_model: mock-model\n    key_source: [system]\n    api_key_env: ROUTE_KEY\n{body}"
    )
}
