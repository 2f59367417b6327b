//! A 3-node JetStream cluster on loopback (private ports, Debian's
//! `nats-server`): Keyway given all three servers and R3 streams keeps
//! serving and billing exactly, under load, while first the usage stream's
//! leader and then the node Keyway is connected to are killed with SIGKILL
//! and restarted.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestStack, chat, eventually_within};

struct Node {
    name: String,
    client_port: u16,
    monitor_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Three servers with JetStream, each listing the others as routes.
struct Cluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

/// Nine distinct ports that stay free while nodes are killed and restarted
/// on them (`crate::ports`).
fn free_ports() -> Vec<u16> {
    (0..9).map(|_| crate::ports::server_port()).collect()
}

fn nats_server() -> &'static str {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nats-server is installed (scripts/ensure-services.sh installs it)")
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let free = free_ports();
        let ports: Vec<(u16, u16, u16)> = free.chunks(3).map(|p| (p[0], p[1], p[2])).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c, _)| format!("nats-route://127.0.0.1:{c}"))
            .collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, (client, cluster, monitor))| {
                let name = format!("n{i}");
                let store = dir.path().join(&name);
                let config = dir.path().join(format!("{name}.conf"));
                let log = dir.path().join(format!("{name}.log"));
                let text = format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
                     log_file: \"{}\"\n\
                     jetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: keyway-test, listen: 127.0.0.1:{cluster}, routes: [{}] }}\n",
                    log.display(),
                    store.display(),
                    routes.join(", ")
                );
                std::fs::write(&config, text).unwrap();
                let mut node = Node {
                    name,
                    client_port: *client,
                    monitor_port: *monitor,
                    config,
                    log,
                    child: None,
                };
                node.start();
                node
            })
            .collect();
        Self { nodes, _dir: dir }
    }

    /// The last lines each node logged: what a failed wait reports, since a
    /// cluster that will not elect a leader says why only there.
    fn logs_tail(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(&n.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("--- {} ({})\n{tail}", n.name, n.log.display())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Node {
    fn start(&mut self) {
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.iter_mut().for_each(Node::kill);
    }
}

async fn platform_requests(stack: &TestStack) -> i64 {
    let url = stack.url("/api/v1/usage/summary?tenant_id=platform");
    let Ok(response) = stack.http.get(url).bearer_auth(&stack.admin_key).send().await else {
        return -1;
    };
    let summary: Value = response.json().await.unwrap_or_default();
    summary["totals"]["requests"].as_i64().unwrap_or(-1)
}

/// Sends chats from `workers` concurrent clients until `stop`; each must be
/// served. Returns how many were.
fn start_load(stack: &TestStack, workers: usize, stop: CancellationToken) -> JoinHandle<usize> {
    let (http, url, key) = (
        stack.http.clone(),
        stack.url("/v1/chat/completions"),
        stack.admin_key.clone(),
    );
    tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..workers {
            let (http, url, key, stop) = (http.clone(), url.clone(), key.clone(), stop.clone());
            tasks.spawn(async move {
                let mut served = 0;
                while !stop.is_cancelled() {
                    let body = chat("mock-gpt", &format!("cluster {w}/{served}"));
                    let response = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200, "worker {w} request {served} is served");
                    served += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                served
            });
        }
        tasks.join_all().await.into_iter().sum()
    })
}

/// The node the `keyway` client is connected to, from the monitoring port's
/// `/connz` (the test's own client connects under no name).
async fn connected_node(cluster: &Cluster, http: &reqwest::Client) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        for node in cluster.nodes.iter().filter(|n| n.child.is_some()) {
            let url = format!("http://127.0.0.1:{}/connz", node.monitor_port);
            let Ok(response) = http.get(url).send().await else {
                continue;
            };
            let connz: Value = response.json().await.unwrap_or_default();
            let ours = connz["connections"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["name"] == "keyway"));
            if ours {
                return node.name.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "keyway is connected to no node"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Cluster {
    /// SIGKILLs `name` for a few seconds under load, then restarts it and
    /// waits until the stream has a leader and two current followers again.
    async fn kill_and_restart(&mut self, name: &str, js: &async_nats::jetstream::Context, stream: &str) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("one of ours");
        node.kill();
        tokio::time::sleep(Duration::from_secs(8)).await;
        node.start();
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(mut s) = js.get_stream(stream).await
                && let Ok(info) = s.info().await
                && info.cluster.as_ref().is_some_and(|c| {
                    c.leader.is_some() && c.replicas.iter().filter(|r| r.current && !r.offline).count() == 2
                })
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} did not rejoin the stream\n{}",
                self.logs_tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test]
async fn r3_streams_survive_the_leaders_and_the_connected_nodes_deaths_under_load_and_bill_exactly() {
    let mut cluster = Cluster::start();
    let urls = cluster.urls();
    let stack =
        TestStack::spawn_with(&[("KEYWAY_NATS_URL", urls.as_str()), ("KEYWAY_NATS_REPLICAS", "3")]).await;
    let stream = keyway_proto::subjects::stream(&stack.isolation.nats_prefix, keyway_proto::subjects::USAGE);
    let servers: Vec<&str> = urls.split(',').collect();
    let js = async_nats::jetstream::new(async_nats::connect(servers.as_slice()).await.unwrap());
    let leader = usage_stream_leader(&cluster, &js, &stream).await;

    let stop = CancellationToken::new();
    let load = start_load(&stack, 4, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill_and_restart(&leader, &js, &stream).await;
    let connected = connected_node(&cluster, &stack.http).await;
    cluster.kill_and_restart(&connected, &js, &stream).await;
    // Keyway followed the cluster to a live node (any; it may be back).
    connected_node(&cluster, &stack.http).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let served = i64::try_from(load.await.unwrap()).unwrap();
    assert!(served > 0);

    eventually_within(
        Duration::from_secs(120),
        &format!("billed == served ({served})"),
        || async { platform_requests(&stack).await == served },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(platform_requests(&stack).await, served, "and not more");
}

/// Waits for the stream to exist with 3 replicas and a leader; its name.
/// The deadline is generous: on a loaded 2-core machine a fresh cluster's
/// elections can take many seconds, and a failure must say what it last saw.
async fn usage_stream_leader(cluster: &Cluster, js: &async_nats::jetstream::Context, stream: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let last = match js.get_stream(stream).await {
            Ok(mut s) => match s.info().await {
                Ok(info) => {
                    if let Some(leader) = info.cluster.as_ref().and_then(|c| c.leader.clone()) {
                        assert_eq!(
                            info.config.num_replicas, 3,
                            "KEYWAY_NATS_REPLICAS sets the replicas"
                        );
                        return leader;
                    }
                    format!("no leader yet: {:?}", info.cluster)
                }
                Err(e) => format!("stream info: {e}"),
            },
            Err(e) => format!("get stream: {e}"),
        };
        assert!(
            std::time::Instant::now() < deadline,
            "the usage stream has no leader; last seen: {last}\n{}",
            cluster.logs_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
