//! Real `keyway run projector` processes on the bench's database and NATS
//! prefix, all on the one durable consumer (`BENCH_PROJECTORS`, with the
//! binary from `KEYWAY_BIN`): what an operator scales out.

use std::{
    error::Error,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use keyway_projector::ProjectorSettings;
use tokio_util::sync::CancellationToken;

pub(crate) struct Projectors(Vec<Child>);

impl Projectors {
    /// Starts `n` processes at once and waits until each serves.
    pub(crate) fn start(
        bin: &Path,
        n: usize,
        env: &[(&str, String)],
        data_dir: &Path,
    ) -> Result<Self, Box<dyn Error>> {
        let mut children = Vec::with_capacity(n);
        let mut logs = Vec::with_capacity(n);
        for i in 0..n {
            let log = data_dir.join(format!("projector-{i}.log"));
            let child = Command::new(bin)
                .args(["run", "projector"])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("KEYWAY_LISTEN", "127.0.0.1:0")
                .env("KEYWAY_DATA_DIR", data_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .spawn()?;
            children.push(child);
            logs.push(log);
        }
        let projectors = Self(children);
        for log in &logs {
            wait_serving(log)?;
        }
        Ok(projectors)
    }
}

/// Waits for the "serving on" line the binary logs once it runs.
fn wait_serving(log: &Path) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::fs::read_to_string(log).is_ok_and(|l| l.contains("serving on")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("a projector process did not start; see {}", log.display()).into())
}

impl Drop for Projectors {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// The projectors under test: one in-process, or real processes.
pub(crate) enum Projector {
    InProcess(tokio::task::JoinHandle<()>),
    Processes(Projectors),
}

/// `BENCH_PROJECTORS` processes of `KEYWAY_BIN` when set, else one in-process.
pub(crate) fn start(
    pool: &sqlx::PgPool,
    nats: &async_nats::Client,
    settings: &ProjectorSettings,
    (db_url, nats_url): (&str, &str),
    (stop, data_dir): (&CancellationToken, &std::path::Path),
) -> Result<Projector, Box<dyn Error>> {
    let Some(n) = std::env::var("BENCH_PROJECTORS")
        .ok()
        .and_then(|n| n.parse().ok())
    else {
        return Ok(Projector::InProcess(tokio::spawn(keyway_projector::run(
            pool.clone(),
            nats.clone(),
            settings.clone(),
            stop.clone(),
        ))));
    };
    let bin = std::env::var("KEYWAY_BIN").map_err(|_| "BENCH_PROJECTORS needs KEYWAY_BIN")?;
    let env = [
        ("KEYWAY_DATABASE_URL", db_url.to_owned()),
        ("KEYWAY_NATS_URL", nats_url.to_owned()),
        ("KEYWAY_NATS_PREFIX", settings.nats_prefix.clone()),
        ("KEYWAY_PROJECTOR_BATCH_SIZE", settings.batch_size.to_string()),
        ("KEYWAY_PROJECTOR_WRITERS", settings.writers.to_string()),
        (
            "KEYWAY_ADMIN_KEY",
            format!("kwbench-admin-{}", uuid::Uuid::now_v7().simple()),
        ),
        ("KEYWAY_LOG_FORMAT", "json".to_owned()),
    ];
    let projectors = Projectors::start(bin.as_ref(), n, &env, data_dir)?;
    Ok(Projector::Processes(projectors))
}

/// The events counted and the time they took: in backlog mode from the
/// first commit (the drain alone, without the processes' start), otherwise
/// from the first publish.
pub(crate) fn drain(
    samples: &[(Instant, i64)],
    total: usize,
    from: Instant,
    backlog: bool,
) -> (usize, Duration) {
    let first = samples.iter().find(|(t, n)| *n > 0 && *t >= from);
    let last = samples.iter().find(|(_, n)| *n as usize >= total);
    match (first, last) {
        (Some((t0, n0)), Some((t1, _))) if backlog => (total - *n0 as usize, t1.duration_since(*t0)),
        (_, Some((t1, _))) => (total, t1.duration_since(from)),
        _ => (total, from.elapsed()),
    }
}
