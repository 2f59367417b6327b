//! Real `keyway run projector` processes on the bench's database and NATS
//! prefix, all on the one durable consumer (`BENCH_PROJECTORS`, with the
//! binary from `KEYWAY_BIN`): what an operator scales out.

use std::{
    error::Error,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

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
