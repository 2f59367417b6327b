//! `keyway admin audit`: the audit log of key changes, in log order.

use clap::Subcommand;

use super::{
    Ctx,
    error::AdminError,
    output::{Column, note},
    paging::{self, ListKind, PageArgs},
};

const COLUMNS: &[Column] = &[
    ("position", "position"),
    ("time", "time"),
    ("tenant_id", "tenant_id"),
    ("actor", "actor"),
    ("action", "action"),
    ("target", "target"),
    ("request_id", "request_id"),
];

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// List audit events (platform admins any tenant, tenant admins their
    /// own, members their own actions).
    List {
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
}

pub(crate) async fn run(ctx: &Ctx, command: AuditCommand) -> Result<(), AdminError> {
    let AuditCommand::List { tenant, page } = command;
    let filters = [("tenant_id", tenant)];
    let listing = paging::read(&ctx.client, &["audit", "events"], &filters, &page, ListKind::Log).await?;
    paging::show(ctx.out, &listing, COLUMNS)?;
    if !ctx.out.json
        && listing.next_cursor.is_none()
        && let Some(resume) = listing.page["resume_cursor"].as_str()
    {
        note(&format!("later events: --cursor {resume}"))?;
    }
    Ok(())
}
