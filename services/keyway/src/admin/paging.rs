//! The `/api/v1` pagination contract (docs/api.md) from the client side:
//! one page with `--limit`/`--cursor`, or every page with `--all`,
//! following `next_cursor` until it is null.

use clap::Args;
use serde_json::Value;

use super::{
    client::Client,
    error::AdminError,
    output::{Column, Output, note},
};

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct PageArgs {
    /// Page size (collections 1–200, logs 1–1000; the server's default
    /// when omitted).
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    // Cursors are base64url, which may begin with '-'.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) cursor: Option<String>,
    /// Follow `next_cursor` to the last page and show every item.
    #[arg(long)]
    pub(crate) all: bool,
}

/// What a list command read: the document to print under `--json` (the
/// page, or all pages merged into one of the same shape), its items, and
/// the cursor of the page after it.
pub(crate) struct Listing {
    pub(crate) page: Value,
    pub(crate) items: Vec<Value>,
    pub(crate) next_cursor: Option<String>,
}

/// Where a list keeps its items: collections in `data`, logs in `events`.
#[derive(Clone, Copy)]
pub(crate) enum ListKind {
    Collection,
    Log,
}

impl ListKind {
    fn items_key(self) -> &'static str {
        match self {
            Self::Collection => "data",
            Self::Log => "events",
        }
    }
}

/// Reads one page, or every page from `args.cursor` on with `--all`.
/// `filters` (e.g. `tenant_id`) are sent unchanged with every page, as the
/// contract requires.
pub(crate) async fn read(
    client: &Client,
    segments: &[&str],
    filters: &[(&str, Option<String>)],
    args: &PageArgs,
    kind: ListKind,
) -> Result<Listing, AdminError> {
    let key = kind.items_key();
    let mut cursor = args.cursor.clone();
    let mut items = Vec::new();
    loop {
        let mut query = filters.to_vec();
        query.push(("limit", args.limit.map(|l| l.to_string())));
        query.push(("cursor", cursor.clone()));
        let mut page = client.get(segments, &query).await?;
        let next = page.get("next_cursor").and_then(Value::as_str).map(str::to_owned);
        if let Some(Value::Array(batch)) = page.get_mut(key).map(Value::take) {
            items.extend(batch);
        }
        // A cursor that does not move would loop for ever; stop instead.
        let stalled = next.is_some() && next == cursor;
        if !args.all || next.is_none() || stalled {
            page[key] = Value::Array(items.clone());
            return Ok(Listing {
                page,
                items,
                next_cursor: next.filter(|_| !args.all),
            });
        }
        cursor = next;
    }
}

/// Prints a listing, and on a terminal-style output where to go next.
pub(crate) fn show(out: Output, listing: &Listing, columns: &[Column]) -> Result<(), AdminError> {
    out.list(&listing.page, &listing.items, columns)?;
    if !out.json
        && let Some(next) = &listing.next_cursor
    {
        note(&format!("more: --cursor {next}  (or --all)"))?;
    }
    Ok(())
}
