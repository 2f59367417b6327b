//! A `moto_server` (the KMS emulator from the peers venv) for tests of the
//! AWS provider: this crate's own and the e2e suite's. Compiled for tests and
//! with the `test-support` feature only; never part of a service.
#![expect(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running `moto_server`; killed when dropped, also when a test panics.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A program of the test peers' venv (`scripts/install-peers.sh`), at
/// `KEYWAY_PEERS_VENV` or `~/.cache/keyway/peers-venv`.
pub fn peers_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("KEYWAY_PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/keyway/peers-venv")
        });
    let bin = venv.join("bin").join(name);
    assert!(
        bin.is_file(),
        "{} not found: run `bash scripts/install-peers.sh` (the README's test command does)",
        bin.display()
    );
    bin
}

/// Whether moto answers its own API with 200; a bare HTTP/1.1 request, so
/// this crate needs no HTTP client.
async fn answers(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = format!("GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.ends_with(b" 200")
}

/// Starts `moto_server` on a free port and waits (up to 20 s) until it
/// answers.
pub async fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(peers_bin("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moto_server");
    let mut moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answers(port).await {
        if let Some(status) = moto.child.try_wait().unwrap() {
            panic!("moto_server exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on port {port} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    moto
}
