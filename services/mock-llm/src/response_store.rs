//! Stored responses, for `GET`/`DELETE /v1/responses/{id}`, its input items
//! and cancel. In memory and bounded: the oldest are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::Value;

/// More than any test or demo keeps alive at once.
const CAPACITY: usize = 10_000;

pub(crate) struct Stored {
    pub(crate) response: Value,
    pub(crate) input_items: Vec<Value>,
}

#[derive(Default)]
pub(crate) struct Store(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Stored>,
    order: VecDeque<String>,
}

impl Store {
    pub(crate) fn put(&self, id: String, stored: Stored) {
        let mut inner = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if inner.by_id.len() >= CAPACITY
            && let Some(oldest) = inner.order.pop_front()
        {
            inner.by_id.remove(&oldest);
        }
        inner.order.push_back(id.clone());
        inner.by_id.insert(id, stored);
    }

    /// Reads (or changes) one stored response; `None` when unknown.
    pub(crate) fn with<T>(&self, id: &str, f: impl FnOnce(&mut Stored) -> T) -> Option<T> {
        let mut inner = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.by_id.get_mut(id).map(f)
    }

    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut inner = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.order.retain(|k| k != id);
        inner.by_id.remove(id).is_some()
    }
}
