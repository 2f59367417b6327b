//! The translated response body: wraps the (already metered) upstream body
//! and rewrites it into the client's wire as it passes. A stream is
//! rewritten event by event, so nothing waits for data that has not
//! arrived; a JSON answer is rewritten whole at its end.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::Stream;

use serde_json::Value;

use super::{Bridge, Reply, Transducer};
use crate::usage::sse;

enum Mode {
    Json {
        bridge: Bridge,
        echo: Value,
        kept: BytesMut,
    },
    Stream {
        pending: BytesMut,
        transducer: Box<dyn Transducer>,
    },
}

type Inner = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

pub(crate) struct TranslatedBody {
    inner: Inner,
    mode: Mode,
    ended: bool,
}

impl TranslatedBody {
    pub(crate) fn new(inner: Inner, reply: Reply) -> Self {
        let mode = if reply.stream {
            Mode::Stream {
                pending: BytesMut::new(),
                transducer: super::transducer(&reply),
            }
        } else {
            Mode::Json {
                bridge: reply.bridge,
                echo: reply.echo,
                kept: BytesMut::new(),
            }
        };
        Self {
            inner,
            mode,
            ended: false,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Bytes {
        match &mut self.mode {
            Mode::Json { kept, .. } => {
                kept.extend_from_slice(chunk);
                Bytes::new()
            }
            Mode::Stream { pending, transducer } => {
                pending.extend_from_slice(chunk);
                let mut out = Vec::new();
                for event in sse::split_events(pending) {
                    if let Some(data) = sse::data(&event) {
                        transducer.event(&data, &mut out);
                    }
                }
                Bytes::from(out)
            }
        }
    }

    fn end(&mut self) -> Bytes {
        match &mut self.mode {
            Mode::Json { bridge, echo, kept } => Bytes::from(super::response(*bridge, kept, echo)),
            Mode::Stream { pending, transducer } => {
                let mut out = Vec::new();
                // A last event without its blank line still counts.
                if let Some(data) = sse::data(pending) {
                    transducer.event(&data, &mut out);
                }
                pending.clear();
                transducer.end(&mut out);
                Bytes::from(out)
            }
        }
    }
}

impl Stream for TranslatedBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = self.feed(&chunk);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    let rest = self.end();
                    return Poll::Ready((!rest.is_empty()).then_some(Ok(rest)));
                }
            }
        }
    }
}
