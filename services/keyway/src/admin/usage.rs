//! `keyway admin usage`: the usage summary report, the export of usage
//! events (every page to the end, as JSON lines or CSV) and the billing
//! consumers' export cursors.

mod export;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    Ctx,
    error::AdminError,
    output::Column,
    paging::{self, ListKind, PageArgs},
};

const SUMMARY_COLUMNS: &[Column] = &[
    ("group", "key"),
    ("currency", "currency"),
    ("requests", "requests"),
    ("errors", "errors"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cached_tokens", "cached_tokens"),
    ("cost_micros", "cost_micros"),
];

const CURSOR_COLUMNS: &[Column] = &[
    ("name", "name"),
    ("tenant_id", "tenant_id"),
    ("cursor", "cursor"),
    ("updated_at", "updated_at"),
];

#[derive(Subcommand, Debug)]
pub(crate) enum UsageCommand {
    /// Totals for a window, grouped by day, month, model, API key or user.
    Summary {
        /// Start, inclusive: YYYY-MM-DD or RFC 3339 (default: this month's first day).
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive (default: next month's first day).
        #[arg(long)]
        to: Option<String>,
        /// day, month, model, api_key or user.
        #[arg(long)]
        group_by: Option<String>,
        /// Platform admins: the tenant (default `platform`).
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
    /// Write every usage event from --cursor on (default: the oldest kept)
    /// to the end, then print the cursor to resume from on stderr.
    Export(export::ExportArgs),
    /// Billing consumers' export cursors.
    #[command(subcommand)]
    Cursors(CursorsCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum CursorsCommand {
    /// List the export cursors the caller may see.
    List(PageArgs),
    /// Register a consumer's cursor or advance it (it never moves back).
    Set {
        name: String,
        // An export cursor is base64url, which may begin with '-'.
        #[arg(allow_hyphen_values = true)]
        cursor: String,
        /// Platform admins: the tenant (without it: all tenants).
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
    /// Unregister a consumer, releasing what it held back from retention.
    Delete {
        name: String,
        #[arg(long, env = "KEYWAY_TENANT")]
        tenant: Option<String>,
    },
}

pub(crate) async fn run(ctx: &Ctx, command: UsageCommand) -> Result<(), AdminError> {
    match command {
        UsageCommand::Summary {
            from,
            to,
            group_by,
            tenant,
        } => {
            let query = [
                ("from", from),
                ("to", to),
                ("group_by", group_by),
                ("tenant_id", tenant),
            ];
            let summary = ctx.client.get(&["usage", "summary"], &query).await?;
            show_summary(ctx, &summary)
        }
        UsageCommand::Export(args) => export::run(&ctx.client, &args).await,
        UsageCommand::Cursors(command) => cursors(ctx, command).await,
    }
}

/// The rows, then one row per currency of totals.
fn show_summary(ctx: &Ctx, summary: &Value) -> Result<(), AdminError> {
    let mut rows = summary["rows"].as_array().cloned().unwrap_or_default();
    for total in summary["totals_by_currency"].as_array().into_iter().flatten() {
        let mut row = total.clone();
        row["key"] = json!("TOTAL");
        rows.push(row);
    }
    ctx.out.list(summary, &rows, SUMMARY_COLUMNS)
}

async fn cursors(ctx: &Ctx, command: CursorsCommand) -> Result<(), AdminError> {
    const CURSORS: [&str; 2] = ["usage", "cursors"];
    match command {
        CursorsCommand::List(page) => {
            let listing = paging::read(&ctx.client, &CURSORS, &[], &page, ListKind::Collection).await?;
            paging::show(ctx.out, &listing, CURSOR_COLUMNS)
        }
        CursorsCommand::Set { name, cursor, tenant } => {
            let put = super::body(vec![
                ("cursor", Some(Value::from(cursor))),
                ("tenant_id", tenant.map(Value::from)),
            ]);
            let segments = ["usage", "cursors", &name];
            let stored = ctx.client.call(Method::PUT, &segments, &[], Some(&put)).await?;
            ctx.out.record(&stored)
        }
        CursorsCommand::Delete { name, tenant } => {
            let segments = ["usage", "cursors", &name];
            ctx.client
                .call(Method::DELETE, &segments, &[("tenant_id", tenant)], None)
                .await?;
            ctx.out.done(&format!("deleted export cursor {name}"))
        }
    }
}
