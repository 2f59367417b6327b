//! A 3-node JetStream cluster on loopback (private ports, Debian's
//! `nats-server`): Keyway given all three servers and R3 streams keeps
//! serving and billing exactly while the usage stream's leader is killed
//! with SIGKILL and restarted.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{TestStack, chat, eventually_within};

struct Node {
    name: String,
    client_port: u16,
    config: PathBuf,
    child: Option<Child>,
}

/// Three servers with JetStream, each listing the others as routes.
struct Cluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, (client, cluster))| {
                let name = format!("n{i}");
                let store = dir.path().join(&name);
                let config = dir.path().join(format!("{name}.conf"));
                let text = format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client}\njetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: keyway-test, listen: 127.0.0.1:{cluster}, routes: [{}] }}\n",
                    store.display(),
                    routes.join(", ")
                );
                std::fs::write(&config, text).unwrap();
                let mut node = Node {
                    name,
                    client_port: *client,
                    config,
                    child: None,
                };
                node.start();
                node
            })
            .collect();
        Self { nodes, _dir: dir }
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

async fn send_chats(stack: &TestStack, n: usize) {
    for i in 0..n {
        let response = stack
            .http
            .post(stack.url("/v1/chat/completions"))
            .bearer_auth(&stack.admin_key)
            .json(&chat("mock-gpt", &format!("cluster {i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {i} is served");
    }
}

#[tokio::test]
async fn r3_streams_on_a_cluster_survive_the_leaders_death_and_bill_exactly() {
    let mut cluster = Cluster::start();
    let urls = cluster.urls();
    let stack =
        TestStack::spawn_with(&[("KEYWAY_NATS_URL", urls.as_str()), ("KEYWAY_NATS_REPLICAS", "3")]).await;
    let stream = keyway_proto::subjects::stream(&stack.isolation.nats_prefix, keyway_proto::subjects::USAGE);
    let servers: Vec<&str> = urls.split(',').collect();
    let js = async_nats::jetstream::new(async_nats::connect(servers.as_slice()).await.unwrap());
    let leader = usage_stream_leader(&js, &stream).await;

    send_chats(&stack, 20).await;
    let node = cluster
        .nodes
        .iter_mut()
        .find(|n| n.name == leader)
        .expect("the leader is one of ours");
    node.kill();
    send_chats(&stack, 20).await;
    node.start();
    send_chats(&stack, 10).await;

    eventually_within(Duration::from_secs(90), "billed == served (50)", || async {
        platform_requests(&stack).await == 50
    })
    .await;
}

/// Waits for the stream to exist with 3 replicas and a leader; its name.
async fn usage_stream_leader(js: &async_nats::jetstream::Context, stream: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = js.get_stream(stream).await
            && let Ok(info) = s.info().await
            && let Some(leader) = info.cluster.as_ref().and_then(|c| c.leader.clone())
        {
            assert_eq!(
                info.config.num_replicas, 3,
                "KEYWAY_NATS_REPLICAS sets the replicas"
            );
            return leader;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the usage stream has no leader"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
