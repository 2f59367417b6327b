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

use std::fmt;

use tracing::{Event, Subscriber, field::Visit};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{
    field::{RecordFields, VisitOutput},
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{JsonVisitor, Writer},
        time::{FormatTime, SystemTime},
    },
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
        SystemTime.format_time(&mut w)?;
        write!(w, "\",\"level\":\"{}\",\"fields\":", meta.level())?;
        let mut fields = JsonVisitor::new(&mut w);
        event.record(&mut fields as &mut dyn Visit);
        fields.finish()?;
        w.write_str(",\"target\":")?;
        write_json_string(&mut w, meta.target())?;
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
            write_json_string(&mut w, span.name())?;
            w.write_char('}')?;
        }
        w.write_str("}\n")
    }
}

/// Keeps a span's fields as the text of one JSON object.
pub(crate) struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = JsonVisitor::new(&mut writer);
        fields.record(&mut visitor);
        visitor.finish()
    }

    /// Appends the recorded fields to the object. A field recorded twice
    /// appears twice, and JSON readers keep the last value.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut more = String::new();
        let mut visitor = JsonVisitor::new(&mut more);
        fields.record(&mut visitor);
        visitor.finish()?;
        let Some(new) = members(&more) else {
            return Ok(());
        };
        let joined = match members(&current.fields) {
            Some(old) => format!("{{{old},{new}}}"),
            None => more,
        };
        current.fields = joined;
        Ok(())
    }
}

/// What is between the braces of a JSON object's text, unless empty.
fn members(object: &str) -> Option<&str> {
    object
        .strip_prefix('{')?
        .strip_suffix('}')
        .filter(|inner| !inner.is_empty())
}

fn write_json_string(w: &mut Writer<'_>, s: &str) -> fmt::Result {
    // Targets and span names are identifiers; the escaping is for safety.
    match serde_json::to_string(s) {
        Ok(quoted) => w.write_str(&quoted),
        Err(_) => Err(fmt::Error),
    }
}
