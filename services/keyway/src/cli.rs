//! Command-line parsing and dispatch for the `keyway` binary.

use std::{
    io::{self, Write},
    net::SocketAddr,
    process::ExitCode,
};

use clap::{Parser, Subcommand, ValueEnum};
use keyway::{Services, Stack, effective_config, maintenance, openapi, stack::AdminKeyOrigin};
use keyway_common::{Config, shutdown, telemetry};

#[derive(Parser)]
#[command(name = "keyway", version, about = "Keyway: a multi-tenant LLM API gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run gateway, keys and projector in one process on one port (KEYWAY_LISTEN).
    Up,
    /// Run one service alone, for scale-out behind an ingress.
    Run { service: ServiceName },
    /// Run the mock OpenAI/Anthropic upstream (MOCK_LLM_* settings).
    MockLlm {
        #[arg(long, env = "MOCK_LLM_LISTEN", default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Print the OpenAPI document (what `openapi/keyway.json` must hold).
    Openapi,
    /// Print the effective configuration (defaults filled in, secrets masked).
    Config,
    /// Projector maintenance.
    Projector {
        #[command(subcommand)]
        command: ProjectorCommand,
    },
    /// Manage a running Keyway through its REST API (KEYWAY_URL, KEYWAY_ADMIN_KEY);
    /// see docs/admin-cli.md.
    Admin(Box<keyway::admin::AdminArgs>),
    /// Key service maintenance.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Recompute the read models (tenants, users, API keys, BYOK keys) from the event store.
    Rebuild,
    /// Rotate the master key (kek) or one tenant's data key (dek).
    Rotate {
        #[command(subcommand)]
        what: RotateCommand,
    },
}

#[derive(Subcommand)]
enum ProjectorCommand {
    /// Recompute the daily and monthly billing views from the usage ledger.
    Rebuild,
}

