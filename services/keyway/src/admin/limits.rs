//! `keyway admin limits`: a tenant's or an API key's rate limits and
//! monthly budget. Both API routes replace the limits as a whole, so `set`
//! sends exactly the flags given and `clear` sends `{}`.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Ctx, body, error::AdminError};

/// The three limits of the API's `Limits` object.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct LimitArgs {
    /// Requests per minute.
    #[arg(long)]
    pub(crate) rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    pub(crate) tpm: Option<u64>,
    /// Monthly budget in micro-units of the price currency (1 USD = 1000000).
    #[arg(long)]
    pub(crate) budget_micros: Option<u64>,
}

impl LimitArgs {
    pub(crate) fn is_empty(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.budget_micros.is_none()
    }

    pub(crate) fn to_json(&self) -> Value {
        body(vec![
            ("requests_per_minute", self.rpm.map(Value::from)),
            ("tokens_per_minute", self.tpm.map(Value::from)),
            ("monthly_budget_micros", self.budget_micros.map(Value::from)),
        ])
    }
}

/// Whose limits: the tenant's, or one of its API keys'.
#[derive(Args, Debug)]
pub(crate) struct Target {
    /// The tenant.
    #[arg(long, env = "KEYWAY_TENANT")]
    tenant: String,
    /// An API key of the tenant (its id); without it, the tenant's limits.
    #[arg(long)]
    api_key: Option<String>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum LimitsCommand {
    /// Show the limits in effect.
    Show(Target),
    /// Replace the limits with the ones given (unnamed limits are removed).
    Set {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Remove every limit (an API key then follows its tenant's).
    Clear(Target),
}

pub(crate) async fn run(ctx: &Ctx, command: LimitsCommand) -> Result<(), AdminError> {
    let (target, limits) = match command {
        LimitsCommand::Show(target) => return show(ctx, &target).await,
        LimitsCommand::Set { target, limits } => {
            if limits.is_empty() {
                return Err(AdminError::Usage(
                    "name at least one of --rpm, --tpm, --budget-micros (or use `limits clear`)".into(),
                ));
            }
            (target, limits.to_json())
        }
        LimitsCommand::Clear(target) => (target, json!({})),
    };
    let answer = match &target.api_key {
        Some(key) => {
            let segments = ["tenants", &target.tenant, "api-keys", key, "limits"];
            ctx.client
                .call(Method::PUT, &segments, &[], Some(&limits))
                .await?
        }
        None => {
            let patch = json!({ "limits": limits });
            ctx.client
                .call(Method::PATCH, &["tenants", &target.tenant], &[], Some(&patch))
                .await?
        }
    };
    print_limits(ctx, &answer)
}

async fn show(ctx: &Ctx, target: &Target) -> Result<(), AdminError> {
    let answer = match &target.api_key {
        Some(key) => {
            ctx.client
                .get(&["tenants", &target.tenant, "api-keys", key], &[])
                .await?
        }
        None => ctx.client.get(&["tenants", &target.tenant], &[]).await?,
    };
    print_limits(ctx, &answer)
}

/// Under `--json` the whole record as the API answered; otherwise only
/// its limits, with the record's id.
fn print_limits(ctx: &Ctx, record: &Value) -> Result<(), AdminError> {
    if ctx.out.json {
        return ctx.out.print_json(record);
    }
    ctx.out
        .record(&json!({"id": record["id"], "limits": record["limits"]}))
}
