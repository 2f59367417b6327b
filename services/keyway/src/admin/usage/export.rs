//! `keyway admin usage export`: pages through `/usage/events` from a
//! cursor to the end, writing each event as it arrives (JSON lines, or CSV
//! with one flat row per event), so an export of any size runs in constant
//! memory. The resume cursor goes to stderr for the next run.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::PathBuf,
};

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::admin::{
    client::Client,
    error::AdminError,
    output::{note, text},
};

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// Start after this cursor (a `resume_cursor` of an earlier export).
    #[arg(long)]
    cursor: Option<String>,
    /// Platform admins: one tenant (default: every tenant).
    #[arg(long, env = "KEYWAY_TENANT")]
    tenant: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Events per request (1–1000).
    #[arg(long, default_value_t = 1000)]
    page_size: u32,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// One CloudEvent JSON document per line, as the API sends it.
    Jsonl,
    /// One row per event; the columns are `CSV_COLUMNS`.
    Csv,
}

/// CSV columns: the CloudEvent's envelope, then its `data`.
const CSV_COLUMNS: &[(&str, &str)] = &[
    ("id", "id"),
    ("time", "time"),
    ("tenant_id", "data.tenant_id"),
    ("api_key_id", "data.api_key_id"),
    ("user_id", "data.user_id"),
    ("model", "data.model"),
    ("upstream_model", "data.upstream_model"),
    ("provider", "data.provider"),
    ("key_source", "data.key_source"),
    ("route", "data.route"),
    ("request_id", "data.request_id"),
    ("status", "data.status"),
    ("error_code", "data.error_code"),
    ("streamed", "data.streamed"),
    ("estimated", "data.estimated"),
    ("client_disconnected", "data.client_disconnected"),
    ("latency_ms", "data.latency_ms"),
    ("input_tokens", "data.input_tokens"),
    ("output_tokens", "data.output_tokens"),
    ("cached_tokens", "data.cached_tokens"),
    ("cost_micros", "data.cost_micros"),
    ("currency", "data.currency"),
];

pub(crate) async fn run(client: &Client, args: &ExportArgs) -> Result<(), AdminError> {
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| AdminError::io(&format!("cannot create {}", path.display()), &e))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut sink = Sink::new(args.format, BufWriter::new(sink))?;
    let mut cursor = args.cursor.clone();
    let mut count = 0_u64;
    let resume = loop {
        let query = [
            ("tenant_id", args.tenant.clone()),
            ("limit", Some(args.page_size.to_string())),
            ("cursor", cursor.clone()),
        ];
        let page = client.get(&["usage", "events"], &query).await?;
        for event in page["events"].as_array().into_iter().flatten() {
            sink.write(event)?;
            count += 1;
        }
        let next = page["next_cursor"].as_str().map(str::to_owned);
        if next.is_none() || next == cursor {
            break page["resume_cursor"].as_str().map(str::to_owned);
        }
        cursor = next;
    };
    sink.finish()?;
    let resume = resume.map_or_else(String::new, |c| format!("; resume with --cursor {c}"));
    note(&format!("exported {count} events{resume}"))
}

enum Sink {
    Jsonl(BufWriter<Box<dyn Write>>),
    Csv(Box<csv::Writer<BufWriter<Box<dyn Write>>>>),
}

impl Sink {
    fn new(format: Format, out: BufWriter<Box<dyn Write>>) -> Result<Self, AdminError> {
        Ok(match format {
            Format::Jsonl => Self::Jsonl(out),
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer
                    .write_record(CSV_COLUMNS.iter().map(|(header, _)| *header))
                    .map_err(csv_error)?;
                Self::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, event: &Value) -> Result<(), AdminError> {
        match self {
            Self::Jsonl(out) => {
                let line = serde_json::to_string(event)
                    .map_err(|e| AdminError::Io(format!("cannot render an event: {e}")))?;
                writeln!(out, "{line}").map_err(|e| AdminError::io("cannot write the export", &e))
            }
            Self::Csv(writer) => writer
                .write_record(CSV_COLUMNS.iter().map(|(_, path)| csv_cell(event, path)))
                .map_err(csv_error),
        }
    }

    fn finish(self) -> Result<(), AdminError> {
        let flushed = match self {
            Self::Jsonl(mut out) => out.flush(),
            Self::Csv(mut writer) => writer.flush(),
        };
        flushed.map_err(|e| AdminError::io("cannot write the export", &e))
    }
}

/// An absent or null field is an empty CSV cell, not the table's `-`.
fn csv_cell(event: &Value, path: &str) -> String {
    match path.split('.').try_fold(event, |v, key| v.get(key)) {
        None | Some(Value::Null) => String::new(),
        Some(value) => text(value),
    }
}

fn csv_error(e: csv::Error) -> AdminError {
    AdminError::Io(format!("cannot write the CSV export: {e}"))
}
