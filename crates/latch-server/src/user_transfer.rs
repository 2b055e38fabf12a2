//! Moving users in and out (`latch users import|export`, `POST /api/v1/users/import`): one JSON
//! object per line with `id`, `email`, `password_hash`, `email_verified`, `name`, `given_name`,
//! `family_name`, `external_id`, `metadata`, `created_at` (docs/api.md "Importing users");
//! `external_id` and `metadata` follow the rules of the management API.
//!
//! A password hash is kept as the old server made it (see `password::formats`), verified with its
//! own algorithm at sign-in and replaced by argon2id then. A line that fails writes nothing and
//! is reported by number; a line whose email (or id) exists is skipped, so an import can be run
//! again. Good lines are written in batches, one transaction each.

use latch_core::UnixTime;
use latch_core::store::{PageRequest, Store, StoreError};
use latch_core::user::User;
use serde::{Deserialize, Serialize};

use crate::manage::{UserView, validate_profile};
use crate::signin::password::{NO_PASSWORD, StoredHash, keycloak_to_phc};

/// One imported user, as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    #[serde(default)]
    id: Option<String>,
    email: String,
    #[serde(default)]
    password_hash: Option<String>,
    /// Keycloak's exported credentials, instead of `password_hash`.
    #[serde(default)]
    credentials: Option<Vec<KeycloakCredential>>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    /// RFC 3339 text or Unix seconds.
    #[serde(default)]
    created_at: Option<serde_json::Value>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    /// The admin console flag, as `latch users export` writes it.
    #[serde(default)]
    admin: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeycloakCredential {
    #[serde(rename = "type")]
    kind: String,
    secret_data: String,
    credential_data: String,
}

/// One user as exported (and importable as is).
#[derive(Debug, Serialize)]
pub struct ExportLine {
    /// The user as the API shows it (the same fields, in the same order).
    #[serde(flatten)]
    pub user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

/// What an import did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
#[schema(as = UserImportReport)]
pub struct ImportReport {
    pub imported: u64,
    /// Lines whose email (or id) was already there: left as they are.
    pub existing: u64,
    /// Lines that failed (the first `MAX_REPORTED` are listed in `failed`).
    pub failed_count: u64,
    /// The first 1000 failed lines.
    pub failed: Vec<LineError>,
}

/// A line that was not imported, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineError {
    pub line: u64,
    pub error: String,
}

const EXTERNAL_ID_TAKEN: &str = "external_id is already another user's";

/// Failed lines listed at most (the count goes on).
const MAX_REPORTED: usize = 1000;

/// Lines written per transaction (one commit per line made PostgreSQL take minutes for 100,000).
const BATCH: usize = 500;

/// Imports lines as they are read: each is parsed and checked alone (a bad one is reported and
/// writes nothing), the good ones are inserted `BATCH` at a time in one transaction.
pub struct Importer<'a> {
    store: &'a dyn Store,
    now: UnixTime,
    batch: Vec<(u64, User, String)>,
    report: ImportReport,
}

impl<'a> Importer<'a> {
    pub fn new(store: &'a dyn Store, now: UnixTime) -> Self {
        Self {
            store,
            now,
            batch: Vec::with_capacity(BATCH),
            report: ImportReport::default(),
        }
    }

    /// Takes line `number` (counting from 1); blank lines are ignored. An error means the store
    /// failed: the lines before the current batch are imported, the rest not.
    pub async fn line(&mut self, number: u64, text: &str) -> Result<(), StoreError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        match parse_line(text, self.now) {
            Ok((user, hash)) => self.batch.push((number, user, hash)),
            Err(error) => self.report.fail(number, error),
        }
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<ImportReport, StoreError> {
        self.flush().await?;
        // Lines refused at writing (a taken external_id) are found after those refused at
        // reading: in line order for the reader.
        self.report.failed.sort_by_key(|f| f.line);
        Ok(self.report)
    }

    /// The first line of the batch not yet written (for "stopped at line N").
    pub fn pending_from(&self) -> Option<u64> {
        self.batch.first().map(|(n, _, _)| *n)
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows: Vec<(User, String)> = self
            .batch
            .iter()
            .map(|(_, u, h)| (u.clone(), h.clone()))
            .collect();
        match self.store.insert_users_if_absent(&rows).await {
            Ok(inserted) => {
                for ((number, user, _), done) in self.batch.iter().zip(inserted) {
                    if done {
                        self.report.imported += 1;
                    } else if user.external_id.is_some()
                        && self.store.get_user_by_email(&user.email).await?.is_none()
                        && self.store.get_user(&user.id).await?.is_none()
                    {
                        // Skipped for neither its id nor its email: its external_id is another
                        // user's (or an earlier line's).
                        self.report.fail(*number, EXTERNAL_ID_TAKEN.to_owned());
                    } else {
                        self.report.existing += 1;
                    }
                }
            }
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            // Some row broke another rule: line by line, to say which.
            Err(_) => {
                for (number, user, hash) in &self.batch {
                    match self.store.insert_user(user, hash).await {
                        Ok(()) => self.report.imported += 1,
                        Err(StoreError::Conflict(what)) if what == "external_id" => {
                            self.report.fail(*number, EXTERNAL_ID_TAKEN.to_owned());
                        }
                        Err(StoreError::Conflict(_)) => self.report.existing += 1,
                        Err(e @ StoreError::Unavailable(_)) => return Err(e),
                        Err(e) => self.report.fail(*number, e.to_string()),
                    }
                }
            }
        }
        self.batch.clear();
        Ok(())
    }
}

