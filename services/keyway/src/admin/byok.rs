//! `keyway admin byok`: bring-your-own provider keys. The plaintext key is
//! read from stdin (or an environment variable), never from the command
//! line where `ps` and shell history keep it, and the CLI only ever prints
//! what the API returns: the masked form.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use super::{
    Ctx, body,
    error::AdminError,
    output::{Column, note},
    paging::{self, ListKind, PageArgs},
};

const COLUMNS: &[Column] = &[
    ("provider", "provider"),
    ("scope", "scope"),
    ("masked", "masked"),
    ("label", "label"),
    ("user_id", "user_id"),
    ("base_url", "base_url"),
    ("updated_at", "updated_at"),
];

const PROVIDER_COLUMNS: &[Column] = &[
    ("slug", "slug"),
    ("name", "name"),
    ("api", "api"),
    ("key_prefix", "key_prefix"),
    ("default_base_url", "default_base_url"),
];

/// Which key: the tenant's or the caller's own, and (platform admins) of
/// which tenant.
#[derive(Args, Debug)]
pub(crate) struct KeyTarget {
    /// The provider slug (`keyway admin byok providers`), or `custom-<name>`.
    provider: String,
    /// tenant or user (default: user for a user-bound key, else tenant).
    #[arg(long)]
    scope: Option<String>,
    /// Platform admins: the tenant to act on.
    #[arg(long, env = "KEYWAY_TENANT")]
    tenant: Option<String>,
}

impl KeyTarget {
    fn query(&self) -> [(&'static str, Option<String>); 2] {
        [("scope", self.scope.clone()), ("tenant_id", self.tenant.clone())]
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum ByokCommand {
    /// The supported providers and their key formats.
    Providers,
    /// List keys, masked.
    List {
        /// Platform admins: the tenant to list.
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// How many keys the tenant holds, by scope and provider.
    Stats {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
    /// Add or replace a key. The key is read from stdin (one line), or
    /// from the environment variable named by --key-env.
    Add {
        #[command(flatten)]
        target: KeyTarget,
        /// Read the key from this environment variable instead of stdin.
        #[arg(long)]
        key_env: Option<String>,
        /// A name for the key, shown in lists.
        #[arg(long)]
        label: Option<String>,
        /// Base URL, for `custom-<name>` providers only.
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Check the stored key against the provider.
    Test(KeyTarget),
    /// Delete the key; gateways stop using it within about a second.
    Remove(KeyTarget),
}

pub(crate) async fn run(ctx: &Ctx, command: ByokCommand) -> Result<(), AdminError> {
    match command {
        ByokCommand::Providers => {
            let providers = ctx.client.get(&["byok", "providers"], &[]).await?;
            let items = providers.as_array().cloned().unwrap_or_default();
            ctx.out.list(&providers, &items, PROVIDER_COLUMNS)
        }
        ByokCommand::List { tenant, page } => {
            let filters = [("tenant_id", tenant)];
            let listing = paging::read(
                &ctx.client,
                &["byok", "keys"],
                &filters,
                &page,
                ListKind::Collection,
            )
            .await?;
            paging::show(ctx.out, &listing, COLUMNS)
        }
        ByokCommand::Stats { tenant } => {
            let stats = ctx
                .client
                .get(&["byok", "stats"], &[("tenant_id", tenant)])
                .await?;
            ctx.out.record(&stats)
        }
        ByokCommand::Add {
            target,
            key_env,
            label,
            base_url,
        } => {
            let key = read_key(key_env.as_deref())?;
            let set = body(vec![
                ("key", Some(Value::from(key))),
                ("label", label.map(Value::from)),
                ("base_url", base_url.map(Value::from)),
            ]);
            let segments = ["byok", "keys", &target.provider];
            let stored = ctx
                .client
                .call(Method::PUT, &segments, &target.query(), Some(&set))
                .await?;
            ctx.out.record(&stored)
        }
        ByokCommand::Test(target) => {
            let segments = ["byok", "keys", &target.provider, "test"];
            let result = ctx
                .client
                .call(Method::POST, &segments, &target.query(), None)
                .await?;
            ctx.out.record(&result)?;
            if result["ok"] == Value::Bool(false) {
                return Err(AdminError::CheckFailed(format!(
                    "the {} key did not pass the provider's check",
                    target.provider
                )));
            }
            Ok(())
        }
        ByokCommand::Remove(target) => {
            let segments = ["byok", "keys", &target.provider];
            ctx.client
                .call(Method::DELETE, &segments, &target.query(), None)
                .await?;
            ctx.out.done(&format!("removed the {} key", target.provider))
        }
    }
}

/// The plaintext key, from the named variable or stdin's first line.
fn read_key(key_env: Option<&str>) -> Result<String, AdminError> {
    let key = match key_env {
        Some(name) => std::env::var(name)
            .map_err(|_| AdminError::Usage(format!("--key-env {name}: the variable is not set")))?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                note("paste the provider key and press Enter (it is sent to Keyway, not shown):")?;
            }
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| AdminError::io("cannot read the key from stdin", &e))?;
            line
        }
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(AdminError::Usage(
            "no key given: pipe it on stdin or name a variable with --key-env".into(),
        ));
    }
    Ok(key)
}
