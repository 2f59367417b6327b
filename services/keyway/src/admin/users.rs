//! `keyway admin users`: a tenant's users (tenant admins and platform
//! admins).

use clap::{Args, Subcommand};
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
    ("email", "email"),
    ("display_name", "display_name"),
    ("role", "role"),
    ("status", "status"),
    ("external_subject", "external_subject"),
    ("created_at", "created_at"),
];

#[derive(Args, Debug)]
pub(crate) struct Profile {
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    display_name: Option<String>,
    /// tenant-admin, member or viewer.
    #[arg(long)]
    role: Option<String>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum UsersCommand {
    /// List the tenant's users.
    List {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a user (the role defaults to member).
    Create {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        #[command(flatten)]
        profile: Profile,
        /// The user's subject at the identity provider.
        #[arg(long)]
        external_subject: Option<String>,
    },
    /// Show one user.
    Show {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        id: String,
    },
    /// Change a user's profile, role or status (`disabled` stops their keys).
    Update {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        id: String,
        #[command(flatten)]
        profile: Profile,
        /// active or disabled.
        #[arg(long)]
        status: Option<String>,
    },
    /// Delete a user with their API keys and BYOK keys.
    Delete {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: String,
        id: String,
    },
}

fn profile_fields(profile: Profile) -> Vec<(&'static str, Option<Value>)> {
    vec![
        ("email", profile.email.map(Value::from)),
        ("display_name", profile.display_name.map(Value::from)),
        ("role", profile.role.map(Value::from)),
    ]
}

pub(crate) async fn run(ctx: &Ctx, command: UsersCommand) -> Result<(), AdminError> {
    match command {
        UsersCommand::List { tenant, page } => {
            let segments = ["tenants", &tenant, "users"];
            let listing = paging::read(&ctx.client, &segments, &[], &page, ListKind::Collection).await?;
            paging::show(ctx.out, &listing, COLUMNS)
        }
        UsersCommand::Create {
            tenant,
            profile,
            external_subject,
        } => {
            let mut fields = profile_fields(profile);
            fields.push(("external_subject", external_subject.map(Value::from)));
            let user = ctx
                .client
                .call(
                    Method::POST,
                    &["tenants", &tenant, "users"],
                    &[],
                    Some(&body(fields)),
                )
                .await?;
            ctx.out.record(&user)
        }
        UsersCommand::Show { tenant, id } => {
            let user = ctx.client.get(&["tenants", &tenant, "users", &id], &[]).await?;
            ctx.out.record(&user)
        }
        UsersCommand::Update {
            tenant,
            id,
            profile,
            status,
        } => {
            let mut fields = profile_fields(profile);
            fields.push(("status", status.map(Value::from)));
            let patch = body(fields);
            if patch.as_object().is_some_and(serde_json::Map::is_empty) {
                return Err(AdminError::Usage(
                    "nothing to update: give --email, --display-name, --role or --status".into(),
                ));
            }
            let segments = ["tenants", &tenant, "users", &id];
            let user = ctx
                .client
                .call(Method::PATCH, &segments, &[], Some(&patch))
                .await?;
            ctx.out.record(&user)
        }
        UsersCommand::Delete { tenant, id } => {
            let segments = ["tenants", &tenant, "users", &id];
            ctx.client.call(Method::DELETE, &segments, &[], None).await?;
            ctx.out.done(&format!("deleted user {id}"))
        }
    }
}
