//! `UserStore`: users. Emails are stored as given and, for lookups and uniqueness, normalised
//! with `latch_core::user::normalize_email`.

use async_trait::async_trait;
use latch_core::store::{Page, PageRequest, StoreResult, UserStore};
use latch_core::user::{User, normalize_email};

use super::backend::{Backend, Exec, query, query_as};
use super::{
    SqlStore, UserRow, UserWithPasswordRow, metadata_json, page_after, page_limit, paginate,
    unique_err_or_external_id, user_columns,
};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    /// Inserts one user on `on` (the writer, or the caller's transaction); with
    /// `if_absent` a taken id, email or external id skips the row instead of failing.
    /// The rows written (0 or 1).
    async fn insert_user_on(
        on: Exec<'_, B>,
        user: &User,
        password_hash: &str,
        if_absent: bool,
    ) -> StoreResult<u64> {
        macro_rules! insert {
            () => {
                "INSERT INTO users (id, email, email_normalized, email_verified, name, \
                 given_name, family_name, password_hash, created_at, external_id, metadata, admin) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            };
        }
        let sql = if if_absent {
            concat!(insert!(), " ON CONFLICT DO NOTHING")
        } else {
            insert!()
        };
        let done = query(sql)
            .bind(&user.id)
            .bind(&user.email)
            .bind(normalize_email(&user.email))
            .bind(user.email_verified)
            .bind(&user.name)
            .bind(&user.given_name)
            .bind(&user.family_name)
            .bind(password_hash)
            .bind(user.created_at)
            .bind(&user.external_id)
            .bind(metadata_json(&user.metadata))
            .bind(user.admin)
            .execute(on)
            .await
            .map_err(unique_err_or_external_id("email"))?;
        Ok(done)
    }
}

#[async_trait]
impl<B: Backend> UserStore for SqlStore<B> {
    /// A taken id or an email already used in any letter case is `Conflict("email")`.
    async fn insert_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        let _timer = Timer::start("insert_user");
        Self::insert_user_on(self.write(), user, password_hash, false).await?;
        Ok(())
    }

    async fn insert_users_if_absent(&self, users: &[(User, String)]) -> StoreResult<Vec<bool>> {
        let _timer = Timer::start("insert_users_if_absent");
        let mut tx = self.begin().await?;
        let mut inserted = Vec::with_capacity(users.len());
        for (user, password_hash) in users {
            let done = Self::insert_user_on(tx.on(), user, password_hash, true).await?;
            inserted.push(done == 1);
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let _timer = Timer::start("get_user");
        let row: Option<UserRow> = query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await?;
        Ok(row.map(Into::into))
    }

    async fn get_user_by_external_id(&self, external_id: &str) -> StoreResult<Option<User>> {
        let _timer = Timer::start("get_user_by_external_id");
        let row: Option<UserRow> = query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE external_id = $1"
        ))
        .bind(external_id)
        .fetch_optional(self.read())
        .await?;
        Ok(row.map(Into::into))
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let _timer = Timer::start("get_user_by_email");
        let row: Option<UserWithPasswordRow> = query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE email_normalized = $1"
        ))
        .bind(normalize_email(email))
        .fetch_optional(self.read())
        .await?;
        Ok(row.map(Into::into))
    }

    /// By id after the cursor; `email` filters on the normalised address.
    async fn list_users(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Page<User>> {
        let _timer = Timer::start("list_users");
        let limit = page_limit(page);
        let rows: Vec<UserRow> = query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id > $1 AND ($2 IS NULL OR email_normalized = $2) ORDER BY id LIMIT $3"
        ))
        .bind(page_after(page))
        .bind(email.map(normalize_email))
        .bind(limit + 1)
        .fetch_all(self.read())
        .await?;
        let users: Vec<User> = rows.into_iter().map(Into::into).collect();
        Ok(paginate(users, limit, |u| u.id.as_str()))
    }

    /// Replaces the profile (not `id` or `created_at`) and, if given, the password hash.
    async fn update_user(&self, user: &User, password_hash: Option<&str>) -> StoreResult<bool> {
        let _timer = Timer::start("update_user");
        let done = query(
            "UPDATE users SET email = $2, email_normalized = $3, email_verified = $4, name = $5, \
             given_name = $6, family_name = $7, password_hash = COALESCE($8, password_hash), \
             external_id = $9, metadata = $10 WHERE id = $1",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(normalize_email(&user.email))
        .bind(user.email_verified)
        .bind(&user.name)
        .bind(&user.given_name)
        .bind(&user.family_name)
        .bind(password_hash)
        .bind(&user.external_id)
        .bind(metadata_json(&user.metadata))
        .execute(self.write())
        .await
        .map_err(unique_err_or_external_id("email"))?;
        Ok(done == 1)
    }

    async fn replace_password_hash(&self, id: &str, old: &str, new: &str) -> StoreResult<bool> {
        let _timer = Timer::start("replace_password_hash");
        let done =
            query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(self.write())
                .await?;
        Ok(done == 1)
    }

    async fn set_user_admin(&self, id: &str, admin: bool) -> StoreResult<bool> {
        let _timer = Timer::start("set_user_admin");
        let done = query("UPDATE users SET admin = $2 WHERE id = $1")
            .bind(id)
            .bind(admin)
            .execute(self.write())
            .await?;
        Ok(done == 1)
    }

    /// Deletes the row; sessions (and their participations) cascade. The server ends the
    /// sessions with `end_sessions` first so applications are notified.
    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let _timer = Timer::start("delete_user");
        let done = query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(self.write())
            .await?;
        Ok(done == 1)
    }
}
