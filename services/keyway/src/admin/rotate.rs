//! `keyway admin rotate`: every rotation the API offers in one place —
//! the master key (KEK), a tenant's data key (DEK), an API key's secret and
//! a webhook's signing secret.

use clap::Subcommand;
use reqwest::Method;

use super::{Ctx, api_keys, error::AdminError, webhooks};

#[derive(Subcommand, Debug)]
pub(crate) enum RotateCommand {
    /// New master key version; every data key is rewrapped (platform admins).
    Kek,
    /// Re-seal one tenant's secrets under a new data key.
    Dek {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
    },
    /// New secret for an API key (printed this one time).
    ApiKey {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        id: String,
    },
    /// New signing secret for a webhook (printed this one time).
    WebhookSecret {
        id: String,
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
}

pub(crate) async fn run(ctx: &Ctx, command: RotateCommand) -> Result<(), AdminError> {
    match command {
        RotateCommand::Kek => {
            let segments = ["admin", "kms", "rotate-kek"];
            let rotated = ctx.client.call(Method::POST, &segments, &[], None).await?;
            ctx.out.record(&rotated)
        }
        RotateCommand::Dek { tenant } => {
            let segments = ["tenants", &tenant, "dek", "rotate"];
            let rotated = ctx.client.call(Method::POST, &segments, &[], None).await?;
            ctx.out.record(&rotated)
        }
        RotateCommand::ApiKey { tenant, id } => api_keys::rotate(ctx, &tenant, &id).await,
        RotateCommand::WebhookSecret { id, tenant } => webhooks::rotate_secret(ctx, &id, tenant).await,
    }
}
