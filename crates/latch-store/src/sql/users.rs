//! `UserStore`: users. Emails are stored as given and, for lookups and uniqueness, normalised
//! with `latch_core::user::normalize_email`.

/// Implements `UserStore` for `$ty` (see `impl_store!`).
macro_rules! impl_user_store {
    ($ty:ident, $q:ident) => {
        impl $ty {
            /// Inserts one user on `conn` (the writer, or the caller's transaction); with
            /// `if_absent` a taken id, email or external id skips the row instead of failing.
            /// The rows written (0 or 1).
            async fn insert_user_on(
                conn: &mut $q::Connection,
                user: &::latch_core::user::User,
                password_hash: &str,
                if_absent: bool,
            ) -> ::latch_core::store::StoreResult<u64> {
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
                let done = $q::query(sql)
                    .bind(&user.id)
                    .bind(&user.email)
                    .bind(::latch_core::user::normalize_email(&user.email))
                    .bind(user.email_verified)
                    .bind(&user.name)
                    .bind(&user.given_name)
                    .bind(&user.family_name)
                    .bind(password_hash)
                    .bind(user.created_at)
                    .bind(&user.external_id)
                    .bind($crate::sql::metadata_json(&user.metadata))
                    .bind(user.admin)
                    .execute(&mut *conn)
                    .await
                    .map_err($crate::sql::unique_err_or_external_id("email"))?;
                Ok(done.rows_affected())
            }
        }

        #[::async_trait::async_trait]
        impl ::latch_core::store::UserStore for $ty {
            /// A taken id or an email already used in any letter case is `Conflict("email")`.
            async fn insert_user(
                &self,
                user: &::latch_core::user::User,
                password_hash: &str,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_user");
                let mut conn = self.writer.acquire().await.map_err($crate::sql::db_err)?;
                Self::insert_user_on(&mut *conn, user, password_hash, false).await?;
                Ok(())
            }

            async fn insert_users_if_absent(
                &self,
                users: &[(::latch_core::user::User, String)],
            ) -> ::latch_core::store::StoreResult<Vec<bool>> {
                let _timer = $crate::timing::Timer::start("insert_users_if_absent");
                let mut tx = self.begin().await?;
                let mut inserted = Vec::with_capacity(users.len());
                for (user, password_hash) in users {
                    let done = Self::insert_user_on(&mut *tx, user, password_hash, true).await?;
                    inserted.push(done == 1);
                }
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(inserted)
            }

            async fn get_user(&self, id: &str) -> ::latch_core::store::StoreResult<Option<::latch_core::user::User>> {
                let _timer = $crate::timing::Timer::start("get_user");
                let row: Option<$crate::sql::UserRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn get_user_by_external_id(
                &self,
                external_id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::user::User>> {
                let _timer = $crate::timing::Timer::start("get_user_by_external_id");
                let row: Option<$crate::sql::UserRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::user_columns!(),
                    " FROM users WHERE external_id = $1"
                ))
                .bind(external_id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn get_user_by_email(
                &self,
                email: &str,
            ) -> ::latch_core::store::StoreResult<Option<(::latch_core::user::User, String)>> {
                let _timer = $crate::timing::Timer::start("get_user_by_email");
                let row: Option<$crate::sql::UserWithPasswordRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::user_columns!(),
                    ", password_hash FROM users WHERE email_normalized = $1"
                ))
                .bind(::latch_core::user::normalize_email(email))
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(row.map(Into::into))
            }

            /// By id after the cursor; `email` filters on the normalised address.
            async fn list_users(
                &self,
                page: &::latch_core::store::PageRequest,
                email: Option<&str>,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Page<::latch_core::user::User>> {
                let _timer = $crate::timing::Timer::start("list_users");
                let limit = $crate::sql::page_limit(page);
                let rows: Vec<$crate::sql::UserRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::user_columns!(),
                    " FROM users WHERE id > $1 AND ($2 IS NULL OR email_normalized = $2) ORDER BY id LIMIT $3"
                ))
                .bind($crate::sql::page_after(page))
                .bind(email.map(::latch_core::user::normalize_email))
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let users: Vec<::latch_core::user::User> = rows.into_iter().map(Into::into).collect();
                Ok($crate::sql::paginate(users, limit, |u| u.id.as_str()))
            }

            /// Replaces the profile (not `id` or `created_at`) and, if given, the password hash.
            async fn update_user(
                &self,
                user: &::latch_core::user::User,
                password_hash: Option<&str>,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_user");
                let done = $q::query(
                    "UPDATE users SET email = $2, email_normalized = $3, email_verified = $4, name = $5, \
                     given_name = $6, family_name = $7, password_hash = COALESCE($8, password_hash), \
                     external_id = $9, metadata = $10 WHERE id = $1",
                )
                .bind(&user.id)
                .bind(&user.email)
                .bind(::latch_core::user::normalize_email(&user.email))
                .bind(user.email_verified)
                .bind(&user.name)
                .bind(&user.given_name)
                .bind(&user.family_name)
                .bind(password_hash)
                .bind(&user.external_id)
                .bind($crate::sql::metadata_json(&user.metadata))
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err_or_external_id("email"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_user_admin(
                &self,
                id: &str,
                admin: bool,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("set_user_admin");
                let done = $q::query("UPDATE users SET admin = $2 WHERE id = $1")
                    .bind(id)
                    .bind(admin)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn replace_password_hash(
                &self,
                id: &str,
                old: &str,
                new: &str,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("replace_password_hash");
                let done = $q::query(
                    "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                )
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }

            /// Deletes the row; sessions (and their participations) cascade. The server ends the
            /// sessions with `end_sessions` first so applications are notified.
            async fn delete_user(&self, id: &str) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_user");
                let done = $q::query("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_user_store;
