//! A batch being gathered: the messages pulled so far (acked together once
//! their transaction commits) and their events, decoded as they arrive, so
//! decoding runs while the previous batch is being written. The batch fills
//! by events, not messages: one message may carry a whole `UsageBatch`.

use std::{collections::HashSet, sync::Arc};

use async_nats::jetstream;
use keyway_proto::cloudevents as ce;
use uuid::Uuid;

use crate::{
    decode,
    ledger::{Batch, DeadLetter, Origin},
};

#[derive(Default)]
pub(crate) struct Held {
    pub(crate) messages: Vec<jetstream::Message>,
    pub(crate) batch: Batch,
    seen: HashSet<Uuid>,
}

impl Held {
    /// Events (and dead letters) held: what the batch size counts.
    pub(crate) fn len(&self) -> usize {
        self.batch.rows.len() + self.batch.dead.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub(crate) fn push(&mut self, message: jetstream::Message) {
        let (stream, sequence) = match message.info() {
            Ok(info) => (info.stream.to_owned(), info.stream_sequence),
            Err(_) => (String::new(), 0),
        };
        let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
        let batch = &mut self.batch;
        batch.max_stream_sequence = batch.max_stream_sequence.max(sequence);
        let origin = Arc::new(Origin {
            stream,
            stream_sequence: sequence,
            subject: message.subject.to_string(),
            msg_id: message
                .headers
                .as_ref()
                // The standard constant: a `&str` name never matches the
                // parsed standard header in async-nats.
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned()),
            payload: message.payload.clone(),
        });
        let ce_type = message
            .headers
            .as_ref()
            .and_then(|h| h.get(ce::TYPE))
            .map(|v| v.as_str());
        let mut refused = Vec::new();
        let events = decode::decode_message(ce_type, &message.payload).unwrap_or_else(|e| vec![Err(e)]);
        for event in events {
            match event {
                // The same event under another Nats-Msg-Id (a retry beyond
                // the dedupe window, or regrouped into another batch) may sit
                // in the same batch: keep the first.
                Ok(row) => {
                    if self.seen.insert(row.event_id) {
                        batch.rows.push(row);
                        batch.origins.push(Arc::clone(&origin));
                    }
                }
                Err(error) => refused.push(error),
            }
        }
        if !refused.is_empty() {
            // One dead letter per message, holding the message as received:
            // its valid events are in the ledger, so republishing it later
            // is a no-op for them.
            let error = refused.join("; ");
            tracing::warn!(%error, subject = %message.subject, stream_sequence = sequence, "dead-lettering undecodable usage events");
            batch.dead.push(DeadLetter { origin, error });
        }
        self.messages.push(message);
    }
}
