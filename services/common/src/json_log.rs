//! The JSON log line, written straight to the output: `timestamp`, `level`,
//! `fields`, `target` and the current `span` (its fields and `name`) — the
//! shape of tracing-subscriber's own JSON format, which log pipelines and
//! the e2e tests read.
//!
//! Why not that format: it keeps each span's fields as JSON text, parses
//! that text back into a `serde_json::Value` for every line logged in the
//! span, and parses and re-encodes it for every field recorded later. The
//! gateway logs one line per request and records its token counts on the
//! request's span, so that was two parses per request on the hot path
//! (about 6% of the gateway's CPU under load, `bench/profile.sh`). Here a
//! span's JSON text is spliced into the line as it is, and a recorded field
//! is appended to it.
//!
//! Fields are written as members straight into the line ([`Members`]), not
//! collected first: tracing-subscriber's `JsonVisitor` builds a `BTreeMap`
//! of `serde_json::Value`s and serializes it, which cost about 10k
//! instructions for the request's span and as much again for its log line
//! (`bench/instructions.sh`). Members keep their recording order, and a
//! name recorded twice appears twice (JSON readers keep the last).

use std::{cell::RefCell, fmt, time::UNIX_EPOCH};

use fmt::Write as _;

use crate::json_scan::special_bytes;

use tracing::{Event, Subscriber, field::Field, field::Visit};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

/// Formats each event as one JSON object a line.
pub(crate) struct JsonLine;

impl<S> FormatEvent<S, SpanFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events forwarded from the `log` crate carry their real target here.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        w.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut w)?;
        write!(w, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
        let mut fields = Members::new(&mut w, true);
        event.record(&mut fields as &mut dyn Visit);
        fields.result?;
        w.write_str("},\"target\":")?;
        write_json_str(&mut w, meta.target())?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            w.write_str(",\"span\":")?;
            let extensions = span.extensions();
            let stored = extensions
                .get::<FormattedFields<SpanFields>>()
                .map_or("", |f| f.fields.as_str());
            // `{"a":1}` becomes `{"a":1,"name":…}`; `{}` or nothing, `{"name":…}`.
            w.write_char('{')?;
            if let Some(members) = members(stored) {
                w.write_str(members)?;
                w.write_char(',')?;
            }
            w.write_str("\"name\":")?;
            write_json_str(&mut w, span.name())?;
            w.write_char('}')?;
        }
        w.write_str("}\n")
    }
}

/// Now, as tracing-subscriber's `SystemTime` writes it
/// (`2026-12-02T14:35:08.123456Z`), with the date and time to the second
/// formatted once a second on each thread: formatting all of it for every
/// line cost about 2,000 instructions a request (`bench/instructions.sh`).
fn write_timestamp(w: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != now.as_secs() {
            *second = now.as_secs();
            text.clear();
            let t = i64::try_from(now.as_secs())
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            write!(
                text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )?;
        }
        w.write_str(text)?;
        // Six digits of microseconds, without the formatter's padding.
        let mut digits = [b'0'; 6];
        let mut micros = now.subsec_micros();
        for d in digits.iter_mut().rev() {
            *d = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)?;
        w.write_char('Z')
    })
}

/// Keeps a span's fields as the text of one JSON object.
pub(crate) struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        writer.write_char('{')?;
        let mut members = Members::new(&mut writer, true);
        fields.record(&mut members);
        members.result?;
        writer.write_char('}')
    }

    /// Appends the recorded fields to the object. A field recorded twice
    /// appears twice, and JSON readers keep the last value.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let text = &mut current.fields;
        // Reopen the object: `{"a":1}` → `{"a":1`, `{}` or nothing → `{`.
        let reopened = members(text).is_some();
        if reopened {
            text.pop();
        } else {
            text.clear();
            text.push('{');
        }
        let mut added = Members::new(text, !reopened);
        fields.record(&mut added);
        added.result?;
        text.push('}');
        Ok(())
    }
}

/// Writes each recorded field as a JSON member (`"name":value`, comma
/// separated) into an object whose braces the caller writes. Like
/// tracing-subscriber's JSON format: `log.*` fields (from the `log`
/// crate's bridge) are left out and a raw identifier loses its `r#`.
struct Members<'a> {
    out: &'a mut dyn fmt::Write,
    first: bool,
    result: fmt::Result,
}

impl<'a> Members<'a> {
    /// `first`: no member precedes, so none needs a comma.
    fn new(out: &'a mut dyn fmt::Write, first: bool) -> Self {
        Self {
            out,
            first,
            result: Ok(()),
        }
    }

    /// Writes the member's name and lets `value` write its value; the
    /// first error stops every later member.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) {
        let name = field.name();
        if self.result.is_ok() && !name.starts_with("log.") {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self.write_member(name, value);
        }
    }

    fn write_member(
        &mut self,
        name: &str,
        value: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result,
    ) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(',')?;
        }
        write_json_str(self.out, name)?;
        self.out.write_char(':')?;
        value(self.out)
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_json_str(w, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.member(field, |w| write!(w, "{value}"));
    }

    /// JSON has no NaN or infinity: those are `null`, as serde_json writes them.
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |w| {
            if value.is_finite() {
                write!(w, "{value:?}")
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Escaped as it is formatted: no string in between.
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// What is between the braces of a JSON object's text, unless empty.
fn members(object: &str) -> Option<&str> {
    object
        .strip_prefix('{')?
        .strip_suffix('}')
        .filter(|inner| !inner.is_empty())
}

/// `s` as a JSON string, escaped as serde_json escapes it: `"`, `\\` and
/// control characters; everything else, non-ASCII included, as it is.
fn write_json_str(w: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaped(w).write_str(s)?;
    w.write_char('"')
}

/// Writes what it is given escaped for the inside of a JSON string.
struct Escaped<'a>(&'a mut dyn fmt::Write);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let w = &mut *self.0;
        let bytes = s.as_bytes();
        let (mut clean, mut i) = (0, 0);
        while i < bytes.len() {
            // Eight bytes at a time while none needs escaping: a log line is
            // mostly ids, paths and names. Testing each byte alone cost
            // about 3,500 instructions a request, this 2,500 (callgrind).
            if let Some(word) = bytes[i..].first_chunk::<8>()
                && special_bytes(u64::from_le_bytes(*word)) == 0
            {
                i += 8;
                continue;
            }
            let byte = bytes[i];
            i += 1;
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..0x20 => "",
                _ => continue,
            };
            // An ASCII byte is always a character boundary.
            w.write_str(&s[clean..i - 1])?;
            if escape.is_empty() {
                write!(w, "\\u{byte:04x}")?;
            } else {
                w.write_str(escape)?;
            }
            clean = i;
        }
        w.write_str(&s[clean..])
    }
}

#[cfg(test)]
mod tests;
