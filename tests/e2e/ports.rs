//! Ports for servers a test starts as separate processes (an OIDC peer,
//! `nats-server`, Postgres, `keyway run keys`), possibly restarting them on
//! the same port.
//!
//! The usual trick — bind port 0, read the port, close it — hands out a port
//! from the kernel's ephemeral range, the same range every outgoing
//! connection and every other `bind(0)` draws its local port from. With
//! thousands of client sockets in a parallel suite, such a port can be taken
//! between the test choosing it and the server binding it, and the server
//! then dies at start ("address in use"). Ports below that range are never
//! handed out by the kernel, so one that is free when chosen stays free.

use std::{collections::HashSet, net::TcpListener, sync::Mutex};

use rand::Rng;

/// Ports this test binary has handed out, so parallel tests never share one.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// The low end of the kernel's ephemeral range (32768 when unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A loopback port outside the ephemeral range, free now, not given before.
pub(crate) fn server_port() -> u16 {
    let high = ephemeral_low();
    let low = (high / 2).max(1_024);
    let mut given = GIVEN.lock().unwrap();
    let given = given.get_or_insert_with(HashSet::new);
    let mut rng = rand::rng();
    loop {
        let port = rng.random_range(low..high);
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
}
