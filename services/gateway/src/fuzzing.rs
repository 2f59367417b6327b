//! What the `cargo fuzz` targets in `fuzz/` drive: the pure parsers the
//! proptests cover. Not an API; nothing but those targets uses it.

/// The usage tap's SSE framing.
pub mod sse {
    pub use crate::usage::sse::{EventBuffer, data, split_events, well_formed};
}

/// The usage spool's on-disk record format.
pub mod spool_record {
    pub use crate::usage::spool::record::{
        Fault, HEADER_LEN, Layout, MAX_RECORD, RECORD_MAGIC, decode, encode,
    };
}

/// The request side of the translation between the two client wires.
pub mod translate {
    use serde_json::{Map, Value};

    pub use crate::catalog::Wire;
    use crate::translate::{Bridge, Target};

    /// Rewrites a client's request for the other wire, as a bridged model's
    /// route does once the body is a JSON object: `None` when refused.
    pub fn request(
        client: Wire,
        upstream: Wire,
        responses: bool,
        drop_unsupported: bool,
        mut body: Map<String, Value>,
    ) -> Option<Map<String, Value>> {
        let bridge = Bridge {
            client,
            upstream,
            responses,
        };
        let target = Target {
            provider: "fuzz",
            max_output_tokens: 8192,
            drop_unsupported,
        };
        let stream = body.get("stream") == Some(&Value::Bool(true));
        crate::translate::prepare(bridge, &mut body, stream, target).ok()?;
        Some(body)
    }
}

/// How an untranslated LLM request body is read (`crate::request`), and
/// the serde_json reading it is held to.
pub mod request {
    pub use crate::request::serde_reading::serde_reads;

    /// The prompt's text length when the body is read, `None` when it is
    /// refused.
    pub fn read(body: &[u8]) -> Option<usize> {
        crate::request::read(body).ok().map(|(_, _, text)| text.len())
    }

    /// The prompt's text length as the limits' estimate counts it on a
    /// parsed body.
    pub fn estimate(body: &serde_json::Value) -> usize {
        crate::usage::estimate::request_text_len(body)
    }
}
