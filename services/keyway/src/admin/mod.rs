//! `keyway admin …`: a client for a running Keyway's REST API
//! (`/api/v1`), for operators and tenant admins who would otherwise use
//! curl. One file per resource; this module parses the shared flags,
//! resolves the URL and credential, dispatches, and turns every failure
//! into a message on stderr and a non-zero exit code (docs/admin-cli.md).

mod api_keys;
mod audit;
mod byok;
mod client;
mod config;
mod error;
mod limits;
mod output;
mod paging;
mod rotate;
mod tenants;
mod usage;
mod users;
mod webhooks;

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use self::{
    client::Client,
    config::{ApiCredential, DEFAULT_URL},
    error::AdminError,
    output::Output,
};

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Keyway's base URL.
    #[arg(long, env = "KEYWAY_URL", default_value = DEFAULT_URL, global = true)]
    url: String,
    /// Read the key from this file (default: KEYWAY_ADMIN_KEY, then
    /// <KEYWAY_DATA_DIR>/admin.key). A tenant API key works for its tenant.
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Show the URL and where the key is read from (never the key).
    Config,
    /// Tenants (platform admins).
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// A tenant's users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// A tenant's API keys (the secret is shown once, at creation).
    #[command(subcommand)]
    ApiKeys(api_keys::ApiKeysCommand),
    /// Bring-your-own provider keys (always masked).
    #[command(subcommand)]
    Byok(byok::ByokCommand),
    /// Rate limits and monthly budgets of a tenant or an API key.
    #[command(subcommand)]
    Limits(limits::LimitsCommand),
    /// Rotate the master key, a tenant's data key, an API key or a webhook secret.
    #[command(subcommand)]
    Rotate(rotate::RotateCommand),
    /// Usage summaries, the usage export and billing export cursors.
    #[command(subcommand)]
    Usage(usage::UsageCommand),
    /// Signed usage webhooks.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// The audit log of key changes.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// What every command needs: the API client and the output mode.
pub(crate) struct Ctx {
    client: Client,
    out: Output,
}

/// Runs one admin command to completion; the exit code says how it went.
pub fn run(args: AdminArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&AdminError::io("cannot start the async runtime", &e)),
    };
    match runtime.block_on(dispatch(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn dispatch(args: AdminArgs) -> Result<(), AdminError> {
    let url = config::base_url(&args.url)?;
    let out = Output { json: args.json };
    let credential = ApiCredential::resolve(args.key_file.as_deref(), |name| std::env::var(name).ok());
    if let AdminCommand::Config = args.command {
        return show_config(out, &url, credential.as_ref().map(|c| &c.origin));
    }
    let ctx = Ctx {
        client: Client::new(&url, credential?)?,
        out,
    };
    match args.command {
        AdminCommand::Config => Ok(()),
        AdminCommand::Tenants(command) => tenants::run(&ctx, command).await,
        AdminCommand::Users(command) => users::run(&ctx, command).await,
        AdminCommand::ApiKeys(command) => api_keys::run(&ctx, command).await,
        AdminCommand::Byok(command) => byok::run(&ctx, command).await,
        AdminCommand::Limits(command) => limits::run(&ctx, command).await,
        AdminCommand::Rotate(command) => rotate::run(&ctx, command).await,
        AdminCommand::Usage(command) => usage::run(&ctx, command).await,
        AdminCommand::Webhooks(command) => webhooks::run(&ctx, command).await,
        AdminCommand::Audit(command) => audit::run(&ctx, command).await,
    }
}

fn show_config(
    out: Output,
    url: &str,
    origin: Result<&config::KeyOrigin, &AdminError>,
) -> Result<(), AdminError> {
    let key = match origin {
        Ok(origin) => origin.to_string(),
        Err(e) => format!("none found ({e})"),
    };
    let tenant = std::env::var("KEYWAY_TENANT").ok();
    out.record(&serde_json::json!({"url": url, "key_from": key, "tenant": tenant}))
}

/// A JSON object of the fields that were given (`None` is left out, so a
/// PATCH changes only what the operator named).
pub(crate) fn body(fields: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
        .collect();
    Value::Object(map)
}

fn fail(error: &AdminError) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "keyway admin: {error}");
    error.exit_code()
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser, Debug)]
    struct Wrapper {
        #[command(flatten)]
        admin: AdminArgs,
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Wrapper::command().debug_assert();
    }

    #[test]
    fn a_subcommands_argument_never_overrides_the_global_url() {
        let parsed = Wrapper::try_parse_from([
            "admin",
            "--url",
            "http://keyway:8080",
            "webhooks",
            "create",
            "http://receiver/usage",
        ])
        .unwrap();
        assert_eq!(parsed.admin.url, "http://keyway:8080");
        match parsed.admin.command {
            AdminCommand::Webhooks(webhooks::WebhooksCommand::Create { endpoint, .. }) => {
                assert_eq!(endpoint, "http://receiver/usage");
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    /// A base64url cursor may begin with '-': it is still the value.
    #[test]
    fn a_cursor_that_begins_with_a_hyphen_is_a_value_not_a_flag() {
        let parsed =
            Wrapper::try_parse_from(["admin", "tenants", "list", "--cursor", "-EAM", "--json"]).unwrap();
        match parsed.admin.command {
            AdminCommand::Tenants(tenants::TenantsCommand::List(page)) => {
                assert_eq!(page.cursor.as_deref(), Some("-EAM"));
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(parsed.admin.json);
        let parsed = Wrapper::try_parse_from([
            "admin", "usage", "cursors", "set", "billing", "-EAM", "--tenant", "t1",
        ])
        .unwrap();
        match parsed.admin.command {
            AdminCommand::Usage(usage::UsageCommand::Cursors(usage::CursorsCommand::Set {
                cursor,
                tenant,
                ..
            })) => assert_eq!((cursor.as_str(), tenant.as_deref()), ("-EAM", Some("t1"))),
            other => panic!("parsed as {other:?}"),
        }
    }
}