impl ImportReport {
    fn fail(&mut self, line: u64, error: String) {
        self.failed_count += 1;
        if self.failed.len() < MAX_REPORTED {
            self.failed.push(LineError { line, error });
        }
    }
}

fn parse_line(text: &str, now: UnixTime) -> Result<(User, String), String> {
    let line: ImportLine =
        serde_json::from_str(text).map_err(|e| format!("not a user object: {e}"))?;
    let metadata = match line.metadata {
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(serde_json::Value::Object(m)) => m,
        Some(_) => return Err("metadata must be a JSON object".to_owned()),
    };
    let hash = match (line.password_hash, line.credentials) {
        (Some(_), Some(_)) => return Err("give password_hash or credentials, not both".to_owned()),
        (Some(hash), None) => hash,
        (None, Some(credentials)) => {
            let password = credentials
                .iter()
                .find(|c| c.kind == "password")
                .ok_or("credentials has no password credential")?;
            keycloak_to_phc(&password.secret_data, &password.credential_data)
                .map_err(|e| format!("credentials: {e}"))?
        }
        (None, None) => NO_PASSWORD.to_owned(),
    };
    if hash != NO_PASSWORD {
        StoredHash::parse(&hash).map_err(|e| format!("password_hash {e}"))?;
    }
    let id = match line.id {
        Some(id) if valid_id(&id) => id,
        Some(_) => return Err("id must be 1 to 64 letters, digits, `-` or `_`".to_owned()),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let created_at = match line.created_at {
        None | Some(serde_json::Value::Null) => now,
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .filter(|t| (0..=253_402_300_799).contains(t))
            .ok_or("created_at is not a time in Unix seconds")?,
        Some(serde_json::Value::String(s)) => {
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| "created_at is not an RFC 3339 time")?
                .unix_timestamp()
        }
        Some(_) => return Err("created_at is not a time".to_owned()),
    };
    let user = User {
        id,
        email: line.email.trim().to_owned(),
        email_verified: line.email_verified,
        name: line.name,
        given_name: line.given_name,
        family_name: line.family_name,
        created_at,
        external_id: line.external_id,
        metadata,
        admin: line.admin,
    };
    validate_profile(&user).map_err(|e| format!("{} {}", e.field, e.reason))?;
    Ok((user, hash))
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Calls `each` with every user as an export line, in id order, hashes only if asked.
pub async fn export(
    store: &dyn Store,
    include_password_hashes: bool,
    mut each: impl FnMut(ExportLine) -> std::io::Result<()>,
) -> Result<u64, StoreError> {
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    let mut count = 0;
    loop {
        let batch = store.list_users(&page, None).await?;
        for u in batch.data {
            let password_hash = if include_password_hashes {
                store
                    .get_user_by_email(&u.email)
                    .await?
                    .map(|(_, hash)| hash)
                    .filter(|h| h != NO_PASSWORD)
            } else {
                None
            };
            each(ExportLine {
                user: UserView::from(&u),
                password_hash,
            })
            .map_err(|e| StoreError::other(format!("cannot write the export: {e}"), e))?;
            count += 1;
        }
        match batch.next_cursor {
            Some(c) => page.after = Some(c),
            None => return Ok(count),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;

    #[test]
    fn a_line_is_checked_whole_before_anything_is_written() {
        let ok = r#"{"email":"a@example.com","password_hash":"$2b$06$o9nQSJT/M/Xra2JaMABVkuVR03cZN1mDTWUxWWL5aBwsB91fNufsW","created_at":"2020-01-02T03:04:05Z","id":"kc-123"}"#;
        let (user, hash) = parse_line(ok, 5).unwrap();
        assert_eq!(user.created_at, 1_577_934_245);
        assert_eq!(user.id, "kc-123");
        assert!(hash.starts_with("$2b$"));
        let (user, hash) = parse_line(r#"{"email":"b@example.com"}"#, 5).unwrap();
        assert_eq!((user.created_at, hash.as_str()), (5, NO_PASSWORD));
        let with = r#"{"email":"c@example.com","external_id":"crm-1","metadata":{"plan":{"tier":"gold"}}}"#;
        let (user, _) = parse_line(with, 5).unwrap();
        assert_eq!(user.external_id.as_deref(), Some("crm-1"));
        assert_eq!(user.metadata["plan"]["tier"], "gold");
        for (bad, says) in [
            (r#"{"email":"nope"}"#, "email"),
            (
                r#"{"email":"a@example.com","password_hash":"md5:abc"}"#,
                "password_hash",
            ),
            (
                r#"{"email":"a@example.com","pasword_hash":"x"}"#,
                "unknown field",
            ),
            (
                r#"{"email":"a@example.com","external_id":""}"#,
                "external_id",
            ),
            (r#"{"email":"a@example.com","metadata":[1]}"#, "metadata"),
            (
                r#"{"email":"a@example.com","metadata":{"a":{"b":{"c":{"d":{"e":{}}}}}}}"#,
                "metadata",
            ),
            (r#"{"email":"a@example.com","id":"a b"}"#, "id"),
            (
                r#"{"email":"a@example.com","created_at":"yesterday"}"#,
                "created_at",
            ),
            ("not json", "not a user object"),
        ] {
            let err = parse_line(bad, 5).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains("abc"), "the hash is not echoed: {err}");
        }
    }
}
