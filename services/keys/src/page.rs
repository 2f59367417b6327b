//! Cursor pagination for lists: `limit` (1–200, default 50) and an opaque
//! `cursor` (the last id of the previous page; ids sort by creation).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::KeysError;

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub(crate) fn limit(&self) -> Result<i64, KeysError> {
        match self.limit {
            None => Ok(50),
            Some(n @ 1..=200) => Ok(n),
            Some(n) => Err(KeysError::Invalid(format!(
                "limit must be between 1 and 200, got {n}"
            ))),
        }
    }

    pub(crate) fn after(&self) -> &str {
        self.cursor.as_deref().unwrap_or("")
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> Self {
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(id)
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
        }
    }
}
