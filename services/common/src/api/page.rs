//! The one pagination contract of every `/api/v1` list (docs/api.md):
//! `limit` and an opaque `cursor` in, `next_cursor` out — set when the page
//! has a successor, null on the last page.
//!
//! Lists come in two kinds, with their own sizes:
//! - **collections** (tenants, users, API keys, BYOK keys, webhooks, export
//!   cursors): records people browse, 1–200 per page, 50 by default;
//! - **logs** (the audit log, the usage export): append-only histories that
//!   machines read to the end and then follow, 1–1000 per page, 100 by
//!   default — bigger pages mean fewer round trips when catching up, and a
//!   thousand events still keeps a response near a megabyte. A log page also
//!   carries `resume_cursor`, where to poll from once the end is reached.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError,
    cursor::{self, CursorError},
};
use crate::codes;

/// Page sizes of a kind of list.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    default: i64,
    max: i64,
}

const COLLECTION: Sizes = Sizes {
    default: 50,
    max: 200,
};
const LOG: Sizes = Sizes {
    default: 100,
    max: 1000,
};

/// A refused `limit` or `cursor`: always a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("limit must be between 1 and {max}, got {got}")]
    Limit { max: i64, got: i64 },
    #[error(
        "cursor {0}: it is not one this list handed out; start again without one, or pass a `next_cursor` of this list"
    )]
    Cursor(#[from] CursorError),
    /// `after` was the cursor parameter of the audit log and the usage export
    /// before there was one contract; ignoring it would restart a consumer
    /// from the beginning without a word.
    #[error("`after` is no longer a parameter: pass the saved cursor as `cursor`")]
    Renamed,
}

impl PageError {
    pub fn code(&self) -> &'static str {
        match self {
            PageError::Cursor(_) => codes::REQ_BAD_CURSOR,
            PageError::Limit { .. } | PageError::Renamed => codes::REQ_BAD_FIELD,
        }
    }
}

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }
}

fn check(sizes: Sizes, limit: Option<i64>, after: Option<&str>) -> Result<i64, PageError> {
    if after.is_some() {
        return Err(PageError::Renamed);
    }
    match limit {
        None => Ok(sizes.default),
        Some(n) if (1..=sizes.max).contains(&n) => Ok(n),
        Some(got) => Err(PageError::Limit { max: sizes.max, got }),
    }
}

fn sent(cursor: Option<&str>) -> Option<&str> {
    cursor.map(str::trim).filter(|c| !c.is_empty())
}

/// The query of a collection list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page; omit for the first page.
    cursor: Option<String>,
    #[param(ignore)]
    after: Option<String>,
}

impl PageParams {
    pub fn new(limit: Option<i64>, cursor: Option<String>) -> Self {
        Self {
            limit,
            cursor,
            after: None,
        }
    }

    /// Checks the query for `list` (the name its cursors carry).
    pub fn resolve(&self, list: &'static str) -> Result<PageRequest, PageError> {
        let limit = check(COLLECTION, self.limit, self.after.as_deref())?;
        let after = sent(self.cursor.as_deref())
            .map(|c| cursor::decode(list, c))
            .transpose()?;
        Ok(PageRequest { list, limit, after })
    }
}

/// A checked request for one page of a collection.
#[derive(Debug, Clone)]
pub struct PageRequest {
    list: &'static str,
    pub limit: i64,
    after: Option<String>,
}

impl PageRequest {
    /// The sort key to continue after; `""` on the first page, which sorts
    /// before every key.
    pub fn after(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    /// How many rows to fetch: one more than the page, to learn whether a
    /// successor exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of a collection, in its sort order.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to [`PageRequest::fetch`] rows; `key` is a
    /// row's sort key.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(usize::try_from(request.limit).unwrap_or(0));
        let next_cursor = rows
            .last()
            .filter(|_| more)
            .map(|row| cursor::encode(request.list, &key(row)));
        Self {
            data: rows,
            next_cursor,
        }
    }
}

/// The query of a log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next_cursor` or `resume_cursor` of an earlier page; omit to
    /// start at the beginning.
    cursor: Option<String>,
    #[param(ignore)]
    after: Option<String>,
}

impl LogParams {
    pub fn new(limit: Option<i64>, cursor: Option<String>) -> Self {
        Self {
            limit,
            cursor,
            after: None,
        }
    }

    /// Checks the query for `list` (the name its cursors carry).
    pub fn resolve(&self, list: &'static str) -> Result<LogRequest, PageError> {
        self.resolve_with(list, |c| Ok(cursor::decode_seq(list, c)?))
    }

