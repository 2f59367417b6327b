//! How answers are shown: `--json` prints the API's JSON as is (one
//! document per command); otherwise records become tables. Results go to
//! stdout, notes (the next page's cursor, "shown once" warnings) to
//! stderr, so piping stdout keeps only the data.

use std::io::{self, Write};

use comfy_table::{Table, presets};
use serde_json::Value;

use super::error::AdminError;

/// A table column: its header and the dotted path of the field it shows
/// (`limits.requests_per_minute`).
pub(crate) type Column = (&'static str, &'static str);

#[derive(Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// A list: `--json` prints the page (or merged pages) as the API sent
    /// it; a table shows one row per item of `items`.
    pub(crate) fn list(&self, page: &Value, items: &[Value], columns: &[Column]) -> Result<(), AdminError> {
        if self.json {
            return self.print_json(page);
        }
        if items.is_empty() {
            return note("(none)");
        }
        let mut table = new_table();
        table.set_header(columns.iter().map(|(header, _)| *header));
        for item in items {
            table.add_row(columns.iter().map(|(_, path)| cell(item, path)));
        }
        write_stdout(&format!("{table}\n"))
    }

    /// One record: `--json` prints it; a table shows field and value, with
    /// nested objects flattened to dotted names.
    pub(crate) fn record(&self, value: &Value) -> Result<(), AdminError> {
        if self.json {
            return self.print_json(value);
        }
        let mut table = new_table();
        table.set_header(["field", "value"]);
        let mut rows = Vec::new();
        flatten("", value, &mut rows);
        for (field, text) in rows {
            table.add_row([field, text]);
        }
        write_stdout(&format!("{table}\n"))
    }

    /// A record carrying a secret the API shows this one time (`field`):
    /// printed like any record, with a warning on stderr that it will not
    /// be shown again.
    pub(crate) fn secret_once(&self, value: &Value, field: &str) -> Result<(), AdminError> {
        self.record(value)?;
        note(&format!(
            "note: `{field}` is shown this one time; store it now, Keyway cannot show it again"
        ))
    }

    /// A command with no answer body (204): a line saying what was done,
    /// or `{}` under `--json` so scripts always get a document.
    pub(crate) fn done(&self, message: &str) -> Result<(), AdminError> {
        if self.json {
            return self.print_json(&serde_json::json!({}));
        }
        write_stdout(&format!("{message}\n"))
    }

    pub(crate) fn print_json(&self, value: &Value) -> Result<(), AdminError> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| AdminError::Io(format!("cannot render JSON: {e}")))?;
        write_stdout(&format!("{text}\n"))
    }
}

fn new_table() -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table
}

/// The text of the field at a dotted path; `-` when absent or null.
pub(crate) fn cell(item: &Value, path: &str) -> String {
    let value = path.split('.').try_fold(item, |v, key| v.get(key));
    value.map_or_else(|| "-".to_owned(), text)
}

/// A scalar as text; arrays joined; objects as compact JSON.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (key, inner) in fields {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, rows);
            }
        }
        other => rows.push((prefix.to_owned(), text(other))),
    }
}

pub(crate) fn write_stdout(text: &str) -> Result<(), AdminError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| AdminError::io("cannot write to stdout", &e))
}

/// A note for the operator on stderr (kept out of piped data).
pub(crate) fn note(text: &str) -> Result<(), AdminError> {
    let mut err = io::stderr().lock();
    writeln!(err, "{text}").map_err(|e| AdminError::io("cannot write to stderr", &e))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cells_follow_dotted_paths_and_show_absence_as_a_dash() {
        let item = json!({"id": "t1", "limits": {"requests_per_minute": 60, "tokens_per_minute": null}, "scopes": ["a", "b"]});
        assert_eq!(cell(&item, "limits.requests_per_minute"), "60");
        assert_eq!(cell(&item, "limits.tokens_per_minute"), "-");
        assert_eq!(cell(&item, "missing.field"), "-");
        assert_eq!(cell(&item, "scopes"), "a, b");
    }

    #[test]
    fn records_flatten_nested_objects() {
        let mut rows = Vec::new();
        flatten(
            "",
            &json!({"id": "t1", "limits": {"rpm": 5}, "empty": {}}),
            &mut rows,
        );
        rows.sort();
        assert_eq!(
            rows,
            [
                ("empty".to_owned(), "{}".to_owned()),
                ("id".to_owned(), "t1".to_owned()),
                ("limits.rpm".to_owned(), "5".to_owned())
            ]
        );
    }
}
