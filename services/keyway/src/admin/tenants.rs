//! `keyway admin tenants`: list, create, show, update and delete tenants
//! (platform admins; a tenant's own key may `show` its tenant).

use clap::{Args, Subcommand};
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
    ("plan", "plan"),
    ("rpm", "limits.requests_per_minute"),
    ("tpm", "limits.tokens_per_minute"),
    ("budget_micros", "limits.monthly_budget_micros"),
    ("external_id", "external_id"),
    ("created_at", "created_at"),
];

#[derive(Args, Debug)]
pub(crate) struct TenantFields {
    /// Identity-provider id of the organization.
    #[arg(long)]
    external_id: Option<String>,
    /// The tenant's own OIDC issuer URL.
    #[arg(long)]
    oidc_issuer: Option<String>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum TenantsCommand {
    /// List tenants.
    List(PageArgs),
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
        /// free, starter, pro or enterprise.
        #[arg(long, default_value = "free")]
        plan: String,
        #[command(flatten)]
        fields: TenantFields,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Show one tenant.
    Show { id: String },
    /// Change a tenant's name, plan, external id or OIDC issuer
    /// (limits: `keyway admin limits set`).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        plan: Option<String>,
        #[command(flatten)]
        fields: TenantFields,
    },
    /// Delete a tenant and crypto-shred its secrets. Cannot be undone.
    Delete {
        id: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

pub(crate) async fn run(ctx: &Ctx, command: TenantsCommand) -> Result<(), AdminError> {
    match command {
        TenantsCommand::List(page) => {
            let listing = paging::read(&ctx.client, &["tenants"], &[], &page, ListKind::Collection).await?;
            paging::show(ctx.out, &listing, COLUMNS)
        }
        TenantsCommand::Create {
            name,
            plan,
            fields,
            limits,
        } => {
            let mut create = body(vec![
                ("name", Some(Value::from(name))),
                ("plan", Some(Value::from(plan))),
                ("external_id", fields.external_id.map(Value::from)),
                ("oidc_issuer", fields.oidc_issuer.map(Value::from)),
            ]);
            if !limits.is_empty() {
                create["limits"] = limits.to_json();
            }
            let tenant = ctx
                .client
                .call(Method::POST, &["tenants"], &[], Some(&create))
                .await?;
            ctx.out.record(&tenant)
        }
        TenantsCommand::Show { id } => ctx.out.record(&ctx.client.get(&["tenants", &id], &[]).await?),
        TenantsCommand::Update {
            id,
            name,
            plan,
            fields,
        } => {
            let patch = body(vec![
                ("name", name.map(Value::from)),
                ("plan", plan.map(Value::from)),
                ("external_id", fields.external_id.map(Value::from)),
                ("oidc_issuer", fields.oidc_issuer.map(Value::from)),
            ]);
            if patch.as_object().is_some_and(serde_json::Map::is_empty) {
                return Err(AdminError::Usage(
                    "nothing to update: give --name, --plan, --external-id or --oidc-issuer".into(),
                ));
            }
            let tenant = ctx
                .client
                .call(Method::PATCH, &["tenants", &id], &[], Some(&patch))
                .await?;
            ctx.out.record(&tenant)
        }
        TenantsCommand::Delete { id, yes } => {
            if !yes {
                return Err(AdminError::Usage(format!(
                    "deleting tenant {id} destroys its keys for good; add --yes to confirm"
                )));
            }
            ctx.client
                .call(Method::DELETE, &["tenants", &id], &[], None)
                .await?;
            ctx.out.done(&format!("deleted tenant {id}"))
        }
    }
}
