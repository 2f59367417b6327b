//! The Responses API stream: `response.created`, `response.in_progress`,
//! the output item's `added` events, its deltas (`response.output_text.delta`
//! or `response.function_call_arguments.delta`), their `done` events, and
//! `response.completed` carrying the usage. Every event is named in its SSE
//! `event:` line and its `type`, and numbered by `sequence_number`.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::{Value, json};

use super::object::{Answer, Ids, item, text_part};
use crate::sse;

/// Numbers events in order; shared by the prebuilt frames and the deltas.
pub(crate) struct Sequence(AtomicU64);

impl Sequence {
    pub(crate) fn starting_at(n: u64) -> Self {
        Self(AtomicU64::new(n))
    }

    pub(crate) fn event(&self, kind: &str, mut data: Value) -> std::io::Result<Bytes> {
        if let Some(object) = data.as_object_mut() {
            object.insert("type".into(), json!(kind));
            object.insert(
                "sequence_number".into(),
                json!(self.0.fetch_add(1, Ordering::Relaxed)),
            );
        }
        sse::frame(Some(kind), &data)
    }
}

/// The frames before the deltas: created, in progress, the item added
/// (and, for text, its content part added).
pub(crate) fn head(
    seq: &Sequence,
    started: &Value,
    answer: &Answer,
    ids: &Ids,
) -> std::io::Result<Vec<Bytes>> {
    let mut frames = vec![
        seq.event("response.created", json!({"response": started}))?,
        seq.event("response.in_progress", json!({"response": started}))?,
        seq.event(
            "response.output_item.added",
            json!({"output_index": 0, "item": item(answer, ids, false)}),
        )?,
    ];
    if let Answer::Text(_) = answer {
        frames.push(seq.event(
            "response.content_part.added",
            json!({"item_id": ids.item, "output_index": 0, "content_index": 0, "part": text_part("")}),
        )?);
    }
    Ok(frames)
}

/// One delta event.
pub(crate) fn delta(seq: &Sequence, answer: &Answer, item_id: &str, piece: &str) -> std::io::Result<Bytes> {
    match answer {
        Answer::Text(_) => seq.event(
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}),
        ),
        Answer::Call { .. } => seq.event(
            "response.function_call_arguments.delta",
            json!({"item_id": item_id, "output_index": 0, "delta": piece}),
        ),
    }
}

/// The frames after the deltas: the done events and `response.completed`.
/// `first` is the sequence number the first of them gets.
pub(crate) fn tail(first: u64, answer: &Answer, ids: &Ids, completed: &Value) -> std::io::Result<Vec<Bytes>> {
    let seq = Sequence::starting_at(first);
    let at = |extra: Value| {
        let mut v = json!({"item_id": ids.item, "output_index": 0});
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    };
    let mut frames = match answer {
        Answer::Text(text) => vec![
            seq.event(
                "response.output_text.done",
                at(json!({"content_index": 0, "text": text, "logprobs": []})),
            )?,
            seq.event(
                "response.content_part.done",
                at(json!({"content_index": 0, "part": text_part(text)})),
            )?,
        ],
        Answer::Call { name, arguments } => vec![seq.event(
            "response.function_call_arguments.done",
            at(json!({"name": name, "arguments": arguments})),
        )?],
    };
    frames.push(seq.event(
        "response.output_item.done",
        json!({"output_index": 0, "item": item(answer, ids, true)}),
    )?);
    frames.push(seq.event("response.completed", json!({"response": completed}))?);
    Ok(frames)
}
