//! The in-process mock upstream that `keyway up` starts in dev, so the
//! Quickstart answers with no internet and no provider account. It listens
//! on an ephemeral loopback port, so stacks on one machine never collide.

use std::{collections::HashMap, net::SocketAddr};

use keyway_common::Config;
use keyway_mock_llm::MockConfig;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use keyway_keys::key_format::random_base62;

use crate::error::StartError;

/// The catalog names the mock's system key by this variable.
pub(crate) const SYSTEM_KEY_ENV: &str = "KEYWAY_MOCK_SYSTEM_KEY";
/// The identity the mock reports for the platform's system key.
pub(crate) const SYSTEM_IDENTITY: &str = "keyway-system";

pub(crate) struct InProcessMock {
    pub(crate) addr: SocketAddr,
    /// The system key the catalog's mock models send upstream.
    pub(crate) system_key: String,
}

pub(crate) async fn start(
    config: &Config,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<InProcessMock, StartError> {
    let mut mock = MockConfig::from_vars("KEYWAY_MOCK_", config.vars())?;
    let system_key = config
        .var(SYSTEM_KEY_ENV)
        .unwrap_or_else(|| format!("sk-mock-{}", random_base62(32)));
    mock.keys.insert(system_key.clone(), SYSTEM_IDENTITY.to_owned());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(StartError::bind("mock upstream"))?;
    let addr = listener.local_addr().map_err(StartError::bind("mock upstream"))?;
    let token = shutdown.clone();
    tasks.spawn(async move {
        if let Err(e) = keyway_mock_llm::serve(listener, mock, token).await {
            tracing::error!(error = %e, "in-process mock upstream stopped");
        }
    });
    Ok(InProcessMock { addr, system_key })
}

impl InProcessMock {
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn system_key_override(&self) -> HashMap<String, String> {
        HashMap::from([(SYSTEM_KEY_ENV.to_owned(), self.system_key.clone())])
    }
}