#[derive(Subcommand)]
enum RotateCommand {
    /// New master key version; every data key and the pepper are rewrapped.
    Kek,
    /// Re-seal one tenant's secrets under a new data key.
    Dek {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ServiceName {
    Gateway,
    Keys,
    Projector,
}

/// Workers of the main runtime (`KEYWAY_WORKER_THREADS`, or chosen here).
/// Where front threads serve the gateway, what is left on the main runtime
/// is background work (usage publishing, NATS, the in-process projector),
/// well under a core, and a second worker mostly added sleeps and wake-ups:
/// 0.83–0.89 a request at a paced 1,000/s, against 0.40–0.48 with one
/// (docs/scaling.md). A projector or key service on its own, or
/// connections served on the main runtime, keep one per CPU.
fn main_workers(config: &Config, command: &Command) -> usize {
    let gateway_on_fronts = config.front_threads > 0
        && matches!(
            command,
            Command::Up
                | Command::Run {
                    service: ServiceName::Gateway
                }
        );
    match config.worker_threads {
        Some(n) => n,
        None if gateway_on_fronts => 1,
        None => keyway_common::config::cpus(),
    }
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    // A client of a running Keyway: it reads none of the server's settings.
    let cli = match cli.command {
        Command::Admin(args) => return keyway::admin::run(*args),
        command => Cli { command },
    };
    if let Command::Openapi = cli.command {
        return match openapi::document() {
            Ok(doc) => write_out(&mut io::stdout(), &doc),
            Err(e) => fail(&format!("cannot render the OpenAPI document: {e}")),
        };
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    if let Command::Config = cli.command {
        return match effective_config::render(&config) {
            Ok(text) => write_out(&mut io::stdout(), &text),
            Err(e) => fail(&e.to_string()),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(main_workers(&config, &cli.command))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let _telemetry = match telemetry::init(&config, "keyway") {
            Ok(guard) => guard,
            Err(e) => return fail(&e.to_string()),
        };
        let result = match cli.command {
            Command::Up => serve(config, Services::ALL).await,
            Command::Run { service } => {
                let services = match service {
                    ServiceName::Gateway => Services::GATEWAY,
                    ServiceName::Keys => Services::KEYS,
                    ServiceName::Projector => Services::PROJECTOR,
                };
                serve(config, services).await
            }
            Command::MockLlm { listen } => mock_llm(listen).await,
            Command::Projector {
                command: ProjectorCommand::Rebuild,
            } => maintenance::rebuild_projector(&config)
                .await
                .map(|message| {
                    let _ = write_out(&mut io::stdout(), &format!("{message}\n"));
                })
                .map_err(|e| e.to_string()),
            Command::Keys { command } => {
                let done = match command {
                    KeysCommand::Rebuild => maintenance::rebuild_keys(&config).await,
                    KeysCommand::Rotate {
                        what: RotateCommand::Kek,
                    } => maintenance::rotate_kek(&config).await,
                    KeysCommand::Rotate {
                        what: RotateCommand::Dek { tenant },
                    } => maintenance::rotate_dek(&config, &tenant).await,
                };
                done.map(|message| {
                    let _ = write_out(&mut io::stdout(), &format!("{message}\n"));
                })
                .map_err(|e| e.to_string())
            }
            Command::Openapi | Command::Config | Command::Admin(_) => Ok(()),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => fail(&message),
        }
    })
}

async fn serve(config: Config, services: Services) -> Result<(), String> {
    let shutdown = shutdown::on_signal();
    let data_dir = config.data_dir.clone();
    let auth_off = !config.auth_enabled;
    let stack = Stack::build(config, services, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    let mut banner = format!(
        "keyway ({}) serving on http://{}\n  docs:    http://{}/docs/\n  openapi: http://{}/openapi.json\n",
        stack.services.names().join(", "),
        stack.addr,
        stack.addr,
        stack.addr
    );
    if let Some(mock) = stack.mock_addr {
        banner.push_str(&format!("  mock upstream (in-process): http://{mock}/v1\n"));
    }
    match &stack.admin_key_origin {
        AdminKeyOrigin::Generated(path) => banner.push_str(&format!(
            "  admin key (generated now, shown once, stored in {}): {}\n",
            path.display(),
            stack.admin_key
        )),
        AdminKeyOrigin::Stored(path) => {
            banner.push_str(&format!("  admin key: stored in {}\n", path.display()));
        }
        AdminKeyOrigin::Configured => banner.push_str("  admin key: from KEYWAY_ADMIN_KEY\n"),
    }
    banner.push_str(&format!("  data dir: {}\n", data_dir.display()));
    if auth_off {
        banner.push_str(
            "  WARNING: authentication is OFF (KEYWAY_AUTH=off): every request acts as the platform admin\n",
        );
    }
    let _ = write_out(&mut io::stderr(), &banner);
    tracing::info!(
        addr = %stack.addr,
        services = ?stack.services.names(),
        workers = tokio::runtime::Handle::current().metrics().num_workers(),
        "keyway started"
    );
    stack.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn mock_llm(listen: SocketAddr) -> Result<(), String> {
    let config = keyway_mock_llm::MockConfig::from_env("MOCK_LLM_").map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let _ = write_out(
        &mut io::stderr(),
        &format!("mock-llm serving on http://{addr}/v1\n"),
    );
    keyway_mock_llm::serve(listener, config, shutdown::on_signal())
        .await
        .map_err(|e| e.to_string())
}

fn write_out(out: &mut impl Write, text: &str) -> ExitCode {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "keyway: {message}");
    ExitCode::FAILURE
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn workers(pairs: &[(&str, &str)], command: &Command) -> usize {
        let vars = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        main_workers(&Config::from_vars(vars).unwrap(), command)
    }

    #[test]
    fn one_worker_where_front_threads_serve_the_gateway_unless_set() {
        let cpus = keyway_common::config::cpus();
        let gateway = Command::Run {
            service: ServiceName::Gateway,
        };
        let projector = Command::Run {
            service: ServiceName::Projector,
        };
        let fronts = [("KEYWAY_FRONT_THREADS", "2")];
        assert_eq!(workers(&fronts, &Command::Up), 1);
        assert_eq!(workers(&fronts, &gateway), 1);
        // Its consumer's decoding is the work there.
        assert_eq!(workers(&fronts, &projector), cpus);
        // Connections on the main runtime.
        assert_eq!(workers(&[("KEYWAY_FRONT_THREADS", "0")], &Command::Up), cpus);
        let set = [("KEYWAY_FRONT_THREADS", "2"), ("KEYWAY_WORKER_THREADS", "3")];
        assert_eq!(workers(&set, &Command::Up), 3);
    }
}
