//! Lists: `{"data": [...], "next_cursor": STRING|null}`, with `?limit=` (1–200, default 50) and
//! `?after=CURSOR` (docs/api.md "One JSON envelope"). Cursors are the last id of the previous page.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use latch_core::store::{Page, PageRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
const MAX_CURSOR_LEN: usize = 200;

/// The answer to every list request.
#[derive(Debug, Serialize)]
pub struct List<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    pub fn from_page<U>(page: Page<U>, view: impl Fn(&U) -> T) -> Self {
        Self {
            data: page.data.iter().map(view).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

impl<T> List<T> {
    /// The answer of a lookup by a unique key: 0 or 1 item, no further page.
    pub fn of_one(item: Option<T>) -> Self {
        Self {
            data: item.into_iter().collect(),
            next_cursor: None,
        }
    }
}

/// Pages a list held in memory (a user's sessions, an application's secrets) the way the store
/// pages its tables: ordered by `key`, after the cursor.
pub fn page_of<U>(mut items: Vec<U>, page: &PageRequest, key: impl Fn(&U) -> &str) -> Page<U> {
    items.sort_by(|a, b| key(a).cmp(key(b)));
    if let Some(after) = &page.after {
        items.retain(|item| key(item) > after.as_str());
    }
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more {
        items.last().map(|i| key(i).to_owned())
    } else {
        None
    };
    Page {
        data: items,
        next_cursor,
    }
}

/// No filters besides `limit` and `after`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

/// `?limit=&after=` plus the filters `F` an endpoint takes; anything else is a 400.
pub struct ListQuery<F = NoFilter> {
    pub page: PageRequest,
    pub filter: F,
}

impl<F: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ListQuery<F> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or_default())
    }
}

fn parse<F: DeserializeOwned>(query: &str) -> Result<ListQuery<F>, ApiError> {
    let mut page = PageRequest {
        limit: DEFAULT_LIMIT,
        after: None,
    };
    let mut filters = Map::new();
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if seen.contains(&name) {
            return Err(ApiError::bad_request(format!("`{name}` is given twice")));
        }
        seen.push(name.clone());
        match name.as_ref() {
            "limit" => page.limit = parse_limit(&value)?,
            "after" if value.is_empty() || value.len() > MAX_CURSOR_LEN => {
                return Err(ApiError::bad_request("`after` is not a valid cursor"));
            }
            "after" => page.after = Some(value.into_owned()),
            _ => {
                filters.insert(name.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    let filter = serde_json::from_value(Value::Object(filters))
        .map_err(|e| ApiError::bad_request(format!("query: {e}")))?;
    Ok(ListQuery { page, filter })
}

fn parse_limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!("`limit` must be an integer from 1 to {MAX_LIMIT}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Email {
        email: Option<String>,
    }

    #[test]
    fn limit_defaults_to_50_and_is_bounded() {
        let q: ListQuery = parse("").unwrap();
        assert_eq!(q.page.limit, 50);
        assert_eq!(
            parse::<NoFilter>("limit=200&after=abc")
                .unwrap()
                .page
                .after
                .as_deref(),
            Some("abc")
        );
        for bad in [
            "limit=0",
            "limit=201",
            "limit=-1",
            "limit=ten",
            "limit=",
            "after=",
            "limit=1&limit=2",
        ] {
            let e = parse::<NoFilter>(bad).err().unwrap();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn filters_are_only_those_the_endpoint_takes() {
        let q: ListQuery<Email> = parse("email=ada%40example.com&limit=3").unwrap();
        assert_eq!(q.filter.email.as_deref(), Some("ada@example.com"));
        assert!(parse::<Email>("emial=x").is_err());
        assert!(parse::<NoFilter>("email=x").is_err());
    }

    #[test]
    fn in_memory_pages_walk_in_order_without_overlap() {
        let items: Vec<String> = ["c", "a", "e", "b", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut req = PageRequest {
            limit: 2,
            after: None,
        };
        let mut seen = Vec::new();
        loop {
            let page = page_of(items.clone(), &req, |s| s.as_str());
            seen.extend(page.data);
            match page.next_cursor {
                Some(c) => req.after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    }
}