    /// As [`LogParams::resolve`], with the cursor read by `read` — for a
    /// log that still accepts an older cursor form beside the opaque one.
    pub fn resolve_with(
        &self,
        list: &'static str,
        read: impl FnOnce(&str) -> Result<i64, PageError>,
    ) -> Result<LogRequest, PageError> {
        let limit = check(LOG, self.limit, self.after.as_deref())?;
        let after = sent(self.cursor.as_deref()).map(read).transpose()?;
        Ok(LogRequest {
            list,
            limit,
            after: after.unwrap_or(0),
        })
    }
}

/// A checked request for one page of a log.
#[derive(Debug, Clone)]
pub struct LogRequest {
    list: &'static str,
    pub limit: i64,
    /// The position to continue after; 0 at the beginning.
    pub after: i64,
}

impl LogRequest {
    /// How many rows to fetch: one more than the page.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of a log, in log order.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage<T> {
    pub events: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page, when
    /// nothing more can be read yet.
    pub next_cursor: Option<String>,
    /// Where to continue after this page, even the last: just past its last
    /// event, or the cursor sent when the page is empty. Save it, and poll
    /// with it as `cursor` for events that arrive later.
    pub resume_cursor: String,
}

impl<T> LogPage<T> {
    /// A page of `events` whose last is at position `last` (None when empty);
    /// `more` says whether further events were already readable.
    pub fn new(events: Vec<T>, request: &LogRequest, last: Option<i64>, more: bool) -> Self {
        let resume_cursor = cursor::encode_seq(request.list, last.unwrap_or(request.after));
        Self {
            events,
            next_cursor: more.then(|| resume_cursor.clone()),
            resume_cursor,
        }
    }

    /// Builds a page from up to [`LogRequest::fetch`] rows; `seq` is a
    /// row's position.
    pub fn from_rows(mut rows: Vec<T>, request: &LogRequest, seq: impl Fn(&T) -> i64) -> Self {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(usize::try_from(request.limit).unwrap_or(0));
        let last = rows.last().map(seq);
        Self::new(rows, request, last, more)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_are_bounded_per_kind() {
        assert_eq!(PageParams::default().resolve("a").unwrap().limit, 50);
        assert_eq!(LogParams::default().resolve("a").unwrap().limit, 100);
        assert_eq!(
            PageParams::new(Some(201), None).resolve("a").unwrap_err(),
            PageError::Limit { max: 200, got: 201 }
        );
        assert!(LogParams::new(Some(1000), None).resolve("a").is_ok());
        for bad in [0, -1, 1001] {
            let err = LogParams::new(Some(bad), None).resolve("a").unwrap_err();
            assert_eq!(err.code(), codes::REQ_BAD_FIELD);
            assert!(
                err.to_string().starts_with("limit must be between 1 and 1000"),
                "{err}"
            );
        }
    }

    #[test]
    fn next_cursor_is_set_only_when_a_successor_exists() {
        let request = PageParams::new(Some(2), None).resolve("things").unwrap();
        let page = Page::from_rows(vec!["a", "b", "c"], &request, |s| (*s).to_owned());
        assert_eq!(page.data, ["a", "b"]);
        let cursor = page.next_cursor.unwrap();
        let next = PageParams::new(Some(2), Some(cursor)).resolve("things").unwrap();
        assert_eq!(next.after(), "b");
        let last = Page::from_rows(vec!["c"], &next, |s| (*s).to_owned());
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn a_log_page_always_says_where_to_resume() {
        let request = LogParams::new(Some(2), None).resolve("log").unwrap();
        let full = LogPage::from_rows(vec![5, 7, 9], &request, |n| *n);
        assert_eq!(full.next_cursor.as_deref(), Some(full.resume_cursor.as_str()));
        let request = LogParams::new(None, full.next_cursor).resolve("log").unwrap();
        assert_eq!(request.after, 7);
        let empty = LogPage::<i64>::from_rows(vec![], &request, |n| *n);
        assert_eq!(empty.next_cursor, None);
        assert_eq!(cursor::decode_seq("log", &empty.resume_cursor), Ok(7));
    }

    #[test]
    fn a_bad_cursor_or_the_old_after_parameter_is_a_400_naming_it() {
        let err = PageParams::new(None, Some("nope".into()))
            .resolve("a")
            .unwrap_err();
        assert_eq!(err.code(), codes::REQ_BAD_CURSOR);
        assert!(err.to_string().starts_with("cursor "), "{err}");
        let other = PageParams::new(None, Some(cursor::encode("b", "x")));
        assert_eq!(
            other.resolve("a").unwrap_err(),
            PageError::Cursor(CursorError::OtherList)
        );
        let old = LogParams {
            after: Some("42".into()),
            ..LogParams::default()
        };
        assert_eq!(old.resolve("a").unwrap_err(), PageError::Renamed);
        let api: ApiError = PageError::Renamed.into();
        assert_eq!(api.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
