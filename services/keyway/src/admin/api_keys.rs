//! `keyway admin api-keys`: a tenant's API keys. The secret appears once,
//! in the answer to `create` (and `rotate`); lists and `show` never have it
//! because the API never returns it again.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::{
    Ctx, body,
    error::AdminError,
    limits::LimitArgs,
    output::Column,
    paging::{self, ListKind, PageArgs},
};

const COLUMNS: &[Column] = &[
    ("id", "id"),
    ("name", "name"),
    ("role", "role"),
    ("user_id", "user_id"),
    ("rpm", "limits.requests_per_minute"),
    ("last_used_at", "last_used_at"),
    ("expires_at", "expires_at"),
    ("revoked_at", "revoked_at"),
];

#[derive(Subcommand, Debug)]
pub(crate) enum ApiKeysCommand {
    /// List the tenant's keys (tenant admins see all, members their own).
    List {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Issue a key; its secret is printed this one time.
    Create {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Bind the key to a user (without it: a service key, tenant admins only).
        #[arg(long)]
        user: Option<String>,
        /// tenant-admin, member or viewer.
        #[arg(long)]
        role: Option<String>,
        /// RFC 3339 time after which the key stops working.
        #[arg(long)]
        expires_at: Option<String>,
        /// Restrict the key to these scopes (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Show one key (never its secret).
    Show {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        id: String,
    },
    /// Revoke a key; gateways refuse it within about a second.
    Revoke {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        id: String,
    },
    /// Issue a new secret for the same key id (printed this one time).
    Rotate {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        id: String,
    },
}

pub(crate) async fn run(ctx: &Ctx, command: ApiKeysCommand) -> Result<(), AdminError> {
    match command {
        ApiKeysCommand::List { tenant, page } => {
            let segments = ["tenants", &tenant, "api-keys"];
            let listing = paging::read(&ctx.client, &segments, &[], &page, ListKind::Collection).await?;
            paging::show(ctx.out, &listing, COLUMNS)
        }
        ApiKeysCommand::Create {
            tenant,
            name,
            user,
            role,
            expires_at,
            scopes,
            limits,
        } => {
            let mut create = body(vec![
                ("name", Some(Value::from(name))),
                ("user_id", user.map(Value::from)),
                ("role", role.map(Value::from)),
                ("expires_at", expires_at.map(Value::from)),
                ("scopes", (!scopes.is_empty()).then(|| Value::from(scopes))),
            ]);
            if !limits.is_empty() {
                create["limits"] = limits.to_json();
            }
            let segments = ["tenants", &tenant, "api-keys"];
            let issued = ctx
                .client
                .call(Method::POST, &segments, &[], Some(&create))
                .await?;
            ctx.out.secret_once(&issued, "key")
        }
        ApiKeysCommand::Show { tenant, id } => {
            let key = ctx
                .client
                .get(&["tenants", &tenant, "api-keys", &id], &[])
                .await?;
            ctx.out.record(&key)
        }
        ApiKeysCommand::Revoke { tenant, id } => {
            let segments = ["tenants", &tenant, "api-keys", &id];
            ctx.client.call(Method::DELETE, &segments, &[], None).await?;
            ctx.out.done(&format!("revoked API key {id}"))
        }
        ApiKeysCommand::Rotate { tenant, id } => rotate(ctx, &tenant, &id).await,
    }
}

/// New secret, same key id; shared with `keyway admin rotate api-key`.
pub(crate) async fn rotate(ctx: &Ctx, tenant: &str, id: &str) -> Result<(), AdminError> {
    let segments = ["tenants", tenant, "api-keys", id, "rotate"];
    let issued = ctx.client.call(Method::POST, &segments, &[], None).await?;
    ctx.out.secret_once(&issued, "key")
}
