//! `keyway admin webhooks`: signed usage webhooks. The signing secret is
//! in the answer to `create` and `rotate-secret` only; lists and `show`
//! carry the delivery state, never the secret.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::{
    Ctx, body,
    error::AdminError,
    output::Column,
    paging::{self, ListKind, PageArgs},
};

const COLUMNS: &[Column] = &[
    ("id", "id"),
    ("url", "url"),
    ("description", "description"),
    ("failures", "consecutive_failures"),
    ("last_delivered_at", "last_delivered_at"),
    ("last_error", "last_error"),
    ("created_at", "created_at"),
];

#[derive(Subcommand, Debug)]
pub(crate) enum WebhooksCommand {
    /// List webhooks with their delivery state.
    List {
        /// Platform admins: the tenant.
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Register a webhook; its signing secret is printed this one time.
    Create {
        /// Where deliveries are POSTed. (Positional, and not named `url`:
        /// clap would read it as the global `--url`, Keyway's own.)
        #[arg(value_name = "URL")]
        endpoint: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
    /// Show one webhook's delivery state.
    Show {
        id: String,
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
    /// Delete a webhook (its secret is crypto-shredded).
    Delete {
        id: String,
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
    /// Replace the signing secret (printed this one time).
    RotateSecret {
        id: String,
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
}

pub(crate) async fn run(ctx: &Ctx, command: WebhooksCommand) -> Result<(), AdminError> {
    const HOOKS: [&str; 2] = ["usage", "webhooks"];
    match command {
        WebhooksCommand::List { tenant, page } => {
            let filters = [("tenant_id", tenant)];
            let listing = paging::read(&ctx.client, &HOOKS, &filters, &page, ListKind::Collection).await?;
            paging::show(ctx.out, &listing, COLUMNS)
        }
        WebhooksCommand::Create {
            endpoint,
            description,
            tenant,
        } => {
            let create = body(vec![
                ("url", Some(Value::from(endpoint))),
                ("description", description.map(Value::from)),
            ]);
            let query = [("tenant_id", tenant)];
            let hook = ctx
                .client
                .call(Method::POST, &HOOKS, &query, Some(&create))
                .await?;
            ctx.out.secret_once(&hook, "signing_secret")
        }
        WebhooksCommand::Show { id, tenant } => {
            let hook = ctx
                .client
                .get(&["usage", "webhooks", &id], &[("tenant_id", tenant)])
                .await?;
            ctx.out.record(&hook)
        }
        WebhooksCommand::Delete { id, tenant } => {
            let query = [("tenant_id", tenant)];
            ctx.client
                .call(Method::DELETE, &["usage", "webhooks", &id], &query, None)
                .await?;
            ctx.out.done(&format!("deleted webhook {id}"))
        }
        WebhooksCommand::RotateSecret { id, tenant } => rotate_secret(ctx, &id, tenant).await,
    }
}

/// A new signing secret; shared with `keyway admin rotate webhook-secret`.
pub(crate) async fn rotate_secret(ctx: &Ctx, id: &str, tenant: Option<String>) -> Result<(), AdminError> {
    let segments = ["usage", "webhooks", id, "rotate-secret"];
    let hook = ctx
        .client
        .call(Method::POST, &segments, &[("tenant_id", tenant)], None)
        .await?;
    ctx.out.secret_once(&hook, "signing_secret")
}
